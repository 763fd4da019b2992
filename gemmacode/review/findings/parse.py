"""Turn a model's answer into findings, whatever shape the answer came in.

Small models wrap JSON in fences or prose, slip on its syntax, stop mid-string when they hit
``num_predict``, name fields and severities their own way, or skip JSON altogether. The
functions here are pure and total: any text yields a :class:`ParseResult` (possibly empty,
with the reasons in ``errors``), never an exception, so a bad answer costs one review, not the
run. Line checks against the reviewed code live in :mod:`gemmacode.review.findings.anchor`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gemmacode.review.findings.lenient_json import NotJson, read_value
from gemmacode.review.findings.model import Finding
from gemmacode.review.findings.prose import findings_from_prose
from gemmacode.review.findings.vocabulary import (
    category_from_text,
    normalise_category,
    normalise_severity,
)

__all__ = ["ParseResult", "parse_findings", "parse_line_spec"]

MAX_STARTS = 25  # brace positions tried per candidate text: bounds the work on garbage

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_LINE_SPEC = re.compile(
    r"^\s*(?:lines?|ln|l)?\s*[#:.]?\s*(\d+)(?:\s*(?:-|–|—|\.\.|to|through)\s*(?:l\s*)?(\d+))?",
    re.IGNORECASE,
)
_LIST_KEYS = ("findings", "issues", "results", "problems", "comments", "bugs", "review")
_ALIASES: dict[str, tuple[str, ...]] = {
    "file": ("file", "path", "filename", "file_path", "filepath", "file_name", "uri"),
    "line": ("line", "lines", "line_number", "lineno", "start_line", "line_start", "line_range"),
    "end_line": ("end_line", "line_end", "end_lineno", "last_line", "endline", "to_line"),
    "severity": ("severity", "level", "priority", "sev", "importance"),
    "category": ("category", "type", "kind", "rule", "issue_type", "class"),
    "message": (
        "message",
        "description",
        "issue",
        "problem",
        "msg",
        "text",
        "title",
        "comment",
        "detail",
        "details",
        "summary",
        "finding",
    ),
    "suggestion": (
        "suggestion",
        "fix",
        "suggested_fix",
        "recommendation",
        "remediation",
        "solution",
        "proposed_fix",
    ),
}
_NOTHING_FOUND = re.compile(
    r"^\W*(no (issues|findings|problems|bugs)|nothing (to report|found)|looks good|lgtm)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParseResult:
    """``repaired`` is True when the answer was not strict JSON of the expected shape: syntax
    fixed, a cut-off tail closed, or findings read from prose. ``errors`` says what was
    dropped or guessed, one line each, for ``--verbose`` and the eval report."""

    findings: list[Finding] = field(default_factory=list)
    repaired: bool = False
    errors: list[str] = field(default_factory=list)


def parse_findings(text: str, *, default_file: str = "") -> ParseResult:
    """Findings from a model answer; ``default_file`` fills findings that name no file."""
    if not isinstance(text, str) or not text.strip():
        return ParseResult([], False, ["empty answer"])
    for payload, repaired, complete in _json_payloads(text):
        errors: list[str] = []
        if not complete:
            errors.append("the answer was cut off; only its complete findings were kept")
        elif repaired:
            errors.append("the JSON was malformed and was repaired")
        findings = [
            f for i, item in enumerate(payload) if (f := _finding(item, i, default_file, errors))
        ]
        return ParseResult(findings, repaired, errors)
    findings = findings_from_prose(text, default_file)
    if findings:
        return ParseResult(findings, True, [f"no JSON found; read {len(findings)} from prose"])
    if _NOTHING_FOUND.match(text.strip()):
        return ParseResult([], False, [])
    return ParseResult([], False, ["no findings could be read from the answer"])


def parse_line_spec(value: Any) -> tuple[int, int | None] | None:
    """``12``, ``"12-15"``, ``"L12"``, ``"lines 3 to 5"``, ``[12, 15]`` -> (start, end)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value, None
    if isinstance(value, float):
        return (int(value), None) if value == value and abs(value) < 1e9 else None
    if isinstance(value, list | tuple):
        nums = [p[0] for v in value if (p := parse_line_spec(v))]
        return (nums[0], nums[-1] if len(nums) > 1 else None) if nums else None
    if isinstance(value, dict):
        flat = _flatten_keys(value)
        start = _first(flat, ("line", "start", "start_line", "from"))
        end = _first(flat, ("end_line", "end", "to"))
        s, e = parse_line_spec(start), parse_line_spec(end)
        return (s[0], e[0] if e else s[1]) if s else None
    if isinstance(value, str):
        m = _LINE_SPEC.match(value)
        if not m:
            m = re.search(r"(\d+)(?:\s*[-–]\s*(\d+))?", value)
        if m:
            return int(m.group(1)), int(m.group(2)) if m.group(2) else None
    return None


def _json_payloads(text: str) -> Iterator[tuple[list[Any], bool, bool]]:
    """The first finding list in the text: (items, repaired, complete)."""
    fenced = sorted(
        (m for m in _FENCE.finditer(text)), key=lambda m: m.group(1).lower() not in ("json", "")
    )
    candidates = [m.group(2) for m in fenced] + [text]
    for candidate in candidates:
        starts = [m.start() for m in re.finditer(r"[\[{]", candidate)][:MAX_STARTS]
        for start in starts:
            try:
                value, _end = json.JSONDecoder().raw_decode(candidate, start)
                repaired, complete = False, True
            except (ValueError, RecursionError):
                try:
                    value, complete, _end = read_value(candidate, start)
                except NotJson:
                    continue
                repaired = True
            payload = _finding_list(value, complete)
            if payload is not None:
                yield payload, repaired, complete
                return


def _finding_list(value: Any, complete: bool) -> list[Any] | None:
    """The finding-like items in a decoded value, or None when it is not findings.

    An empty bare list counts only when complete: ``[[[`` is noise, ``[]`` is an answer.
    """
    if isinstance(value, dict):
        flat = _flatten_keys(value)
        for key in _LIST_KEYS:
            if key in flat:
                inner = flat[key]
                if isinstance(inner, list):
                    return inner
                if isinstance(inner, dict):
                    return [inner]
        return [value] if _looks_like_finding(flat) else None
    if isinstance(value, list):
        if not value:
            return [] if complete else None
        items = [v for v in value if isinstance(v, dict)]
        return items if any(_looks_like_finding(_flatten_keys(v)) for v in items) else None
    return None


def _looks_like_finding(flat: dict[str, Any]) -> bool:
    return any(k in flat for k in _ALIASES["message"]) or any(k in flat for k in _ALIASES["line"])


def _finding(item: Any, index: int, default_file: str, errors: list[str]) -> Finding | None:
    label = f"finding {index + 1}"
    if not isinstance(item, dict):
        errors.append(f"{label} dropped: not an object")
        return None
    flat = _flatten_keys(item)
    location = flat.get("location")
    if isinstance(location, dict):
        flat = {**_flatten_keys(location), **flat}
    elif location is not None and not any(k in flat for k in _ALIASES["line"]):
        flat["line"] = location
    message = " ".join(_text(_first(flat, _ALIASES["message"])).split())
    spec = parse_line_spec(_first(flat, _ALIASES["line"]))
    if spec is None:
        errors.append(f"{label} dropped: no line number ({message[:60] or 'no message'})")
        return None
    if not message:
        errors.append(f"{label} dropped: no message")
        return None
    line, end = spec
    end_spec = parse_line_spec(_first(flat, _ALIASES["end_line"]))
    if end_spec is not None:
        end = end_spec[0]
    if line < 1:
        errors.append(f"{label} dropped: line {line} is not a line of the file")
        return None
    end_line = max(line, end or line)
    raw_sev = _first(flat, _ALIASES["severity"])
    severity = normalise_severity(raw_sev)
    if severity is None:
        severity = "medium"
        if raw_sev is not None:
            errors.append(f"{label}: unknown severity {str(raw_sev)[:20]!r} read as medium")
    raw_cat = _first(flat, _ALIASES["category"])
    category = normalise_category(raw_cat) if raw_cat is not None else "other"
    if category == "other" and str(raw_cat).strip().lower() != "other":
        category = category_from_text(message)  # unknown or missing: read it from the message
    file = _text(_first(flat, _ALIASES["file"])) or default_file
    suggestion = _text(_first(flat, _ALIASES["suggestion"]))
    return Finding(file, line, end_line, severity, category, message, suggestion)


def _flatten_keys(d: dict[Any, Any]) -> dict[str, Any]:
    """Keys lower-cased in snake_case: ``endLine``, ``End-Line`` and ``end line`` agree."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(k)).strip().lower()
        key = re.sub(r"[\s\-]+", "_", key)
        out.setdefault(key, v)
    return out


def _first(flat: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = flat.get(k)
        if v is not None and v != "":
            return v
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value).strip()
    # Lone surrogates (from "\ud83d" escapes) would make printing the finding fail.
    return str(value).encode("utf-8", "replace").decode("utf-8").strip()
