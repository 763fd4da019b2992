"""One review through the core, within a deadline: what it found, and what it did not get to.

The hook is a front end like the others: it opens a core session
(:func:`gemmacode.session.core.open_session`, or any opener with that shape, which is how the
tests inject a scripted core), starts one review task and reads its events. The deadline
bounds everything, opening the session included. When it passes, the task is cancelled
(the core stops at the next event boundary and keeps what it found) and given a moment to
say so; the findings of the parts already reviewed are kept, and the parts not reached are
named in a note. The server's metrics of every finished request come back for the speed
store (:mod:`gemmacode.hook.speeds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemmacode.backends.base import Final
from gemmacode.config import Settings
from gemmacode.errors import GemmacodeError
from gemmacode.review.findings.model import Finding
from gemmacode.session.api import CoreSession, ReviewSpec, Task
from gemmacode.session.events import (
    FindingsReady,
    Finished,
    Note,
    PlanReady,
    RequestStarted,
    StatusEvent,
)

OpenSession = Callable[..., AbstractAsyncContextManager[CoreSession]]
CANCEL_GRACE_S = 2.0  # how long a cancelled task may take to hand back what it found


def core_opener() -> OpenSession:
    """The real core's ``open_session``, imported only when a review is needed."""
    from gemmacode.session.core import open_session

    return open_session


@dataclass
class Outcome:
    """What one review produced. ``failure`` (one line) says why it did not run or finish;
    ``timed_out`` when the deadline cut it short."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    finals: list[Final] = field(default_factory=list)
    model: str = ""
    complete: bool = False
    failure: str = ""
    timed_out: bool = False
    num_ctx: int = 0
    requests: int = 0  # planned
    started: int = 0  # requests started
    request_started_at: float | None = None  # clock of the last request's start


@dataclass
class _State:
    task: Task | None = None
    finished: Finished | None = None
    found: list[Finding] = field(default_factory=list)


async def review_once(
    opener: OpenSession,
    settings: Settings,
    root: Path,
    spec: ReviewSpec,
    *,
    seconds: float,
    on_status: Callable[[StatusEvent], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    open_kwargs: dict[str, Any] | None = None,
) -> Outcome:
    """Run one review task within ``seconds`` (see the module docstring); ``open_kwargs``
    go to the opener (the real core's ``warm`` and ``git_root``)."""
    out = Outcome(model=settings.backend.model)
    state = _State()

    async def drive() -> None:
        async with opener(settings, root=root, **(open_kwargs or {})) as core:
            unsubscribe = core.subscribe(on_status) if on_status is not None else None
            try:
                state.task = core.review(spec)
                async for event in state.task:
                    _take(event, out, state, clock)
            finally:
                if unsubscribe is not None:
                    unsubscribe()

    runner = asyncio.ensure_future(drive())
    done, _ = await asyncio.wait({runner}, timeout=max(seconds, 0.0))
    if not done:
        out.timed_out = True
        if state.task is not None:
            state.task.cancel()
        done, _ = await asyncio.wait({runner}, timeout=CANCEL_GRACE_S)
        if not done:
            runner.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait({runner}, timeout=CANCEL_GRACE_S)
    if runner.done() and not runner.cancelled():
        err = runner.exception()
        if isinstance(err, GemmacodeError):
            out.failure = str(err)
        elif err is not None:
            raise err
    finished = state.finished
    if finished is not None:
        out.findings = list(finished.findings) or list(state.found)
        out.notes += [n for n in finished.notes if n not in out.notes]
        out.finals = list(finished.finals)
        out.model = finished.model or out.model
        out.complete = finished.outcome == "done" and not out.timed_out
        if finished.outcome == "error" and not out.failure:
            out.failure = finished.error or "the review failed"
    else:
        out.findings = list(state.found)
    if out.timed_out:
        out.notes.append(_deadline_note(out))
    return out


def _take(event: Any, out: Outcome, state: _State, clock: Callable[[], float]) -> None:
    if isinstance(event, PlanReady):
        out.requests, out.num_ctx = event.requests, event.num_ctx
        out.notes += [n for n in event.notes if n not in out.notes]
    elif isinstance(event, RequestStarted):
        out.started = max(out.started, event.index)
        out.requests = max(out.requests, event.total)
        out.request_started_at = clock()
    elif isinstance(event, FindingsReady):
        state.found += list(event.findings)
    elif isinstance(event, Note):
        if event.text not in out.notes:
            out.notes.append(event.text)
    elif isinstance(event, Finished):
        state.finished = event


def _deadline_note(out: Outcome) -> str:
    why = "the deadline passed: raise hook.timeout_s to review it all"
    if out.requests > 1 and out.started:
        first = max(out.started, 1)
        return f"not reviewed: parts {first}-{out.requests} of {out.requests} ({why})"
    return f"not reviewed: the change ({why})"
