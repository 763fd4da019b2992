"""What a path is to its project: its own code, its tests, someone else's code, or docs.

Read from the path alone (plus, for the repo map, the project's ``.gitattributes``), so it
costs nothing per file: a review reads the source change before its tests and those before
docs and configuration; the repo map lets code that is not the project's own (vendored
trees, committed ``node_modules``, other packages' ``.d.ts`` declarations, generated files),
test fixtures, sandboxes and examples weigh little. Nothing is hidden: such files stay
indexed, searchable and reviewable.

Kinds, best first: ``source``, ``test`` (tests and their fixtures), ``example`` (examples,
demos, sandboxes, benchmarks, docs code), ``vendored`` (third-party or generated code),
``text`` (docs and configuration: files without a grammar).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import PurePosixPath

SOURCE, TEST, EXAMPLE, VENDORED, TEXT = "source", "test", "example", "vendored", "text"

_VENDORED_DIRS = frozenset(
    {
        "vendor",
        "vendors",
        "vendored",
        "third_party",
        "third-party",
        "thirdparty",
        "3rdparty",
        "external",
        "externals",
        "node_modules",
        "bower_components",
        "jspm_packages",
        "site-packages",
        "_vendor",
        "deps",
    }
)
_TEST_DIRS = frozenset(
    {"test", "tests", "__tests__", "testing", "spec", "specs", "__mocks__", "testdata"}
)
_FIXTURE_DIRS = frozenset({"fixtures", "fixture", "__fixtures__", "__snapshots__", "mocks"})
_EXAMPLE_DIRS = frozenset(
    {"example", "examples", "demo", "demos", "sample", "samples", "benchmark", "benchmarks",
     "bench", "playground", "playgrounds", "docs", "doc"}
)  # fmt: skip
_TEST_FILE = re.compile(
    r"^(test_.*|.*_tests?|.*[._-](test|spec)s?|.*Tests?|conftest)\.[A-Za-z0-9]+$"
)


def _is_sandbox(part: str) -> bool:
    low = part.lower()
    return "sandbox" in low or "scratch" in low or low.startswith("manual-test")


@lru_cache(maxsize=65536)
def path_kind(path: str, text: bool = False) -> str:
    """The kind of ``path`` (see the module docstring); ``text``: it has no grammar."""
    parts = PurePosixPath(path).parts
    dirs = [p.lower() for p in parts[:-1]]
    name = parts[-1] if parts else ""
    if any(d in _VENDORED_DIRS for d in dirs):
        return VENDORED
    if text:
        return TEXT
    if name.endswith((".min.js", ".bundle.js", "_pb2.py", ".pb.go", ".generated.ts")):
        return VENDORED
    if any(_is_sandbox(d) for d in parts[:-1]) or any(d in _FIXTURE_DIRS for d in dirs):
        return EXAMPLE
    if any(d in _TEST_DIRS for d in dirs) or _TEST_FILE.match(name):
        return TEST
    if any(d in _EXAMPLE_DIRS for d in dirs):
        return EXAMPLE
    return SOURCE


def review_tier(path: str, text: bool) -> int:
    """Where a changed file comes in a review: 0 source, 1 its tests (and examples,
    vendored code), 2 docs and configuration."""
    kind = path_kind(path, text)
    if kind == SOURCE:
        return 0
    return 2 if kind == TEXT else 1


TIER_NAMES = ("source", "tests and examples", "docs and configuration")


def attribute_patterns(gitattributes: str) -> list[str]:
    """The patterns ``.gitattributes`` marks ``linguist-vendored`` or ``linguist-generated``
    (set, not ``-`` or ``=false``)."""
    out: list[str] = []
    for line in gitattributes.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        for attr in fields[1:]:
            if attr in ("linguist-vendored", "linguist-generated") or attr in (
                "linguist-vendored=true",
                "linguist-generated=true",
            ):
                out.append(fields[0])
                break
    return out


def matches_attributes(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` matches one of git's attribute ``patterns`` (a pattern without a
    slash matches a name at any depth; ``dir/**`` everything under ``dir``)."""
    for pattern in patterns:
        pat = pattern.lstrip("/")
        if "/" not in pattern.rstrip("/"):
            name = pat.rstrip("/")
            if any(fnmatch.fnmatchcase(part, name) for part in path.split("/")):
                return True
            continue
        if pat.endswith("/**"):
            if path.startswith(pat[:-2]):
                return True
            continue
        if fnmatch.fnmatchcase(path, pat) or path.startswith(pat.rstrip("/") + "/"):
            return True
    return False


def kinds(paths: Iterable[str], texts: Iterable[bool], patterns: Sequence[str]) -> list[str]:
    """``path_kind`` of each path, with ``.gitattributes`` ``patterns`` marking more as
    vendored."""
    return [
        VENDORED if patterns and matches_attributes(p, patterns) else path_kind(p, t)
        for p, t in zip(paths, texts, strict=True)
    ]
