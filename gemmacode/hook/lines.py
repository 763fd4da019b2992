"""Which lines a commit adds or changes: the only lines whose findings may block it.

A finding on a line the commit did not touch is about code that was already there; it is
shown, never blocking. A line counts as changed when the commit adds it (a ``+`` line of the
diff, new-side numbers) or when it borders a place where lines were only removed (removing a
check is a change at the place it was: the lines just before and after it). In a merge, a
line counts only when it differs from every parent: what the merge itself wrote (a conflict
resolution), not what it brings in from a branch that was reviewed on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gemmacode.hook.gitio import HookGit
from gemmacode.review.diff import parse_diff

DIFF_ARGS = (
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "-U0",
    "-M",
)

Lines = dict[str, set[int]]


def changed_in(diff_text: str) -> Lines:
    """New-side lines each file of a ``-U0`` diff adds, or that border a removal."""
    out: Lines = {}
    for fd in parse_diff(diff_text):
        if fd.new_path is None:
            continue
        lines = out.setdefault(fd.new_path, set())
        for hunk in fd.hunks:
            lines.update(hunk.added_lines())
            if hunk.new_count == 0:  # a pure deletion after new line new_start
                lines.update(n for n in (hunk.new_start, hunk.new_start + 1) if n >= 1)
    return out


def _intersect(a: Lines, b: Lines) -> Lines:
    return {path: lines & b.get(path, set()) for path, lines in a.items()}


def staged_changed_lines(git: HookGit, paths: Iterable[str]) -> Lines:
    """Lines the staged change adds or changes in ``paths`` (all files when empty); in a merge
    (``MERGE_HEAD`` present), only lines that differ from every parent."""
    paths = list(paths)
    tail = ("--", *paths) if paths else ()
    lines = changed_in(_text(git.run(*DIFF_ARGS, "--cached", *tail)))
    for parent in merge_heads(git):
        lines = _intersect(lines, changed_in(_text(git.run(*DIFF_ARGS, "--cached", parent, *tail))))
    return lines


def range_changed_lines(git: HookGit, base: str, tip: str, paths: Sequence[str] = ()) -> Lines:
    """Lines a pushed range adds or changes."""
    tail = ("--", *paths)
    return changed_in(_text(git.run(*DIFF_ARGS, base, tip, *tail)))


def merge_heads(git: HookGit) -> list[str]:
    """The other parents of a merge being committed (``MERGE_HEAD``), or none."""
    path = git.git_path("MERGE_HEAD")
    try:
        text = path.read_text("ascii", "replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if len(line.strip()) >= 40]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
