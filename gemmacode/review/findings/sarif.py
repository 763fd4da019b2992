"""Findings as SARIF 2.1.0, the format code-scanning tools (GitHub, GitLab, IDEs) import.

One run, one rule per category (``gemmacode/<category>``), one result per finding. Levels:
critical and high are ``error``, medium ``warning``, low and info ``note``; the finding's own
severity is kept in ``properties.severity``. Paths are relative URIs against ``%SRCROOT%``.
``partialFingerprints`` hash the file, category and message but not the line, so a finding
keeps its identity when code above it moves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from gemmacode.review.findings.model import CATEGORIES, Finding
from gemmacode.review.findings.render import sort_findings

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/gemmacode/"
FINGERPRINT_KEY = "gemmacodeFinding/v1"

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}

_RULE_TEXT = {
    "bug": "Incorrect behaviour: wrong results, crashes, off-by-one, unchecked null values.",
    "security": "Exploitable weakness: injection, path traversal, secrets, unsafe input.",
    "performance": "Needless cost in time or memory.",
    "style": "Readability and convention problems.",
    "maintainability": "Code that is hard to change safely.",
    "error-handling": "Errors ignored, swallowed or reported wrongly.",
    "concurrency": "Races, deadlocks and unsafe shared state.",
    "resource-leak": "Files, connections or locks that are not released.",
    "other": "Other problems the model reported.",
}


def rule_id(category: str) -> str:
    return f"gemmacode/{category if category in CATEGORIES else 'other'}"


def to_sarif(findings: Sequence[Finding], *, tool_version: str, model: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log (a dict ready for ``json.dump``) with one run for these findings."""
    ordered = sort_findings(findings)
    used = sorted({rule_id(f.category) for f in ordered})
    index = {rid: i for i, rid in enumerate(used)}
    rules = [
        {
            "id": rid,
            "name": _pascal(rid.split("/", 1)[1]),
            "shortDescription": {"text": _RULE_TEXT[rid.split("/", 1)[1]]},
            "helpUri": INFORMATION_URI,
            "defaultConfiguration": {"level": "warning"},
        }
        for rid in used
    ]
    results = [_result(f, index) for f in ordered]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gemmacode",
                        "version": tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "project root"}}},
                "results": results,
                "columnKind": "unicodeCodePoints",
                "properties": {"model": model},
            }
        ],
    }


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    rid = rule_id(f.category)
    text = f.message if not f.suggestion else f"{f.message}\nSuggested fix: {f.suggestion}"
    result: dict[str, Any] = {
        "ruleId": rid,
        "ruleIndex": index[rid],
        "level": LEVELS.get(f.severity, "note"),
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.file), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "endLine": max(f.line, f.end_line)},
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f)},
        "properties": {"severity": f.severity, "category": f.category},
    }
    if f.suggestion:
        result["properties"]["suggestion"] = f.suggestion
    return result


def fingerprint(f: Finding) -> str:
    """Stable across line moves and whitespace changes in the message."""
    message = " ".join(re.findall(r"\w+", f.message.lower()))
    return hashlib.sha256(f"{f.file}\0{f.category}\0{message}".encode()).hexdigest()[:32]


def _uri(path: str) -> str:
    """A relative URI reference: forward slashes, percent-encoded, never absolute."""
    clean = path.replace("\\", "/").lstrip("/") or "unknown"
    return quote(clean, safe="/-._~")


def _pascal(word: str) -> str:
    return "".join(part.capitalize() for part in word.split("-"))
