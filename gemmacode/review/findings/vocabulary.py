"""The words models use for severities and categories, mapped onto gemmacode's own.

Models say "HIGH", "Major", "error", "warning", "nit" or "sql injection" where the schema
says ``high``, ``medium``, ``low`` or ``security``. These tables are the single place that
decides what each word means, shared by the parser, the prose fallback and the eval harness.
"""

from __future__ import annotations

import re
from typing import Any

from gemmacode.review.findings.model import CATEGORIES, SEVERITIES

SEVERITY_WORDS: dict[str, str] = {
    **{s: s for s in SEVERITIES},
    "blocker": "critical",
    "fatal": "critical",
    "severe": "critical",
    "crit": "critical",
    "major": "high",
    "error": "high",
    "important": "high",
    "serious": "high",
    "moderate": "medium",
    "med": "medium",
    "warning": "medium",
    "warn": "medium",
    "normal": "medium",
    "minor": "low",
    "nit": "low",
    "nitpick": "low",
    "trivial": "low",
    "style": "low",
    "information": "info",
    "informational": "info",
    "note": "info",
    "hint": "info",
    "suggestion": "info",
}

# Category patterns in the order they are tried; the first found in the text wins. Each
# starts at a word boundary so "trace" is not a race and "block" is not a lock.
_CATEGORY_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"error.handling|exception|swallow|ignored? (the )?error|unchecked error", "error-handling"),
    (r"resource.leak|leak|not closed|never closed|unclosed", "resource-leak"),
    (r"race|concurren|thread|deadlock|lock\b|mutex|atomic", "concurrency"),
    (r"secur|inject|sql|xss|traversal|vulnerab|password|secret|unsafe|csrf", "security"),
    (r"perf|slow|complexity|quadratic", "performance"),
    (r"maintain|duplicat", "maintainability"),
    (r"readab|naming|variable name|unclear|confusing|format|style", "style"),
    (r"bug|logic|correct|off.by.one|overflow|null\b|none\b|nil\b|crash", "bug"),
)
_CATEGORY_RE = tuple(
    (re.compile(r"\b(?:" + p + ")", re.IGNORECASE), c) for p, c in _CATEGORY_PATTERNS
)

# Categories that name the same thing in different words. Which other categories a planted
# problem may honestly carry (a race is also a bug) is the dataset's call, case by case.
SYNONYMS: frozenset[frozenset[str]] = frozenset({frozenset(("style", "maintainability"))})


def normalise_severity(value: Any) -> str | None:
    """One of SEVERITIES, or None when the word means nothing we know."""
    if value is None or isinstance(value, bool):
        return None
    word = re.sub(r"[^a-z]", "", str(value).lower())
    return SEVERITY_WORDS.get(word)


def normalise_category(value: Any) -> str:
    """One of CATEGORIES; unknown words become ``other``."""
    text = str(value).strip().lower().replace("_", "-")
    if text in CATEGORIES:
        return text
    return category_from_text(text)


def category_from_text(text: str) -> str:
    """Guess a category from free text (a category word or a whole message)."""
    for pattern, category in _CATEGORY_RE:
        if pattern.search(text):
            return category
    return "other"


def categories_match(a: str, b: str) -> bool:
    """Same category, or two that are synonyms (see SYNONYMS)."""
    return a == b or frozenset((a, b)) in SYNONYMS
