"""The status bar: the core's :class:`~gemmacode.session.events.Status`, live.

The app sets :attr:`StatusBar.status` whenever a status event arrives (from any thread; the
app hops it to its own loop first), so the bar changes as free VRAM changes without a
keypress. Two lines normally; one when the screen is small (``-compact``).
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from gemmacode.session.api import IndexProgress
from gemmacode.session.events import Status
from gemmacode.tui.status_text import index_text, status_lines


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 2;
        width: 1fr;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    StatusBar.-compact { height: 1; }
    """

    status: reactive[Status] = reactive(Status, always_update=True)
    """The latest snapshot from the core."""
    index: reactive[IndexProgress | None] = reactive(None)
    """Indexing progress while it runs, else None."""
    index_summary: reactive[str] = reactive("")
    """What the last indexing found ("812 files, 5,120 symbols")."""
    busy: reactive[str] = reactive("")
    """What the running task is doing ("review 1/2: findings")."""

    def render(self) -> Text:
        lines = 1 if self.has_class("-compact") else 2
        busy = Text(self.busy, style="yellow") if self.busy else None
        index = index_text(self.index, self.index_summary)
        out = status_lines(self.status, index=index, busy=busy, lines=lines)
        width = max(1, self.content_region.width)
        for line in out:
            line.truncate(width, overflow="ellipsis")
        return Text("\n").join(out)
