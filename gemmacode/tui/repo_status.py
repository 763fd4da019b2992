"""What the repository tree shows: the files, those the index skips (and why), which are
changed or staged, and the revisions ``/diff`` completes.

The app receives a :class:`RepoStatusProvider`; :class:`GitCliStatus` lists files as the
index does (so the tree shows exactly what the index covers) and reads git through
:class:`~gemmacode.session.repo_state.RepoState`: the markers from one plain
``git status --porcelain=v2 -z`` (no index lock, so a commit hook running meanwhile is never
blocked), the branches, tags and recent commits from GitPython's repository held open for the
session. :meth:`GitCliStatus.close` stops GitPython's ``git cat-file`` child.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from gemmacode.config import Settings
from gemmacode.errors import GemmacodeError

if TYPE_CHECKING:  # imported on the worker thread: not on the way to the first paint
    from gemmacode.session.repo_state import RepoState, RepoStatus

Marker = Literal["staged", "changed", "untracked", "both"]
RECENT_COMMITS = 30


@dataclass(frozen=True)
class RepoSnapshot:
    files: tuple[str, ...]  # indexed candidates, POSIX, relative to the root
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    markers: dict[str, Marker] = field(default_factory=dict)
    revisions: tuple[str, ...] = ()  # HEAD, branches, tags, recent commits' short hashes


class RepoStatusProvider(Protocol):
    def snapshot(self) -> RepoSnapshot:
        """Called on a worker thread; may take a moment on a large repository."""
        ...


def marker_of(xy: str) -> Marker:
    """git's two status letters (``M ``, `` M``, ``MM``, ``??``, ``UU``) as a tree marker."""
    if xy == "??":
        return "untracked"
    staged, changed = xy[0] != " ", xy[1] != " "
    return "both" if staged and changed else "staged" if staged else "changed"


def markers_from(status: RepoStatus, files: tuple[str, ...]) -> dict[str, Marker]:
    """Markers for the tree's ``files`` (renames keep the new path)."""
    return {path: marker_of(xy) for path, xy in status.markers(files).items()}


class GitCliStatus:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self._state: RepoState | None = None
        self._lock = threading.Lock()

    def _repo(self) -> RepoState | None:
        """The held repository, opened on first use (on the caller's worker thread: GitPython
        takes ~100 ms to import); None outside git."""
        from gemmacode.session.repo_state import RepoState

        with self._lock:
            if self._state is None:
                try:
                    self._state = RepoState(self.root)
                except GemmacodeError:
                    return None
            return self._state

    def snapshot(self) -> RepoSnapshot:
        from gemmacode.index.files import list_files

        listing = list_files(
            self.root,
            max_file_bytes=self.settings.index.max_file_bytes,
            exclude=self.settings.index.exclude,
        )
        files = tuple(sorted(c.path for c in listing.candidates))
        markers: dict[str, Marker] = {}
        revisions: tuple[str, ...] = ()
        repo = self._repo()
        if repo is not None:
            try:
                markers = markers_from(repo.status(), files)
            except GemmacodeError:
                markers = {}
            revisions = tuple(r.text for r in repo.branches())
            revisions += tuple(c.short for c in repo.commits(RECENT_COMMITS))
        return RepoSnapshot(
            files=files,
            skipped={s.path: s.reason for s in listing.skipped},
            markers=markers,
            revisions=revisions,
        )

    def close(self) -> None:
        with self._lock:
            if self._state is not None:
                self._state.close()
                self._state = None
