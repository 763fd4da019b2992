"""Findings a team has accepted: an inline ``gemmacode: ignore`` or the baseline file.

A gate that keeps blocking on a finding the team has looked at and accepted gets switched
off. Two ways to accept one, so only new findings block:

- **inline**: the text ``gemmacode: ignore`` on one of the finding's lines, or on the line
  just above it (for code where a trailing comment does not fit), in the committed content;
- **baseline**: a JSON file at the repository root (``hook.baseline``, committed with the
  code) listing accepted findings' fingerprints; ``gemmacode hook baseline`` writes it from
  the current findings.

A fingerprint is a hash of the file's path, the finding's category and the flagged code
with its whitespace collapsed: it survives the code moving up or down, a re-indent and a
reworded message, and changes when the flagged code itself changes (then it is a new
finding). The file keeps each finding's place and message beside the fingerprint for the
people reading it in a review; only the fingerprints count.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gemmacode.errors import ConfigError
from gemmacode.review.findings.model import Finding

IGNORE_MARK = "gemmacode: ignore"
BASELINE_FORMAT = 1
_SPACE = re.compile(r"\s+")


def flagged_code(finding: Finding, text: str | None) -> str:
    """The finding's lines of ``text`` (the committed content), whitespace collapsed."""
    if text is None:
        return ""
    lines = text.splitlines()
    last = min(max(finding.end_line, finding.line), len(lines), finding.line + 50)
    chosen = lines[max(finding.line, 1) - 1 : last]
    return _SPACE.sub(" ", "\n".join(chosen)).strip()


def fingerprint(finding: Finding, text: str | None) -> str:
    """Stable across line moves, re-indents and rewording; see the module docstring."""
    code = flagged_code(finding, text)
    if not code:  # no content to anchor on: fall back to the message's words
        code = "message:" + " ".join(re.findall(r"\w+", finding.message.lower()))
    raw = f"{finding.file}\0{finding.category}\0{code}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def ignored_inline(finding: Finding, text: str | None) -> bool:
    """True when the finding's lines, or the line above them, carry ``gemmacode: ignore``."""
    if text is None:
        return False
    lines = text.splitlines()
    first = max(finding.line - 1, 1)
    last = min(max(finding.end_line, finding.line), len(lines))
    return any(IGNORE_MARK in lines[n - 1].lower() for n in range(first, last + 1))


def load_entries(path: Path) -> list[dict[str, Any]]:
    """The baseline's entries (none when the file does not exist); a damaged file is a
    ConfigError naming it."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not a readable baseline ({exc})",
            "fix it, or write it again with `gemmacode hook baseline --replace`",
        ) from exc
    entries = doc.get("accepted") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(
            f"{path}: no 'accepted' list", "write it again with `gemmacode hook baseline --replace`"
        )
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("fingerprint"), str)]


def load_baseline(path: Path) -> frozenset[str]:
    """The accepted fingerprints."""
    return frozenset(str(e["fingerprint"]) for e in load_entries(path))


def baseline_document(
    findings: Iterable[Finding],
    texts: Mapping[str, str | None],
    keep: Iterable[Mapping[str, Any]] = (),
) -> str:
    """The baseline file's text: the entries in ``keep`` and one per new fingerprint among
    ``findings``, sorted by file and line."""
    entries: dict[str, dict[str, Any]] = {str(e["fingerprint"]): dict(e) for e in keep}
    for f in findings:
        fp = fingerprint(f, texts.get(f.file))
        entries.setdefault(
            fp,
            {
                "fingerprint": fp,
                "file": f.file,
                "line": f.line,
                "severity": f.severity,
                "category": f.category,
                "message": f.message,
            },
        )
    ordered = sorted(
        entries.values(),
        key=lambda e: (str(e.get("file", "")), int(e.get("line") or 0), e["fingerprint"]),
    )
    doc = {
        "format": BASELINE_FORMAT,
        "about": "findings accepted for the gemmacode commit hook; see docs/hook.md",
        "accepted": ordered,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_baseline(path: Path, text: str) -> None:
    """Write the baseline atomically (a temporary file renamed into place)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gemmacode-baseline-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # a project file, committed with the code
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
