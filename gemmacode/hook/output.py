"""What the hook prints: plain lines a terminal, an IDE's commit dialog and a GUI client all
show well.

Each finding is one ``path:line: severity: message`` line (the form editors and CI logs turn
into links), its fix indented below, then one verdict line and, when the commit is blocked,
how to get past it. Everything goes to stderr, which every git client shows. Colour only
when stderr is a terminal and ``NO_COLOR`` is unset; no progress bars, no prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the fast paths print without loading the verdict's modules
    from gemmacode.hook.decide import Verdict
    from gemmacode.review.findings.model import Finding

_RESET = "\x1b[0m"
_STYLE = {
    "critical": "\x1b[1;37;41m",
    "high": "\x1b[1;31m",
    "medium": "\x1b[33m",
    "low": "\x1b[36m",
    "info": "\x1b[2m",
}


def bypass(what: str = "commit") -> str:
    """How to get past the hook once, for a ``commit`` or a ``push``."""
    return (
        f"skip the check once: `git {what} --no-verify` (or GEMMACODE_SKIP=1; SKIP=gemmacode "
        "under pre-commit)"
    )


ACCEPT = "accept it with a `gemmacode: ignore` comment on the line or `gemmacode hook baseline`"


@dataclass
class Printer:
    """Writes lines to one stream (``write``), with or without colour."""

    write: Callable[[str], None]
    color: bool = False

    def line(self, text: str) -> None:
        self.write(text + "\n")

    def say(self, text: str) -> None:
        self.line(f"gemmacode: {text}")

    def warn(self, text: str) -> None:
        self.line(f"gemmacode: warning: {text}")

    def finding(self, f: Finding, suffix: str = "") -> None:
        severity = f"{_STYLE.get(f.severity, '')}{f.severity}{_RESET}" if self.color else f.severity
        where = f"{f.file}:{f.line}" if f.file else f"line {f.line}"
        self.line(f"{where}: {severity}: {f.message}{suffix}")
        if f.suggestion.strip():
            lines = f.suggestion.strip().splitlines()
            self.line(f"    fix: {lines[0]}")
            for rest in lines[1:4]:
                self.line(f"         {rest}")


def color_for(stream_isatty: bool, env: Mapping[str, str]) -> bool:
    return stream_isatty and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def report(
    out: Printer,
    verdict: Verdict,
    *,
    fail_on: str,
    notes: Sequence[str] = (),
    cached: bool = False,
    what: str = "commit",
) -> None:
    """Print the findings and the verdict."""
    for f in verdict.blocking:
        out.finding(f)
    for f in verdict.shown:
        out.finding(f, "  (not blocking)")
    for note in notes:
        out.say(note)
    accepted = []
    if verdict.accepted_inline:
        accepted.append(f"{verdict.accepted_inline} ignored inline")
    if verdict.accepted_baseline:
        accepted.append(f"{verdict.accepted_baseline} in the baseline")
    if verdict.not_changed:
        accepted.append(f"{verdict.not_changed} on lines this {what} does not change")
    extra = f" ({'; '.join(accepted)})" if accepted else ""
    source = " (cached review)" if cached else ""
    n = len(verdict.blocking)
    noun = "finding" if n == 1 else "findings"
    if n and verdict.warn_only:
        out.say(f"{n} {noun} at or above {fail_on} (hook.mode = warn: not blocking){extra}{source}")
    elif n:
        out.say(f"{what} blocked: {n} {noun} at or above {fail_on} on changed lines{extra}{source}")
        out.say(f"fix it and {what} again, {ACCEPT}, or {bypass(what)}")
    else:
        total = len(verdict.shown)
        found = f"{total} finding{'s' if total != 1 else ''}, none blocking" if total else ""
        out.say(f"review passed: {found or 'no findings'}{extra}{source}")
