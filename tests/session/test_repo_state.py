"""The repository's git state on real temporary repositories: status (odd paths, renames,
conflicts, no commit yet, detached, upstream), refs, commits, completion, and GitPython's
children stopped on close."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gemmacode.errors import NotARepositoryError
from gemmacode.session.repo_state import RepoState, parse_status, split_range
from tests.conftest import git

ODD = ["with space.py", "new\nline.py", 'quo"te.py', "tab\there.py", "é-accent.py"]


def _commit(root: Path, message: str, **files: str) -> None:
    for name, text in files.items():
        (root / name).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def _git_children() -> list[str]:
    """Command lines of this process's child processes that run git."""
    me, out = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and "git" in cmd:
            out.append(cmd)
    return out


def test_before_the_first_commit(git_repo: Path) -> None:
    (git_repo / "a.py").write_text("x")
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / "b.py").write_text("y")
    git(git_repo, "add", "a.py")
    with RepoState(git_repo) as state:
        st = state.status()
        assert (st.branch, st.head) == ("main", None)
        assert st.staged == ("a.py",) and st.untracked == ("sub/",)
        assert st.marker("a.py") == "A " and st.marker("sub/b.py") == "??"
        assert state.commits() == [] and state.verify("HEAD") is None
        assert [(r.text, r.detail) for r in state.branches()] == [("HEAD", "no commit yet")]


def test_staged_changed_renamed_and_odd_paths(git_repo: Path) -> None:
    git(git_repo, "config", "color.ui", "always")  # must not leak into what we read
    git(git_repo, "config", "status.showUntrackedFiles", "no")
    _commit(git_repo, "one", **{"keep.py": "k\n", "old.py": "o\n" * 20, "gone.py": "g"})
    (git_repo / "keep.py").write_text("changed\n")
    git(git_repo, "mv", "old.py", "renamed dir.py")
    git(git_repo, "rm", "-q", "gone.py")
    for name in ODD:
        (git_repo / name).write_text("odd")
    git(git_repo, "add", ODD[0], ODD[1])
    (git_repo / os.fsdecode(b"caf\xe9.py")).write_bytes(b"latin-1 name")
    (git_repo / "deep" / "er").mkdir(parents=True)
    (git_repo / "deep" / "er" / "n.py").write_text("n")
    with RepoState(git_repo) as state:
        st = state.status()
    assert st.branch == "main" and st.head is not None and len(st.head) == 40
    assert set(st.staged) == {"renamed dir.py", "gone.py", ODD[0], ODD[1]}
    assert st.changed == ("keep.py",)
    assert set(st.untracked) == {*ODD[2:], os.fsdecode(b"caf\xe9.py"), "deep/"}
    (renamed,) = [e for e in st.entries if e.staged == "R"]
    assert (renamed.path, renamed.orig_path) == ("renamed dir.py", "old.py")
    assert st.marker("keep.py") == " M" and st.marker("gone.py") == "D "
    assert st.marker("deep/er/n.py") == "??" and st.marker("nothing.py") == ""
    assert st.dirty_folders() == {"deep"}
    assert (git_repo / os.fsdecode(b"caf\xe9.py")).read_bytes() == b"latin-1 name"


def test_status_never_rewrites_the_index(git_repo: Path) -> None:
    _commit(git_repo, "one", **{"a.py": "a"})
    index = git_repo / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    os.utime(git_repo / "a.py", ns=(1, 1))  # stat-dirty: plain `git status` would refresh
    with RepoState(git_repo) as state:
        assert state.status().clean
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before


def test_conflicts_detached_head_and_upstream(git_repo: Path) -> None:
    _commit(git_repo, "base", **{"f.py": "base\n"})
    git(git_repo, "checkout", "-q", "-b", "other")
    _commit(git_repo, "theirs", **{"f.py": "theirs\n"})
    git(git_repo, "checkout", "-q", "main")
    _commit(git_repo, "ours", **{"f.py": "ours\n"})
    git(git_repo, "branch", "-q", "-u", "other")
    with RepoState(git_repo) as state:
        st = state.status()
        assert (st.upstream, st.ahead, st.behind) == ("other", 1, 1)
        subprocess.run(["git", "-C", str(git_repo), "merge", "other"], capture_output=True)
        st = state.status()
        assert st.conflicted == ("f.py",) and st.marker("f.py") == "UU"
        assert st.staged == () and st.changed == ()
        git(git_repo, "merge", "--abort")
        git(git_repo, "checkout", "-q", "--detach", "HEAD~1")
        st = state.status()
        assert st.branch is None and st.head == state.verify("HEAD")
        assert state.branches()[0].detail == st.head[:8]


def test_branches_tags_remotes_and_commits(git_repo: Path, tmp_path: Path) -> None:
    for i in range(5):
        _commit(git_repo, f"commit number {i}", **{"f.py": str(i)})
    git(git_repo, "tag", "v1.0", "HEAD~2")
    git(git_repo, "tag", "-a", "-m", "annotated", "v2.0")
    git(git_repo, "branch", "feature", "HEAD~1")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    git(clone, "checkout", "-q", "-b", "zz-local")
    with RepoState(clone) as state:
        revs = [(r.text, r.kind) for r in state.branches()]
        assert revs[:3] == [("HEAD", "head"), ("zz-local", "branch"), ("main", "branch")]
        assert ("origin/main", "remote") in revs and ("origin/feature", "remote") in revs
        assert not any(t.endswith("/HEAD") for t, _ in revs)
        assert {("v1.0", "tag"), ("v2.0", "tag")} <= set(revs)
        commits = state.commits(3)
        assert [c.summary for c in commits] == [f"commit number {i}" for i in (4, 3, 2)]
        assert commits[0].sha == git(clone, "rev-parse", "HEAD").strip()
        assert commits[0].author == "Test" and commits[0].when > 0
        assert state.commits(rev="no-such-branch") == []
        assert state.verify("v1.0") == git(clone, "rev-parse", "HEAD~2").strip()
        assert state.verify("v2.0") == commits[0].sha  # an annotated tag peels to its commit
        assert state.verify(commits[1].short) == commits[1].sha
        assert state.verify("HEAD~1") == commits[1].sha
        assert state.verify("nope") is None and state.verify("HEAD~99") is None


def test_completion_of_names_and_ranges(git_repo: Path) -> None:
    _commit(git_repo, "first", **{"f.py": "1"})
    _commit(git_repo, "second", **{"f.py": "2"})
    git(git_repo, "branch", "feature")
    git(git_repo, "branch", "fix")
    git(git_repo, "tag", "v1")
    sha = git(git_repo, "rev-parse", "HEAD").strip()
    with RepoState(git_repo) as state:
        # (a commit's short hash may start with f too: only names are compared here)
        assert [r.text for r in state.complete("f") if r.kind == "branch"] == ["feature", "fix"]
        assert [r.text for r in state.complete("main..fea")][:1] == ["main..feature"]
        assert [r.text for r in state.complete("v1...")][:2] == ["v1...HEAD", "v1...main"]
        (hit,) = state.complete(sha[:6])
        assert (hit.text, hit.kind, hit.detail) == (sha[:8], "commit", "second")
        assert state.complete("zzz") == []


def test_split_range() -> None:
    assert split_range("main") == ("", "main")
    assert split_range("a..b") == ("a..", "b")
    assert split_range("a...") == ("a...", "")
    assert split_range("HEAD~2..") == ("HEAD~2..", "")


def test_close_stops_gitpythons_cat_file_children(git_repo: Path) -> None:
    _commit(git_repo, "one", **{"f.py": "1"})
    before = _git_children()
    state = RepoState(git_repo)
    assert state.commits() and state.branches()
    assert any("cat-file" in c for c in _git_children())
    state.close()
    assert _git_children() == before
    state.close()  # twice is fine


def test_outside_a_repository_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotARepositoryError, match="not inside a git repository"):
        RepoState(tmp_path)


def test_parse_status_of_raw_records() -> None:
    raw = (
        b"# branch.oid " + b"a" * 40 + b"\0# branch.head main\0"
        b"1 .M N... 100644 100644 100644 " + b"1" * 40 + b" " + b"1" * 40 + b" a b.py\0"
        b"2 R. N... 100644 100644 100644 " + b"2" * 40 + b" " + b"2" * 40 + b" R100 new\0old\0"
        b"? x/\0"
    )
    st = parse_status(raw)
    assert [(e.path, e.staged, e.unstaged, e.orig_path) for e in st.entries] == [
        ("a b.py", ".", "M", ""),
        ("new", "R", ".", "old"),
    ]
    assert st.untracked == ("x/",) and st.upstream is None and (st.ahead, st.behind) == (0, 0)
