"""The shipped eval dataset is well formed, and bad datasets are refused with one clear line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gemmacode.errors import DatasetError, GemmacodeError
from gemmacode.eval.dataset import Dataset, load_dataset, shipped_dataset_path
from gemmacode.index.languages import get_parser
from gemmacode.review.findings.model import CATEGORIES


@pytest.fixture(scope="module")
def shipped() -> Dataset:
    return load_dataset()


def test_the_starter_set_is_big_and_varied_enough(shipped: Dataset) -> None:
    assert len(shipped.cases) >= 30
    languages = Counter(c.language for c in shipped.cases)
    families = {{"typescript": "javascript"}.get(lang, lang) for lang in languages}
    assert len(families) >= 5, languages
    categories = Counter(e.category for c in shipped.cases for e in c.expected)
    assert {"bug", "security", "resource-leak", "concurrency", "error-handling"} <= set(categories)
    assert len({c.id for c in shipped.cases}) == len(shipped.cases)


def test_every_case_is_a_realistic_snippet_with_expected_findings(shipped: Dataset) -> None:
    for case in shipped.cases:
        lines = case.code.splitlines()
        assert 20 <= len(lines) <= 60, (case.id, len(lines))
        assert case.expected, case.id
        for e in case.expected:
            assert 1 <= e.line <= e.end_line <= len(lines), (case.id, e)
            assert e.category in CATEGORIES and set(e.also) <= set(CATEGORIES)
            assert e.category not in e.also
            assert e.description, case.id
            assert lines[e.line - 1].strip(), f"{case.id}: expected line {e.line} is blank"


def test_diff_cases_review_the_change_that_planted_the_bug(shipped: Dataset) -> None:
    diffs = [c for c in shipped.cases if c.diff]
    assert len(diffs) >= 5
    for case in diffs:
        assert case.diff.startswith(f"diff --git a/{case.path} b/{case.path}\n"), case.id
        twin = next(c for c in shipped.cases if c.id == case.id.removeprefix("diff-"))
        assert (twin.code, twin.expected) == (case.code, case.expected)


def _bad_nodes(node: Any, out: list[str]) -> list[str]:
    if node.is_error or node.is_missing:
        out.append(f"{node.type} at {node.start_point}")
    for child in node.children:
        _bad_nodes(child, out)
    return out


def test_every_case_parses_cleanly_in_its_language(shipped: Dataset) -> None:
    for case in shipped.cases:
        tree = get_parser(case.language).parse(case.code.encode("utf-8"))
        assert _bad_nodes(tree.root_node, []) == [], case.id
        assert not tree.root_node.has_error, case.id


def test_the_shipped_set_is_package_data() -> None:
    path = shipped_dataset_path()
    assert path.is_file() and path.parent.parts[-2:] == ("eval", "data")
    doc = json.loads(path.read_text())
    for raw in doc["cases"]:
        assert (path.parent / raw["source"]).is_file()


def _write(tmp_path: Path, doc: Any) -> Path:
    p = tmp_path / "cases.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


CODE = "def f(x):\n    return x + 1\n"
DIFF = (
    "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n"
    " def f(x):\n-    return x\n+    return x + 1\n"
)
DIFF_CASE = {"id": "a", "path": "a.py", "code": CODE, "diff": DIFF}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "cannot be read"),
        ({"cases": []}, "has no cases"),
        ({"cases": ["x"]}, "case 1: is not an object"),
        ({"cases": [{"id": "a", "code": CODE}]}, "needs a string 'id' and 'path'"),
        ({"cases": [{"id": "a", "path": "a.py"}]}, "has neither 'code' nor 'source'"),
        (
            {"cases": [{"id": "a", "path": "a.py", "source": "missing.txt"}]},
            "source 'missing.txt' cannot be read",
        ),
        ({"cases": [{"id": "a", "path": "a.md", "code": CODE}]}, "unknown language 'text'"),
        (
            {"cases": [{"id": "a", "path": "a.py", "code": CODE, "expected": [{"line": 3}]}]},
            "is not a line range inside the code (1-2)",
        ),
        (
            {
                "cases": [
                    {
                        "id": "a",
                        "path": "a.py",
                        "code": CODE,
                        "expected": [{"line": 2, "end_line": 1, "category": "bug"}],
                    }
                ]
            },
            "is not a line range",
        ),
        (
            {
                "cases": [
                    {
                        "id": "a",
                        "path": "a.py",
                        "code": CODE,
                        "expected": [{"line": 1, "category": "typo"}],
                    }
                ]
            },
            "expected category 'typo' is unknown",
        ),
        (
            {
                "cases": [
                    {
                        "id": "a",
                        "path": "a.py",
                        "code": CODE,
                        "expected": [{"line": 1, "category": "bug", "also": ["oops"]}],
                    }
                ]
            },
            "expected category 'oops' is unknown",
        ),
        (
            {"cases": [dict(DIFF_CASE, diff=DIFF.replace("a.py", "b.py"))]},
            "the diff must change exactly a.py",
        ),
        (
            {"cases": [dict(DIFF_CASE, diff=DIFF.replace("+    return x + 1", "+    return 2"))]},
            "hunk @@ -1,2 +1,2 @@ does not match the code's lines",
        ),
        (
            {
                "cases": [
                    dict(DIFF_CASE, code="# head\n" * 9 + CODE, diff=DIFF.replace("+1,2", "+10,2"))
                    | {"expected": [{"line": 1, "category": "bug"}]}
                ]
            },
            "expected lines 1-1 are outside every hunk",
        ),
        (
            {"cases": [{"id": "a", "path": "a.py", "code": CODE}] * 2},
            "duplicate id 'a'",
        ),
    ],
)
def test_bad_datasets_are_refused_with_one_line(tmp_path: Path, doc: Any, message: str) -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset(_write(tmp_path, doc))
    text = str(err.value)
    assert message in text and "\n" not in text
    assert isinstance(err.value, GemmacodeError) and err.value.exit_code == 2


def test_missing_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no eval dataset at"):
        load_dataset(tmp_path / "nope.json")


def test_a_user_dataset_from_a_folder_with_inline_code(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "b.go").write_text("package b\n\nfunc B() int { return 1 }\n")
    doc = {
        "name": "mine",
        "cases": [
            {
                "id": "a",
                "path": "pkg/a.py",
                "code": CODE,
                "expected": [
                    {"line": 2, "category": "bug", "also": ["security"], "description": "d"}
                ],
            },
            {"id": "b", "path": "b.go", "source": "src/b.go"},
        ],
    }
    _write(tmp_path, doc)
    ds = load_dataset(tmp_path)
    assert ds.name == "mine"
    a, b = ds.cases
    assert (a.language, a.expected[0].line, a.expected[0].end_line) == ("python", 2, 2)
    assert a.expected[0].also == ("security",)
    assert (b.language, b.code.startswith("package b"), b.expected) == ("go", True, ())
    assert a.diff == "" and b.diff == ""


def test_a_diff_case_inline(tmp_path: Path) -> None:
    doc = {"cases": [dict(DIFF_CASE, expected=[{"line": 2, "category": "bug"}])]}
    (case,) = load_dataset(_write(tmp_path, doc)).cases
    assert case.diff == DIFF and case.expected[0].line == 2
