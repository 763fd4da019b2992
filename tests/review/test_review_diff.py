"""Unified-diff parsing, on real ``git diff`` output from throwaway repositories."""

from __future__ import annotations

from pathlib import Path

from gemmacode.index.pathquote import unquote_path
from gemmacode.review.diff import NO_NEWLINE, parse_diff
from gemmacode.review.targets import DIFF_ARGS
from tests.conftest import git


def _commit_all(root: Path, msg: str = "c") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", msg)


def _staged_diff(root: Path) -> str:
    return git(root, "diff", "--cached", *DIFF_ARGS)


def test_modified_file_hunks_have_new_side_ranges(git_repo: Path) -> None:
    lines = [f"line {i}" for i in range(1, 61)]
    (git_repo / "a.py").write_text("\n".join(lines) + "\n")
    _commit_all(git_repo)
    lines[4] = "changed 5"  # line 5 replaced
    lines.insert(20, "inserted")  # new line 21
    del lines[45]  # old line 45 removed
    (git_repo / "a.py").write_text("\n".join(lines) + "\n")
    git(git_repo, "add", "a.py")
    (fd,) = parse_diff(_staged_diff(git_repo))
    assert fd.status == "modified" and fd.path == "a.py" and fd.old_path == "a.py"
    assert len(fd.old_blob) == 40 and len(fd.new_blob) == 40
    added = [n for h in fd.hunks for n in h.added_lines()]
    assert added == [5, 21]
    assert [lines[n - 1] for n in added] == ["changed 5", "inserted"]
    assert (fd.added, fd.removed) == (2, 2)
    first = fd.hunks[0]
    assert first.new_range == (2, 8)
    assert first.removed_before() == {5: ["line 5"]}
    last = fd.hunks[-1]
    assert last.deletion_only
    (pos, rows), *_ = last.removed_before().items()
    assert rows == ["line 45"] and lines[pos - 1] == "line 46"


def test_new_deleted_renamed_binary_and_mode_only(git_repo: Path) -> None:
    (git_repo / "old.py").write_text("".join(f"x{i} = {i}\n" for i in range(20)))
    (git_repo / "gone.py").write_text("a = 1\nb = 2\n")
    (git_repo / "run.sh").write_text("echo hi\n")
    _commit_all(git_repo)
    git(git_repo, "mv", "old.py", "new name.py")
    (git_repo / "new name.py").write_text(
        "".join(f"x{i} = {i}\n" for i in range(20)) + "x20 = 20\n"
    )
    git(git_repo, "rm", "-q", "gone.py")
    (git_repo / "img.bin").write_bytes(b"\x89PNG\0\0\x01\x02")
    (git_repo / "fresh.py").write_text("def f():\n    return 1")  # no final newline
    (git_repo / "run.sh").chmod(0o755)
    git(git_repo, "add", "-A")
    files = {f.path: f for f in parse_diff(_staged_diff(git_repo))}
    assert set(files) == {"new name.py", "gone.py", "img.bin", "fresh.py", "run.sh"}
    ren = files["new name.py"]
    assert ren.status == "renamed" and ren.old_path == "old.py" and ren.similarity
    assert [n for h in ren.hunks for n in h.added_lines()] == [21]
    gone = files["gone.py"]
    assert gone.status == "deleted" and gone.new_path is None and gone.deletion_only
    assert gone.removed == 2
    assert files["img.bin"].binary and files["img.bin"].status == "added"
    fresh = files["fresh.py"]
    assert fresh.status == "added" and fresh.old_path is None
    assert fresh.hunks[0].lines[-1] == NO_NEWLINE
    assert fresh.hunks[0].added_lines() == [1, 2]
    mode = files["run.sh"]
    assert mode.status == "modified" and not mode.hunks


def test_quoted_paths_and_removed_line_at_end() -> None:
    text = (
        'diff --git "a/caf\\303\\251 \\"q\\".py" "b/caf\\303\\251 \\"q\\".py"\n'
        "index 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222"
        " 100644\n"
        '--- "a/caf\\303\\251 \\"q\\".py"\n'
        '+++ "b/caf\\303\\251 \\"q\\".py"\n'
        "@@ -1,3 +1,2 @@\n"
        " a\n"
        " b\n"
        "-c\n"
    )
    (fd,) = parse_diff(text)
    assert fd.path == 'café "q".py'
    (h,) = fd.hunks
    assert h.deletion_only and h.removed_before() == {3: ["c"]}
    assert unquote_path("plain/path.py") == "plain/path.py"
    assert unquote_path('"tab\\there"') == "tab\there"


def test_garbage_and_empty_input_give_no_files() -> None:
    assert parse_diff("") == []
    assert parse_diff("not a diff\n@@ nonsense @@\n+x\n") == []
