"""The status board: the model session's state as typed events and one snapshot.

:class:`StatusBoard` turns what the layers below report into the status events of
:mod:`gemmacode.session.events` and keeps the latest of each as a
:class:`~gemmacode.session.events.Status`:

- every GPU monitor reading becomes a :class:`GpuSample` (kept with a short history of used
  memory), and the policy's :meth:`~gemmacode.context.policy.ContextPolicy.preview` of that
  reading a :class:`ContextPending` when it would change the size at the next request;
- a request leaving at a size other than the last one's is a :class:`Reloading` (the first
  request too, when the server's ``/api/ps`` said it does not hold the model at that size),
  and a new size a :class:`ContextSize`; the first token after it an :class:`Answering`
  (the load is over);
- its Final is a :class:`RequestStats`, plus a :class:`ContextApplied` with the measured
  reload time when it was the first request at a new size, a :class:`PromptCut` when the
  server cut the prompt, a :class:`ModelSpilled` when ``/api/ps`` says layers sit in RAM.

Events go to subscribers on the thread that produced them (the monitor's, or the request
path's); a subscriber that raises is ignored rather than allowed to stop the sampling.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable

from gemmacode.backends.base import ChatRequest, Final, LoadedModel
from gemmacode.context.budget import Budget
from gemmacode.context.model_session import ModelSession
from gemmacode.context.policy import ContextChange
from gemmacode.gpu.reading import MemoryReading
from gemmacode.session.events import (
    Answering,
    ContextApplied,
    ContextPending,
    ContextSize,
    GpuSample,
    ModelSpilled,
    PromptCut,
    Reloading,
    RequestStats,
    ServerState,
    Status,
    StatusEvent,
)

HISTORY = 120  # readings kept for the memory sparkline (two minutes at one a second)

Subscriber = Callable[[StatusEvent], None]


def gpu_sample(reading: MemoryReading) -> GpuSample:
    """A monitor reading as a status bar sees it."""
    if reading.source == "nvml":
        return GpuSample("gpu", reading.used, reading.total, note=reading.note, at=reading.at)
    if reading.source == "system-ram":
        return GpuSample("cpu", reading.used, reading.total, note=reading.note, at=reading.at)
    if reading.source == "ollama-ps":
        vram = sum(m.vram_bytes for m in reading.loaded)
        return GpuSample("remote", vram=vram, note=reading.note, at=reading.at)
    return GpuSample("none", note=reading.note or "no memory reading", at=reading.at)


def _spilled(m: LoadedModel) -> bool:
    """Part of the model in VRAM and part in system RAM: the slow case worth a warning. A model
    wholly in system RAM (the embedded engine, an Ollama host without a GPU) is how that host
    runs, not a spill; the context policy judges it the same way."""
    return m.spilled and m.vram_bytes > 0


def _name_matches(loaded: str, model: str) -> bool:
    return loaded == model or loaded == f"{model}:latest"


class StatusBoard:
    """Subscribers, the snapshot, and the translation described in the module docstring.
    Attach it to one :class:`ModelSession` at a time with :meth:`watch`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._status = Status()
        self._history: deque[int] = deque(maxlen=HISTORY)
        self._session: ModelSession | None = None
        self._last_ctx = 0  # the size of the last request sent
        self._reported: ContextChange | None = None  # the last change told as applied

    # --- subscribers and the snapshot --------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    @property
    def status(self) -> Status:
        with self._lock:
            return self._status

    def emit(self, event: StatusEvent) -> None:
        with self._lock:
            self._status = self._apply(self._status, event)
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a front end's bug must not stop the monitor or a request
                pass

    def _apply(self, s: Status, event: StatusEvent) -> Status:
        replace = dataclasses.replace
        if isinstance(event, GpuSample):
            if event.kind in ("gpu", "cpu", "remote"):
                self._history.append(event.vram if event.kind == "remote" else event.used)
            return replace(s, memory=event, memory_history=tuple(self._history))
        if isinstance(event, ContextSize):
            return replace(s, context=event, pending=None)
        if isinstance(event, ContextPending):
            return replace(s, pending=event)
        if isinstance(event, ContextApplied):
            return replace(s, last_change=event, pending=None, reloading=None)
        if isinstance(event, Reloading):
            return replace(s, reloading=event)
        if isinstance(event, Answering):
            return replace(s, reloading=None)
        if isinstance(event, RequestStats):
            return replace(s, last_request=event, reloading=None)
        if isinstance(event, PromptCut):
            return replace(s, prompt_cut=event)
        if isinstance(event, ModelSpilled):
            return replace(s, spilled=event)
        if isinstance(event, ServerState):
            return replace(s, server=event)
        return s

    # --- the model session ---------------------------------------------------------------------

    def watch(self, session: ModelSession) -> None:
        """Hear ``session``'s requests and judge readings against its policy (instead of
        the previous session's: a model change replaces the session). The monitor's
        readings arrive through :meth:`reading`, a listener the core adds once."""
        self.unwatch()
        self._session = session
        session.observer = self
        self._last_ctx = 0  # its first request is judged by what the server holds of it

    def unwatch(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.observer = None

    def reading(self, reading: MemoryReading) -> None:
        """A monitor listener: the sample, then any change it makes pending."""
        self.emit(gpu_sample(reading))
        session = self._session
        for m in reading.loaded:  # a remote server's /api/ps
            if session is not None and _name_matches(m.name, session.model_name) and _spilled(m):
                self.emit(ModelSpilled(m.name, m.vram_bytes, m.size_bytes))
        policy = session.policy if session is not None else None
        if policy is None or not policy.current:
            return
        pending = policy.preview(reading)
        current = self.status.pending
        if pending is None:
            if current is not None:  # withdrawn: the size stays
                self.emit(ContextSize(policy.current, bool(policy.pinned)))
            return
        size, reason = pending
        if current is None or (current.current, current.next) != (policy.current, size):
            self.emit(ContextPending(policy.current, size, reason))

    def context_chosen(self) -> None:
        """Tell the size the policy holds now, if it is news (after ``prepare``, a pin)."""
        session = self._session
        if session is None or session.policy is None or not session.policy.current:
            return
        size = ContextSize(session.policy.current, bool(session.policy.pinned))
        if self.status.context != size:
            self.emit(size)

    # RequestObserver ---------------------------------------------------------------------

    def leaving(self, request: ChatRequest, budget: Budget) -> None:
        num_ctx = request.options.num_ctx
        session = self._session
        pinned = bool(session is not None and session.settings.context.num_ctx)
        if self.status.context != ContextSize(num_ctx, pinned):
            self.emit(ContextSize(num_ctx, pinned))
        if self._last_ctx:
            loads = num_ctx != self._last_ctx
        else:  # the first request loads the model unless the server holds it at this size
            held = session.held if session is not None else None
            loads = held is not None and held != num_ctx
        if loads:
            self.emit(Reloading(request.model, num_ctx))
        self._last_ctx = num_ctx

    def answering(self, request: ChatRequest) -> None:
        if self.status.reloading is not None:
            self.emit(Answering(request.model, request.options.num_ctx))

    def finished(
        self,
        request: ChatRequest,
        budget: Budget,
        final: Final,
        loaded: list[LoadedModel] | None,
    ) -> None:
        num_ctx = request.options.num_ctx
        session = self._session
        policy = session.policy if session is not None else None
        change = policy.changes[-1] if policy is not None and policy.changes else None
        if (
            change is not None
            and change is not self._reported
            and change.after == num_ctx
            and change.load_s is not None
        ):
            self._reported = change
            self.emit(ContextApplied(change.before, change.after, change.reason, change.load_s))
        estimate = request.estimated_prompt_tokens or 0
        if final.truncated:
            note = ""
            if session is not None and session.last_calibration is not None:
                note = session.last_calibration.note
            self.emit(PromptCut(estimate, final.prompt_tokens or 0, note))
        for m in loaded or ():
            if _name_matches(m.name, request.model) and _spilled(m):
                self.emit(ModelSpilled(m.name, m.vram_bytes, m.size_bytes))
        speed = None
        if final.completion_tokens and final.eval_s > 0:
            speed = final.completion_tokens / final.eval_s
        self.emit(
            RequestStats(
                model=request.model,
                num_ctx=num_ctx,
                prompt_tokens=final.prompt_tokens,
                estimated_tokens=estimate,
                budget_tokens=budget.prompt_tokens,
                completion_tokens=final.completion_tokens,
                tokens_per_s=speed,
                load_s=final.load_s,
                done_reason=final.done_reason,
            )
        )
