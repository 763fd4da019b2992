"""The conversation pane: each request and its answer, streamed as Markdown.

Answers stream into Markdown widgets in batches (see :meth:`TurnView.write`), so a long
answer does not slow typing, and the pane follows the bottom only while the user is
there (``anchor``): scroll up to read and it stays put. A cut-short answer keeps its text and
says why it is incomplete.
"""

from __future__ import annotations

import asyncio
import re
import time

from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.timer import Timer
from textual.widgets import Markdown, Static

FLUSH_S = 1 / 15  # how often streamed text reaches the Markdown widget
CHUNK_CHARS = 2000  # past this, a streamed answer continues in a new Markdown widget
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)


def _fences(text: str) -> int:
    return len(_FENCE.findall(text))


class DoneChunk(Static):
    """A finished part of a long answer, drawn by Rich's Markdown in one widget. Its height at
    a width is measured once: the pane lays out every chunk again whenever the answer below
    grows, and measuring renders the whole chunk."""

    def __init__(self, text: str) -> None:
        super().__init__(RichMarkdown(text), classes="done")
        self.source = text
        self._heights: dict[int, int] = {}

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width not in self._heights:
            self._heights[width] = super().get_content_height(container, viewport, width)
        return self._heights[width]


class TurnView(Vertical):
    """One request (a header line), its streamed answer and a footnote line."""

    DEFAULT_CSS = """
    TurnView { height: auto; margin: 0 0 1 0; }
    TurnView > .request { color: $accent; text-style: bold; }
    TurnView > Markdown { margin: 0; padding: 0 1 0 0; }
    TurnView > .done { margin: 0 0 1 0; padding: 0 1 0 1; }
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
        self._flush_lock = asyncio.Lock()
        self._parts: list[str] = []
        self._unsent: list[str] = []
        self._chunk_chars = 0  # text in the current Markdown widget
        self._chunk: list[str] = []  # the text in it
        self._next_flush = 0.0  # monotonic time before which fragments are held back
        self._tail: Timer | None = None  # the pending flush of what arrived since the last
        self._follow_pending = False
        self._notes: list[str] = []

    @property
    def text(self) -> str:
        """The answer so far (kept as parts: appending to one string is quadratic)."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @text.setter
    def text(self, value: str) -> None:
        self._parts[:] = [value]

    def compose(self) -> ComposeResult:
        yield Static(Text(f"› {self.request}"), classes="request")
        yield self.markdown
        yield self.notes

    async def write(self, fragment: str) -> None:
        """Add a fragment of the answer. Fragments reach the Markdown widget in batches,
        at most every :data:`FLUSH_S`, one append at a time: each append lays the answer out
        again, so one per token (hundreds a second) falls ever further behind as the answer
        grows. (Textual's ``MarkdownStream`` is not used: its ``stop()`` cancels an append in
        flight and starts another, and two appends at once lose text.)"""
        self._parts.append(fragment)
        self._unsent.append(fragment)
        # Appends get no more than about a third of the event loop, whatever they cost, so
        # keys are handled between them. The flush runs here, in the caller's task; what
        # arrives between flushes goes out on the app's timer (a timer of this widget, set
        # while it was being mounted, sometimes never fired, and the answer stayed unsent).
        now = time.monotonic()
        if now >= self._next_flush:
            await self._flush()
        elif self._tail is None:
            self._tail = self.app.set_timer(self._next_flush - now, self._flush_tail)

    async def _flush_tail(self) -> None:
        self._tail = None
        await self._flush()

    async def _flush(self) -> None:
        async with self._flush_lock:
            if not self._unsent:
                return
            batch = "".join(self._unsent)
            self._unsent.clear()
            started = time.monotonic()
            big = self._chunk_chars + len(batch) > CHUNK_CHARS
            cut = self._chunk_break(batch) if big else -1
            if cut < 0:
                self._chunk_chars += len(batch)
                self._chunk.append(batch)
                await self.markdown.append(batch)
            else:
                # The finished part becomes one Static of Rich's Markdown: one widget to lay
                # out and keep instead of one per paragraph, list item and code block.
                done = "".join(self._chunk) + batch[:cut]
                old, self.markdown = self.markdown, Markdown("")
                await self.mount(DoneChunk(done), before=old)
                await self.mount(self.markdown, before=self.notes)
                await old.remove()
                rest = batch[cut:]
                self._chunk_chars, self._chunk = len(rest), [rest]
                await self.markdown.append(rest)
            cost = time.monotonic() - started
            self._next_flush = time.monotonic() + max(FLUSH_S, 2 * cost)
            self._follow()

    def _chunk_break(self, batch: str) -> int:
        """Where to start a new Markdown widget in ``batch``: after its last blank line
        that is outside a code block; -1 when there is none. A long answer is kept as
        several widgets so an append lays out only the last one, not the whole answer."""
        self._chunk[:] = ["".join(self._chunk)]  # fences counted on whole lines only
        cut = batch.rfind("\n\n")
        while cut >= 0:
            if _fences(self._chunk[0] + batch[: cut + 2]) % 2 == 0:
                return cut + 2
            cut = batch.rfind("\n\n", 0, cut)
        return -1

    def _follow(self) -> None:
        """Check the anchor once per refresh, not once per fragment (hundreds a second)."""
        if isinstance(self.parent, ConversationView) and not self._follow_pending:
            self._follow_pending = True
            self.parent.call_after_refresh(self._followed)

    def _followed(self) -> None:
        self._follow_pending = False
        if isinstance(self.parent, ConversationView):
            self.parent.follow()

    async def close(self) -> None:
        if self._tail is not None:
            self._tail.stop()
            self._tail = None
        await self._flush()

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
