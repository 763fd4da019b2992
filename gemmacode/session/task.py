"""A cancellable task: one review or question, run on the caller's event loop, seen as the
typed task events of :mod:`gemmacode.session.events`.

The work (a *job*: an async function of a :class:`TaskLog`) runs in its own asyncio task
and writes events into a queue as they happen (streamed prose arrives through the review
engine's callbacks, which cannot ``yield``); iterating the :class:`RunningTask` reads them.
The job starts when iteration starts, so a task that is never iterated never runs.

Endings, always with :class:`~gemmacode.session.events.Finished` last:

- the job returns: ``done``, with what it returns;
- :meth:`RunningTask.cancel` (from any thread): the job is cancelled at its next ``await``
  (an in-flight request stops streaming at once: the backends close the connection), and
  ``Finished`` is ``cancelled`` with the prose, findings and notes that arrived before;
- a :class:`~gemmacode.errors.GemmacodeError` (no server, a bad target): ``error`` with the
  one-line message and its exit code;
- any other exception is a bug: ``Finished`` says ``error`` and the exception is then raised
  from the iteration, so it is never silently swallowed;
- the iterating code stops early (``break``, its own cancellation, Ctrl-C): the job is
  cancelled and awaited before the iteration ends, so nothing keeps running behind it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

from gemmacode.backends.base import Final
from gemmacode.errors import GemmacodeError
from gemmacode.review.findings.model import Finding
from gemmacode.session.events import FindingsReady, Finished, Note, ProseDelta, TaskEvent


class TaskLog:
    """What a job has produced so far, and the door its events go out through."""

    def __init__(self, model: str, put: Callable[[TaskEvent], None]) -> None:
        self.model = model
        self._put = put
        self.prose: list[str] = []
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self.finals: list[Final] = []
        self.sources: dict[str, str] = {}
        self.started = time.perf_counter()

    def emit(self, event: TaskEvent) -> None:
        self._put(event)

    def delta(self, text: str) -> None:
        self.prose.append(text)
        self._put(ProseDelta(text))

    def found(self, findings: list[Finding]) -> None:
        self.findings = list(findings)  # a merge pass replaces the units' findings
        self._put(FindingsReady(tuple(findings)))

    def note(self, text: str, kind: Literal["result", "info"] = "result") -> None:
        if kind == "result":
            self.notes.append(text)
        self._put(Note(text, kind))

    def finished(
        self,
        outcome: Literal["done", "cancelled", "error"],
        *,
        prose: str | None = None,
        error: str = "",
        exit_code: int = 0,
    ) -> Finished:
        return Finished(
            outcome=outcome,
            prose="".join(self.prose) if prose is None else prose,
            findings=tuple(self.findings),
            model=self.model,
            notes=tuple(self.notes),
            finals=tuple(self.finals),
            error=error,
            seconds=time.perf_counter() - self.started,
            exit_code=exit_code,
            sources=dict(self.sources),
        )


Job = Callable[[TaskLog], Awaitable[Finished]]


class RunningTask:
    """A :class:`gemmacode.session.api.Task`. Iterate it once."""

    def __init__(self, job: Job, model: str) -> None:
        self._job = job
        self._model = model
        self._queue: asyncio.Queue[TaskEvent] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel = False
        self._iterated = False
        self._done = False
        self._bug: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self._done

    def cancel(self) -> None:
        """Stop the task; safe from any thread, and before or after it started."""
        with self._lock:
            self._cancel = True
            runner, loop = self._runner, self._loop
        if runner is None or loop is None or runner.done():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            runner.cancel()
        else:
            loop.call_soon_threadsafe(runner.cancel)

    def __aiter__(self) -> AsyncIterator[TaskEvent]:
        if self._iterated:
            raise RuntimeError("a task can be iterated only once")
        self._iterated = True
        return self._events()

    async def _events(self) -> AsyncIterator[TaskEvent]:
        log = TaskLog(self._model, self._queue.put_nowait)
        with self._lock:
            if self._cancel:
                self._done = True
                yield log.finished("cancelled")
                return
            self._loop = asyncio.get_running_loop()
            self._runner = self._loop.create_task(self._run(log))
        try:
            while True:
                event = await self._queue.get()
                if isinstance(event, Finished):
                    self._done = True
                yield event
                if isinstance(event, Finished):
                    break
        finally:
            runner = self._runner
            if not runner.done():
                runner.cancel()
            try:
                await runner
            except asyncio.CancelledError:
                pass
            self._done = True
        if self._bug is not None:
            raise self._bug

    async def _run(self, log: TaskLog) -> None:
        put = self._queue.put_nowait
        try:
            put(await self._job(log))
        except asyncio.CancelledError:
            put(log.finished("cancelled"))
            if not self._cancel:
                raise  # cancelled from outside (the loop is closing): let that proceed
        except GemmacodeError as err:
            put(log.finished("error", error=str(err), exit_code=err.exit_code))
        except Exception as err:
            self._bug = err
            put(log.finished("error", error=f"{type(err).__name__}: {err}", exit_code=1))
