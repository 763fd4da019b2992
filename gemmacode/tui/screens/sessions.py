"""Past conversations of this project: Enter resumes the highlighted one."""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from gemmacode.tui.conversations import Conversation


class SessionsScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    SessionsScreen { align: center middle; }
    SessionsScreen > OptionList {
        width: 90%; max-width: 100; height: auto; max-height: 80%;
        border: round $accent; background: $surface;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss_none", "close", show=True)]

    def __init__(self, conversations: Sequence[Conversation]) -> None:
        super().__init__()
        self.conversations = list(conversations)

    def compose(self) -> ComposeResult:
        options = [
            Option(
                f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(c.created))}  "
                f"{len(c.turns):>2} turns  {c.title}",
                id=c.id,
            )
            for c in self.conversations
        ] or [Option("no past conversations in this project yet", disabled=True)]
        listing = OptionList(*options)
        listing.border_title = "conversations (enter resumes, esc closes)"
        yield listing

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
