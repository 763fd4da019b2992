"""Last resort: findings from a prose answer that holds no JSON at all.

Only lines that name a place are read, in the shapes models and linters use::

    src/app.py:12: high: message             (compiler style, severity optional)
    - [HIGH] line 12: message                (bullet, severity first)
    **Line 12-14** (medium): message         (Markdown, severity after the place)
    1. app.py, line 7 - message

A sentence that merely mentions a line number is not a finding: guessing wrong is worse than
reporting nothing, because a finding is shown as if true.
"""

from __future__ import annotations

import re

from gemmacode.review.findings.model import Finding
from gemmacode.review.findings.vocabulary import (
    SEVERITY_WORDS,
    category_from_text,
    normalise_severity,
)

_SEV = "|".join(sorted(SEVERITY_WORDS, key=len, reverse=True))
_BULLET = re.compile(r"^\s*(?:[-*•>+]|\d+[.)])?\s*")
_SEV_TAG = re.compile(rf"^[\[(]?\s*(?P<sev>{_SEV})\s*[\])]?\s*(?:[:\-–—|]\s*)?", re.IGNORECASE)
_FILE = r"`?(?P<file>[\w.\\/\-]+\.[A-Za-z]\w*)`?"
_PLACE = re.compile(
    rf"^(?:in\s+)?(?:{_FILE}(?::(?P<cline>\d+)(?:[-–](?P<cend>\d+))?(?::\d+)?|\s*[,:]?\s*))?"
    r"(?:(?:at|on)\s+)?(?(cline)|(?:lines?|ln|l)\s*(?P<line>\d+)"
    r"(?:\s*(?:-|–|—|to)\s*l?(?P<end>\d+))?)",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*[:\-–—)|,.]\s*|^\s+")


def findings_from_prose(text: str, default_file: str = "") -> list[Finding]:
    """Findings from lines shaped like the examples above; other lines are ignored."""
    out: list[Finding] = []
    for raw in text.splitlines()[:2000]:
        line = _BULLET.sub("", raw.replace("**", "").replace("__", ""), count=1).strip()
        found = _read_line(line, default_file)
        if found is not None:
            out.append(found)
    return out


def _read_line(line: str, default_file: str) -> Finding | None:
    severity = None
    m = _SEV_TAG.match(line)
    if m:
        severity = normalise_severity(m.group("sev"))
        line = line[m.end() :]
    place = _PLACE.match(line)
    if not place or not (place.group("cline") or place.group("line")):
        return None
    start = int(place.group("cline") or place.group("line"))
    end_text = place.group("cend") or place.group("end")
    rest = line[place.end() :]
    sep = _SEPARATOR.match(rest)
    if not sep and rest:
        return None  # "line 12abc": not a place followed by a message
    rest = rest[sep.end() :] if sep else rest
    m = _SEV_TAG.match(rest)
    if m and severity is None:
        severity = normalise_severity(m.group("sev"))
        rest = rest[m.end() :]
    message = " ".join(rest.split())
    if len(message) < 3 or start < 1:
        return None
    end = max(start, int(end_text)) if end_text else start
    return Finding(
        file=place.group("file") or default_file,
        line=start,
        end_line=end,
        severity=severity or "medium",
        category=category_from_text(message),
        message=message,
    )
