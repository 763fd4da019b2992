"""Parse git's unified diffs into files and hunks with new-side line ranges.

The input is the output of ``git diff`` run the way :mod:`gemmacode.review.targets` runs it:
no colour, explicit ``a/`` and ``b/`` prefixes, ``--full-index``, rename detection. The parser
is pure (text in, records out) and tolerant of what git legitimately emits: new, deleted,
renamed, copied and binary files, mode changes without content, C-quoted paths, and the
``\\ No newline at end of file`` marker. Line numbers are 1-based, as in the hunk headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gemmacode.index.pathquote import quote_path, unquote_path

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
NO_NEWLINE = "\\ No newline at end of file"


def _strip_prefix(path: str, prefix: str) -> str | None:
    if path == "/dev/null":
        return None
    path = unquote_path(path)
    return path[len(prefix) :] if path.startswith(prefix) else path


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` block. ``lines`` keep their prefix (`` ``, ``+``, ``-``, ``\\``)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str  # text git prints after the second @@ (often the enclosing function)
    lines: tuple[str, ...]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.startswith("-"))

    @property
    def deletion_only(self) -> bool:
        return self.added == 0 and self.removed > 0

    @property
    def new_range(self) -> tuple[int, int]:
        """First and last new-side line this hunk covers (a point for pure deletions)."""
        if self.new_count == 0:
            return (max(self.new_start, 1), max(self.new_start, 1))
        return (self.new_start, self.new_start + self.new_count - 1)

    def added_lines(self) -> list[int]:
        """New-side numbers of the lines this hunk adds."""
        out: list[int] = []
        n = self.new_start
        for line in self.lines:
            if line.startswith("+"):
                out.append(n)
                n += 1
            elif line.startswith(" "):
                n += 1
        return out

    def removed_before(self) -> dict[int, list[str]]:
        """Removed lines keyed by the new-side line they would stand before."""
        out: dict[int, list[str]] = {}
        n = self.new_start if self.new_count else self.new_start + 1
        for line in self.lines:
            if line.startswith("-"):
                out.setdefault(n, []).append(line[1:])
            elif line.startswith(("+", " ")):
                n += 1
        return out

    @property
    def header(self) -> str:
        old = f"{self.old_start},{self.old_count}"
        new = f"{self.new_start},{self.new_count}"
        return f"@@ -{old} +{new} @@" + (f" {self.section}" if self.section else "")

    def text(self) -> str:
        return "\n".join((self.header, *self.lines))


@dataclass(frozen=True)
class FileDiff:
    """One file's change. ``old_path`` is None for a new file, ``new_path`` for a deletion."""

    old_path: str | None
    new_path: str | None
    status: str  # added, deleted, modified, renamed, copied
    binary: bool = False
    hunks: tuple[Hunk, ...] = ()
    old_blob: str = ""
    new_blob: str = ""
    similarity: int | None = None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        return sum(h.removed for h in self.hunks)

    @property
    def size(self) -> int:
        """Changed lines: the relevance order of files in a packed review."""
        return self.added + self.removed

    @property
    def deletion_only(self) -> bool:
        return self.status == "deleted" or (bool(self.hunks) and self.added == 0)

    def describe(self) -> str:
        """One line naming the change for people and the model (paths quoted if unsafe)."""
        if self.status == "renamed":
            old, new = quote_path(self.old_path or ""), quote_path(self.new_path or "")
            return f"{old} -> {new} (renamed, +{self.added} -{self.removed})"
        if self.binary:
            return f"{quote_path(self.path)} ({self.status}, binary)"
        return f"{quote_path(self.path)} ({self.status}, +{self.added} -{self.removed})"


@dataclass
class _Builder:
    old_path: str | None = None
    new_path: str | None = None
    status: str = "modified"
    binary: bool = False
    hunks: list[Hunk] = field(default_factory=list)
    old_blob: str = ""
    new_blob: str = ""
    similarity: int | None = None

    def build(self) -> FileDiff:
        return FileDiff(
            self.old_path,
            self.new_path,
            self.status,
            self.binary,
            tuple(self.hunks),
            self.old_blob,
            self.new_blob,
            self.similarity,
        )


def _git_header_paths(rest: str) -> tuple[str | None, str | None]:
    """Paths from ``diff --git a/x b/y`` (used when no ---/+++ lines follow)."""
    if rest.startswith('"'):
        end = rest.index('"', 1)
        while rest[end - 1] == "\\":
            end = rest.index('"', end + 1)
        a, b = rest[: end + 1], rest[end + 2 :]
    else:
        half = len(rest) // 2  # "a/p b/p": unambiguous when both names are the same
        a, b = rest[:half], rest[half + 1 :]
        if " b/" in rest and a[2:] != b[2:]:
            a, b = rest.split(" b/", 1)
            b = "b/" + b
    return _strip_prefix(a, "a/"), _strip_prefix(b, "b/")


def parse_diff(text: str) -> list[FileDiff]:
    """Every file in a unified diff, in git's order."""
    files: list[FileDiff] = []
    cur: _Builder | None = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            if cur is not None:
                files.append(cur.build())
            cur = _Builder()
            cur.old_path, cur.new_path = _git_header_paths(line[len("diff --git ") :])
            i += 1
            continue
        if cur is None:
            i += 1
            continue
        if line.startswith("@@"):
            m = _HUNK.match(line)
            if m is None:
                i += 1
                continue
            old_start, old_count = int(m[1]), int(m[2]) if m[2] is not None else 1
            new_start, new_count = int(m[3]), int(m[4]) if m[4] is not None else 1
            body: list[str] = []
            old_left, new_left = old_count, new_count
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i] == NO_NEWLINE):
                row = lines[i]
                if row.startswith("+"):
                    new_left -= 1
                elif row.startswith("-"):
                    old_left -= 1
                elif row.startswith(" ") or row == "":
                    row = " " + row[1:]
                    old_left -= 1
                    new_left -= 1
                elif not row.startswith("\\"):
                    break
                body.append(row)
                i += 1
            cur.hunks.append(Hunk(old_start, old_count, new_start, new_count, m[5], tuple(body)))
            continue
        if line.startswith("new file mode"):
            cur.status, cur.old_path = "added", None
        elif line.startswith("deleted file mode"):
            cur.status, cur.new_path = "deleted", None
        elif line.startswith("rename from "):
            cur.status, cur.old_path = "renamed", unquote_path(line[len("rename from ") :])
        elif line.startswith("rename to "):
            cur.new_path = unquote_path(line[len("rename to ") :])
        elif line.startswith("copy from "):
            cur.status, cur.old_path = "copied", unquote_path(line[len("copy from ") :])
        elif line.startswith("copy to "):
            cur.new_path = unquote_path(line[len("copy to ") :])
        elif line.startswith(("similarity index ", "dissimilarity index ")):
            cur.similarity = int(line.rsplit(" ", 1)[1].rstrip("%") or 0)
        elif line.startswith("index "):
            blobs = line.split(" ")[1]
            cur.old_blob, _, cur.new_blob = blobs.partition("..")
        elif line.startswith("Binary files ") or line == "GIT binary patch":
            cur.binary = True
        elif line.startswith("--- "):
            old = _strip_prefix(line[4:].rstrip("\t"), "a/")
            if old is None:
                cur.old_path = None
            elif cur.status != "renamed":
                cur.old_path = old
        elif line.startswith("+++ "):
            new = _strip_prefix(line[4:].rstrip("\t"), "b/")
            if new is None:
                cur.new_path = None
            elif cur.status != "renamed":
                cur.new_path = new
        i += 1
    if cur is not None:
        files.append(cur.build())
    return files
