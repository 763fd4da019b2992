"""Findings for people (coloured text with code excerpts) and for programs (JSON, exit codes).

Pure functions: the caller decides colour (``--color``, ``NO_COLOR``, a TTY) and passes the
reviewed text in ``sources``, so tests render into strings with everything explicit.

``render_json`` writes one stable document (``schema_version`` 1)::

    {
      "schema_version": 1,
      "model": "gemma4:e4b",
      "findings": [{"file", "line", "end_line", "severity", "category", "message",
                    "suggestion"}, ...],           # sorted by file, line, severity
      "stats": {"findings": 2, "by_severity": {"critical": 0, "high": 1, ...},
                "requests": 1, "prompt_tokens": 1830, "completion_tokens": 212,
                "seconds": 4.1, "tokens_per_second": 61.2, "truncated": false},
      "notes": ["2 findings outside the reviewed lines were dropped", ...]
    }

Token counts and rates are ``null`` when the backend did not report them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from gemmacode.backends.base import Final
from gemmacode.errors import UsageError
from gemmacode.index.pathquote import quote_path
from gemmacode.review.findings.model import SEVERITIES, Finding, severity_rank

SCHEMA_VERSION = 1
FAIL_ON_CHOICES: tuple[str, ...] = (*SEVERITIES, "never")

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_SEVERITY_STYLE = {
    "critical": "\x1b[1;37;41m",  # bold white on red: cannot be missed
    "high": "\x1b[1;31m",
    "medium": "\x1b[33m",
    "low": "\x1b[36m",
    "info": "\x1b[2m",
}
CONTEXT_LINES = 1  # lines shown around the flagged ones
MAX_FLAGGED = 5  # flagged lines shown before "..."
MAX_WIDTH = 120  # code columns shown per line


class ReviewLike(Protocol):
    """What :func:`render_json` needs of a review result (the engine's ``ReviewResult``)."""

    @property
    def findings(self) -> list[Finding]: ...
    @property
    def model(self) -> str: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def finals(self) -> list[Final]: ...


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """By file, then line, then most severe first: the order every output uses."""
    return sorted(findings, key=lambda f: (f.file, f.line, severity_rank(f.severity), f.end_line))


def render_human(findings: Sequence[Finding], *, sources: Mapping[str, str], color: bool) -> str:
    """Findings grouped by file and sorted by line, each with its code and suggested fix.

    ``sources`` maps a path to the text the lines refer to (the file, or the new side of a
    diff); a finding whose file is missing there is shown without an excerpt.
    """

    def paint(style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if color else text

    if not findings:
        return "No findings.\n"
    out: list[str] = []
    current = None
    ordered = sort_findings(findings)
    for f in ordered:
        if f.file != current:
            if current is not None:
                out.append("")
            out.append(paint(_BOLD, quote_path(f.file) if f.file else "(no file)"))
            current = f.file
        where = f"{f.line}" if f.end_line == f.line else f"{f.line}-{f.end_line}"
        label = paint(_SEVERITY_STYLE.get(f.severity, ""), f.severity.upper())
        pad = " " * (8 - len(f.severity))
        out.append(f"  {where:<9} {label}{pad} {f.category}: {f.message}")
        out.extend(_excerpt(f, sources.get(f.file), paint))
        if f.suggestion:
            lines = f.suggestion.splitlines() or [""]
            out.append(f"            {paint(_BOLD, 'fix:')} {lines[0]}")
            out.extend(f"                 {line}" for line in lines[1:])
    out.append("")
    out.append(summary(ordered))
    return "\n".join(out) + "\n"


def _excerpt(f: Finding, source: str | None, paint: Callable[[str, str], str]) -> list[str]:
    if source is None:
        return []
    lines = source.splitlines()
    if f.line > len(lines):
        return []
    last_flagged = min(f.end_line, len(lines), f.line + MAX_FLAGGED - 1)
    first = max(1, f.line - CONTEXT_LINES)
    last = min(len(lines), last_flagged + CONTEXT_LINES)
    if last_flagged < min(f.end_line, len(lines)):
        last = last_flagged  # the range is long: show its start, then "..."
    width = len(str(last))
    out = []
    for n in range(first, last + 1):
        code = lines[n - 1].expandtabs(4).rstrip()
        if len(code) > MAX_WIDTH:
            code = code[: MAX_WIDTH - 1] + "…"
        flagged = f.line <= n <= f.end_line
        marker = paint(_SEVERITY_STYLE.get(f.severity, ""), ">") if flagged else " "
        out.append(f"          {marker} {paint(_DIM, f'{n:>{width}} |')} {code}")
    if last < min(f.end_line, len(lines)):
        out.append(f"            {' ' * width}   ...")
    return out


def summary(findings: Sequence[Finding]) -> str:
    """``3 findings: 1 high, 2 medium`` (severities in order, zero counts left out)."""
    if not findings:
        return "No findings."
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    parts = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    noun = "finding" if len(findings) == 1 else "findings"
    return f"{len(findings)} {noun}: {parts}"


def render_json(result: ReviewLike) -> str:
    """The stable JSON document described in the module docstring, newline-terminated."""
    findings = sort_findings(result.findings)
    finals = list(result.finals)
    prompt = _total(f.prompt_tokens for f in finals)
    completion = _total(f.completion_tokens for f in finals)
    eval_s = sum(f.eval_s for f in finals)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "model": result.model,
        "findings": [f.to_dict() for f in findings],
        "stats": {
            "findings": len(findings),
            "by_severity": {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES},
            "requests": len(finals),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "seconds": round(sum(f.total_s for f in finals), 3),
            "tokens_per_second": round(completion / eval_s, 1) if completion and eval_s else None,
            "truncated": any(f.truncated for f in finals),
        },
        "notes": list(result.notes),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def exit_code_for(findings: Sequence[Finding], fail_on: str = "high") -> int:
    """1 when a finding is at least as severe as ``fail_on``, else 0; ``never`` is always 0.

    Exit code 2 (usage or connection errors) is the CLI's, through ``GemmacodeError``.
    """
    if fail_on not in FAIL_ON_CHOICES:
        raise UsageError(
            f"unknown --fail-on value {fail_on!r}", f"use one of: {', '.join(FAIL_ON_CHOICES)}"
        )
    if fail_on == "never":
        return 0
    threshold = severity_rank(fail_on)
    return 1 if any(severity_rank(f.severity) <= threshold for f in findings) else 0
