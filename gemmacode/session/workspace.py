"""One repository as every front end sees it: its root, its settings, its index and the
repo-map cache, opened once and refreshed on demand.

The index is opened lazily (a staged review never needs it: it reads the few tags it wants
from the cache, see :mod:`gemmacode.review.related`) and kept until :meth:`Workspace.refresh`
re-indexes (incrementally: unchanged files cost a ``stat``). Outside a git repository there
is no index; reviews then go without related definitions or a repo map.

Both caches hold private code: their folders are created 0700 (and tightened to 0700 when an
older version left them open), their files 0600 (:mod:`gemmacode.index.cache`,
:mod:`gemmacode.repomap.cache`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gemmacode.config import Settings
from gemmacode.errors import GemmacodeError
from gemmacode.session.api import IndexProgress, IndexSummary

if TYPE_CHECKING:
    from gemmacode.index.indexer import RepoIndex


def map_cache_dir(root: Path, settings: Settings) -> Path:
    """The repository's folder for repo-map graphs, rankings and maps (inside its index
    cache folder)."""
    from gemmacode.index.cache import default_cache_dir

    return default_cache_dir(root, settings.index) / "repomap"


class Workspace:
    """See the module docstring. ``git_root`` says the root is known to be the git work
    tree of the current folder (the CLI asked git already): reviews then skip asking again.
    ``progress_bar``: draw the indexer's bar on stderr when it is a terminal (the CLI;
    never under a terminal UI, which passes a ``progress`` callback instead)."""

    def __init__(
        self, root: Path, settings: Settings, *, git_root: bool = False, progress_bar: bool = False
    ) -> None:
        self.root = root.resolve()
        self.settings = settings
        self.git_root = self.root if git_root else None
        self.progress_bar = progress_bar
        self._index: RepoIndex | None = None
        self._index_error = ""
        self._opened = False
        self._lock = threading.Lock()

    @property
    def in_git(self) -> bool:
        return (self.root / ".git").exists()

    @property
    def cache_dir(self) -> Path:
        """The repository's index cache folder (the repo-map cache is inside it)."""
        from gemmacode.index.cache import default_cache_dir

        return default_cache_dir(self.root, self.settings.index)

    @property
    def map_cache_dir(self) -> Path:
        """The folder for repo-map graphs, rankings and maps (shared by ``map``, ``ask`` and
        ``review``)."""
        return map_cache_dir(self.root, self.settings)

    @property
    def index_error(self) -> str:
        """Why the index could not be opened (``""`` when it was, or was never tried)."""
        return self._index_error

    def index(self, *, progress: Callable[[IndexProgress], None] | None = None) -> RepoIndex | None:
        """The repository index, opened (refreshed from its cache) on first use; None outside
        a git repository or when it cannot be built (:attr:`index_error` says why)."""
        with self._lock:
            if not self._opened:
                self._open(progress, rebuild=False)
            return self._index

    def refresh(self, progress: Callable[[IndexProgress], None] | None = None) -> IndexSummary:
        """Re-index now (incremental) and return what the index holds."""
        started = time.perf_counter()
        with self._lock:
            self._open(progress, rebuild=False)
            index = self._index
        if index is None:
            return IndexSummary(0, 0, {}, time.perf_counter() - started)
        skipped: dict[str, int] = {}
        for s in index.skipped:
            skipped[s.reason] = skipped.get(s.reason, 0) + 1
        symbols = sum(n for n, _ in index.counts().values())
        return IndexSummary(len(index.records()), symbols, skipped, time.perf_counter() - started)

    def _open(self, progress: Callable[[IndexProgress], None] | None, *, rebuild: bool) -> None:
        self._opened = True
        if not self.in_git:
            self._index, self._index_error = None, f"{self.root} is not a git repository"
            return
        from gemmacode.index.indexer import open_index

        def step(done: int, total: int) -> None:
            if progress is not None:
                progress(IndexProgress(done, total, "indexing"))

        if progress is not None:
            progress(IndexProgress(0, 0, "listing"))
        try:
            self._index = open_index(
                self.root,
                self.settings.index,
                progress=self.progress_bar and sys.stderr.isatty(),
                on_progress=step if progress is not None else None,
            )
            self._index_error = ""
        except GemmacodeError as err:
            self._index, self._index_error = None, str(err)
            return
        if progress is not None:
            n = len(self._index.records())  # not .files: that decodes every symbol
            progress(IndexProgress(n, n, "done"))
