"""The main screen: status bar, repository tree, conversation with its findings, code view,
input line and footer; and what every action does.

Every action arrives here as ``perform(action_id, argument)``, whether from a key (its
``action_<id>`` method), the input line (a slash command or a question) or the command
palette, so the three stay the same action. Requests go to the core as tasks, run in an
exclusive worker that renders their events; the screen never blocks on the core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input

from gemmacode.errors import GemmacodeError
from gemmacode.session.api import IndexProgress
from gemmacode.session.events import ModelSpilled, PromptCut, ServerState
from gemmacode.tui import messages as msg
from gemmacode.tui.keys import KEYS
from gemmacode.tui.screens.actions import Actions
from gemmacode.tui.slash import SlashError, parse
from gemmacode.tui.widgets.code_view import CodeView
from gemmacode.tui.widgets.conversation import ConversationView
from gemmacode.tui.widgets.findings import FindingsList
from gemmacode.tui.widgets.prompt import PromptInput, SlashSuggester
from gemmacode.tui.widgets.repo_tree import RepoTree
from gemmacode.tui.widgets.status_bar import StatusBar

SIDE_BY_SIDE = 160  # columns from which the findings list sits beside the prose, not below


def key_bindings(keymap: Mapping[str, str] | None = None) -> list[Binding]:
    """The screen's bindings with the user's ``tui.keys`` already applied.

    Not through ``App.set_keymap``: Textual applies a keymap after dropping the keys the
    focused input consumes, so a letter key remapped to F6 would be dropped, not moved.
    """
    keymap = keymap or {}
    return [
        Binding(
            keymap.get(k.id, k.keys),
            f"perform('{k.id}')",
            k.label,
            show=k.show,
            priority=k.priority,
            id=k.id,
        )
        for k in KEYS
    ]


class MainScreen(Actions, Screen[None]):
    BINDINGS = key_bindings()  # type: ignore[assignment]
    AUTO_FOCUS = "PromptInput"

    def __init__(self, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        if keymap:
            self._bindings = BindingsMap(key_bindings(keymap))
        self.model_names: list[str] = []

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            yield RepoTree("repository", id="tree")
            with Vertical(id="center"):
                yield ConversationView(id="conversation")
                yield FindingsList(id="findings")
            yield CodeView(id="code")
        yield PromptInput(
            SlashSuggester(
                lambda: self.query_one(RepoTree).snapshot.files,
                lambda: self.model_names,
                lambda: self.query_one(RepoTree).snapshot.revisions,
            ),
            id="prompt",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(StatusBar).status = self.gapp.initial_status()
        self.call_after_refresh(self.after_first_paint)

    def after_first_paint(self) -> None:
        """What would delay the first paint if it ran before: listing the repository (git,
        GitPython's import) and opening the core session (its imports, the model)."""
        self.load_repo()
        self.gapp.start_core()
        if self.gapp.resume:
            self.resume_latest()

    def on_resize(self) -> None:
        small = self.size.width < 70 or self.size.height < 22
        self.query_one(StatusBar).set_class(small, "-compact")
        self.set_class(small, "-small")
        self.set_class(self.size.width >= 140, "-wide")
        self.set_class(self.size.width >= SIDE_BY_SIDE, "-side")

    # --- from the core -------------------------------------------------------------------

    def on_status_changed(self, message: msg.StatusChanged) -> None:
        core = self.gapp.core
        if core is not None:
            self.query_one(StatusBar).status = core.status
        event = message.event
        if isinstance(event, PromptCut):
            self.notify(
                f"The server cut the prompt: ~{event.sent_estimate} tokens sent, "
                f"{event.evaluated} read. {event.note}",
                title="prompt cut",
                severity="warning",
            )
        elif isinstance(event, ModelSpilled):
            self.notify(
                f"{event.model} spilled to the CPU ({event.vram / 1024**3:.1f} of "
                f"{event.size / 1024**3:.1f} GiB in VRAM): answers will be slow; "
                "the next request uses a smaller context",
                title="model spilled",
                severity="warning",
            )
        elif isinstance(event, ServerState):
            self._server_notice(event)

    def _server_notice(self, server: ServerState) -> None:
        problem = not server.reachable or server.model_present is False
        key = (server.reachable, server.model_present, server.model, server.host)
        if problem and key != getattr(self, "_last_server_notice", None):
            text = server.message or (
                f"no server at {server.host}"
                if not server.reachable
                else f"model {server.model} is not installed"
            )
            self.notify(f"{text}. {server.fix}".strip(), title="model server", severity="error")
        self._last_server_notice = key

    def on_core_ready(self, message: msg.CoreReady) -> None:
        core = self.gapp.core
        self.query_one(StatusBar).busy = ""
        if core is not None:
            self.query_one(StatusBar).status = core.status
            self._server_notice_from(core.status.server)
        self.reindex()
        self.watch_server()

    def _server_notice_from(self, server: ServerState | None) -> None:
        if server is not None:
            self._server_notice(server)

    def on_core_failed(self, message: msg.CoreFailed) -> None:
        self.query_one(StatusBar).busy = f"no model session: {message.message}"
        self.notify(
            f"{message.message}. {message.fix} (retrying in {message.retry_s:.0f} s)".strip(),
            title="model session",
            severity="error",
        )

    def on_index_progressed(self, message: msg.IndexProgressed) -> None:
        self.query_one(StatusBar).index = message.progress

    def on_index_done(self, message: msg.IndexDone) -> None:
        bar = self.query_one(StatusBar)
        bar.index = None
        if message.summary is not None:
            s = message.summary
            bar.index_summary = f"{s.files} files, {s.symbols} symbols"
            self.load_repo()
        else:
            bar.index_summary = "index failed"
            self.notify(message.error, title="index", severity="error")

    def on_repo_loaded(self, message: msg.RepoLoaded) -> None:
        self.query_one(RepoTree).load(message.snapshot)

    # --- background work -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="repo", exit_on_error=False)
    def load_repo(self) -> None:
        self.post_message(msg.RepoLoaded(self.gapp.repo_status.snapshot()))

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def reindex(self) -> None:
        core = self.gapp.core
        if core is None:
            return
        self.post_message(msg.IndexProgressed(IndexProgress(0, 0, "listing")))

        def progress(p: IndexProgress) -> None:
            self.post_message(msg.IndexProgressed(p))

        try:
            summary = core.workspace.refresh(progress)
        except Exception as err:  # one line for the user; the UI stays usable
            self.post_message(msg.IndexDone(None, f"indexing failed: {err}"))
            return
        self.post_message(msg.IndexDone(summary))

    @work(exclusive=True, group="server", exit_on_error=False)
    async def watch_server(self) -> None:
        """Ask the core whether the server answers and has the model until it does, waiting
        longer each time (the answers are status events: the bar and a notice say why and
        what to do); then learn the model names for completion."""
        wait, most = self.gapp.retry_s
        while (core := self.gapp.core) is not None:
            state = await core.check_server()
            if state.reachable and state.model_present is not False:
                break
            await asyncio.sleep(wait)
            wait = min(most, wait * 2)
        if core is not None:
            try:
                choices = await core.models()
            except GemmacodeError:  # completion is a convenience; /model reports errors
                self.model_names = []
                return
            self.model_names = [c.info.name for c in choices]
            digests = getattr(self.gapp.store, "digests", None)  # stored with each answer
            if isinstance(digests, dict):
                digests.update({c.info.name: c.info.digest for c in choices if c.info.digest})

    # --- the input line --------------------------------------------------------------------

    @on(Input.Submitted, "#prompt")
    def submitted(self, event: Input.Submitted) -> None:
        prompt = self.query_one(PromptInput)
        line = event.value
        try:
            parsed = parse(line)
        except SlashError as err:
            self.notify(str(err), severity="error")
            return
        prompt.remember(line.strip())
        prompt.value = ""
        if parsed is not None:
            self.perform(parsed.action, parsed.arg)

    @on(FindingsList.Chosen)
    def finding_chosen(self, event: FindingsList.Chosen) -> None:
        f = event.finding
        self.open_code(f.file, f.line, f.end_line)
