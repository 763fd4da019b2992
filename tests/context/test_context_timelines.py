"""The context policy on scripted GPU timelines, end to end through ModelSession.

Each rig is a simulated GPU (free memory left by other programs over time), a simulated
Ollama that reloads on a new num_ctx and spills when the model does not fit, and a session
sending a request every few seconds. Sizes, reload counts and the no-overflow rule are
asserted; the arithmetic behind each expected size is in the comments.
"""

from __future__ import annotations

import asyncio
import itertools

from gemmacode.config import Settings
from gemmacode.context.budget import Part
from tests.fakes.gpu import E2B, E4B, GIB, MIB, Rig, build_rig

CODE = "".join(
    f"def check_{i}(value):\n    return validate(value, limit={i})\n" for i in range(150)
)


def make_parts(n: int) -> list[Part]:
    return [
        Part("system", "Review the code for bugs.", role="system"),
        Part("code", CODE, shrinkable=True, min_tokens=64),
        Part("question", f"Question {n}: what can go wrong?"),
    ]


def settings(**context: object) -> Settings:
    s = Settings()
    s.context.max_ctx = 131072
    for key, value in context.items():
        setattr(s.context, key, value)
    return s


def runs(sizes: list[int]) -> list[int]:
    """The sequence of distinct sizes in order."""
    return [size for size, _ in itertools.groupby(sizes)]


def assert_within_budget(rig: Rig) -> None:
    assert rig.sent
    for _t, num_ctx, raw in rig.sent:
        assert raw <= num_ctx - rig.session.budget().num_predict


def test_four_gb_card_with_a_browser_taking_and_releasing_memory() -> None:
    # E2B: 2900 MiB weights, 6 KiB/token + 12 MiB fixed, 384 MiB margin.
    # 3796 MiB free -> 500 MiB for KV -> 65536; browser +400 MiB -> 100 MiB -> 16384.
    timeline = [(0, 3796 * MIB), (60, 3396 * MIB), (200, 3796 * MIB), (300, 3396 * MIB)]
    rig = build_rig(timeline, model=E2B, total=4 * GIB, settings=settings())
    sizes = asyncio.run(rig.drive(400, 10, make_parts))
    assert runs(sizes) == [65536, 16384, 65536, 16384]
    changes = rig.session.policy.changes if rig.session.policy else []
    # Down at once at t=60; up only at t=230 (headroom from t=200 held 30 s); down at t=300.
    assert [(c.at, c.after) for c in changes] == [
        (0, 65536),
        (60, 16384),
        (230, 65536),
        (300, 16384),
    ]
    assert rig.server.reloads == 3 and not rig.server.oom_loads
    assert all(c.load_s == 2.5 for c in changes)
    assert_within_budget(rig)


def flicker_timeline() -> list[tuple[float, int | None]]:
    """Tabs grab 400 MiB for 4 s every 20 s for 5 minutes, on a 4 GB card."""
    timeline: list[tuple[float, int | None]] = [(0, 3796 * MIB)]
    for start in range(20, 320, 20):
        timeline += [(start, 3396 * MIB), (start + 4, 3796 * MIB)]
    return timeline


def test_a_flickering_browser_does_not_cause_a_reload_storm() -> None:
    rig = build_rig(flicker_timeline(), model=E2B, total=4 * GIB, settings=settings())
    sizes = asyncio.run(rig.drive(600, 7, make_parts))
    # A request that lands in a dip must step down (the big size does not fit then), but
    # the dips keep resetting the hold, so it stays down until they stop at t=304.
    assert runs(sizes) == [65536, 16384, 65536]
    changes = rig.session.policy.changes if rig.session.policy else []
    assert changes[-1].at >= 334  # 30 s after the last dip ended
    assert rig.server.reloads == 2 and not rig.server.oom_loads
    assert_within_budget(rig)
    # The same timeline without hysteresis follows every dip that a request lands in.
    naive = build_rig(
        flicker_timeline(),
        model=E2B,
        total=4 * GIB,
        settings=settings(step_up_hold_s=0, step_up_min_interval_s=0),
    )
    naive_sizes = asyncio.run(naive.drive(600, 7, make_parts))
    dips_hit = sum(1 for t, _c, _r in naive.sent if naive.source.others_free(t) == 3396 * MIB)
    assert dips_hit >= 4
    assert naive.server.reloads == 2 * dips_hit
    assert runs(naive_sizes) == [65536, 16384] * dips_hit + [65536]


def test_a_second_model_loading_on_an_8_gb_card() -> None:
    # E4B: 4608 MiB weights, 16 KiB/token + 40 MiB; 7900 MiB free -> 131072 (KV 2 GiB).
    # A 2 GiB model loads at t=100 -> 820 MiB for KV -> 49152; it unloads at t=400.
    timeline = [(0, 7900 * MIB), (100, 5852 * MIB), (400, 7900 * MIB)]
    rig = build_rig(timeline, model=E4B, total=8 * GIB, settings=settings())
    sizes = asyncio.run(rig.drive(600, 5, make_parts))
    assert runs(sizes) == [131072, 49152, 131072]
    changes = rig.session.policy.changes if rig.session.policy else []
    assert [c.at for c in changes] == [0, 100, 430]
    assert rig.server.reloads == 2 and not rig.server.oom_loads
    assert_within_budget(rig)


def test_min_interval_limits_step_ups() -> None:
    # Memory comes back 40 s after the drop: the hold is met at t=90, the interval at t=170.
    timeline = [(0, 7900 * MIB), (50, 5852 * MIB), (60, 7900 * MIB)]
    rig = build_rig(timeline, model=E4B, total=8 * GIB, settings=settings())
    asyncio.run(rig.drive(300, 10, make_parts))
    changes = rig.session.policy.changes if rig.session.policy else []
    assert [(c.at, c.after) for c in changes] == [(0, 131072), (50, 49152), (170, 131072)]


def test_a_gpu_that_disappears_keeps_the_size_and_the_program_running() -> None:
    timeline = [(0, 7900 * MIB), (100, None), (250, 5852 * MIB)]
    rig = build_rig(timeline, model=E4B, total=8 * GIB, settings=settings())
    sizes = asyncio.run(rig.drive(350, 10, make_parts))
    assert len(sizes) == 35
    reading = rig.monitor.latest()
    assert reading.source == "nvml"
    assert runs(sizes) == [131072, 49152]  # unchanged while gone; down when it is back
    changes = rig.session.policy.changes if rig.session.policy else []
    assert [c.at for c in changes] == [0, 250]
    assert rig.session.policy is not None and "GPU is lost" in rig.session.policy.note
    assert_within_budget(rig)


def test_server_spill_steps_down_until_it_stops() -> None:
    # The server needs 700 MiB of compute buffers, more than the 384 MiB margin: at the size
    # the arithmetic allows, layers spill to the CPU; the policy steps down on the report.
    # 7300 MiB free: the arithmetic (7080 MiB with the margin) allows 131072; really 7396.
    timeline = [(0, 7300 * MIB)]
    rig = build_rig(
        timeline, model=E4B, total=8 * GIB, settings=settings(), extra_resident=700 * MIB
    )
    sizes = asyncio.run(rig.drive(200, 10, make_parts))
    assert sizes[0] == 131072 and rig.server.oom_loads == [(0, 131072)]
    assert runs(sizes) == [131072, 98304]
    assert not rig.server.spilled
    changes = rig.session.policy.changes if rig.session.policy else []
    assert "spilled" in changes[1].reason
    assert rig.server.reloads == 1  # never back up to the size that spilled


def test_pinned_num_ctx_ignores_the_timeline() -> None:
    timeline = [(0, 7900 * MIB), (50, 5852 * MIB), (100, 7900 * MIB)]
    rig = build_rig(timeline, model=E4B, total=8 * GIB, settings=settings(num_ctx=16384))
    sizes = asyncio.run(rig.drive(200, 10, make_parts))
    assert set(sizes) == {16384} and rig.server.reloads == 0
