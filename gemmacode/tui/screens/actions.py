"""What each action does on the main screen: one method per action id, and the task runner
that sends requests to the core and renders what comes back.

A mixin of :class:`~gemmacode.tui.screens.main.MainScreen`, kept apart from its layout and
event handling. ``perform(id, arg)`` is the one door: keys, slash commands and the palette
all come through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work

from gemmacode.errors import GemmacodeError
from gemmacode.session.api import CoreSession, ReviewSpec, Task
from gemmacode.session.events import (
    FindingsReady,
    Finished,
    Note,
    PlanReady,
    ProseDelta,
    RequestStarted,
)
from gemmacode.tui.clipboard import code_blocks, finding_text
from gemmacode.tui.conversations import Conversation, Turn, TurnKind
from gemmacode.tui.widgets.code_view import CodeView
from gemmacode.tui.widgets.conversation import ConversationView, TurnView
from gemmacode.tui.widgets.findings import FindingsList
from gemmacode.tui.widgets.prompt import PromptInput
from gemmacode.tui.widgets.repo_tree import RepoTree
from gemmacode.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from gemmacode.tui.app import GemmacodeApp

    _Base = Any
else:
    _Base = object

PREFILL = {"diff": "/diff ", "ctx": "/ctx ", "export": "/export json", "ask": ""}


class Actions(_Base):  # type: ignore[misc]
    running: Task | None = None  # the task answering now
    conversation: Conversation | None = None

    @property
    def gapp(self) -> GemmacodeApp:
        return self.app  # type: ignore[no-any-return]

    def perform(self, action: str, arg: str = "") -> None:
        """Run action ``action`` (an id of :data:`gemmacode.tui.keys.KEYS`)."""
        if action in PREFILL and not arg:
            self.query_one(PromptInput).prefill(PREFILL[action])
            return
        handler: Callable[[str], Any] = getattr(self, f"do_{action}")
        handler(arg)

    def action_perform(self, action: str) -> None:
        """What every key binding runs (``perform('review')``)."""
        self.perform(action)

    # --- requests to the core --------------------------------------------------------------

    def do_review(self, arg: str) -> None:
        target = arg or self.query_one(RepoTree).selected_path
        if not target:
            self.notify("Select a file in the tree (1 focuses it) or type /review PATH")
            return
        spec = ReviewSpec(kind="path", target=target)
        self.start("review", f"/review {target}", lambda core: core.review(spec))

    def do_staged(self, arg: str) -> None:
        self.start("review", "/staged", lambda core: core.review(ReviewSpec(kind="staged")))

    def do_working(self, arg: str) -> None:
        self.start("review", "/working", lambda core: core.review(ReviewSpec(kind="working")))

    def do_diff(self, arg: str) -> None:
        spec = ReviewSpec(kind="diff", target=arg)
        self.start("review", f"/diff {arg}", lambda core: core.review(spec))

    def do_ask(self, arg: str) -> None:
        history = self.current().history()
        self.start("ask", arg, lambda core: core.ask(arg, history=history))

    def current(self) -> Conversation:
        if self.conversation is None:
            self.conversation = self.gapp.store.new()
        return self.conversation

    def start(self, kind: TurnKind, request: str, begin: Callable[[CoreSession], Task]) -> None:
        if self.running is not None and not self.running.done:
            self.notify("An answer is still running: Esc cancels it", severity="warning")
            return
        core = self.gapp.core
        if core is None:
            self.notify(
                "The model session is not open yet; the status bar says why",
                severity="warning",
            )
            return
        turn = Turn(kind, request)
        self.current().turns.append(turn)
        self.run_task(turn, core, begin)

    # description: without one, Textual builds it from the repr of every argument on each
    # call, and a dataclass repr walks everything it holds (bench_tui --only session: the
    # scripted core's repr of all past tasks made each answer cost more than the last).
    @work(exclusive=True, group="task", exit_on_error=False, description="answer")
    async def run_task(
        self, turn: Turn, core: CoreSession, begin: Callable[[CoreSession], Task]
    ) -> None:
        view = await self.query_one(ConversationView).begin(turn.request)
        bar = self.query_one(StatusBar)
        try:
            self.running = begin(core)
            self.gapp.defer_full_collections()
            async for event in self.running:
                await self.render_event(event, turn, view, bar)
        except GemmacodeError as err:
            self.failed(turn, view, str(err))
        except Exception as err:  # a bug in the core must not take the UI down
            self.failed(turn, view, f"{type(err).__name__}: {err}")
        finally:
            await view.close()
            self.running = None
            bar.busy = ""
            server = core.status.server
            if server is not None and not server.reachable:
                self.watch_server()  # the server went away: look for it again
            turn.answer = turn.answer or view.text
            self.gapp.store.save(self.current())
            self.set_timer(0.5, self.gapp.settle_memory)  # once the last lines are painted

    async def render_event(self, event: object, turn: Turn, view: TurnView, bar: StatusBar) -> None:
        if isinstance(event, ProseDelta):
            await view.write(event.text)
        elif isinstance(event, PlanReady):
            turn.num_ctx = event.num_ctx
            n = event.requests
            bar.busy = f"{event.label}: {n} request{'s' * (n != 1)} at {event.num_ctx}"
            for note in event.notes:
                view.note(note)
        elif isinstance(event, RequestStarted):
            bar.busy = f"request {event.index}/{event.total}: {event.what}"
        elif isinstance(event, FindingsReady):
            turn.findings = (*turn.findings, *event.findings)
            self.query_one(FindingsList).show(self.current().findings())
        elif isinstance(event, Note):
            view.note(event.text)
        elif isinstance(event, Finished):
            self.finished(event, turn, view)

    def finished(self, event: Finished, turn: Turn, view: TurnView) -> None:
        turn.outcome, turn.model, turn.notes = event.outcome, event.model, event.notes
        turn.answer, turn.error, turn.finals = event.prose or view.text, event.error, event.finals
        if not view.text and event.prose:
            view.show_text(event.prose)
        turn.findings = event.findings or turn.findings
        self.query_one(FindingsList).show(self.current().findings())
        if event.outcome == "cancelled":
            view.note("incomplete: cancelled; the text so far is kept", "warning")
        elif event.outcome == "error":
            view.note(f"incomplete: {event.error}", "error")
        else:
            n = len(turn.findings)
            found = f" · {n} finding{'s' * (n != 1)}" if turn.kind == "review" else ""
            view.note(f"{event.model} · {event.seconds:.1f} s{found}")

    def failed(self, turn: Turn, view: TurnView, error: str) -> None:
        turn.outcome, turn.error = "error", error
        view.note(f"incomplete: {error}", "error")

    def do_cancel(self, arg: str) -> None:
        if self.running is not None and not self.running.done:
            self.running.cancel()
            self.notify("Cancelling: the text so far stays")
        elif self.has_class("-code-open"):
            self.do_code("")
        else:
            self.query_one(PromptInput).value = ""
            self.query_one(PromptInput).focus()

    # --- model and context -----------------------------------------------------------------

    def do_model(self, arg: str) -> None:
        if arg:
            self.switch_model(arg)
        else:
            self.pick_model()

    @work(exclusive=True, group="models", exit_on_error=False)
    async def pick_model(self) -> None:
        from gemmacode.tui.screens.models import ModelScreen

        core = self.gapp.core
        if core is None:
            self.notify("The model session is not open yet", severity="warning")
            return
        try:
            choices = await core.models()
        except GemmacodeError as err:
            self.notify(str(err), title="models", severity="error")
            return
        current = core.status.server.model if core.status.server else ""
        name = await self.app.push_screen_wait(ModelScreen(choices, current))
        if name:
            self.switch_model(name)

    @work(exclusive=True, group="set-model", exit_on_error=False)
    async def switch_model(self, name: str) -> None:
        core = self.gapp.core
        if core is None:
            self.notify("The model session is not open yet", severity="warning")
            return
        try:
            await core.set_model(name)
        except GemmacodeError as err:
            self.notify(str(err), title="model", severity="error")
            return
        self.notify(f"Model: {name}")

    def do_ctx(self, arg: str) -> None:
        core = self.gapp.core
        if core is None:
            self.notify("The model session is not open yet", severity="warning")
            return
        try:
            core.set_num_ctx(None if arg == "auto" else int(arg))
        except GemmacodeError as err:
            self.notify(str(err), title="context size", severity="error")
            return
        self.notify("Context size: automatic" if arg == "auto" else f"Context size pinned: {arg}")

    # --- copy, export ----------------------------------------------------------------------

    def do_copy(self, arg: str) -> None:
        what = arg or "answer"
        text = ""
        if what == "finding":
            f = self.query_one(FindingsList).selected
            text = finding_text(f) if f is not None else ""
        else:
            turn = self.current().last_answer()
            text = turn.answer if turn else ""
            if what == "code":
                blocks = code_blocks(text)
                text = blocks[-1] if blocks else ""
        if not text:
            self.notify(f"Nothing to copy: no {what} yet", severity="warning")
            return
        result = self.gapp.copy(text, self.gapp.write_terminal)
        self.notify(
            f"Copied {what}: {result.how}", severity="information" if result.ok else "error"
        )

    def do_export(self, arg: str) -> None:
        from gemmacode.tui.export import export  # SARIF and JSON rendering: only when asked

        fmt, _, name = arg.partition(" ")
        conversation = self.current()
        if not conversation.findings():
            self.notify("No findings in this conversation to export", severity="warning")
            return
        try:
            path = export(conversation, fmt, self.gapp.root, name.strip())
        except OSError as err:
            self.notify(f"Cannot write the export: {err.strerror}", severity="error")
            return
        self.notify(f"Findings saved as {fmt.upper()}: {path}")

    # --- conversations, index, navigation ----------------------------------------------------

    def do_index(self, arg: str) -> None:
        if self.gapp.core is None:
            self.notify("The model session is not open yet", severity="warning")
            return
        self.reindex()

    def do_new(self, arg: str) -> None:
        if self.running is not None and not self.running.done:
            self.notify("An answer is still running: Esc cancels it", severity="warning")
            return
        if self.conversation is not None:
            self.gapp.store.save(self.conversation)
        self.conversation = self.gapp.store.new()
        self.show_conversation(self.conversation)
        self.notify("New conversation")

    def resume_latest(self) -> None:
        """Open the project's most recent conversation (``gemmacode tui --resume``)."""
        found = self.gapp.store.list()
        if not found:
            self.notify("No past conversation in this project to resume")
            return
        self.conversation = found[0]
        self.show_conversation(found[0])

    def do_sessions(self, arg: str) -> None:
        from gemmacode.tui.screens.sessions import SessionsScreen

        def resume(conversation_id: str | None) -> None:
            loaded = self.gapp.store.load(conversation_id) if conversation_id else None
            if loaded is not None:
                if self.conversation is not None:
                    self.gapp.store.save(self.conversation)
                self.conversation = loaded
                self.show_conversation(loaded)

        self.app.push_screen(SessionsScreen(self.gapp.store.list()), resume)

    @work(exclusive=True, group="task", exit_on_error=False, description="resume")
    async def show_conversation(self, conversation: Conversation) -> None:
        pane = self.query_one(ConversationView)
        await pane.clear_turns()
        for turn in conversation.turns:
            view = await pane.begin(turn.request)
            view.show_text(turn.answer)
            if not turn.complete:
                view.note(f"incomplete: {turn.error or turn.outcome}", "warning")
        self.query_one(FindingsList).show(conversation.findings())

    def do_help(self, arg: str) -> None:
        from gemmacode.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.gapp.keymap))

    def do_quit(self, arg: str) -> None:
        self.app.exit()

    def do_slash(self, arg: str) -> None:
        self.query_one(PromptInput).prefill("/")

    def do_code(self, arg: str) -> None:
        opening = not self.has_class("-code-open")
        if opening and self.query_one(CodeView).path is None:
            path = self.query_one(RepoTree).selected_path
            if path is None:
                self.notify("Select a file in the tree, or Enter on a finding, to show code")
                return
            self.open_code(path, 1, 1)
            return
        self.set_class(opening, "-code-open")
        (self.query_one(CodeView) if opening else self.query_one(ConversationView)).focus()

    def open_code(self, path: str, start: int, end: int) -> None:
        code = self.query_one(CodeView)
        error = code.open(self.gapp.root, path, start, end)
        if error:
            self.notify(error, severity="error")
            return
        self.add_class("-code-open")
        code.focus()

    def do_focus_tree(self, arg: str) -> None:
        self.query_one(RepoTree).focus()

    def do_focus_conversation(self, arg: str) -> None:
        self.query_one(ConversationView).focus()

    def do_focus_findings(self, arg: str) -> None:
        self.query_one(FindingsList).focus()

    def do_focus_input(self, arg: str) -> None:
        self.query_one(PromptInput).focus()
