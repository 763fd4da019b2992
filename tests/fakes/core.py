"""A scripted :class:`~gemmacode.session.api.CoreSession` for the terminal UI's tests.

It keeps the contract of ``gemmacode/session/api.py`` without a model, a GPU or an index:

- status events are played from a script (:meth:`FakeCore.emit`, or :meth:`FakeCore.play`
  for a timeline, optionally from another thread as the real GPU monitor does), and
  :attr:`FakeCore.status` is kept as the snapshot of the latest of each;
- reviews and questions are :class:`ScriptedTask` objects that stream scripted prose in
  pieces and then findings, with a delay per piece so a test can cancel mid-stream;
- every request the UI makes (review specs, questions with their history, model changes,
  context pins, re-index calls) is recorded for the test to assert on.

``opener(core)`` wraps a core in the async context manager the app factory expects, the
same shape as ``gemmacode.session.core.open_session``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from gemmacode.backends.base import ModelInfo
from gemmacode.config import Settings
from gemmacode.review.findings.model import Finding
from gemmacode.session.api import IndexProgress, IndexSummary, ModelChoice, ReviewSpec
from gemmacode.session.events import (
    Answering,
    ContextApplied,
    ContextPending,
    ContextSize,
    FindingsReady,
    Finished,
    GpuSample,
    ModelSpilled,
    Note,
    PlanReady,
    PromptCut,
    ProseDelta,
    Reloading,
    RequestStarted,
    RequestStats,
    ServerState,
    Status,
    StatusEvent,
    TaskEvent,
)

GIB = 1024**3


def reduce_status(status: Status, event: StatusEvent, history: int = 30) -> Status:
    """The snapshot after ``event``: what the real core keeps in ``CoreSession.status``."""
    if isinstance(event, GpuSample):
        used = (*status.memory_history, event.used)[-history:]
        return replace(status, memory=event, memory_history=used)
    if isinstance(event, ContextSize):
        return replace(status, context=event)
    if isinstance(event, ContextPending):
        return replace(status, pending=event)
    if isinstance(event, ContextApplied):
        return replace(
            status,
            last_change=event,
            pending=None,
            reloading=None,
            context=ContextSize(event.after, status.context.pinned if status.context else False),
        )
    if isinstance(event, Reloading):
        return replace(status, reloading=event)
    if isinstance(event, Answering):
        return replace(status, reloading=None)
    if isinstance(event, PromptCut):
        return replace(status, prompt_cut=event)
    if isinstance(event, ModelSpilled):
        return replace(status, spilled=event)
    if isinstance(event, RequestStats):
        return replace(status, last_request=event, reloading=None)
    return replace(status, server=event)


@dataclass
class ScriptedTask:
    """A task that streams ``prose`` in ``piece``-character deltas, ``delay_s`` apart, then
    yields ``findings`` and ``Finished``. ``error`` ends it with an error instead."""

    label: str
    prose: str = "The code looks fine."
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    piece: int = 8
    delay_s: float = 0.0
    error: str = ""
    model: str = "gemma4:e4b"
    num_ctx: int = 8192
    seconds: float = 1.5  # reported in Finished (fixed, so snapshots do not move)
    hold_at: int | None = None  # stop streaming after this many characters until released
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _cancelled: bool = False
    _done: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def streamed(self) -> bool:
        """Whether it has streamed up to ``hold_at`` and waits there."""
        return self.started.is_set() and self.hold_at is not None

    @property
    def done(self) -> bool:
        return self._done

    def __aiter__(self) -> AsyncIterator[TaskEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[TaskEvent]:
        sent = ""
        try:
            yield PlanReady(self.label, 1, self.num_ctx)
            yield RequestStarted(1, 1, "review")
            self.started.set()
            for i in range(0, len(self.prose), self.piece):
                if self._cancelled:
                    break
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if self.hold_at is not None and i >= self.hold_at:
                    while not self.release.is_set() and not self._cancelled:
                        await asyncio.sleep(0.01)
                if self._cancelled:
                    break
                sent += self.prose[i : i + self.piece]
                yield ProseDelta(self.prose[i : i + self.piece])
            if self._cancelled:
                yield Finished("cancelled", sent, (), self.model, seconds=self.seconds)
                return
            if self.error:
                yield Finished("error", sent, (), self.model, error=self.error)
                return
            for note in self.notes:
                yield Note(note)
            if self.findings:
                yield FindingsReady(self.findings)
            yield Finished(
                "done",
                sent,
                self.findings,
                self.model,
                notes=self.notes,
                seconds=self.seconds,
            )
        finally:
            self._done = True


@dataclass
class FakeWorkspace:
    root: Path
    settings: Settings
    steps: int = 4  # progress callbacks per refresh
    step_s: float = 0.0
    refreshes: int = 0
    gate: threading.Event | None = None  # when set, refresh waits on it (an indexing test)

    def refresh(self, progress: Callable[[IndexProgress], None] | None = None) -> IndexSummary:
        self.refreshes += 1
        for i in range(self.steps + 1):
            if progress is not None:
                progress(IndexProgress(i * 25, self.steps * 25, "parsing"))
            if self.gate is not None and i == 1:
                self.gate.wait(10)
            if self.step_s:
                time.sleep(self.step_s)
        return IndexSummary(files=self.steps * 25, symbols=400, skipped={"binary": 2})

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache-fake"

    @property
    def map_cache_dir(self) -> Path:
        return self.cache_dir / "map"


TaskScript = Callable[[str, ReviewSpec | None], ScriptedTask]


def default_script(label: str, spec: ReviewSpec | None) -> ScriptedTask:
    return ScriptedTask(label, prose=f"Answer about {label}.")


@dataclass
class FakeCore:
    """A CoreSession on scripts; see the module docstring."""

    workspace: FakeWorkspace
    script: TaskScript = default_script
    choices: list[ModelChoice] = field(default_factory=list)
    initial: Status = field(default_factory=Status)
    reviews: list[ReviewSpec] = field(default_factory=list)
    questions: list[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]] = field(
        default_factory=list
    )
    servers: list[ServerState] = field(default_factory=list)  # check_server's answers, in turn
    server_checks: int = 0
    model_changes: list[str] = field(default_factory=list)
    ctx_pins: list[int | None] = field(default_factory=list)
    tasks: list[ScriptedTask] = field(default_factory=list)
    _subscribers: list[Callable[[StatusEvent], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._status = self.initial

    @property
    def status(self) -> Status:
        return self._status

    def subscribe(self, callback: Callable[[StatusEvent], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def emit(self, event: StatusEvent) -> None:
        """Publish one status event on the calling thread, as the core does."""
        with self._lock:
            self._status = reduce_status(self._status, event)
        for callback in list(self._subscribers):
            callback(event)

    def emit_from_thread(self, events: Sequence[StatusEvent]) -> None:
        """Publish events from a separate thread (the GPU monitor's), and wait for it."""
        thread = threading.Thread(target=lambda: [self.emit(e) for e in events])
        thread.start()
        thread.join()

    def _start(self, label: str, spec: ReviewSpec | None) -> ScriptedTask:
        task = self.script(label, spec)
        self.tasks.append(task)
        return task

    def review(self, spec: ReviewSpec) -> ScriptedTask:
        self.reviews.append(spec)
        label = spec.target or spec.kind
        return self._start(label, spec)

    def ask(
        self, question: str, *, focus: Sequence[str] = (), history: Sequence[tuple[str, str]] = ()
    ) -> ScriptedTask:
        self.questions.append((question, tuple(focus), tuple(history)))
        return self._start(question, None)

    async def check_server(self) -> ServerState:
        """The next scripted answer (the last one repeats), else the status's own."""
        self.server_checks += 1
        if self.servers:
            state = self.servers.pop(0) if len(self.servers) > 1 else self.servers[0]
        else:
            state = self._status.server or ServerState("ollama", "127.0.0.1:11434", "m", True, True)
        self.emit(state)
        return state

    async def models(self) -> list[ModelChoice]:
        return list(self.choices)

    async def set_model(self, name: str) -> None:
        self.model_changes.append(name)
        server = self._status.server or ServerState("ollama", "127.0.0.1:11434", name, True, True)
        self.emit(replace(server, model=name))

    def set_num_ctx(self, num_ctx: int | None) -> None:
        self.ctx_pins.append(num_ctx)
        current = self._status.context.num_ctx if self._status.context else 8192
        self.emit(ContextSize(num_ctx or current, num_ctx is not None))


def healthy_status() -> Status:
    """A status with a reachable local server, a GPU reading and a context size."""
    status = Status()
    for event in (
        ServerState("ollama", "127.0.0.1:11434", "gemma4:e4b", True, True),
        GpuSample("gpu", used=3 * GIB, total=8 * GIB),
        ContextSize(8192, False),
    ):
        status = reduce_status(status, event)  # type: ignore[arg-type]
    return status


def sample_choices() -> list[ModelChoice]:
    return [
        ModelChoice(
            ModelInfo("gemma4:e4b", "gemma4", "8.0B", "Q4_K_M", 131072, 4608 * 1024**2),
            loaded=True,
            fits_now=True,
            max_ctx_now=32768,
        ),
        ModelChoice(
            ModelInfo("gemma4:e2b", "gemma4", "5.1B", "Q4_K_M", 131072, 2900 * 1024**2),
            loaded=False,
            fits_now=True,
            max_ctx_now=65536,
        ),
        ModelChoice(
            ModelInfo("gemma4:31b", "gemma4", "31B", "Q4_K_M", 262144, 17500 * 1024**2),
            loaded=False,
            fits_now=False,
            max_ctx_now=0,
            note="needs 19.4 GB at 8K",
        ),
    ]


def make_core(root: Path, settings: Settings | None = None, **kwargs: object) -> FakeCore:
    settings = settings or Settings()
    core = FakeCore(FakeWorkspace(root, settings), **kwargs)  # type: ignore[arg-type]
    if not core.choices:
        core.choices = sample_choices()
    return core


def opener(core: FakeCore) -> Callable[[], contextlib.AbstractAsyncContextManager[FakeCore]]:
    """``open_session``'s shape: a function returning an async context manager."""

    @contextlib.asynccontextmanager
    async def open_() -> AsyncIterator[FakeCore]:
        yield core

    return open_


def failing_opener(
    error: BaseException,
) -> Callable[[], contextlib.AbstractAsyncContextManager[FakeCore]]:
    @contextlib.asynccontextmanager
    async def open_() -> AsyncIterator[FakeCore]:
        raise error
        yield  # pragma: no cover

    return open_
