"""The conversation pane: each request and its answer, streamed as Markdown.

Answers stream through Textual's ``MarkdownStream`` (fragments batched into the widget, so a
long answer does not slow typing), and the pane follows the bottom only while the user is
there (``anchor``): scroll up to read and it stays put. A cut-short answer keeps its text and
says why it is incomplete.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream


class TurnView(Vertical):
    """One request (a header line), its streamed answer and a footnote line."""

    DEFAULT_CSS = """
    TurnView { height: auto; margin: 0 0 1 0; }
    TurnView > .request { color: $accent; text-style: bold; }
    TurnView > Markdown { margin: 0; padding: 0 1 0 0; }
    TurnView > .note { color: $text-muted; }
    TurnView > .note.-warning { color: $warning; }
    TurnView > .note.-error { color: $error; }
    """

    def __init__(self, request: str) -> None:
        super().__init__()
        self.request = request
        self.markdown = Markdown("")
        self.notes = Static("", classes="note")
        self.notes.display = False
        self._stream: MarkdownStream | None = None
        self.text = ""
        self._notes: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f"› {self.request}"), classes="request")
        yield self.markdown
        yield self.notes

    async def write(self, fragment: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        self.text += fragment
        await self._stream.write(fragment)
        self._follow()

    def _follow(self) -> None:
        if isinstance(self.parent, ConversationView):
            self.parent.call_after_refresh(self.parent.follow)

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    def note(self, text: str, kind: str = "") -> None:
        self._notes.append(text)
        self.notes.update(Text("\n".join(self._notes)))
        self.notes.display = True
        if kind:
            self.notes.set_class(True, f"-{kind}")
        self._follow()

    async def show_static(self, text: str) -> None:
        """A finished answer (a resumed conversation): no stream needed."""
        self.text = text
        await self.markdown.update(text)


WELCOME = (
    "Ask a question about the code, or type /review PATH, /staged, /working, /diff RANGE.\n"
    "Tab leaves the input: r reviews the file selected in the tree, s the staged changes.\n"
    "Esc cancels an answer, F1 lists every key, ctrl+p finds any action by name."
)


class ConversationView(VerticalScroll):
    DEFAULT_CSS = """
    ConversationView { border: round $panel-lighten-2; padding: 0 1; }
    ConversationView:focus { border: round $accent; }
    ConversationView > .welcome { color: $text-muted; }
    """
    can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(WELCOME, classes="welcome")

    def on_mount(self) -> None:
        self.border_title = "conversation"

    def follow(self) -> None:
        """Anchor to the bottom once the answers overflow the pane (Textual's anchor would
        otherwise bottom-align a short conversation); after that, scrolling up releases
        the anchor and scrolling back to the bottom restores it."""
        if (
            not self.is_anchored
            and self.virtual_size.height > self.scrollable_content_region.height
        ):
            self.anchor()

    def on_resize(self) -> None:
        self.follow()

    def watch_virtual_size(self) -> None:
        # the answers grew (a streamed fragment rendered, a note): maybe now they overflow
        self.call_after_refresh(self.follow)

    async def begin(self, request: str) -> TurnView:
        await self.query(".welcome").remove()
        turn = TurnView(request)
        await self.mount(turn)
        return turn

    async def clear_turns(self) -> None:
        self.anchor(False)
        await self.remove_children()

    def last_turn(self) -> TurnView | None:
        turns = list(self.query(TurnView))
        return turns[-1] if turns else None
