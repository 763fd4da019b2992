"""The app: wiring only. :func:`make_app` builds it for the CLI and for the tests alike.

The app receives its outside world: a function that opens the core session (the real
``open_session``, or a scripted fake), where conversations are kept, how text is copied and
what the repository tree shows. It holds the core session open for its whole life in one
worker, re-opening it in the background while it cannot be opened (no server yet), and
forwards the core's status events, from whatever thread they come, to the main screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import ClassVar

from textual.app import App

from gemmacode.config import Settings, user_cache_dir
from gemmacode.errors import ConfigError, GemmacodeError
from gemmacode.session import startup
from gemmacode.session.api import CoreSession
from gemmacode.session.events import Status, StatusEvent
from gemmacode.tui import messages as msg
from gemmacode.tui.clipboard import CopyFunction, terminal_copy
from gemmacode.tui.conversations import ConversationStore, MemoryStore
from gemmacode.tui.keys import keymap as check_keymap
from gemmacode.tui.palette import ActionsProvider
from gemmacode.tui.repo_status import GitCliStatus, RepoStatusProvider
from gemmacode.tui.screens.main import MainScreen
from gemmacode.tui.stored import PersistentStore

CoreOpener = Callable[[], AbstractAsyncContextManager[CoreSession]]
RETRY_S = (2.0, 30.0)  # first wait before re-opening the session, and the most it grows to


class GemmacodeApp(App[None]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "gemmacode"
    COMMANDS: ClassVar = App.COMMANDS | {ActionsProvider}

    def __init__(
        self,
        *,
        root: Path,
        settings: Settings,
        opener: CoreOpener,
        store: ConversationStore,
        copy: CopyFunction,
        repo_status: RepoStatusProvider,
        retry_s: tuple[float, float] = RETRY_S,
        resume: bool = False,
        notice: str = "",
        hint: str = "",
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        self.freeze_gc = freeze_gc  # see settle_memory
        self.resume = resume  # open the project's latest conversation at start
        self.notice = notice  # a warning to show once mounted (conversations not saved)
        self.hint = hint  # information to show once mounted (the mouse off in GNU screen)
        self.root = root
        self.settings = settings
        self.opener = opener
        self.store = store
        self.copy = copy
        self.repo_status = repo_status
        self.retry_s = retry_s
        self.keymap = check_keymap(settings.tui.keys)
        self.core: CoreSession | None = None
        self.main = MainScreen(self.keymap)

    def on_mount(self) -> None:
        self.theme = self.settings.tui.theme
        self.push_screen(self.main)  # it calls start_core once it has painted
        if self.notice:
            self.notify(self.notice, severity="warning")
        if self.hint:
            self.notify(self.hint)

    def start_core(self) -> None:
        """Open the core session in the background. The main screen calls it after its first
        paint: opening the core costs the event loop time the first paint needs more."""
        self.run_worker(self.hold_core(), group="core", exit_on_error=False)

    def defer_full_collections(self) -> None:
        """An answer starts streaming (:func:`~gemmacode.session.startup.defer_full_collections`).
        Only with ``freeze_gc``: the ``gemmacode`` process itself; tests run many apps in one
        process and keep the collector as it is."""
        if self.freeze_gc:
            startup.defer_full_collections()

    def settle_memory(self) -> None:
        """Nothing streams (:func:`~gemmacode.session.startup.settle_memory`)."""
        if self.freeze_gc:
            startup.settle_memory()

    def on_unmount(self) -> None:
        """Close what holds files or child processes: the conversation store's database,
        GitPython's ``git cat-file`` child."""
        for resource in (self.store, self.repo_status):
            close = getattr(resource, "close", None)
            if callable(close):
                close()

    def write_terminal(self, sequence: str) -> None:
        """Put an escape sequence on the terminal as is (the clipboard's OSC 52 in the form
        the terminal or multiplexer needs). Textual has no public way: its driver is it."""
        if self._driver is None:
            raise OSError("no terminal attached")
        self._driver.write(sequence)

    def initial_status(self) -> Status:
        return self.core.status if self.core is not None else Status()

    def on_status_event(self, event: StatusEvent) -> None:
        """The core's callback, on any thread: hand the event to the screen's queue."""
        self.main.post_message(msg.StatusChanged(event))

    async def hold_core(self) -> None:
        """Open the core session and keep it open until the app exits; while it cannot be
        opened, say why and try again, waiting longer each time."""
        wait, most = self.retry_s
        while True:
            try:
                async with self.opener() as core:
                    self.core = core
                    unsubscribe = core.subscribe(self.on_status_event)
                    self.main.post_message(msg.CoreReady())
                    self.set_timer(1.0, self.settle_memory)
                    try:
                        await asyncio.Event().wait()  # until the app cancels this worker
                    finally:
                        unsubscribe()
                        self.core = None
            except GemmacodeError as err:
                self.main.post_message(msg.CoreFailed(err.message, err.fix, wait))
            except Exception as err:  # a bug in the core: say it, keep the UI
                self.main.post_message(msg.CoreFailed(f"{type(err).__name__}: {err}", "", wait))
            await asyncio.sleep(wait)
            wait = min(most, wait * 2)


def real_opener(settings: Settings, root: Path) -> CoreOpener:
    """The core session of ``gemmacode.session.core`` for ``root``, live: its GPU monitor
    samples on its own thread, so the status bar moves without a request."""

    from multiprocessing import resource_tracker

    # While Textual runs, sys.stderr is a capture without a file descriptor, and the tracker
    # multiprocessing starts at the first spawn hands stderr's descriptor on: start it now,
    # before the app runs, so the indexer's worker processes can start later.
    resource_tracker.ensure_running()

    @contextlib.asynccontextmanager
    async def open_() -> AsyncIterator[CoreSession]:
        # The core's imports (tree-sitter, tiktoken, httpx, ...) take a few hundred ms of
        # Python: on a thread, so the event loop keeps painting and reading keys meanwhile.
        core_module = await asyncio.to_thread(importlib.import_module, "gemmacode.session.core")
        async with core_module.open_session(settings, root=root, live=True) as core:
            yield core

    return open_


def make_app(
    root: Path,
    settings: Settings,
    *,
    opener: CoreOpener | None = None,
    store: ConversationStore | None = None,
    copy: CopyFunction | None = None,
    repo_status: RepoStatusProvider | None = None,
    retry_s: tuple[float, float] = RETRY_S,
    resume: bool = False,
    freeze_gc: bool = False,
    hint: str = "",
) -> GemmacodeApp:
    """The app for ``root``; every argument left out gets the real thing (conversations:
    the project's store on disk, or kept in memory with a warning when it cannot open)."""
    from textual.theme import BUILTIN_THEMES

    if settings.tui.theme not in BUILTIN_THEMES:
        raise ConfigError(
            f"setting 'tui.theme' has a bad value {settings.tui.theme!r}",
            f"use one of {', '.join(BUILTIN_THEMES)}",
        )
    notice = ""
    if store is None:
        try:
            store = PersistentStore.open(root, settings)
        except GemmacodeError as err:
            store, notice = MemoryStore(), f"Conversations will not be saved: {err}"
    return GemmacodeApp(
        root=root,
        settings=settings,
        opener=opener or real_opener(settings, root),
        store=store,
        copy=copy or terminal_copy(user_cache_dir() / "clipboard"),
        repo_status=repo_status or GitCliStatus(root, settings),
        retry_s=retry_s,
        resume=resume,
        notice=notice,
        hint=hint,
        freeze_gc=freeze_gc,
    )
