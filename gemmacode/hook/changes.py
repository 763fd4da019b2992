"""What a commit (or a pushed range) changes, file by file, and which files are worth a review.

One git call lists every changed file with its old and new blob, mode and line counts
(``git diff --raw --numstat -z --no-abbrev -M``): cheap even for thousands of files, and
enough to decide the fast paths (nothing reviewable, a cached result) without reading any
content or importing anything heavy. The blob names also identify the content exactly, so
they are the review cache's key.

A file is left out of the review, with its reason, when it is deleted, a binary, a lock
file, minified, generated (a marker such as ``@generated`` in its first lines), a submodule
or a symbolic link, or unchanged in content (a mode change). Documentation (Markdown,
reStructuredText, plain text) is reviewed alongside code, but a change of nothing else is not
sent unless ``hook.review_docs`` is on. The core's staged review leaves out the same kinds of
files, so "nothing to review" here means the model would have been shown nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gemmacode.config import Settings
from gemmacode.hook.gitio import HookGit
from gemmacode.index.skiprules import content_reason, name_reason

DOC_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".asciidoc")
DOC_NAMES = frozenset({"LICENSE", "LICENCE", "COPYING", "AUTHORS", "NOTICE", "CHANGELOG"})
SUBMODULE_MODE = "160000"
SYMLINK_MODE = "120000"
SNIFF = 4096  # bytes of a new blob read to spot generated or minified content


@dataclass(frozen=True)
class ChangedFile:
    """One file of the change. ``new_path`` is None for a deletion, ``old_path`` for an
    addition; ``added``/``removed`` are None for binaries."""

    status: str  # A, M, D, R, C, T (git's letters)
    old_path: str | None
    new_path: str | None
    old_sha: str
    new_sha: str
    old_mode: str
    new_mode: str
    added: int | None
    removed: int | None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def binary(self) -> bool:
        return self.added is None

    def key(self) -> str:
        """What identifies this file's change exactly: paths, modes and blobs."""
        fields = (self.status, self.old_path, self.new_path, self.old_mode, self.new_mode)
        return ":".join(str(f) for f in fields) + f":{self.old_sha}:{self.new_sha}"


def _paths(fields: list[str], i: int, two: bool) -> tuple[tuple[str, str | None], int]:
    if two:
        return (fields[i], fields[i + 1]), i + 2
    return (fields[i], None), i + 1


def parse_listing(raw: bytes) -> list[ChangedFile]:
    """Parse ``git diff --raw --numstat -z --no-abbrev -M`` (raw records, then numstat ones,
    in the same order)."""
    fields = raw.decode("utf-8", "replace").split("\0")
    raws: list[tuple[str, str, str, str, str, str, str | None]] = []
    i = 0
    while i < len(fields) and fields[i].startswith(":"):
        meta = fields[i][1:].split(" ")
        old_mode, new_mode, old_sha, new_sha, status = meta[0], meta[1], meta[2], meta[3], meta[4]
        letter = status[:1]
        (a, b), i = _paths(fields, i + 1, letter in "RC")
        raws.append((letter, old_mode, new_mode, old_sha, new_sha, a, b))
    counts: list[tuple[int | None, int | None]] = []
    while i < len(fields) and fields[i]:
        plus, minus, rest = fields[i].split("\t", 2)
        i += 1 if rest else 3  # a rename's numstat record names both paths after it
        counts.append((None, None) if plus == "-" else (int(plus), int(minus)))
    out: list[ChangedFile] = []
    for n, (letter, old_mode, new_mode, old_sha, new_sha, a, b) in enumerate(raws):
        added, removed = counts[n] if n < len(counts) else (0, 0)
        if letter in "RC":
            old_path, new_path = a, b
        elif letter == "A":
            old_path, new_path = None, a
        elif letter == "D":
            old_path, new_path = a, None
        else:
            old_path = new_path = a
        out.append(
            ChangedFile(
                letter, old_path, new_path, old_sha, new_sha, old_mode, new_mode, added, removed
            )
        )
    return out


LISTING_ARGS = ("diff", "--raw", "--numstat", "-z", "--no-abbrev", "-M", "--no-ext-diff")


def staged_files(git: HookGit) -> list[ChangedFile]:
    """The change ``git commit`` would record: the index against HEAD (the empty tree before
    the first commit)."""
    return parse_listing(git.run(*LISTING_ARGS, "--cached"))


def start_staged_listing(git: HookGit) -> Callable[[], list[ChangedFile]]:
    """:func:`staged_files`, started now and read when the function returned is called."""
    pending = git.start(*LISTING_ARGS, "--cached")
    return lambda: parse_listing(pending())


def range_files(git: HookGit, base: str, tip: str) -> list[ChangedFile]:
    """The change between two commits (a pushed range)."""
    return parse_listing(git.run(*LISTING_ARGS, base, tip, "--"))


def _is_doc(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.lower().endswith(DOC_SUFFIXES) or name.split(".", 1)[0].upper() in DOC_NAMES


@dataclass
class Selection:
    """The files a review should see, and the others with why they were left out."""

    review: list[ChangedFile]
    skipped: list[tuple[str, str]]  # (path, reason)
    docs: list[ChangedFile]  # reviewable only when hook.review_docs is on

    @property
    def notes(self) -> list[str]:
        return [f"not reviewed: {path} ({why})" for path, why in self.skipped]


def select(git: HookGit, files: Sequence[ChangedFile], settings: Settings) -> Selection:
    """Sort the change into files to review and files left out (with a reason), reading the
    first bytes of new blobs only for files whose names do not decide it already."""
    review: list[ChangedFile] = []
    skipped: list[tuple[str, str]] = []
    docs: list[ChangedFile] = []
    sniff: list[ChangedFile] = []
    for f in files:
        path = f.path
        if f.new_path is None:
            skipped.append((path, "deleted"))
        elif SUBMODULE_MODE in (f.new_mode, f.old_mode):
            skipped.append((path, "submodule"))
        elif f.new_mode == SYMLINK_MODE:
            skipped.append((path, "symbolic link"))
        elif f.binary:
            skipped.append((path, "binary"))
        elif f.old_sha == f.new_sha and f.status in "MT":
            skipped.append((path, "mode change only"))
        elif (reason := name_reason(path)) is not None:
            skipped.append((path, reason))
        else:
            sniff.append(f)
    blobs = git.read_blobs([f.new_sha for f in sniff]) if sniff else {}
    for f in sniff:
        data = blobs.get(f.new_sha, b"")
        reason = content_reason(data[:SNIFF] if len(data) > SNIFF else data)
        if reason == "minified" and len(data) > SNIFF:
            reason = content_reason(data)
        if reason is not None:
            skipped.append((f.path, reason))
        elif _is_doc(f.path):
            (review if settings.hook.review_docs else docs).append(f)
        else:
            review.append(f)
    if review and docs:  # docs ride along with code: the review sees the whole change
        review += docs
        docs = []
    skipped += [(f.path, "documentation only") for f in docs]
    return Selection(review, skipped, docs)
