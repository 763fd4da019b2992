"""The code view: a file with line numbers and syntax colours, read-only, with the lines a
finding names selected and scrolled into view."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TextArea
from textual.widgets.text_area import Selection

LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".jsx": "javascript",
    ".go": "go", ".rs": "rust", ".java": "java", ".sh": "bash", ".bash": "bash",
    ".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".md": "markdown",
    ".css": "css", ".html": "html", ".sql": "sql", ".xml": "xml",
}  # fmt: skip
MAX_BYTES = 2 * 1024 * 1024


class CodeView(TextArea):
    DEFAULT_CSS = """
    CodeView { border: round $panel-lighten-2; }
    CodeView:focus { border: round $accent; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            read_only=True,
            show_line_numbers=True,
            soft_wrap=False,
            **kwargs,  # type: ignore[arg-type]
        )
        self.path: str | None = None
        self.border_title = "code"

    def open(self, root: Path, path: str, start: int = 1, end: int | None = None) -> str | None:
        """Show ``path`` (relative to ``root``) with lines ``start``-``end`` selected; returns
        an error line instead when the file cannot be shown."""
        full = (root / path).resolve()
        try:
            full.relative_to(root.resolve())
        except ValueError:
            return f"{path} is outside the repository"
        try:
            if full.stat().st_size > MAX_BYTES:
                return f"{path} is too large to show"
            text = full.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            return f"cannot open {path}: {err.strerror}"
        language = LANGUAGES.get(full.suffix.lower())
        self.language = language if language in self.available_languages else None
        self.load_text(text)
        self.path = path
        last = max(1, self.document.line_count)
        start = min(max(1, start), last)
        end = min(max(start, end or start), last)
        self.selection = Selection((start - 1, 0), (end - 1, len(self.document.get_line(end - 1))))
        self.border_title = f"{path}:{start}" + (f"-{end}" if end > start else "")
        self.scroll_to(y=max(0, start - 4), animate=False)
        return None
