"""The model picker: the server's models with the 'fits the GPU now' column of
``gemmacode models``; Enter switches to the highlighted one."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable

from gemmacode.session.api import ModelChoice

GB = 1_000_000_000


def fits_text(choice: ModelChoice) -> str:
    if choice.fits_now is None:
        return "unknown" + (f" ({choice.note})" if choice.note else "")
    if choice.fits_now:
        return f"yes, up to {choice.max_ctx_now}" if choice.max_ctx_now else "yes"
    return "no" + (f": {choice.note}" if choice.note else "")


class ModelScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ModelScreen { align: center middle; }
    ModelScreen > DataTable {
        width: 90%; max-width: 120; height: auto; max-height: 80%;
        border: round $accent; background: $surface;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss_none", "close", show=True)]

    def __init__(self, choices: Sequence[ModelChoice], current: str = "") -> None:
        super().__init__()
        self.choices = list(choices)
        self.current = current

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row")
        table.border_title = "models (enter switches, esc closes)"
        table.add_columns("model", "params", "quant", "size", "loaded", "fits the GPU now")
        for c in self.choices:
            mark = "● " if c.info.name == self.current else "  "
            table.add_row(
                mark + c.info.name,
                c.info.parameter_size,
                c.info.quantization,
                f"{c.info.size_bytes / GB:.1f} GB" if c.info.size_bytes else "",
                "yes" if c.loaded else "",
                fits_text(c),
                key=c.info.name,
            )
        yield table

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(str(event.row_key.value))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
