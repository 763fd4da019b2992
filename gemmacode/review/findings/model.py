"""What a review produces: findings a program can act on.

``FINDINGS_SCHEMA`` is the JSON schema the model is constrained to (Ollama ``format``,
llama.cpp grammars); :class:`Finding` is what the rest of the program handles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
CATEGORIES: tuple[str, ...] = (
    "bug",
    "security",
    "performance",
    "style",
    "maintainability",
    "error-handling",
    "concurrency",
    "resource-leak",
    "other",
)


def severity_rank(severity: str) -> int:
    """0 for critical ... 4 for info; unknown severities rank as info."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return len(SEVERITIES) - 1


@dataclass(frozen=True)
class Finding:
    """One problem. Lines are 1-based in the real file (the new side of a diff)."""

    file: str
    line: int
    end_line: int
    severity: str
    category: str
    message: str
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                    "severity": {"type": "string", "enum": list(SEVERITIES)},
                    "category": {"type": "string", "enum": list(CATEGORIES)},
                    "message": {"type": "string"},
                    "suggestion": {"type": "string"},
                },
                "required": ["line", "severity", "category", "message"],
            },
        }
    },
    "required": ["findings"],
}
