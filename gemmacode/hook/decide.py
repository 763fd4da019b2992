"""Whether a commit may go ahead: findings in, a verdict and an exit code out.

Pure: the findings, the committed text of each file, the lines the commit changes, the
accepted fingerprints and the settings are passed in, so every rule is tested on values.

A finding **blocks** when all of these hold: its severity is at least ``hook.fail_on``; one
of its lines is a line the commit adds or changes (:mod:`gemmacode.hook.lines`); it is not
accepted (inline ``gemmacode: ignore`` or the baseline, :mod:`gemmacode.hook.accept`); and
``hook.mode`` is ``block``. Every other finding is shown and let through.

The exit codes are in :mod:`gemmacode.hook.exits`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gemmacode.hook.accept import fingerprint, ignored_inline
from gemmacode.hook.exits import EXIT_BLOCKED, EXIT_OK
from gemmacode.review.findings.model import Finding, severity_rank


@dataclass
class Verdict:
    """The findings sorted into what blocks and what is only shown, and why."""

    blocking: list[Finding] = field(default_factory=list)
    shown: list[Finding] = field(default_factory=list)  # below the threshold or not changed
    accepted_inline: int = 0
    accepted_baseline: int = 0
    not_changed: int = 0  # at or above the threshold, but on lines the commit did not touch
    warn_only: bool = False  # hook.mode = warn: would have blocked

    @property
    def exit_code(self) -> int:
        return EXIT_BLOCKED if self.blocking and not self.warn_only else EXIT_OK


def _touches(f: Finding, changed: set[int]) -> bool:
    last = max(f.end_line, f.line)
    return any(n in changed for n in range(f.line, last + 1))


def decide(
    findings: Sequence[Finding],
    *,
    texts: Mapping[str, str | None],
    changed: Mapping[str, set[int]],
    fail_on: str,
    baseline: frozenset[str] = frozenset(),
    mode: str = "block",
) -> Verdict:
    """Sort ``findings`` for one commit (see the module docstring)."""
    verdict = Verdict(warn_only=mode == "warn")
    threshold = None if fail_on == "never" else severity_rank(fail_on)
    for f in sorted(findings, key=lambda f: (f.file, f.line, severity_rank(f.severity))):
        text = texts.get(f.file)
        if ignored_inline(f, text):
            verdict.accepted_inline += 1
            continue
        if baseline and fingerprint(f, text) in baseline:
            verdict.accepted_baseline += 1
            continue
        severe = threshold is not None and severity_rank(f.severity) <= threshold
        if severe and _touches(f, changed.get(f.file, set())):
            verdict.blocking.append(f)
        else:
            verdict.not_changed += int(severe)
            verdict.shown.append(f)
    return verdict
