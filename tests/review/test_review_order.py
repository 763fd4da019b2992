"""A review reads what the change means first: its source, then its tests, then docs and
configuration, whatever their sizes; when it takes several requests, the source's come first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemmacode.cli import main
from gemmacode.index.pathkind import (
    EXAMPLE,
    SOURCE,
    TEST,
    TEXT,
    VENDORED,
    attribute_patterns,
    kinds,
    path_kind,
)
from gemmacode.index.tags import extract_tags
from gemmacode.review.packing import pack_diff, pack_files
from gemmacode.review.targets import DiffTarget, resolve_target
from gemmacode.tokens.counter import TokenCounter
from tests.conftest import git


def _function(name: str, lines: int) -> str:
    body = "".join(f"    total += {i}  # step {i}\n" for i in range(lines))
    return f"def {name}(x):\n    total = x\n{body}    return total\n\n\n"


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (git_repo / "tests").mkdir()
    (git_repo / "app.py").write_text(_function("price", 4))
    (git_repo / "tests" / "test_app.py").write_text(_function("test_price", 4))
    (git_repo / "README.md").write_text("# App\n\nPrices.\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "c")
    # The source change is the smallest; the tests and the docs change far more.
    (git_repo / "app.py").write_text(_function("price", 4).replace("step 2", "step two"))
    (git_repo / "tests" / "test_app.py").write_text(
        "".join(_function(f"test_price_{i}", 12) for i in range(6))
    )
    (git_repo / "README.md").write_text(
        "# App\n\n" + "".join(f"Price rule {i}: applies.\n\n" for i in range(80))
    )
    git(git_repo, "add", "-A")
    monkeypatch.chdir(git_repo)
    return git_repo


def _staged(root: Path) -> DiffTarget:
    target = resolve_target(None, cwd=root, staged=True)
    assert isinstance(target, DiffTarget)
    return target


def test_sections_read_source_then_tests_then_docs(repo: Path) -> None:
    plan = pack_diff(_staged(repo), counter=TokenCounter(), budget=8000, tags_fn=extract_tags)
    (unit,) = plan.units
    assert list(unit.ranges) == ["app.py", "tests/test_app.py", "README.md"]
    code = unit.code
    assert code.index("### app.py") < code.index("### tests/test_app.py") < code.index("### README")


def test_source_units_are_reviewed_first_when_the_change_does_not_fit(repo: Path) -> None:
    plan = pack_diff(_staged(repo), counter=TokenCounter(), budget=700, tags_fn=extract_tags)
    assert len(plan.units) > 1
    assert next(iter(plan.units[0].ranges)) == "app.py"
    firsts = [next(iter(u.ranges)) for u in plan.units]
    tiers = {"app.py": 0, "tests/test_app.py": 1, "README.md": 2}
    assert [tiers[f] for f in firsts] == sorted(tiers[f] for f in firsts)


def test_folder_review_reads_source_first() -> None:
    files = [
        ("pkg/test_core.py", _function("test_core", 2), "python"),
        ("pkg/notes.md", "# notes\n", "text"),
        ("pkg/core.py", _function("core", 2), "python"),
    ]
    plan = pack_files(files, counter=TokenCounter(), budget=8000, chunker=None)
    assert list(plan.units[0].ranges) == ["pkg/core.py", "pkg/test_core.py", "pkg/notes.md"]


def test_explain_context_shows_the_order(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--staged", "--explain-context", "--num-ctx", "8192"]) == 0
    out = capsys.readouterr().out
    assert (
        "  order: source app.py; then tests and examples tests/test_app.py; "
        "then docs and configuration README.md" in out
    )
    assert main(["review", "--staged", "--explain-context", "--num-ctx", "8192", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["requests"][0]["order"] == [
        {"file": "app.py", "kind": "source"},
        {"file": "tests/test_app.py", "kind": "tests and examples"},
        {"file": "README.md", "kind": "docs and configuration"},
    ]


@pytest.mark.parametrize(
    ("path", "text", "kind"),
    [
        ("src/core/engine.ts", False, SOURCE),
        ("django/db/models/query.py", False, SOURCE),
        ("tests/test_query.py", False, TEST),
        ("pkg/query_test.go", False, TEST),
        ("src/app.spec.ts", False, TEST),
        ("src/__tests__/app.ts", False, TEST),
        ("src/main/java/FooTest.java", False, TEST),
        ("tests/fixtures/generic.py", False, EXAMPLE),
        ("manual-testing-sandbox/src/app.ts", False, EXAMPLE),
        ("examples/basic/main.rs", False, EXAMPLE),
        ("core/vendor/modules/lodash/index.d.ts", False, VENDORED),
        ("node_modules/react/index.js", False, VENDORED),
        ("third_party/zlib/inflate.c", False, VENDORED),
        ("static/js/app.min.js", False, VENDORED),
        ("README.md", True, TEXT),
        ("vendor/notes.md", True, VENDORED),
    ],
)
def test_path_kinds(path: str, text: bool, kind: str) -> None:
    assert path_kind(path, text) == kind


def test_gitattributes_mark_vendored_and_generated_code() -> None:
    attrs = (
        "# comment\n"
        "*.pb.ts linguist-generated\n"
        "lib/legacy/** linguist-vendored=true\n"
        "src/own.js linguist-vendored=false\n"
        "/gen/ linguist-generated\n"
        "*.py text eol=lf\n"
    )
    patterns = attribute_patterns(attrs)
    assert patterns == ["*.pb.ts", "lib/legacy/**", "/gen/"]
    paths = ["src/api.pb.ts", "lib/legacy/x/y.js", "src/own.js", "gen/out.py", "src/app.py"]
    assert kinds(paths, [False] * 5, patterns) == [VENDORED, VENDORED, SOURCE, VENDORED, SOURCE]
