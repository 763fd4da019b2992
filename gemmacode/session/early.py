"""A diff review's first steps, begun before the rest of the core is imported.

A review of a diff reads the change (``git diff``, the new side's blobs), takes the names it
involves from the tags of the changed files, and starts one ``git grep`` for related code
(:class:`gemmacode.review.related.GrepRelated`), which then runs while the model session is
set up. On a large repository that search takes ~0.1 s of CPU; started where
:func:`gemmacode.session.reviewing.packed` starts it, after the core, asyncio and the review
engine are imported, a short command (the commit hook) would wait for it. :func:`begin_diff`
does these same steps first, with only the modules they need (~20 ms of imports), and the
review then takes what it made (:meth:`EarlyDiff.matches`) instead of doing it again: the
same target, the same names, the same search, only sooner.

Both paths build the target through :func:`resolve`, so a review's target is the same
whichever path made it. The search belongs to whoever takes it; :meth:`EarlyDiff.close`
stops one nobody took.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemmacode.config import IndexSettings
    from gemmacode.review.targets import CodeTarget, DiffTarget, DirTarget

DiffKey = tuple[str, str, Path, "Path | None"]  # kind, target, work tree, index file


def resolve(
    kind: str,
    target: str,
    *,
    cwd: Path,
    git_root: Path | None,
    index_file: Path | None,
) -> CodeTarget | DirTarget | DiffTarget:
    """The target a review spec names (``kind``, ``target``; the staged kind reads
    ``index_file`` when given)."""
    from gemmacode.review.targets import resolve_target

    return resolve_target(
        target if kind == "path" else None,
        cwd=cwd,
        staged=kind == "staged",
        working=kind == "working",
        diff=target if kind == "diff" else None,
        git_root=git_root,
        index_file=index_file,
    )


@dataclass
class EarlyDiff:
    """A diff resolved and its related-code search running (see the module docstring)."""

    key: DiffKey
    target: DiffTarget
    cached: Any  # gemmacode.index.cached_tags.CachedTags
    tags: Any  # its tags function, memoised
    related: Any  # gemmacode.review.related.GrepRelated, started
    taken: bool = False

    def matches(self, key: DiffKey) -> bool:
        return not self.taken and key == self.key

    def close(self) -> None:
        """Stop the search and close the index cache, unless a review took them."""
        if not self.taken:
            self.taken = True
            self.related.close()
            self.cached.close()


def begin_diff(
    kind: str,
    target: str,
    *,
    root: Path,
    index_settings: IndexSettings,
    index_file: Path | None = None,
) -> EarlyDiff | None:
    """Resolve the diff of a ``staged``, ``working`` or ``diff`` review of the git work tree
    ``root`` and start its related-code search; None when there is nothing to search for
    (no changed file) or the diff cannot be read (the review itself then says why)."""
    from gemmacode.index.cached_tags import CachedTags
    from gemmacode.review.related import GrepRelated, change_names, memo_tags
    from gemmacode.review.targets import DiffTarget

    root = root.resolve()
    cached = None
    try:
        diff = resolve(kind, target, cwd=root, git_root=root, index_file=index_file)
        if not isinstance(diff, DiffTarget) or not diff.files:
            return None
        cached = CachedTags(diff.root, index_settings)
        tags = memo_tags(cached)
        related = GrepRelated(diff.root, tags, env=diff.git_env)
        related.start(*change_names(diff, tags))
    except Exception:  # the review does it again, and reports what went wrong
        if cached is not None:
            cached.close()
        return None
    return EarlyDiff((kind, target, root, index_file), diff, cached, tags, related)
