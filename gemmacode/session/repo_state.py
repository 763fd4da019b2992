"""The repository's git state as a front end shows it: which files changed (the file tree's
markers), the branches, tags and recent commits (picking a revision range for ``/diff``, with
completion).

Two ways to ask git, each where it is better (``bench/bench_repo_state.py``, 2 cores, medians
on Django's 6,800 files and a 50,000-file repository):

- **Plain git** for the status: one ``git status --porcelain=v2 -z --branch`` process
  (110-135 ms) is exact for any path (NUL-separated, never quoted or coloured), takes no index
  lock (``GIT_OPTIONAL_LOCKS=0``: a commit hook running meanwhile is never blocked), and is 4-5x
  faster than GitPython's ``head.commit.diff()`` + ``index.diff(None)`` + ``untracked_files``
  (570-590 ms), which also compare the index the wrong way round unless one is careful
  (FIELD_NOTES, Git).
- **GitPython** for refs, commits and revision checks, through one ``Repo`` held open for the
  session: refs and the newest commits cost the same as one git process (1.5-4 ms), and
  checking a revision as the user types a ``/diff`` range costs 0.5-0.7 ms against 4-4.6 ms
  for ``git rev-parse`` (no process per keystroke). It reads commits through a long-lived
  ``git cat-file`` child that must be stopped: use :class:`RepoState` as a context manager or
  call :meth:`RepoState.close`. Importing GitPython takes ~100 ms: it is deferred to the first
  :class:`RepoState`, which a front end opens off its event loop.

The review engine and the commit hook keep plain git throughout (``review/targets.py``):
there, exactness under a temporary ``GIT_INDEX_FILE`` and start-up time rule.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gemmacode.errors import NotARepositoryError
from gemmacode.review.targets import git as run_git


@dataclass(frozen=True)
class PathState:
    """One tracked path that differs: ``staged`` and ``unstaged`` are git's X and Y letters
    (``M`` modified, ``A`` added, ``D`` deleted, ``R`` renamed, ``C`` copied, ``T`` type
    changed, ``U`` unmerged, ``.`` unchanged). ``orig_path``: a rename's or copy's source."""

    path: str
    staged: str
    unstaged: str
    orig_path: str = ""
    conflicted: bool = False


@dataclass(frozen=True)
class RepoStatus:
    """``git status`` as data. ``untracked`` folders end with ``/`` (their files not listed)."""

    branch: str | None  # None: detached HEAD
    head: str | None  # None: no commit yet
    upstream: str | None
    ahead: int
    behind: int
    entries: tuple[PathState, ...]
    untracked: tuple[str, ...]

    @property
    def staged(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.entries if e.staged != "." and not e.conflicted)

    @property
    def changed(self) -> tuple[str, ...]:
        """Paths with unstaged changes in the work tree."""
        return tuple(e.path for e in self.entries if e.unstaged != "." and not e.conflicted)

    @property
    def conflicted(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.entries if e.conflicted)

    @property
    def clean(self) -> bool:
        return not self.entries and not self.untracked

    def marker(self, path: str) -> str:
        """Two letters for a file in the tree, as ``git status -s`` shows them (``M ``,
        `` M``, ``A ``, ``??``, ``UU``), or ``""`` when the file is unchanged."""
        for e in self.entries:
            if e.path == path:
                return (e.staged + e.unstaged).replace(".", " ")
        if any(u == path or (u.endswith("/") and path.startswith(u)) for u in self.untracked):
            return "??"
        return ""

    def markers(self, paths: Iterable[str]) -> dict[str, str]:
        """:meth:`marker` for many files at once (a tree of 50,000 files): only the changed
        ones are in the result. Costs one dictionary look-up per path and folder level."""
        by_path = {e.path: (e.staged + e.unstaged).replace(".", " ") for e in self.entries}
        files = {u for u in self.untracked if not u.endswith("/")}
        folders = {u.rstrip("/") for u in self.untracked if u.endswith("/")}
        out: dict[str, str] = {}
        for path in paths:
            if path in by_path:
                out[path] = by_path[path]
            elif path in files:
                out[path] = "??"
            elif folders:
                parts = path.split("/")
                if any("/".join(parts[:i]) in folders for i in range(1, len(parts))):
                    out[path] = "??"
        return out

    def dirty_folders(self) -> frozenset[str]:
        """Every folder (``a/b``) holding a changed or untracked path, for folder markers."""
        out: set[str] = set()
        # An untracked folder ("a/b/") is dirty itself: split it with a file name after it.
        for p in [e.path for e in self.entries] + list(self.untracked):
            parts = p.split("/")[:-1]
            out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return frozenset(out)


def parse_status(raw: bytes) -> RepoStatus:
    """Parse ``git status --porcelain=v2 -z --branch``. Paths are decoded as the OS does
    (``os.fsdecode``), so a name that is not UTF-8 survives the round trip."""
    head: dict[str, str] = {}
    entries: list[PathState] = []
    untracked: list[str] = []
    fields = raw.split(b"\0")
    i = 0
    while i < len(fields):
        rec = fields[i]
        i += 1
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"#":
            key, _, value = os.fsdecode(rec[2:]).partition(" ")
            head[key] = value
        elif kind == b"1":
            parts = rec.split(b" ", 8)
            xy = parts[1].decode()
            entries.append(PathState(os.fsdecode(parts[8]), xy[0], xy[1]))
        elif kind == b"2":
            parts = rec.split(b" ", 9)
            xy = parts[1].decode()
            orig = os.fsdecode(fields[i])
            i += 1
            entries.append(PathState(os.fsdecode(parts[9]), xy[0], xy[1], orig))
        elif kind == b"u":
            parts = rec.split(b" ", 10)
            xy = parts[1].decode()
            entries.append(PathState(os.fsdecode(parts[10]), xy[0], xy[1], conflicted=True))
        elif kind == b"?":
            untracked.append(os.fsdecode(rec[2:]))
    ahead = behind = 0
    if "branch.ab" in head:
        a, b = head["branch.ab"].split()
        ahead, behind = int(a), -int(b)
    oid = head.get("branch.oid", "(initial)")
    branch = head.get("branch.head", "(detached)")
    return RepoStatus(
        branch=None if branch == "(detached)" else branch,
        head=None if oid == "(initial)" else oid,
        upstream=head.get("branch.upstream"),
        ahead=ahead,
        behind=behind,
        entries=tuple(entries),
        untracked=tuple(untracked),
    )


RevKind = Literal["head", "branch", "remote", "tag", "commit"]


@dataclass(frozen=True)
class Revision:
    """A revision to offer: ``text`` to insert, ``kind``, and ``detail`` to show beside it
    (a commit's subject, a branch's short hash)."""

    text: str
    kind: RevKind
    detail: str = ""


@dataclass(frozen=True)
class Commit:
    sha: str
    summary: str
    author: str
    when: int  # seconds since the epoch (committer date)

    @property
    def short(self) -> str:
        return self.sha[:8]


def split_range(prefix: str) -> tuple[str, str]:
    """``("A..", "B")`` for ``A..B`` (and ``A...B``); ``("", prefix)`` without dots."""
    i = prefix.find("..")
    if i < 0:
        return "", prefix
    j = i + 3 if prefix[i : i + 3] == "..." else i + 2
    return prefix[:j], prefix[j:]


class RepoState:
    """One repository's git state, for one front end. Not for several threads at once (a
    lock serialises callers); close it to stop GitPython's ``cat-file`` child."""

    def __init__(self, root: Path) -> None:
        import git  # deferred: ~70 ms, only the terminal UI needs it

        try:
            self._repo: Any = git.Repo(root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as err:
            raise NotARepositoryError(
                f"{root} is not inside a git repository", "run gemmacode in a git work tree"
            ) from err
        self._repo.git.update_environment(GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
        self.root = Path(self._repo.working_tree_dir or root)
        self._lock = threading.Lock()

    def __enter__(self) -> RepoState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the ``git cat-file`` children GitPython keeps (idempotent)."""
        with self._lock:
            self._repo.close()

    def status(self) -> RepoStatus:
        """Plain ``git status`` (see the module docstring for why not GitPython)."""
        args = ("status", "--porcelain=v2", "-z", "--branch", "--untracked-files=normal")
        return parse_status(run_git(self.root, *args))

    def branches(self) -> list[Revision]:
        """HEAD, local branches (the current one first), remote branches, then tags."""
        with self._lock:
            repo = self._repo
            current = None if repo.head.is_detached else repo.head.reference.name
            out = [Revision("HEAD", "head", self._head_detail())]
            heads = sorted(repo.heads, key=lambda h: (h.name != current, h.name))
            out += [Revision(h.name, "branch", h.commit.hexsha[:8]) for h in heads]
            for remote in repo.remotes:
                out += [
                    Revision(r.name, "remote", r.commit.hexsha[:8])
                    for r in remote.refs
                    if not r.name.endswith("/HEAD")
                ]
            out += [Revision(t.name, "tag") for t in repo.tags]
            return out

    def _head_detail(self) -> str:
        head = self._repo.head
        if not head.is_valid():
            return "no commit yet"
        sha = str(head.commit.hexsha[:8])
        return sha if head.is_detached else f"{head.reference.name} {sha}"

    def commits(self, count: int = 20, rev: str = "HEAD") -> list[Commit]:
        """The ``count`` newest commits reachable from ``rev`` (empty before the first
        commit or for a revision git does not know)."""
        import git

        with self._lock:
            try:
                return [
                    Commit(c.hexsha, c.summary, c.author.name or "", int(c.committed_date))
                    for c in self._repo.iter_commits(rev, max_count=count)
                ]
            except (git.GitCommandError, ValueError):
                return []

    def verify(self, rev: str) -> str | None:
        """The commit ``rev`` names (``main``, ``HEAD~2``, ``v1.0``, a short hash), or None."""
        import git

        with self._lock:
            try:
                return str(self._repo.rev_parse(rev + "^{commit}").hexsha)
            except (git.BadName, git.BadObject, ValueError, IndexError, git.GitCommandError):
                return None

    def complete(self, prefix: str, *, commits: int = 20) -> list[Revision]:
        """Revisions that complete ``prefix``; in a range (``A..B``, ``A...B``) the part after
        the dots is completed and the left part kept."""
        left, word = split_range(prefix)
        offers = self.branches() + [
            Revision(c.short, "commit", c.summary) for c in self.commits(commits)
        ]
        seen: set[str] = set()
        out: list[Revision] = []
        for r in offers:
            if r.text.startswith(word) and r.text not in seen:
                seen.add(r.text)
                out.append(Revision(left + r.text, r.kind, r.detail))
        return out
