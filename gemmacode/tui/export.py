"""A conversation's findings as files: the CLI's JSON document (``review --json``) or SARIF
2.1.0 (``review --sarif``), written next to the repository root unless a path is given."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gemmacode import __version__
from gemmacode.backends.base import Final
from gemmacode.review.findings.model import Finding
from gemmacode.review.findings.render import render_json
from gemmacode.review.findings.sarif import to_sarif
from gemmacode.tui.clipboard import save_private
from gemmacode.tui.conversations import Conversation

DEFAULT_NAMES = {"json": "gemmacode-findings.json", "sarif": "gemmacode-findings.sarif"}


@dataclass
class _Result:
    """What ``render_json`` reads of a review result, gathered from every turn."""

    findings: list[Finding]
    model: str
    notes: list[str] = field(default_factory=list)
    finals: list[Final] = field(default_factory=list)


def export_text(conversation: Conversation, fmt: str) -> str:
    model = next((t.model for t in reversed(conversation.turns) if t.model), "")
    result = _Result(
        findings=conversation.findings(),
        model=model,
        notes=[n for t in conversation.turns for n in t.notes],
        finals=[f for t in conversation.turns for f in t.finals],
    )
    if fmt == "json":
        return render_json(result)
    doc = to_sarif(result.findings, tool_version=__version__, model=model)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def export(conversation: Conversation, fmt: str, root: Path, name: str = "") -> Path:
    """Write the findings; returns the path (relative names are under ``root``)."""
    path = Path(name).expanduser() if name else Path(DEFAULT_NAMES[fmt])
    if not path.is_absolute():
        path = root / path
    return save_private(path, export_text(conversation, fmt))
