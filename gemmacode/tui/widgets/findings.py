"""The findings list: severity (coloured and spelled out), file:line, category, message and
the suggested fix, in the order every output uses (file, line, severity). Enter on one asks
the app to open its lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from gemmacode.review.findings.model import Finding
from gemmacode.review.findings.render import sort_findings

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def finding_text(f: Finding) -> Text:
    where = f"{f.file}:{f.line}" + (f"-{f.end_line}" if f.end_line > f.line else "")
    text = Text.assemble(
        (f"{f.severity.upper():<8}", SEVERITY_STYLE.get(f.severity, "")),
        " ",
        (where, "bold"),
        " ",
        (f"[{f.category}]", "magenta"),
        " ",
        f.message,
    )
    if f.suggestion:
        text.append(f"\n  fix: {f.suggestion}", style="green")
    return text


class FindingsList(OptionList):
    DEFAULT_CSS = """
    FindingsList { height: auto; max-height: 40%; border: round $panel-lighten-2; }
    FindingsList:focus { border: round $accent; }
    FindingsList.-empty { display: none; }
    """

    @dataclass
    class Chosen(Message):
        finding: Finding

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.findings: list[Finding] = []
        self.add_class("-empty")
        self.border_title = "findings"

    def show(self, findings: Sequence[Finding]) -> None:
        self.findings = sort_findings(findings)
        self.clear_options()
        self.add_options([Option(finding_text(f)) for f in self.findings])
        self.set_class(not self.findings, "-empty")
        self.border_title = f"findings ({len(self.findings)})"
        if self.findings:
            self.highlighted = 0

    @property
    def selected(self) -> Finding | None:
        i = self.highlighted
        return self.findings[i] if i is not None and 0 <= i < len(self.findings) else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.findings):
            self.post_message(self.Chosen(self.findings[event.option_index]))
