"""The help screen: every key binding (as remapped) and every slash command, from the same
tables the app binds and parses, so it cannot drift from what the keys do."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from gemmacode.tui.keys import KEYS
from gemmacode.tui.slash import COMMANDS

EXTRA_KEYS = (
    ("ctrl+p", "command palette: every action by name"),
    ("tab / shift+tab", "next / previous pane; in the input, accept the completion"),
    ("↑ / ↓ in the input", "earlier lines sent"),
    ("enter on a finding", "open its lines in the code view"),
    ("ctrl+q", "quit from anywhere"),
)


def help_markdown(keymap: Mapping[str, str]) -> str:
    lines = ["## Keys", "", "| key | action |", "|---|---|"]
    for key in KEYS:
        keys = keymap.get(key.id, key.keys).replace("question_mark", "?").replace("slash", "/")
        lines.append(f"| `{keys}` | {key.label} (`{key.id}`) |")
    lines += [f"| `{k}` | {what} |" for k, what in EXTRA_KEYS]
    lines += [
        "",
        "Letter keys act when the input line is not focused (Tab leaves it; 4 or / returns).",
        "",
        "## Commands",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for c in COMMANDS:
        usage = f"/{c.name} {c.usage}".strip().replace("|", "\\|")
        lines.append(f"| `{usage}` | {c.help} |")
    lines += ["", "Text without a slash is a question about the code (a follow-up keeps context)."]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,f1,question_mark", "dismiss", "close", show=True),
    ]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "help (esc closes)"
            yield Markdown(help_markdown(self.keymap))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
