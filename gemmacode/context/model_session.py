"""One model, used for a series of requests: the only way the rest of gemmacode talks to it.

:class:`ModelSession` wires a :class:`~gemmacode.backends.base.Backend` to the context
policy (which ``num_ctx``), the GPU monitor (how much memory), the calibrated token counter
and the calibration store. For each request it

1. chooses ``num_ctx`` (never while another request of this session is in flight);
2. fits the parts with :func:`gemmacode.context.budget.fit`, so nothing over ``num_ctx`` is
   ever sent (:class:`~gemmacode.errors.ContextOverflowError` instead);
3. sends system parts as the system message and the others, in the order given, as one user
   message: a stable prefix (system, map, code, question) that the server's prompt cache
   reuses for follow-up questions;
4. streams the events, then calibrates the token counter from ``Final.prompt_tokens``,
   flags silent truncation on the Final record (``truncated=True`` plus a note in
   :attr:`ModelSession.notes`) and records the reload cost of a size change.

An :class:`RequestObserver` (the core session's status board) hears each request as it
leaves and once its Final is in, after the policy has recorded it; :attr:`prompt_cap`
limits every request's prompt below what ``num_ctx`` allows (a deadline-bound caller).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from gemmacode.backends.base import (
    Backend,
    ChatOptions,
    ChatRequest,
    Event,
    Final,
    LoadedModel,
    Message,
    ModelInfo,
)
from gemmacode.config import Settings
from gemmacode.context.budget import Budget, Fitted, Part, fit
from gemmacode.context.policy import ContextPolicy, parse_keep_alive
from gemmacode.errors import BackendError
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.tokens.calibration import (
    CalibrationResult,
    CalibrationStore,
    Calibrator,
    default_store,
)
from gemmacode.tokens.encoding import raw_count

PART_SEPARATOR = "\n\n"
PRIMED_FOR_S = 1.0  # how long prepare()'s /api/ps answer stands in for asking again


class RequestObserver(Protocol):
    """Hears every request of a :class:`ModelSession` (on the request path)."""

    def leaving(self, request: ChatRequest, budget: Budget) -> None:
        """``request`` is about to be sent, fitted to ``budget``."""

    def answering(self, request: ChatRequest) -> None:
        """The first token of ``request``'s answer has come: any model load is over."""

    def finished(
        self,
        request: ChatRequest,
        budget: Budget,
        final: Final,
        loaded: list[LoadedModel] | None,
    ) -> None:
        """Its Final is in (calibrated, truncation flagged) and the policy has recorded it;
        ``loaded`` is the server's fresh ``/api/ps`` answer (None: not asked)."""


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n
    while lo < hi:  # binary search on slices: fast for long prompts
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _PromptCounts:
    """The tiktoken size of a request's messages and of the prefix it shares with the
    previous prompt, counted on a thread from the moment the request is made: they are
    needed only when the answer is complete (:meth:`result`), and a large prompt takes tens
    of milliseconds to count, which would otherwise come after the model's last token. With
    token-class weights, the counter's own estimate of each message is made too (its cache
    keeps it for the calibration)."""

    def __init__(self, request: ChatRequest, prompt: str, prev: str, counter: Any) -> None:
        self._request, self._prompt, self._prev, self._counter = request, prompt, prev, counter
        self._value: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="gemmacode-counts", daemon=True)
        self._thread.start()

    def _count(self) -> tuple[int, int]:
        messages = self._request.messages
        raw = sum(raw_count(m.content) for m in messages)
        shared = 0
        if self._prev:
            common = _common_prefix(self._prompt, self._prev)
            shared = raw_count(self._prompt[:common].replace("\x00", "").replace("\x01", ""))
        if getattr(self._counter, "weights", None) is not None:
            for m in messages:
                self._counter.count(m.content)
        return raw, shared

    def _run(self) -> None:
        try:
            self._value = self._count()
        except Exception:  # counted again, in the caller's thread, by result()
            self._value = None

    def result(self) -> tuple[int, int]:
        """(raw, shared): waits for the thread (it is usually done by then)."""
        self._thread.join()
        return self._value if self._value is not None else self._count()


class ModelSession:
    """See the module docstring. Call :meth:`prepare` (or just :meth:`stream`) first."""

    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        *,
        monitor: GpuMonitor | None = None,
        calibration: CalibrationStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.monitor = monitor
        self.clock = clock
        self.model_name = settings.backend.model
        self.store = calibration or default_store(settings)
        self.counter = self.store.counter_for(self.model_name)
        self.calibrator = Calibrator(self.model_name, self.counter, self.store)
        self.info: ModelInfo | None = None
        self.policy: ContextPolicy | None = None
        self.last_fit: Fitted | None = None
        self.last_request: ChatRequest | None = None
        self.last_calibration: CalibrationResult | None = None
        self.notes: list[str] = []
        self.observer: RequestObserver | None = None
        self.prompt_cap: int | None = None  # prompt tokens per request, below num_ctx's room
        # The size the server holds this model at, as its last /api/ps answer or the last
        # request says (0: not loaded; None: unknown, e.g. a pinned size never asked about)
        self.held: int | None = None
        self._inflight = 0
        self._prev_prompt = ""
        self._prev_ctx = 0
        self._describe_later = False
        self._primed: tuple[float, list[LoadedModel]] | None = None

    # --- setup and sizes ------------------------------------------------------------------

    async def prepare(self) -> None:
        """Describe the model and choose the first context size (idempotent).

        With a pinned ``num_ctx`` nothing about the model decides the first request, so the
        description (``/api/show`` and ``/api/tags`` on Ollama: two round trips and the
        client's first use, ~25 ms of every ``review --staged --num-ctx N``) waits until the
        first answer is in: :meth:`stream` fetches it before it yields that Final. Until
        then :attr:`info` is None and the policy knows only the model's name.
        """
        if self.policy is not None:
            return
        if self.settings.context.num_ctx:
            self._install(ModelInfo(name=self.model_name))
            self._describe_later = True
            await self._choose()
            return
        # What the server holds is asked alongside the description, not after it, and
        # the first request reuses that answer if it is under a second old (see _choose).
        # Both run to the end (the ps call never raises a BackendError), so a failed
        # description cuts no request off mid-answer.
        described, loaded = await asyncio.gather(
            self.backend.describe(self.model_name), self._loaded(), return_exceptions=True
        )
        if isinstance(described, BaseException):
            raise described
        if isinstance(loaded, BaseException):
            raise loaded
        self.info = described
        self._install(self.info)
        await self._choose(loaded)
        self._primed = (self.clock(), loaded)

    async def rechoose(self) -> int:
        """Choose the next request's size now, between requests: a long-lived session packs
        its next task for the size it will be sent at (a change decided here is the one the
        request applies; it never changes during a request). The ``/api/ps`` answer asked
        here stands in for the request's own when it leaves within a second."""
        await self.prepare()
        assert self.policy is not None
        # A pinned size needs no /api/ps, except once to learn whether the first request
        # loads the model (a status bar says so); only long-lived sessions come here.
        ask = not self.policy.pinned or self.held is None
        loaded = await self._loaded() if ask else []
        size = await self._choose(loaded)
        self._primed = (self.clock(), loaded)
        return size

    def _install(self, info: ModelInfo) -> None:
        policy = ContextPolicy(
            self.settings.context,
            info,
            keep_alive_s=parse_keep_alive(self.settings.backend.keep_alive),
            clock=self.clock,
        )
        if self.policy is not None:  # the described model replaces the provisional one
            policy.changes, policy.current = self.policy.changes, self.policy.current
            if self.monitor is not None:
                self.monitor.remove_listener(self.policy.observe)
        self.policy = policy
        if self.monitor is not None:
            self.monitor.add_listener(policy.observe)

    async def _describe_pinned(self) -> None:
        """The description :meth:`prepare` put off (pinned size): a failure leaves the
        provisional one, as the request it was not needed for has already been answered."""
        if not self._describe_later:
            return
        self._describe_later = False
        try:
            self.info = await self.backend.describe(self.model_name)
        except BackendError:
            return
        self._install(self.info)

    @property
    def num_ctx(self) -> int:
        """The size the next request will use (before :meth:`prepare`: the pinned size or
        the smallest allowed)."""
        if self.policy is not None and self.policy.current:
            return self.policy.current
        return self.settings.context.num_ctx or self.settings.context.min_ctx

    def budget(self, num_predict: int | None = None) -> Budget:
        """The split of the current size; the answer reserve is at most half of it."""
        reserve = num_predict or self.settings.sampling.num_predict
        return Budget(
            self.num_ctx,
            min(reserve, self.num_ctx // 2),
            self.settings.context.token_margin,
            cap=self.prompt_cap,
        )

    def explain(self, parts: list[Part], num_predict: int | None = None) -> Fitted:
        """What would be sent at the current size, without calling the model."""
        return fit(parts, self.budget(num_predict), self.counter)

    async def _loaded(self) -> list[LoadedModel]:
        try:
            loaded = list(await self.backend.loaded())
        except BackendError:
            return []
        if self.settings.backend.kind != "openai":  # that API cannot tell what it holds
            names = (self.model_name, f"{self.model_name}:latest")
            mine = [m for m in loaded if m.name in names]
            self.held = (mine[0].context_length or None) if mine else 0
        return loaded

    async def _choose(self, loaded: list[LoadedModel] | None = None) -> int:
        """Choose the next size; the server's loaded models come from ``/api/ps``, or once
        from :meth:`prepare`'s answer when it is fresh (a review packs for a few tens of
        milliseconds between the two: asking again would only delay its first request)."""
        assert self.policy is not None
        reading = self.monitor.latest() if self.monitor is not None else None
        primed, self._primed = self._primed, None
        if self.policy.pinned:
            loaded = []
        elif loaded is not None:
            pass
        elif primed is not None and self.clock() - primed[0] < PRIMED_FOR_S:
            loaded = primed[1]
        else:
            loaded = await self._loaded()
        return self.policy.choose(reading, loaded, busy=self._inflight > 0)

    # --- requests -------------------------------------------------------------------------

    def build_request(
        self, fitted: Fitted, budget: Budget, json_schema: dict[str, Any] | None = None
    ) -> ChatRequest:
        system = [p.text for p in fitted.parts if p.role == "system"]
        user = [p.text for p in fitted.parts if p.role != "system"]
        messages: list[Message] = []
        if system:
            messages.append(Message("system", PART_SEPARATOR.join(system)))
        if user:
            messages.append(Message("user", PART_SEPARATOR.join(user)))
        s = self.settings
        options = ChatOptions(
            num_ctx=budget.num_ctx,
            temperature=s.sampling.temperature,
            top_p=s.sampling.top_p,
            top_k=s.sampling.top_k,
            num_predict=budget.num_predict,
            seed=s.sampling.seed,
            num_batch=s.context.num_batch,
        )
        return ChatRequest(
            model=self.model_name,
            messages=tuple(messages),
            options=options,
            json_schema=json_schema,
            think=s.backend.think,
            keep_alive=s.backend.keep_alive,
            estimated_prompt_tokens=fitted.total,
        )

    async def stream(
        self,
        parts: list[Part],
        *,
        json_schema: dict[str, Any] | None = None,
        num_predict: int | None = None,
    ) -> AsyncIterator[Event]:
        """Fit ``parts`` to the context, send them, and yield Delta events then one Final."""
        await self.prepare()
        await self._choose()
        budget = self.budget(num_predict)
        fitted = fit(parts, budget, self.counter)
        self.last_fit = fitted
        request = self.build_request(fitted, budget, json_schema)
        self.last_request = request
        prompt = "\x00".join(f"{m.role}\x01{m.content}" for m in request.messages)
        prev = self._prev_prompt if self._prev_ctx == budget.num_ctx else ""
        self._prev_prompt, self._prev_ctx = prompt, budget.num_ctx
        self._inflight += 1
        try:
            if self.observer is not None:
                self.observer.leaving(request, budget)
            events = self.backend.chat(request)
            # What calibration needs is counted while the model answers, not after.
            counts = _PromptCounts(request, prompt, prev, self.counter)
            first = True
            try:
                async for event in events:
                    if first and self.observer is not None:
                        first = False
                        self.observer.answering(request)
                    if isinstance(event, Final):
                        await self._describe_pinned()
                        raw, shared = counts.result()
                        event = self._finish(event, request, raw, shared)
                        self.held = budget.num_ctx  # the server has just run it at this size
                        fresh: list[LoadedModel] | None = None
                        if self.policy is not None:
                            fresh = None if self.policy.pinned else await self._loaded()
                            self.policy.request_done(budget.num_ctx, event.load_s, fresh)
                        if self.observer is not None:
                            self.observer.finished(request, budget, event, fresh)
                    yield event
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()
        finally:
            self._inflight -= 1

    def _exact(self, request: ChatRequest) -> int | None:
        total = 0
        for message in request.messages:
            n = self.backend.count_tokens(request.model, message.content)
            if n is None:
                return None
            total += n
        return total

    def _finish(self, final: Final, request: ChatRequest, raw: int, shared: int) -> Final:
        num_ctx = request.options.num_ctx
        result = self.calibrator.after_request(
            raw=raw,
            final=final,
            num_ctx=num_ctx,
            shared_raw=shared,
            exact=self._exact(request),
            texts=[m.content for m in request.messages],
        )
        self.last_calibration = result
        changes: dict[str, Any] = {}
        if final.num_ctx is None:
            changes["num_ctx"] = num_ctx
        if result.truncated and not final.truncated:
            changes["truncated"] = True
        if result.truncated:
            self.notes.append(result.note)
        return dataclasses.replace(final, **changes) if changes else final

    def describe(self) -> dict[str, Any]:
        """The session's state for ``--json`` output and status bars."""
        policy = self.policy
        reading = self.monitor.latest() if self.monitor is not None else None
        return {
            "model": self.model_name,
            "num_ctx": self.num_ctx,
            "pinned": bool(self.settings.context.num_ctx),
            "kv_from_model": policy.kv_known if policy is not None else None,
            "memory": reading.summary() if reading is not None else "not monitored",
            "token_factor": round(self.counter.factor, 4),
            "token_estimator": "token classes" if self.counter.weights else "factor",
            "token_samples": self.store.text_samples(self.model_name),
            "changes": [
                {
                    "at": c.at,
                    "from": c.before,
                    "to": c.after,
                    "reason": c.reason,
                    "load_s": c.load_s,
                }
                for c in (policy.changes if policy is not None else [])
            ],
            "notes": list(self.notes),
        }

    async def aclose(self) -> None:
        """Stop feeding the policy from the monitor; the backend belongs to the caller."""
        if self.monitor is not None and self.policy is not None:
            self.monitor.remove_listener(self.policy.observe)
