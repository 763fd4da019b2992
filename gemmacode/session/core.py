"""The core session every front end opens: ``async with open_session(settings, root=...)``.

:class:`CoreSession` holds one :class:`~gemmacode.session.workspace.Workspace` and one model
session (:class:`~gemmacode.context.model_session.ModelSession`: the backend, the GPU
monitor, the context policy, the calibration, the prompt prefix) for as long as the front
end likes: the terminal UI keeps it for hours, a CLI command for one request. One model
load serves every request; the monitor keeps sampling (``live=True``), the policy keeps
deciding and the calibration keeps learning across them.

Boundaries are passed in for tests (``backend``, ``monitor``, ``clock``, ``calibration``)
and built from the settings otherwise, lazily: nothing talks to the server until a request
(or :meth:`CoreSession.check_server`) needs it, so a review's git work runs first. The
session owns what it is given as well as what it makes: leaving the ``async with`` stops
the monitor's thread, closes the backend's connections and the NVML handle.

Tasks (:meth:`CoreSession.review`, :meth:`CoreSession.ask`) run one at a time; a second one
waits for the first. :meth:`set_model` and :meth:`set_num_ctx` apply between tasks.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmacode.backends.base import Backend, LoadedModel
from gemmacode.config import Settings
from gemmacode.context.model_session import ModelSession
from gemmacode.errors import (
    BackendError,
    ModelNotFoundError,
    ServerUnreachableError,
    UsageError,
)
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.session.api import ModelChoice, ReviewSpec
from gemmacode.session.events import ServerState, Status, StatusEvent
from gemmacode.session.startup import Prewarm
from gemmacode.session.status import StatusBoard
from gemmacode.session.task import RunningTask
from gemmacode.session.workspace import Workspace
from gemmacode.tokens.calibration import CalibrationStore, default_store

if TYPE_CHECKING:
    from gemmacode.review.engine import Session as EngineSession
    from gemmacode.session.models import ModelListing
    from gemmacode.session.reviewing import Explanation

MIN_PINNED_CTX = 512


class CoreSession:
    """See the module docstring; made by :func:`open_session`."""

    def __init__(
        self,
        workspace: Workspace,
        settings: Settings,
        *,
        backend: Backend | None = None,
        monitor: GpuMonitor | None = None,
        clock: Callable[[], float] | None = None,
        calibration: CalibrationStore | None = None,
        warm: Prewarm | None = None,
        live: bool = False,
    ) -> None:
        self.workspace = workspace
        self.settings = settings
        self.board = StatusBoard()
        self.clock = clock or time.monotonic
        self.live = live
        self._backend = backend
        self._monitor = monitor
        self._warm = warm
        self._store = calibration
        self._model: ModelSession | None = None
        self._turn = asyncio.Lock()  # one task at a time
        self._busy = False
        self._closed = False
        self._listening = False  # the board hears the monitor

    # --- what a status bar reads ------------------------------------------------------------

    @property
    def status(self) -> Status:
        return self.board.status

    def subscribe(self, callback: Callable[[StatusEvent], None]) -> Callable[[], None]:
        return self.board.subscribe(callback)

    @property
    def model_name(self) -> str:
        return self.settings.backend.model

    # --- the boundaries, made on first need -------------------------------------------------

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from gemmacode.backends.factory import make_backend

            self._backend = make_backend(self.settings)
        return self._backend

    @property
    def calibration(self) -> CalibrationStore:
        if self._store is None:
            self._store = default_store(self.settings)
        return self._store

    def _monitor_needed(self) -> GpuMonitor | None:
        """The GPU monitor when the policy needs readings (an unpinned size) or the session
        is live (a status bar shows them)."""
        if self._monitor is None and (self.live or not self.settings.context.num_ctx):
            if self._warm is not None:
                self._monitor = self._warm.take_monitor(self.settings)
            else:
                from gemmacode.gpu.monitor import monitor_for

                remote = self.live and self.settings.backend.kind == "ollama"
                fetch = self._server_loaded if remote else None
                self._monitor = monitor_for(self.settings, fetch_loaded=fetch)
            if self.clock is not time.monotonic:
                self._monitor.clock = self.clock
        if self._monitor is not None and not self._listening:
            self._monitor.add_listener(self.board.reading)
            self._listening = True
        if self._monitor is not None and self.live and not self._monitor.running:
            self._monitor.start()
        return self._monitor

    async def _server_loaded(self) -> list[LoadedModel]:
        """``/api/ps`` for the monitor of a live session with a remote server (its GPU is
        not visible here). Asked on a client of its own: the monitor's thread runs its own
        event loop, and the session's client belongs to the front end's."""
        from gemmacode.backends.ollama import OllamaBackend

        backend = OllamaBackend(self.settings.backend.host or None, timeout_s=5.0)
        try:
            return await backend.loaded()
        finally:
            await backend.aclose()

    def _new_model_session(self) -> ModelSession:
        session = ModelSession(
            self.backend,
            self.settings,
            monitor=self._monitor_needed(),
            calibration=self.calibration,
            clock=self.clock,
        )
        self.board.watch(session)
        return session

    async def model_session(self) -> ModelSession:
        """The prepared model session (described, first size chosen), made on first use. A
        failure (no server, no such model) is raised as its one-line error and reported as a
        :class:`ServerState`; the next call tries again."""
        if self._closed:
            raise UsageError("the session is closed", "open a new one")
        if self._model is None:
            self._model = self._new_model_session()
        try:
            if self._model.policy is None:
                await self._model.prepare()  # chooses the first size
            else:
                await self._model.rechoose()  # memory may have changed since the last task
        except BackendError as err:
            self.board.emit(self._server_state(err))
            raise
        if self.status.server is None or not self.status.server.reachable:
            self.board.emit(self._server_state(None))
        self.board.context_chosen()
        return self._model

    async def planning_session(self, *, offline_ok: bool) -> tuple[EngineSession, str]:
        """A session to plan with, and how its ``num_ctx`` was chosen. ``offline_ok``
        (``--explain-context``): a pinned size needs no server at all, and an unreachable
        one falls back to the smallest size, saying so."""
        from gemmacode.review.plan import PlanningSession

        ctx = self.settings.context
        if offline_ok and ctx.num_ctx:
            return self._planning(ctx.num_ctx), "num_ctx pinned"
        try:
            session: EngineSession = await self.model_session()
        except BackendError as err:
            if not offline_ok:
                raise
            fallback: PlanningSession = self._planning(ctx.min_ctx)
            return fallback, f"no model server ({err.message}): assuming num_ctx {ctx.min_ctx}"
        how = "num_ctx pinned" if ctx.num_ctx else "num_ctx from the context policy"
        return session, how

    def _planning(self, num_ctx: int) -> Any:
        from gemmacode.review.plan import PlanningSession

        model = self.settings.backend.model
        counter = self.calibration.counter_for(model)
        reserve = min(self.settings.sampling.num_predict, num_ctx // 2)
        return PlanningSession(model, num_ctx, reserve, self.settings.context.token_margin, counter)

    # --- the server -------------------------------------------------------------------------

    def _host(self) -> str:
        """The server as users know it: a URL (Ollama's filled in as its client does)."""
        b = self.settings.backend
        if b.kind == "openai":
            return b.openai_base_url
        if b.kind == "embedded":
            return "in-process"
        from gemmacode.backends.ollama import display_host

        return display_host(b.host or os.environ.get("OLLAMA_HOST"))

    def _server_state(self, err: BackendError | None) -> ServerState:
        b = self.settings.backend
        host = self._host()
        if err is None:
            return ServerState(b.kind, host, b.model, True, True)
        if isinstance(err, ServerUnreachableError):
            return ServerState(b.kind, host, b.model, False, None, err.message, err.fix)
        present = False if isinstance(err, ModelNotFoundError) else None
        return ServerState(b.kind, host, b.model, True, present, err.message, err.fix)

    async def check_server(self) -> ServerState:
        """Ask the server whether it answers and has the model (a front end re-runs this
        in the background while none is up); the answer is also a status event.

        When it has the model, the model session is prepared too (described, ``/api/ps``
        asked, the first size chosen: no chat request, so nothing is loaded), so a status
        bar shows the size the next request will use as soon as the server answers, not
        after the first request. Commands do not call this: their first request prepares
        the session exactly as before."""
        try:
            models = await self.backend.list_models()
        except BackendError as err:
            state = self._server_state(err)
        else:
            name = self.settings.backend.model
            present = any(m.name in (name, f"{name}:latest") for m in models)
            state = self._server_state(None)
            if not present:
                state = ServerState(
                    state.backend,
                    state.host,
                    name,
                    True,
                    False,
                    f"model '{name}' is not installed",
                    f"run: gemmacode models pull {name}",
                )
        self.board.emit(state)
        if state.model_present and not self._turn.locked():  # a running task prepares it
            async with self._turn:
                if self._model is None or self._model.policy is None:
                    try:
                        await self.model_session()
                    except BackendError:  # reported as a ServerState by model_session
                        return self.status.server or state
        return state

    # --- tasks --------------------------------------------------------------------------------

    def review(self, spec: ReviewSpec) -> RunningTask:
        from gemmacode.session.reviewing import review_job

        return RunningTask(self._turn_for(lambda log: review_job(self, spec, log)), self.model_name)

    def ask(
        self, question: str, *, focus: Sequence[str] = (), history: Sequence[tuple[str, str]] = ()
    ) -> RunningTask:
        from gemmacode.session.asking import ask_job

        return RunningTask(
            self._turn_for(lambda log: ask_job(self, question, focus, history, log)),
            self.model_name,
        )

    async def explain_review(
        self, spec: ReviewSpec, note: Callable[[str], None] | None = None
    ) -> Explanation:
        """What :meth:`review` would send (``--explain-context``), without sending it: a
        pinned size needs no server, an unreachable one is assumed at the smallest size."""
        from gemmacode.session.reviewing import explain_review

        async with self._turn:
            return await explain_review(self, spec, note or (lambda text: None))

    async def explain_ask(
        self,
        question: str,
        *,
        focus: Sequence[str] = (),
        history: Sequence[tuple[str, str]] = (),
        note: Callable[[str], None] | None = None,
    ) -> Explanation:
        """What :meth:`ask` would send, without sending it."""
        from gemmacode.session.asking import explain_ask

        async with self._turn:
            return await explain_ask(self, question, focus, history, note or (lambda t: None))

    def _turn_for(self, job: Any) -> Any:
        async def run(log: Any) -> Any:
            async with self._turn:
                self._busy = True
                try:
                    return await job(log)
                finally:
                    self._busy = False

        return run

    # --- between tasks ------------------------------------------------------------------------

    def _idle(self, what: str) -> None:
        if self._busy:
            raise UsageError(f"cannot {what} while a task runs", "wait for it or cancel it")

    async def set_model(self, name: str) -> None:
        """Use ``name`` from the next task on; it is described first, so a model the server
        does not have is refused (one-line error) and the current one stays."""
        self._idle("change the model")
        if not name.strip():
            raise UsageError("the model name is empty", "give a model name, e.g. gemma4:e4b")
        await self.backend.describe(name)  # ModelNotFoundError, before anything changes
        before = self.settings.backend.model
        old = self._model
        self.settings.backend.model = name
        self._model = None
        try:
            await self.model_session()
        except BaseException:
            if self._model is not None:
                await self._model.aclose()
            self.settings.backend.model, self._model = before, old
            if old is not None:
                self.board.watch(old)
            raise
        if old is not None:
            await old.aclose()

    def set_num_ctx(self, num_ctx: int | None) -> None:
        """Pin the context size (``None``: back to the policy's choice) from the next
        request on; the change shows as pending until then."""
        self._idle("change the context size")
        if num_ctx is not None and num_ctx < MIN_PINNED_CTX:
            raise UsageError(
                f"num_ctx {num_ctx} is too small", f"give at least {MIN_PINNED_CTX} tokens"
            )
        self.settings.context.num_ctx = num_ctx or 0
        model = self._model
        if model is None:
            return
        monitor = self._monitor_needed()
        if monitor is not None and model.monitor is None:
            model.monitor = monitor
            if model.policy is not None:
                monitor.add_listener(model.policy.observe)
        if model.policy is not None and model.policy.current and num_ctx:
            from gemmacode.session.events import ContextPending

            if num_ctx != model.policy.current:
                self.board.emit(ContextPending(model.policy.current, num_ctx, "pinned by you"))

    async def models(self) -> list[ModelChoice]:
        return (await self.model_listing()).choices

    async def model_listing(self) -> ModelListing:
        """:meth:`models` with the server's address and the memory reading every fit was
        judged against (``gemmacode models`` prints both)."""
        from gemmacode.session.models import model_listing

        monitor = self._monitor_needed()
        return await model_listing(self.backend, self.settings, monitor, self._host())

    # --- closing --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop everything this session started or was given (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.board.unwatch()
        if self._monitor is not None:
            self._monitor.remove_listener(self.board.reading)
        try:
            if self._model is not None:
                await self._model.aclose()
            if self._backend is not None:
                await self._backend.aclose()
        finally:
            if self._monitor is not None:
                self._monitor.close()


@asynccontextmanager
async def open_session(
    settings: Settings,
    *,
    root: Path,
    backend: Backend | None = None,
    monitor: GpuMonitor | None = None,
    clock: Callable[[], float] | None = None,
    calibration: CalibrationStore | None = None,
    warm: Prewarm | None = None,
    live: bool = False,
    git_root: bool = False,
    progress_bar: bool = False,
) -> AsyncIterator[CoreSession]:
    """Open the core session for the repository at ``root``.

    ``settings`` is copied (the session changes its copy on :meth:`CoreSession.set_model`
    and :meth:`~CoreSession.set_num_ctx`). ``live``: the GPU monitor samples in the
    background on its own thread (long-lived front ends; always made then, even with a
    pinned size); otherwise readings are taken at each request. ``warm``: a command's
    :func:`~gemmacode.session.startup.prewarm`, whose background GPU monitor the session
    takes. ``git_root``: ``root`` is known to be the git work tree of the current folder
    (saves reviews a git call); ``progress_bar``: the indexer may draw its bar on stderr.
    """
    own = copy.deepcopy(settings)
    workspace = Workspace(root, own, git_root=git_root, progress_bar=progress_bar)
    core = CoreSession(
        workspace,
        own,
        backend=backend,
        monitor=monitor,
        clock=clock,
        calibration=calibration,
        warm=warm,
        live=live,
    )
    try:
        if live:
            core._monitor_needed()
        yield core
    finally:
        await core.aclose()
