"""The conversation pane: each request and its answer, streamed as Markdown.

The whole pane is one widget that draws its own lines (Textual's line API, like its ``Log``):
an answer streaming at hundreds of tokens a second then costs a frame the lines on screen, not
a layout of every paragraph, list item and code block of the conversation. Each answer is kept
as finished segments, drawn once per width and kept, and the tail still streaming, drawn again
at each batch (:class:`Answer`). Fragments reach the screen in batches
(:meth:`TurnView.write`), and the pane follows the bottom only while the user is there: scroll
up to read and it stays put. A cut-short answer keeps its text and says why it is incomplete.
"""

from __future__ import annotations

import bisect
import re
import time
from typing import ClassVar

from rich.console import JustifyMethod, RenderableType
from rich.markdown import Heading as RichHeading
from rich.markdown import Markdown as RichMarkdown
from rich.markdown import MarkdownElement
from rich.style import Style
from rich.text import Text
from rich.theme import Theme
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

FLUSH_S = 1 / 10  # how often streamed text reaches the screen
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)

WELCOME = (
    "Ask a question about the code, or type /review PATH, /staged, /working, /diff RANGE.\n"
    "Tab leaves the input: r reviews the file selected in the tree, s the staged changes.\n"
    "Esc cancels an answer, F1 lists every key, ctrl+p finds any action by name."
)


def _fences(text: str) -> int:
    return len(_FENCE.findall(text))


def _last_cut(text: str) -> int:
    """Where ``text`` (balanced code fences before it) can be split for good: after its last
    blank line that is outside a code block and followed by a line starting in column 0 (so a
    list item's indented continuation stays with its item); -1 when there is none."""
    cut = text.rfind("\n\n")
    while cut >= 0:
        after = text[cut + 2 :].lstrip("\n")
        if after and not after[0].isspace() and _fences(text[: cut + 2]) % 2 == 0:
            return len(text) - len(after)
        cut = text.rfind("\n\n", 0, cut)
    return -1


class _Heading(RichHeading):
    LEVEL_ALIGN: ClassVar[dict[str, JustifyMethod]] = {f"h{n}": "left" for n in range(1, 7)}


class _Markdown(RichMarkdown):
    """Rich's Markdown with every heading left-aligned, as a chat pane reads."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **RichMarkdown.elements,
        "heading_open": _Heading,
    }


class Answer:
    """An answer's Markdown as lines: finished segments (split by :func:`_last_cut`) drawn
    once per width, and the tail still streaming, drawn again after each :meth:`extend`."""

    def __init__(self) -> None:
        self.segments: list[str] = []
        self.tail = ""
        self._width = 0
        self._drawn: list[Strip] = []  # the finished segments' lines at ``_width``
        self._drawn_count = 0  # how many segments ``_drawn`` holds
        self._tail_lines: list[Strip] | None = None  # None: to draw again

    @property
    def source(self) -> str:
        return "".join(self.segments) + self.tail

    def extend(self, text: str) -> None:
        tail = self.tail + text
        cut = _last_cut(tail)
        if cut > 0:
            self.segments.append(tail[:cut])
            tail = tail[cut:]
        self.tail = tail
        self._tail_lines = None

    def forget(self) -> None:
        """Draw everything again (the theme changed)."""
        self._width, self._drawn, self._drawn_count, self._tail_lines = 0, [], 0, None

    def lines(self, width: int, pane: ConversationView) -> list[Strip]:
        if width != self._width:
            self.forget()
            self._width = width
        while self._drawn_count < len(self.segments):
            if self._drawn:
                self._drawn.append(pane.blank(width))
            markdown = _Markdown(self.segments[self._drawn_count], code_theme=pane.code_theme)
            self._drawn.extend(pane.draw(markdown, width))
            self._drawn_count += 1
        if self._tail_lines is None:
            tail = pane.draw(_Markdown(self.tail, code_theme=pane.code_theme), width)
            if tail and self._drawn:
                tail.insert(0, pane.blank(width))
            self._tail_lines = tail if self.tail.strip() else []
        return self._drawn + self._tail_lines if self._tail_lines else self._drawn


class TurnView:
    """One request (a header line), its streamed answer and its notes, as lines of the pane."""

    def __init__(self, pane: ConversationView, request: str) -> None:
        self.pane = pane
        self.request = request
        self.answer = Answer()
        self.notes: list[tuple[str, str]] = []  # (text, kind: "", "warning", "error")
        self._unsent: list[str] = []
        self._next_flush = 0.0  # monotonic time before which fragments are held back
        self._tail: Timer | None = None  # the pending flush of what arrived since the last
        self._lines: list[Strip] | None = None  # at ``_width``; None: to assemble again
        self._width = 0  # the width of the lines, and of ``_height`` (0: not known)
        self._height = 0  # kept when the lines are released

    @property
    def text(self) -> str:
        """The answer so far."""
        return self.answer.source + "".join(self._unsent)

    async def write(self, fragment: str) -> None:
        """Add a fragment of the answer. Fragments reach the screen in batches, at most every
        :data:`FLUSH_S` and never more than about a third of the event loop (the next batch
        waits twice as long as the last one took), so typing stays quick however fast tokens
        arrive."""
        self._unsent.append(fragment)
        # The flush runs here, in the caller's task; what arrives between flushes goes out on
        # the app's timer.
        now = time.monotonic()
        if now >= self._next_flush:
            self._flush()
        elif self._tail is None:
            self._tail = self.pane.app.set_timer(self._next_flush - now, self._flush_tail)

    def _flush_tail(self) -> None:
        self._tail = None
        self._flush()

    def _flush(self) -> None:
        if not self._unsent:
            return
        started = time.monotonic()
        self.answer.extend("".join(self._unsent))
        self._unsent.clear()
        self.changed()
        cost = time.monotonic() - started
        self._next_flush = time.monotonic() + max(FLUSH_S, 2 * cost)

    async def close(self) -> None:
        if self._tail is not None:
            self._tail.stop()
            self._tail = None
        self._flush()

    def note(self, text: str, kind: str = "") -> None:
        self.notes.append((text, kind))
        self.changed()

    def show_text(self, text: str) -> None:
        """A finished answer (a resumed conversation, or one that came whole)."""
        self._unsent.clear()
        self.answer = Answer()
        self.answer.extend(text)
        self.changed()

    def changed(self) -> None:
        self._lines, self._width = None, 0
        self.pane.turn_changed(self)

    def forget(self) -> None:
        self._lines, self._width = None, 0
        self.answer.forget()

    def release(self) -> None:
        """Drop the drawn lines (far out of view), keep the height: lines cost about 50 times
        the text they show, and are drawn again when scrolled back to."""
        if self._lines is not None:
            self._lines = None
            self.answer.forget()

    @property
    def drawn(self) -> bool:
        return self._lines is not None

    def height(self, width: int) -> int:
        return self._height if width == self._width else len(self.lines(width))

    def lines(self, width: int) -> list[Strip]:
        """The request line, the answer and the notes at ``width``, then a blank line."""
        if self._lines is None or width != self._width:
            pane = self.pane
            header = Text(f"› {self.request}", style=pane.style_of("request"))
            lines = pane.draw(header, width)
            answer = self.answer.lines(width, pane)
            if answer:
                lines += [pane.blank(width), *answer]
            for text, kind in self.notes:
                lines += pane.draw(Text(text, style=pane.style_of(f"note{kind}")), width)
            lines.append(pane.blank(width))
            self._lines, self._width, self._height = lines, width, len(lines)
        return self._lines


class ConversationView(ScrollView):
    """The conversation: the welcome text, then every turn's lines, one after the other."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "conversation--welcome",
        "conversation--request",
        "conversation--note",
        "conversation--notewarning",
        "conversation--noteerror",
        "conversation--code",
    }
    DEFAULT_CSS = """
    ConversationView {
        border: round $panel-lighten-2; padding: 0 1;
        scrollbar-gutter: stable; scrollbar-size-vertical: 1;
    }
    ConversationView:focus { border: round $accent; }
    ConversationView > .conversation--welcome { color: $text-muted; }
    ConversationView > .conversation--request { color: $accent; text-style: bold; }
    ConversationView > .conversation--note { color: $text-muted; }
    ConversationView > .conversation--notewarning { color: $warning; }
    ConversationView > .conversation--noteerror { color: $error; }
    ConversationView > .conversation--code { color: $text-accent; background: $surface; }
    """
    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.turns: list[TurnView] = []
        self._starts: list[int] = []  # the first line of each turn
        self._welcome: list[Strip] | None = None
        self._width = 0
        self._styled: tuple[object, ...] = ()
        self.code_theme = "monokai"
        self._follow = True  # the view was at the bottom when last scrolled: keep it there

    def on_mount(self) -> None:
        self.border_title = "conversation"
        self._styled = self._style_key()
        self.watch(self.app, "theme", self._restyle, init=False)

    def notify_style_update(self) -> None:
        """Styles are applied again on many occasions (focus moving in or out, for one): the
        lines are drawn again only when a colour they use changed."""
        super().notify_style_update()
        if self.is_mounted and self._style_key() != self._styled:
            self._restyle()

    def _style_key(self) -> tuple[object, ...]:
        names = sorted(c.removeprefix("conversation--") for c in self.COMPONENT_CLASSES)
        return (self.rich_style, self.app.current_theme.dark, *map(self.style_of, names))

    def _restyle(self) -> None:
        self._styled = self._style_key()
        for turn in self.turns:
            turn.forget()
        self._welcome = None
        self._width = 0
        self._update()

    # --- drawing ---------------------------------------------------------------------------

    def style_of(self, name: str) -> Style:
        return self.get_component_rich_style(f"conversation--{name}")

    def draw(self, renderable: RenderableType, width: int) -> list[Strip]:
        """``renderable`` as lines ``width`` cells wide on the pane's colours, with no blank
        lines at either end (a code block's padding is not blank: it has its colour)."""
        console = self.app.console
        options = console.options.update(width=width, height=None)
        # Rich's inline code is bold cyan on black whatever the theme: the theme's instead.
        console.push_theme(Theme({"markdown.code": self.style_of("code") + Style(bold=True)}))
        try:
            lines = console.render_lines(renderable, options, style=self.rich_style)
        finally:
            console.pop_theme()
        strips = [Strip(line, width) for line in lines]
        background = self.rich_style.bgcolor

        def empty(strip: Strip) -> bool:  # no text, and no colour of its own (a code block's)
            return not strip.text.strip() and all(
                seg.style is None or seg.style.bgcolor in (None, background) for seg in strip
            )

        start, end = 0, len(strips)
        while start < end and empty(strips[start]):  # Rich starts a list with a blank line
            start += 1
        while end > start and empty(strips[end - 1]):
            end -= 1
        return strips[start:end]

    def blank(self, width: int) -> Strip:
        return Strip.blank(width, self.rich_style)

    def _content_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _layout(self) -> int:
        """Every turn's first line at the current width; returns the total height."""
        width = self._content_width()
        if width != self._width:
            self._width = width
            self._welcome = None
            self.code_theme = "monokai" if self.app.current_theme.dark else "default"
        if not self.turns:
            if self._welcome is None:
                self._welcome = self.draw(Text(WELCOME, style=self.style_of("welcome")), width)
            self._starts = []
            return len(self._welcome)
        starts, y = [], 0
        for turn in self.turns:
            starts.append(y)
            y += turn.height(width)
        self._starts = starts
        return y

    def _release_far_turns(self) -> None:
        """Keep drawn only the turns within a screen of the view, and the last one."""
        if len(self.turns) < 2:
            return
        top = self.scroll_offset.y
        screen = max(1, self.scrollable_content_region.height)
        low, high = top - screen, top + 2 * screen
        ends = [*self._starts[1:], self.virtual_size.height]
        for turn, start, end in zip(self.turns[:-1], self._starts, ends, strict=False):
            if turn.drawn and (end < low or start > high):
                turn.release()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._follow = self.is_vertical_scroll_end
        if int(old) != int(new):
            self._release_far_turns()

    def _update(self, first_changed: int = 0) -> None:
        """Lines changed from turn ``first_changed`` on: new height, and follow the bottom if
        the user was there."""
        at_end = self._follow or self.is_vertical_scroll_end
        height = self._layout()
        self.virtual_size = Size(self._width, height)
        if at_end and height > self.scrollable_content_region.height:
            # force: the scroll bar that makes scrolling allowed appears only at the next layout
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        if first_changed < len(self._starts):
            start = self._starts[first_changed]
            self.refresh_lines(start, max(1, height - start))
        else:
            self.refresh()
        self._release_far_turns()

    def turn_changed(self, turn: TurnView) -> None:
        if turn in self.turns and self.is_mounted:
            self._update(self.turns.index(turn))

    def on_resize(self) -> None:
        """A new width wraps every line again: follow the bottom if the user was there, else
        keep the same part of the same turn at the top."""
        top = int(self.scroll_y)
        index = bisect.bisect_right(self._starts, top) - 1
        if self._follow or index < 0:
            self._update()
            return
        turn, before = self.turns[index], self._width
        share = (top - self._starts[index]) / max(1, turn.height(before))
        self._update()
        if self._width != before:
            y = self._starts[index] + int(share * turn.height(self._width))
            self.scroll_to(y=y, animate=False, immediate=True, force=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        style = self.rich_style
        line = scroll_y + y
        strip: Strip | None = None
        if not self.turns:
            welcome = self._welcome or []
            strip = welcome[line] if line < len(welcome) else None
        elif self._starts:
            index = bisect.bisect_right(self._starts, line) - 1
            lines = self.turns[index].lines(self._width)
            offset = line - self._starts[index]
            strip = lines[offset] if 0 <= offset < len(lines) else None
        if strip is None:
            return Strip.blank(width, style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    # --- turns -----------------------------------------------------------------------------

    async def begin(self, request: str) -> TurnView:
        turn = TurnView(self, request)
        self.turns.append(turn)
        self._update(len(self.turns) - 1)
        return turn

    async def clear_turns(self) -> None:
        self.turns.clear()
        self.scroll_home(animate=False, immediate=True)
        self._update()

    def last_turn(self) -> TurnView | None:
        return self.turns[-1] if self.turns else None
