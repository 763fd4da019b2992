"""Review targets on real git repositories: what each one reads, and one-line errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gemmacode.errors import NotARepositoryError, UsageError
from gemmacode.review.targets import CodeTarget, DiffTarget, DirTarget, resolve_target
from tests.conftest import git

CODE = """import os


class Store:
    def get(self, key):
        return self.data[key]

    def put(self, key, value):
        self.data[key] = value


def helper(x):
    return x + 1
"""


def _commit_all(root: Path, msg: str = "c") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", msg)


def _diff(target: object) -> DiffTarget:
    assert isinstance(target, DiffTarget)
    return target


def test_staged_reads_the_index_not_the_working_tree(git_repo: Path) -> None:
    (git_repo / "m.py").write_text(CODE)
    _commit_all(git_repo)
    staged_text = CODE.replace("return x + 1", "return x + 2")
    (git_repo / "m.py").write_text(staged_text)
    git(git_repo, "add", "m.py")
    work_text = staged_text.replace("return x + 2", "return x + 3")
    (git_repo / "m.py").write_text(work_text)

    staged = _diff(resolve_target(None, cwd=git_repo, staged=True))
    assert staged.kind == "staged" and [f.path for f in staged.files] == ["m.py"]
    assert staged.new_text("m.py") == staged_text
    assert staged.files[0].hunks[0].added_lines() == [13]

    working = _diff(resolve_target(None, cwd=git_repo, working=True))
    assert working.new_text("m.py") == work_text
    assert "+    return x + 3" in working.files[0].hunks[0].lines


def test_staged_never_touches_the_git_index(git_repo: Path) -> None:
    (git_repo / "m.py").write_text(CODE)
    (git_repo / "n.py").write_text("a = 1\n")
    _commit_all(git_repo)
    (git_repo / "m.py").write_text(CODE + "\nX = 1\n")
    git(git_repo, "add", "m.py")
    # Dirty the stat information so a refreshing git command would want to rewrite the index.
    later = time.time() + 5
    os.utime(git_repo / "n.py", (later, later))
    (git_repo / "m.py").write_text(CODE + "\nX = 2\n")
    index_file = git_repo / ".git" / "index"
    before = index_file.read_bytes()
    before_mtime = index_file.stat().st_mtime_ns
    for kwargs in ({"staged": True}, {"working": True}, {"diff": "HEAD"}):
        target = _diff(resolve_target(None, cwd=git_repo, **kwargs))  # type: ignore[arg-type]
        target.prefetch([f.path for f in target.files])
    assert index_file.read_bytes() == before
    assert index_file.stat().st_mtime_ns == before_mtime
    assert not (git_repo / ".git" / "index.lock").exists()


def test_repository_without_commits(git_repo: Path) -> None:
    (git_repo / "first.py").write_text(CODE)
    git(git_repo, "add", "first.py")
    target = _diff(resolve_target(None, cwd=git_repo, staged=True))
    (fd,) = target.files
    assert fd.status == "added" and fd.path == "first.py"
    assert target.new_text("first.py") == CODE


def test_renames_deletions_and_odd_names(git_repo: Path) -> None:
    (git_repo / "old.py").write_text(CODE)
    (git_repo / "gone.py").write_text("a = 1\n")
    _commit_all(git_repo)
    (git_repo / "pkg").mkdir()
    git(git_repo, "mv", "old.py", "pkg/café new.py")
    (git_repo / "pkg" / "café new.py").write_text(CODE + "\ndef extra():\n    pass\n")
    git(git_repo, "rm", "-q", "gone.py")
    git(git_repo, "add", "-A")
    target = _diff(resolve_target(None, cwd=git_repo, staged=True))
    by_path = {f.path: f for f in target.files}
    ren = by_path["pkg/café new.py"]
    assert ren.status == "renamed" and ren.old_path == "old.py"
    assert target.new_text("pkg/café new.py") == CODE + "\ndef extra():\n    pass\n"
    assert by_path["gone.py"].status == "deleted"
    assert target.new_text("gone.py") is None


def test_revision_range_reads_the_right_hand_commit(git_repo: Path) -> None:
    (git_repo / "m.py").write_text(CODE)
    _commit_all(git_repo)
    git(git_repo, "checkout", "-q", "-b", "feature")
    feature_text = CODE.replace("self.data[key] = value", "self.data[key] = value or None")
    (git_repo / "m.py").write_text(feature_text)
    _commit_all(git_repo, "feature")
    (git_repo / "m.py").write_text("uncommitted\n")  # the working tree must not be read
    target = _diff(resolve_target(None, cwd=git_repo, diff="main...HEAD"))
    assert target.kind == "range" and target.label == "main...HEAD"
    assert target.new_text("m.py") == feature_text
    against_tree = _diff(resolve_target(None, cwd=git_repo, diff="main"))
    assert against_tree.new_text("m.py") == "uncommitted\n"


def test_file_range_symbol_and_directory(git_repo: Path) -> None:
    (git_repo / "src").mkdir()
    (git_repo / "src" / "m.py").write_text(CODE)
    (git_repo / "src" / "notes.md").write_text("# notes\n")
    sub = git_repo / "src"
    whole = resolve_target("m.py", cwd=sub)
    assert isinstance(whole, CodeTarget) and whole.kind == "file"
    assert whole.path == "src/m.py" and (whole.start_line, whole.end_line) == (1, 13)
    part = resolve_target("src/m.py:5-6", cwd=git_repo)
    assert isinstance(part, CodeTarget) and part.kind == "range"
    assert part.snippet() == "    def get(self, key):\n        return self.data[key]"
    one = resolve_target("src/m.py:12", cwd=git_repo)
    assert isinstance(one, CodeTarget) and (one.start_line, one.end_line) == (12, 12)
    sym = resolve_target("src/m.py::Store.put", cwd=git_repo)
    assert isinstance(sym, CodeTarget) and sym.kind == "symbol" and sym.scope == "Store.put"
    assert (sym.start_line, sym.end_line) == (8, 9)
    folder = resolve_target("src", cwd=git_repo)
    assert isinstance(folder, DirTarget) and folder.files == ("src/m.py",)


def test_file_targets_work_outside_git(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(CODE)
    target = resolve_target("x.py::helper", cwd=tmp_path)
    assert isinstance(target, CodeTarget) and (target.start_line, target.end_line) == (12, 13)


@pytest.mark.parametrize(
    ("spec", "kwargs", "error", "words"),
    [
        ("nope.py", {}, UsageError, "no such file: nope.py"),
        ("m.py:9-3", {}, UsageError, "bad line range 9-3"),
        ("m.py:5-99", {}, UsageError, "past the end of m.py (13 lines)"),
        ("m.py::Store.gte", {}, UsageError, "did you mean Store.get"),
        ("m.py::", {}, UsageError, "write PATH::Class.method"),
        (None, {"diff": "nosuchbranch...HEAD"}, UsageError, "unknown revision 'nosuchbranch'"),
        ("m.py", {"staged": True}, UsageError, "one target"),
        (None, {"staged": True, "working": True}, UsageError, "one target"),
        ("../outside.py", {}, UsageError, "outside the project"),
    ],
)
def test_bad_targets_are_one_line_errors(
    git_repo: Path, spec: str | None, kwargs: dict[str, object], error: type, words: str
) -> None:
    (git_repo / "m.py").write_text(CODE)
    _commit_all(git_repo)
    with pytest.raises(error) as info:
        resolve_target(spec, cwd=git_repo, **kwargs)  # type: ignore[arg-type]
    text = str(info.value)
    assert words in text and "\n" not in text and info.value.fix


def test_changes_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(NotARepositoryError) as info:
        resolve_target(None, cwd=tmp_path, staged=True)
    assert "not inside a git repository" in str(info.value)
    assert "\n" not in str(info.value)
