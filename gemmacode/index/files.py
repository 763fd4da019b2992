"""Which files the index covers, and for each file left out, why.

Inside a git work tree the list is what git itself would show: tracked files plus untracked
files that no ignore rule covers (``.gitignore`` at any depth, ``.git/info/exclude``, the
user's global excludes), from one ``git ls-files`` call. Elsewhere a plain walk leaves out the
usual tool and dependency folders. ``index.exclude`` globs apply in both cases.

Checks run cheapest first: names (excludes, lock files, minified bundles), then one ``lstat``
(vanished, symlinks that leave the root or loop, size), then, for files that are read anyway,
the content (binary, generated, minified). Nothing here raises for a bad file: every file ends
up a :class:`Candidate` or a :class:`Skipped` with a reason.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import translate
from pathlib import Path

from gemmacode.index.languages import EXTENSIONS, FILENAMES, TEXT, language_for_shebang
from gemmacode.index.model import Skipped
from gemmacode.index.skiprules import (  # shared with diff reviews and the commit hook
    SNIFF_BYTES,
    content_reason,
    name_reason,
)

DEFAULT_EXCLUDED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", "node_modules", "bower_components", ".venv", "venv",
        "__pycache__", "dist", "build", "target", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".tox", ".nox", ".eggs", ".idea", ".gradle", ".next", ".nuxt",
        ".cache", ".terraform", "htmlcov", ".hypothesis",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file that passed the name and stat checks; content checks come when it is read."""

    path: str  # POSIX, relative to the root
    abspath: str
    size: int
    mtime_ns: int


@dataclass
class Listing:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    from_git: bool = False


class Excludes:
    """``index.exclude`` globs. A pattern with a slash matches the path from the root (and
    everything under it); one without matches any single file or folder name."""

    def __init__(self, patterns: Iterable[str]) -> None:
        full: list[str] = []
        names: list[str] = []
        for raw in patterns:
            pattern = raw.strip().strip("/")
            if not pattern:
                continue
            if "/" in pattern:
                full += [translate(pattern), translate(pattern + "/*")]
            else:
                names.append(translate(pattern))
        self._full = re.compile("|".join(full)) if full else None
        self._names = re.compile("|".join(names)) if names else None

    def __bool__(self) -> bool:
        return self._full is not None or self._names is not None

    def match(self, path: str) -> bool:
        if self._full is not None and self._full.match(path):
            return True
        if self._names is not None:
            return any(self._names.match(part) for part in path.split("/"))
        return False


def examine(abspath: str, max_bytes: int) -> tuple[str, bytes]:
    """(skip reason, bytes) of a file about to be indexed: the reason is "" for a file to
    index, else vanished, unreadable, binary, too-large, generated or minified (the bytes are
    then empty). A binary file is recognised from its first 8 KiB without reading the rest."""
    try:
        with open(abspath, "rb") as fh:
            data = fh.read(SNIFF_BYTES)
            if b"\0" in data:
                return "binary", b""
            if len(data) == SNIFF_BYTES:
                data += fh.read(max_bytes + 1 - len(data))
    except FileNotFoundError:
        return "vanished", b""
    except OSError:
        return "unreadable", b""
    if len(data) > max_bytes:  # grew since it was listed
        return "too-large", b""
    reason = content_reason(data)
    return (reason, b"") if reason else ("", data)


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` decodes as UTF-8, without building the text when it is ASCII."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode(data: bytes) -> tuple[str, bool]:
    """The text, and whether bytes that are not UTF-8 had to be replaced."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True


def language_of(path: str) -> str:
    """``languages.language_for`` without pathlib: this runs for every file on every refresh."""
    name = path.rpartition("/")[2]
    language = FILENAMES.get(name)
    if language is not None:
        return language
    dot = name.rfind(".")
    return TEXT if dot <= 0 else EXTENSIONS.get(name[dot:].lower(), TEXT)


def detect_language(path: str, data: bytes) -> str:
    """Language from the name, or from a ``#!`` line for files without an extension."""
    language = language_of(path)
    if language == TEXT and "." not in path.rsplit("/", 1)[-1] and data.startswith(b"#!"):
        first = data[:200].split(b"\n", 1)[0].decode("utf-8", "replace")
        language = language_for_shebang(first)
    return language


def git_paths(root: Path, while_git: Callable[[], None] | None = None) -> list[str] | None:
    """Tracked and not-ignored untracked paths under ``root``; None outside a work tree.

    ``while_git`` runs once while git lists (git's output goes to a temporary file, so it
    never waits on this process): work that does not need the listing overlaps it.
    """
    import tempfile

    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                ["git", "ls-files", "-co", "--exclude-standard", "-z"],
                cwd=root,
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        except OSError:  # git not installed
            if while_git is not None:
                while_git()
            return None
        with proc:
            if while_git is not None:
                while_git()
        if proc.returncode != 0:
            return None
        out.seek(0)
        stdout = out.read()
    paths: list[str] = []
    seen: set[str] = set()
    for raw in stdout.split(b"\0"):
        if not raw:
            continue
        path = os.fsdecode(raw)
        if path not in seen:  # a conflicted file is listed once per stage
            seen.add(path)
            paths.append(path)
    return paths


def walk_paths(root: Path, excludes: Excludes, listing: Listing, root_real: str) -> list[str]:
    """Every file under ``root`` outside the default excluded folders, sorted."""
    paths: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        rel_folder = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if rel_folder == "." else rel_folder + "/"
        keep = []
        for d in dirnames:
            rel = prefix + d
            if d in DEFAULT_EXCLUDED_DIRS or d.endswith(".egg-info") or excludes.match(rel):
                continue
            full = os.path.join(folder, d)
            if os.path.islink(full):  # never followed; say why when following would hurt
                reason = _link_reason(full, root_real)
                if reason:
                    listing.skipped.append(Skipped(rel, reason))
                continue
            keep.append(d)
        dirnames[:] = sorted(keep)
        paths += [prefix + f for f in sorted(filenames)]
    return paths


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _link_reason(link: str, root_real: str) -> str | None:
    """Why a symlink is left out, or None when its target is a fine file or folder inside."""
    try:
        real = os.path.realpath(link, strict=True)
    except OSError as err:
        return "loop" if err.errno == errno.ELOOP else "vanished"
    if not _inside(real, root_real):
        return "symlink-outside"
    parent_real = os.path.realpath(os.path.dirname(link))
    if os.path.isdir(real) and _inside(parent_real, real):
        return "loop"  # a folder link back to one of its own ancestors
    return None


def list_files(
    root: Path,
    *,
    max_file_bytes: int,
    exclude: Sequence[str] = (),
    ignore_dirs: Sequence[str] = (),
    while_listing: Callable[[], None] | None = None,
) -> Listing:
    """Candidates and skipped files under ``root`` (an absolute, resolved folder).

    ``ignore_dirs`` are root-relative folders to leave out silently (the index cache, when a
    user puts it inside the work tree). ``while_listing`` runs exactly once, while git lists
    the files when it can (see :func:`git_paths`), else before the folders are walked.
    """
    excludes = Excludes(exclude)
    listing = Listing()
    root_real = os.path.realpath(root)
    paths = git_paths(root, while_listing)
    listing.from_git = paths is not None
    if paths is None:
        paths = walk_paths(root, excludes, listing, root_real)
    ignore = tuple(d.strip("/") + "/" for d in ignore_dirs if d.strip("/"))
    base = str(root) + os.sep
    candidates = listing.candidates
    skipped = listing.skipped
    for path in paths:
        if (excludes and excludes.match(path)) or (ignore and path.startswith(ignore)):
            continue
        reason = name_reason(path)
        if reason is None and not _storable(path):
            reason = "bad-name"
        if reason:
            skipped.append(Skipped(path, reason))
            continue
        abspath = base + path
        try:
            st = os.lstat(abspath)
            if stat.S_ISLNK(st.st_mode):
                reason = _link_reason(abspath, root_real)
                if reason is None:
                    st = os.stat(abspath)
                    if stat.S_ISDIR(st.st_mode):
                        continue  # its files are listed under their real folder
        except FileNotFoundError:
            reason = "vanished"
        except OSError:
            reason = "unreadable"
        if reason is None:
            if stat.S_ISDIR(st.st_mode):
                reason = "submodule"
            elif not stat.S_ISREG(st.st_mode):
                reason = "special"
            elif st.st_size > max_file_bytes:
                reason = "too-large"
        if reason:
            skipped.append(Skipped(path, reason))
        else:
            candidates.append(Candidate(path, abspath, st.st_size, st.st_mtime_ns))
    return listing


def _storable(path: str) -> bool:
    """False for names that are not valid UTF-8 (they cannot be stored or shown reliably)."""
    if path.isascii():
        return True
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
