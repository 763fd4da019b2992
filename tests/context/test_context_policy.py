"""The num_ctx policy on its own: ladder, memory arithmetic, hysteresis, pinning, no GPU."""

from __future__ import annotations

import math

import pytest

from gemmacode.backends.base import KvArch, LoadedModel, ModelInfo
from gemmacode.config import ContextSettings
from gemmacode.context.kvcache import kv_cache_bytes
from gemmacode.context.policy import LADDER, ContextPolicy, model_kv, parse_keep_alive
from gemmacode.gpu.reading import MemoryReading
from tests.fakes.gpu import E2B, E4B, GIB, MIB, FakeClock


def nvml(free: int, total: int = 8 * GIB) -> MemoryReading:
    return MemoryReading(source="nvml", total=total, free=free, used=total - free)


def policy(
    model: ModelInfo = E4B, clock: FakeClock | None = None, **settings: object
) -> ContextPolicy:
    ctx = ContextSettings(max_ctx=131072)
    for key, value in settings.items():
        setattr(ctx, key, value)
    return ContextPolicy(ctx, model, clock=clock or FakeClock())


def test_ladder_is_capped_by_model_and_user_and_floored() -> None:
    assert policy().rungs == LADDER[: LADDER.index(131072) + 1]
    small = ModelInfo("m", context_length=8192, size_bytes=GIB, kv=KvArch(1024))
    assert policy(small).rungs == (2048, 4096, 8192)
    assert policy(max_ctx=20000, min_ctx=4096).rungs == (4096, 8192, 12288, 16384)
    assert policy(small, min_ctx=256, max_ctx=1000).rungs == (1000,)


def test_need_is_weights_plus_kv_plus_margin() -> None:
    p = policy()
    assert p.need(8192) == E4B.size_bytes + 8192 * 16 * 1024 + 40 * MIB + 384 * MIB
    q8 = policy(kv_cache_type="q8_0", num_parallel=2)
    assert q8.kv_bytes(8192) == kv_cache_bytes(
        E4B.kv or KvArch(0), 8192, kv_type="q8_0", parallel=2
    )


def test_fit_picks_the_largest_rung_that_fits_else_the_floor() -> None:
    p = policy()
    # 8 GB card, desktop 300 MiB: ~2.9 GiB for KV -> 131072 fits exactly? 2 GiB + 40 MiB: yes.
    assert p.fit(8192 * MIB - 300 * MIB) == 131072
    # 1 GiB for KV (after weights and margin): the worked example's ~63K -> 49152.
    assert p.fit(E4B.size_bytes + 384 * MIB + GIB) == 49152
    assert p.fit(GIB) == 2048  # does not fit at all: the floor, said in the reason


def test_first_choice_and_step_down_at_once() -> None:
    clock = FakeClock()
    p = policy(clock=clock)
    assert p.choose(nvml(7900 * MIB)) == 131072
    clock.advance(5)
    assert p.choose(nvml(6200 * MIB)) == 65536  # 2 GB gone: down at once
    assert [c.after for c in p.changes] == [131072, 65536]
    assert "MiB available" in p.changes[-1].reason and p.reloads == 1


def test_step_up_waits_for_hold_and_interval() -> None:
    clock = FakeClock()
    p = policy(clock=clock, step_up_hold_s=30, step_up_min_interval_s=120)
    p.choose(nvml(6200 * MIB))
    assert p.current == 65536
    for _ in range(10):  # headroom from t=10 on, observed every 10 s
        clock.advance(10)
        p.observe(nvml(7900 * MIB))
    assert p.current == 65536  # observe never changes the size
    assert clock() == 100
    assert p.choose(nvml(7900 * MIB)) == 65536  # held 90 s, but only 100 s since the change
    clock.advance(20)
    assert p.choose(nvml(7900 * MIB)) == 131072
    assert p.changes[-1].reason.startswith("headroom held 110s")


def test_a_dip_during_the_hold_restarts_it() -> None:
    clock = FakeClock()
    p = policy(clock=clock, step_up_hold_s=30, step_up_min_interval_s=0)
    p.choose(nvml(6200 * MIB))
    clock.advance(1)
    p.observe(nvml(7900 * MIB))
    clock.advance(25)
    p.observe(nvml(6200 * MIB))  # a browser tab, briefly
    clock.advance(10)
    assert p.choose(nvml(7900 * MIB)) == 65536  # hold restarted at t=36
    clock.advance(30)
    assert p.choose(nvml(7900 * MIB)) == 131072


def test_step_up_goes_only_as_high_as_the_whole_hold_allowed() -> None:
    clock = FakeClock()
    p = policy(clock=clock, step_up_hold_s=30, step_up_min_interval_s=0)
    p.choose(nvml(5000 * MIB))
    small = p.current
    clock.advance(1)
    p.observe(nvml(6400 * MIB))
    clock.advance(1)
    p.observe(nvml(7900 * MIB))
    clock.advance(40)
    assert p.choose(nvml(7900 * MIB)) == p.fit(6400 * MIB) > small


def test_busy_never_changes_the_size() -> None:
    clock = FakeClock()
    p = policy(clock=clock)
    p.choose(nvml(7900 * MIB))
    assert p.choose(nvml(5000 * MIB), busy=True) == 131072
    assert p.choose(nvml(5000 * MIB)) < 131072


def test_own_loaded_model_counts_as_available() -> None:
    p = policy()
    mine = LoadedModel("gemma4:e4b", 6 * GIB, 6 * GIB, 65536)
    # NVML shows 2 GiB free because our own model holds 6 GiB: that is not a reason to shrink.
    assert p.available(nvml(2 * GIB), [mine]) == 8 * GIB
    assert p.choose(nvml(2 * GIB), [mine]) == 65536  # the loaded size is kept, no reload
    assert p.changes[0].reason == "kept the size already loaded"
    other = LoadedModel("llama3:8b", 5 * GIB, 5 * GIB, 8192)
    assert p.available(nvml(2 * GIB), [other]) == 2 * GIB


def test_own_model_estimated_when_the_backend_cannot_tell() -> None:
    clock = FakeClock()
    p = policy(clock=clock, step_up_min_interval_s=0)
    p.choose(nvml(7900 * MIB))
    p.request_done(131072, 3.0)
    resident = p.need(131072) - 384 * MIB
    # After the load NVML shows less free; without /api/ps the policy adds its own estimate.
    assert p.choose(nvml(7900 * MIB - resident)) == 131072
    assert p.changes[0].load_s == 3.0
    clock.advance(301)  # keep_alive ran out: the model is gone, the reading is all there is
    assert p.available(nvml(GIB)) == GIB


def test_spill_steps_down_and_blocks_that_size_until_memory_grows() -> None:
    clock = FakeClock()
    p = policy(clock=clock, step_up_hold_s=0, step_up_min_interval_s=0)
    p.choose(nvml(7900 * MIB))
    clock.advance(1)
    # By arithmetic 131072 fits (1100 MiB free + 6 GiB held), but the server spilled.
    spilled = LoadedModel("gemma4:e4b", 7 * GIB, 6 * GIB, 131072)
    assert p.need(131072) <= p.available(nvml(1100 * MIB), [spilled])
    assert p.choose(nvml(1100 * MIB), [spilled]) == 98304
    assert "spilled" in p.changes[-1].reason
    clock.advance(60)
    fine = LoadedModel("gemma4:e4b", 6 * GIB, 6 * GIB, 98304)
    assert p.choose(nvml(1200 * MIB), [fine]) == 98304  # still fits by arithmetic: no
    clock.advance(60)
    assert p.choose(nvml(1800 * MIB), [fine]) == 131072  # the KV difference showed up
    # Spill consistent with the arithmetic: down to what fits, however far.
    q = policy(clock=clock)
    q.choose(nvml(7900 * MIB))
    assert q.choose(nvml(300 * MIB), [spilled]) == q.fit(300 * MIB + 6 * GIB) == 65536


def test_pinned_size_disables_the_policy() -> None:
    clock = FakeClock()
    p = policy(clock=clock, num_ctx=12000)
    assert p.choose(nvml(7900 * MIB)) == 12000
    clock.advance(500)
    assert p.choose(nvml(100 * MIB)) == 12000
    assert len(p.changes) == 1 and "pinned" in p.changes[0].reason


def test_no_gpu_reading_uses_a_fixed_size() -> None:
    clock = FakeClock()
    p = policy(E2B, clock=clock, max_ctx=32768)
    ram = MemoryReading(source="system-ram", total=24 * GIB, free=20 * GIB, note="no driver")
    assert p.choose(ram) == 32768
    assert "fixed size" in p.changes[0].reason and "no driver" in p.changes[0].reason
    clock.advance(100)
    assert p.choose(MemoryReading(source="system-ram", total=24 * GIB, free=GIB)) == 32768
    tight = policy(E2B, max_ctx=32768).choose(
        MemoryReading(source="system-ram", total=8 * GIB, free=3400 * MIB)
    )
    assert tight == 16384  # weights + KV must fit the RAM left
    assert policy(E2B, max_ctx=32768).choose(None) == 32768


def test_without_a_gpu_figure_the_size_already_loaded_is_kept() -> None:
    """Another client (the terminal UI, say) loaded the model at 12288: a fixed 32768 would
    make the server reload it, for nothing."""
    ram = MemoryReading(source="system-ram", total=24 * GIB, free=20 * GIB, note="no driver")
    on_cpu = LoadedModel("gemma4:e2b", 3 * GIB, 0, 12288)  # a CPU-only server: vram 0
    p = policy(E2B, max_ctx=32768)
    assert p.choose(ram, [on_cpu]) == 12288
    assert p.changes[0].reason == "kept the size already loaded"
    remote = MemoryReading(source="ollama-ps", note="remote")
    in_vram = LoadedModel("gemma4:e2b", 3 * GIB, 3 * GIB, 16384)
    assert policy(E2B, max_ctx=32768).choose(remote, [in_vram]) == 16384
    # not kept: a size the settings do not allow, or one that spilled out of the GPU
    assert policy(E2B, max_ctx=8192).choose(remote, [in_vram]) == 8192
    spilled = LoadedModel("gemma4:e2b", 3 * GIB, 2 * GIB, 16384)
    assert policy(E2B, max_ctx=32768).choose(remote, [spilled]) == 32768


def test_remote_server_spill_without_a_gpu_figure_steps_down() -> None:
    p = policy(E4B, max_ctx=32768)
    remote = MemoryReading(source="ollama-ps", note="remote")
    assert p.choose(remote) == 32768
    spilled = LoadedModel("gemma4:e4b", 7 * GIB, 5 * GIB, 32768)
    assert p.choose(remote, [spilled]) == 24576
    assert p.choose(remote, [LoadedModel("gemma4:e4b", 6 * GIB, 6 * GIB, 24576)]) == 24576
    assert p.fixed_size(remote) == 24576


def test_unknown_architecture_gets_a_conservative_estimate() -> None:
    kv, known = model_kv(ModelInfo("x", parameter_size="8B"))
    assert not known and kv.global_kv * 4 >= 8 * 64 * 1024  # >= 4x Llama 3 8B's real 128 KiB
    from_raw, known = model_kv(
        ModelInfo(
            "g",
            raw={
                "general.architecture": "gemma3",
                "gemma3.block_count": 18,
                "gemma3.attention.head_count_kv": 1,
                "gemma3.attention.key_length": 256,
                "gemma3.attention.sliding_window": 512,
            },
        )
    )
    assert known and from_raw == KvArch(768, 3840, 512)
    by_size, _ = model_kv(ModelInfo("y", size_bytes=6 * 10**9))
    assert by_size.global_kv * 4 == 10 * 64 * 1024


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h30m", 5400), ("300", 300), ("45s", 45), ("-1", math.inf), ("junk", 300)],
)
def test_parse_keep_alive(text: str, seconds: float) -> None:
    assert parse_keep_alive(text) == seconds
