"""The input line: questions and slash commands, with inline completion and a history.

Completion comes from :func:`gemmacode.tui.slash.complete` over the repository's files, its
revisions (for ``/diff``) and the server's models (the app keeps the lists current); Tab or →
accepts it. ↑/↓ walk the lines sent before. Enter posts the line; the app decides what it means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

from gemmacode.tui.slash import complete


class SlashSuggester(Suggester):
    def __init__(
        self,
        paths: Callable[[], Sequence[str]],
        models: Callable[[], Sequence[str]],
        revisions: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._paths = paths
        self._models = models
        self._revisions = revisions

    async def get_suggestion(self, value: str) -> str | None:
        return complete(value, self._paths(), self._models(), self._revisions())


class PromptInput(Input):
    DEFAULT_CSS = """
    PromptInput { border: round $panel-lighten-2; height: 3; }
    PromptInput:focus { border: round $accent; }
    """
    BINDINGS = [
        Binding("tab", "accept_suggestion", "complete", show=False),
        Binding("up", "history(-1)", "previous", show=False),
        Binding("down", "history(1)", "next", show=False),
    ]

    def __init__(self, suggester: Suggester, **kwargs: object) -> None:
        super().__init__(
            placeholder="ask a question, or /review PATH, /staged, /help …",
            suggester=suggester,
            select_on_focus=False,
            **kwargs,  # type: ignore[arg-type]
        )
        self.sent: list[str] = []
        self._at = 0

    def remember(self, line: str) -> None:
        if line and (not self.sent or self.sent[-1] != line):
            self.sent.append(line)
        self._at = len(self.sent)

    def action_accept_suggestion(self) -> None:
        if self._suggestion and self._suggestion != self.value:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()

    def action_history(self, step: int) -> None:
        if not self.sent:
            return
        self._at = max(0, min(len(self.sent), self._at + step))
        self.value = self.sent[self._at] if self._at < len(self.sent) else ""
        self.cursor_position = len(self.value)

    def prefill(self, text: str) -> None:
        self.value = text
        self.cursor_position = len(text)
        self.focus()
