"""One core session, two reviews and a question, on a scripted GPU: the status events a
status bar sees, in order (readings, a num_ctx step down with its reason, the reload time,
the next request at the new size, no request over its budget)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gemmacode.backends.base import ChatRequest
from gemmacode.config import Settings
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.session.api import ReviewSpec
from gemmacode.session.core import open_session
from gemmacode.session.events import (
    ContextApplied,
    ContextPending,
    ContextSize,
    Finished,
    GpuSample,
    PlanReady,
    Reloading,
    RequestStarted,
    RequestStats,
    ServerState,
    StatusEvent,
    TaskEvent,
)
from gemmacode.tokens.calibration import CalibrationStore
from tests.fakes.gpu import E2B, GIB, MIB, FakeClock, ScriptedSource, SimulatedServer

CODE = "".join(f"def check_{i}(value):\n    return validate(value, limit={i})\n" for i in range(60))
FINDING = {
    "findings": [
        {
            "file": "app.py",
            "line": 2,
            "severity": "medium",
            "category": "bugs",
            "message": "limit is never checked",
            "suggestion": "check it",
        }
    ]
}


def answer(request: ChatRequest) -> str:
    if request.json_schema is not None:
        return json.dumps(FINDING)
    return "- app.py line 2: limit is never checked.\n"


def rig(tmp_path: Path) -> tuple[FakeClock, ScriptedSource, SimulatedServer, GpuMonitor, Settings]:
    # E2B on a 4 GB card: 3796 MiB free -> 65536; a browser takes 400 MiB at t=60 -> 16384
    # (the arithmetic is in tests/context/test_context_timelines.py).
    clock = FakeClock()
    settings = Settings()
    settings.backend.model = E2B.name
    settings.context.max_ctx = 131072
    assert E2B.kv is not None
    server = SimulatedServer(answers=answer, models=[E2B], weights=E2B.size_bytes, kv=E2B.kv)
    source = ScriptedSource(
        [(0, 3796 * MIB), (60, 3396 * MIB)], clock, total=4 * GIB, resident=server.resident
    )
    server.gpu = source
    monitor = GpuMonitor(source, interval_s=1.0, clock=clock)
    return clock, source, server, monitor, settings


async def run(task: object) -> list[TaskEvent]:
    return [event async for event in task]  # type: ignore[attr-defined]


def test_two_reviews_and_a_question_through_one_session(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "app.py").write_text(CODE)
    clock, source, server, monitor, settings = rig(tmp_path)
    seen: list[StatusEvent] = []
    tasks: list[list[TaskEvent]] = []

    async def main() -> None:
        async with open_session(
            settings,
            root=git_repo,
            backend=server,
            monitor=monitor,
            clock=clock,
            calibration=CalibrationStore(tmp_path / "calibration.json"),
        ) as core:
            core.subscribe(seen.append)
            tasks.append(await run(core.review(ReviewSpec("path", "app.py"))))
            clock.advance(60)  # the browser opens
            monitor.sample()  # the monitor's thread takes its next reading
            tasks.append(await run(core.review(ReviewSpec("path", "app.py"))))
            clock.advance(5)
            tasks.append(await run(core.ask("what does check_3 do?")))
            assert core.status.context == ContextSize(16384, False)

    asyncio.run(main())

    # every task ran to the end, the reviews found the planted finding
    for events in tasks:
        assert isinstance(events[-1], Finished) and events[-1].outcome == "done", events[-1]
    assert [f.message for f in tasks[0][-1].findings] == ["limit is never checked"]
    plans = [e for events in tasks for e in events if isinstance(e, PlanReady)]
    assert [p.num_ctx for p in plans] == [65536, 16384, 16384]  # review 2 packed at its size
    started = [(e.index, e.total, e.what) for e in tasks[1] if isinstance(e, RequestStarted)]
    assert started == [(1, 1, "review"), (1, 1, "findings")]

    # readings: the card's figures, and the drop the browser caused
    samples = [e for e in seen if isinstance(e, GpuSample)]
    assert samples and all(s.kind == "gpu" and s.total == 4 * GIB for s in samples)
    assert max(s.free for s in samples[:2]) > 3 * GIB  # before: only the model's room taken
    assert any(s.at == 60 for s in samples)

    # the sequence a status bar sees, readings left out
    def key(e: StatusEvent) -> tuple[object, ...]:
        if isinstance(e, ContextSize):
            return ("size", e.num_ctx)
        if isinstance(e, ContextPending):
            return ("pending", e.current, e.next)
        if isinstance(e, ContextApplied):
            return ("applied", e.before, e.after, e.load_s)
        if isinstance(e, Reloading):
            return ("reloading", e.num_ctx)
        if isinstance(e, RequestStats):
            return ("request", e.num_ctx, e.load_s)
        if isinstance(e, ServerState):
            return ("server", e.reachable, e.model_present)
        return (type(e).__name__,)

    story = [key(e) for e in seen if not isinstance(e, GpuSample)]
    assert story == [
        ("server", True, True),
        ("size", 65536),
        ("reloading", 65536),  # the server holds nothing yet (/api/ps): the first load
        ("Answering",),  # its first token: the load is over
        ("applied", 0, 65536, 2.5),  # what it cost
        ("request", 65536, 2.5),  # review 1: prose pass
        ("request", 65536, 0.0),  # review 1: findings pass
        ("pending", 65536, 16384),  # seen by the monitor at t=60, before any request
        ("size", 16384),  # chosen before review 2 is packed
        ("reloading", 16384),
        ("Answering",),
        ("applied", 65536, 16384, 2.5),  # the reload it cost
        ("request", 16384, 2.5),
        ("request", 16384, 0.0),
        ("request", 16384, 0.0),  # the question, at the new size, no reload
    ]
    pending = next(e for e in seen if isinstance(e, ContextPending))
    applied = [e for e in seen if isinstance(e, ContextApplied)][-1]
    assert "MiB available" in pending.reason and applied.reason == pending.reason

    # no request over its budget, and the server saw the same
    stats = [e for e in seen if isinstance(e, RequestStats)]
    assert all(0 < s.estimated_tokens <= s.budget_tokens for s in stats)
    assert all(0 < s.fill <= 1 for s in stats)
    assert [r.options.num_ctx for r in server.requests] == [s.num_ctx for s in stats]
    assert server.reloads == 1 and not server.oom_loads
    assert monitor.source is source and source.closed  # the session closed what it was given
