"""The context policy on a 10-minute scripted fluctuating-VRAM timeline (issue 3).

An 8 GB card runs Gemma 4 E4B (4.5 GB of weights, 16 KiB of KV per token). Over ten
minutes of fake time a browser's memory wanders (0-1 GB, new value every few seconds),
short spikes come and go (a video call, a build), and a second 1.7 GB model loads at 3:00
and unloads at 7:00. A request goes through ModelSession every 3-8 seconds with real source
code (Django's, or gemmacode's own when the corpus is not built) of 500 to 14,000 tokens.

The same timeline and requests run twice in one process: with the policy's hysteresis
(default settings) and with a naive policy that follows free memory on every request (hold
and interval 0). Printed per policy: reloads, the reload time they cost, the mean num_ctx,
requests over budget (prompt + answer reserve > num_ctx: must be 0) and out-of-memory
choices (weights + KV at the chosen size > the free memory at that moment: must be 0).

    python bench/bench_policy.py [--seed N] [--log]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gemmacode.config import Settings  # noqa: E402
from gemmacode.context.budget import Part  # noqa: E402
from gemmacode.context.kvcache import kv_cache_bytes  # noqa: E402
from gemmacode.tokens.calibration import CalibrationStore  # noqa: E402
from gemmacode.tokens.encoding import raw_count  # noqa: E402
from tests.fakes.gpu import E4B, GIB, MIB, Rig, build_rig  # noqa: E402

DURATION_S = 600
CARD = 8 * GIB
LOAD_COST_S = 2.5  # what one reload costs on the simulated server


def timeline(seed: int) -> list[tuple[float, int | None]]:
    """Free memory left by other programs, one step per second."""
    rng = random.Random(seed)
    desktop = 300 * MIB
    browser = 400 * MIB
    spike_until = -1.0
    spike = 0
    steps: list[tuple[float, int | None]] = []
    for t in range(DURATION_S + 1):
        if t % rng.randint(3, 6) == 0:  # the browser opens and closes tabs
            browser = min(1000 * MIB, max(0, browser + rng.randint(-250, 250) * MIB))
        if t > spike_until and rng.random() < 0.02:  # a short-lived heavy user
            spike, spike_until = rng.randint(200, 800) * MIB, t + rng.randint(3, 20)
        if t > spike_until:
            spike = 0
        second_model = 1700 * MIB if 180 <= t < 420 else 0
        steps.append((float(t), CARD - desktop - browser - spike - second_model))
    return steps


def code_samples() -> list[str]:
    """Real source files to review: the Django corpus if built, else gemmacode itself."""
    django = ROOT / "bench" / "_repos" / "django"
    base = django if (django / ".bench-complete").exists() else ROOT / "gemmacode"
    files = sorted(p for p in base.rglob("*.py") if p.stat().st_size > 2000)[:400]
    return [p.read_text("utf-8", "replace") for p in files]


def requests(seed: int) -> list[tuple[float, list[Part]]]:
    """(time, parts) for every request: system, a repo map, 500-14,000 tokens of code."""
    rng = random.Random(seed + 1)
    sources = code_samples()
    out: list[tuple[float, list[Part]]] = []
    t = 0.0
    n = 0
    while t < DURATION_S:
        target = rng.choice((500, 1500, 3000, 6000, 10000, 14000))
        code = ""
        while raw_count(code) < target:
            code += rng.choice(sources)
        lines = code.splitlines(keepends=True)
        code = "".join(lines[: max(20, int(len(lines) * target / max(1, raw_count(code))))])
        parts = [
            Part("system", "You review code. Report bugs as JSON findings.", role="system"),
            Part("map", "\n".join(f"module_{i}.py: f{i}()" for i in range(150)), required=False),
            Part("code", code, shrinkable=True, min_tokens=200),
            Part("question", f"Request {n}: what is wrong with this code?"),
        ]
        out.append((t, parts))
        t += rng.uniform(3, 8)
        n += 1
    return out


async def run(seed: int, naive: bool, store: CalibrationStore) -> tuple[Rig, float]:
    settings = Settings()
    settings.context.max_ctx = 131072
    if naive:
        settings.context.step_up_hold_s = 0
        settings.context.step_up_min_interval_s = 0
    rig = build_rig(timeline(seed), model=E4B, total=CARD, settings=settings, calibration=store)
    rig.server.load_cost_s = LOAD_COST_S
    start = time.perf_counter()
    for at, parts in requests(seed):
        while rig.clock() < at:  # the monitor samples every second in between
            rig.monitor.sample()
            rig.clock.advance(1.0)
        await rig.ask(parts, num_predict=1024)
    return rig, time.perf_counter() - start


def measure(rig: Rig) -> dict[str, float]:
    kv = E4B.kv
    assert kv is not None
    over = oom = 0
    for (t, num_ctx, raw), request in zip(rig.sent, rig.server.requests, strict=True):
        if raw + request.options.num_predict > num_ctx:
            over += 1
        free = rig.source.others_free(t) or 0
        if E4B.size_bytes + kv_cache_bytes(kv, num_ctx) > free:
            oom += 1
    sizes = [num_ctx for _t, num_ctx, _raw in rig.sent]
    return {
        "requests": len(rig.sent),
        "reloads": rig.server.reloads,
        "reload_s": rig.server.reloads * LOAD_COST_S,
        "mean_ctx": sum(sizes) / len(sizes),
        "over": over,
        "oom": oom,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log", action="store_true", help="print each size change and why")
    args = parser.parse_args()
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, naive in (("hysteresis", False), ("naive", True)):
            store = CalibrationStore(Path(tmp) / f"{name}.json")
            rig, wall = asyncio.run(run(args.seed, naive, store))
            rows.append((name, measure(rig), wall))
            if args.log and rig.session.policy is not None:
                for c in rig.session.policy.changes:
                    print(f"  {name} t={c.at:5.0f}s {c.before:>6} -> {c.after:<6} {c.reason}")
    print(f"policy on a {DURATION_S // 60}-minute fluctuating-VRAM timeline (seed {args.seed})")
    print(
        f"{'policy':<11} {'requests':>8} {'reloads':>7} {'reload s':>8} {'mean num_ctx':>12} "
        f"{'over budget':>11} {'OOM choices':>11} {'wall s':>6}"
    )
    for name, m, wall in rows:
        print(
            f"{name:<11} {m['requests']:>8.0f} {m['reloads']:>7.0f} {m['reload_s']:>8.1f} "
            f"{m['mean_ctx']:>12.0f} {m['over']:>11.0f} {m['oom']:>11.0f} {wall:>6.1f}"
        )
    ours, base = rows[0][1], rows[1][1]
    ratio = base["reloads"] / max(1.0, ours["reloads"])
    print(f"naive reloads / hysteresis reloads: {ratio:.1f}x")
    ok = ours["over"] == 0 and ours["oom"] == 0
    print("PASS" if ok else "FAIL: requests over budget or out-of-memory choices")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
