"""What a review looks at: a file, a line range, a symbol, a directory, or a set of changes.

``resolve_target`` turns the command line into one of :class:`CodeTarget`, :class:`DirTarget`
or :class:`DiffTarget`, or raises a one-line :class:`UsageError` / :class:`NotARepositoryError`
that says how to fix it. Git is only ever read: every command here is read-only, runs with
``GIT_OPTIONAL_LOCKS=0`` (so not even the index's stat cache is refreshed on disk) and with the
user's colour, prefix, context and external-diff settings overridden. ``--staged`` reviews the
index's content (blobs read with ``git cat-file``), never the working tree, and works in a
repository with no commits.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gemmacode.errors import NotARepositoryError, UsageError
from gemmacode.index.catfile import parse_batch, wanted_blobs
from gemmacode.index.languages import language_for
from gemmacode.index.pathquote import quote_path
from gemmacode.review.diff import FileDiff, parse_diff

if TYPE_CHECKING:
    from gemmacode.index.model import Symbol


class SymbolFinder(Protocol):
    """The part of RepoIndex a symbol target needs."""

    def find_symbol(self, path: str, scope: str) -> Symbol | None: ...


_RANGE = re.compile(r"^(?P<path>.+):(?P<start>\d+)(?:-(?P<end>\d+))?$")
DIFF_ARGS = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "--full-index",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "-U3",
    "-M",
)


def git_command(
    root: Path, *args: str, env_extra: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment every git call here uses: no optional locks, no
    pager, no colour, unquoted paths, C locale."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}
    env.update(env_extra or {})
    cmd = ["git", "-C", str(root), "-c", "core.quotepath=false", "-c", "color.ui=never", *args]
    return cmd, env


def git(
    root: Path,
    *args: str,
    stdin: bytes | None = None,
    env_extra: dict[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
) -> bytes:
    """Run a read-only git command in ``root``; an exit code outside ``ok`` becomes a
    one-line UsageError."""
    cmd, env = git_command(root, *args, env_extra=env_extra)
    try:
        out = subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=False)
    except OSError as exc:
        raise NotARepositoryError(f"cannot run git ({exc.strerror})", "install git") from exc
    if out.returncode not in ok:
        msg = out.stderr.decode("utf-8", "replace").strip().splitlines()
        first = msg[0] if msg else f"exit {out.returncode}"
        raise UsageError(f"git {args[0]} failed: {first}", "check the revision or path given")
    return out.stdout


def _worktree_diff(root: Path, *args: str) -> bytes:
    """``git diff`` against the working tree, run on a throwaway copy of the index.

    Porcelain ``git diff`` refreshes stat information and rewrites ``.git/index`` when it can,
    even with ``GIT_OPTIONAL_LOCKS=0`` (git 2.39). A review must never modify the index, so
    git gets a copy to refresh instead.
    """
    index = Path(git(root, "rev-parse", "--git-path", "index").decode().strip())
    if not index.is_absolute():
        index = root / index
    with tempfile.TemporaryDirectory(prefix="gemmacode-index-") as tmp:
        env: dict[str, str] = {}
        if index.is_file():
            copy = Path(tmp) / "index"
            shutil.copyfile(index, copy)
            env["GIT_INDEX_FILE"] = str(copy)
        return git(root, "diff", *DIFF_ARGS, *args, env_extra=env)


def repo_root(start: Path) -> Path:
    """The work-tree root above ``start``; NotARepositoryError outside git."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    out = subprocess.run(
        ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise NotARepositoryError(
            f"{start} is not inside a git repository",
            "run this inside a repository (or git init), or review a file path instead",
        )
    return Path(out.stdout.strip()).resolve()


def read_blobs(root: Path, shas: Sequence[str]) -> dict[str, bytes]:
    """Contents of several blobs in one ``git cat-file --batch`` call."""
    wanted = wanted_blobs(shas)
    if not wanted:
        return {}
    raw = git(root, "cat-file", "--batch", stdin=("\n".join(wanted) + "\n").encode())
    return parse_batch(raw, wanted)


def _decode(data: bytes) -> str | None:
    """Text of a file, or None when it looks binary (a NUL in the first 8 KB)."""
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


@dataclass(frozen=True)
class CodeTarget:
    """A file, a line range or a symbol: ``text`` is the whole file, lines are 1-based."""

    kind: str  # file, range, symbol
    path: str  # POSIX, relative to the root
    text: str
    language: str
    start_line: int
    end_line: int
    scope: str = ""

    @property
    def label(self) -> str:
        """How the target is named to people and the model (the path quoted if unsafe)."""
        path = quote_path(self.path)
        if self.kind == "symbol":
            return f"{path}::{self.scope} (lines {self.start_line}-{self.end_line})"
        if self.kind == "range":
            return f"{path}:{self.start_line}-{self.end_line}"
        return path

    def snippet(self) -> str:
        lines = self.text.splitlines()
        return "\n".join(lines[self.start_line - 1 : self.end_line])


@dataclass(frozen=True)
class DirTarget:
    """Every code file under a folder (reviewed chunk by chunk)."""

    path: str
    files: tuple[str, ...]


@dataclass
class DiffTarget:
    """A set of changes. ``new_text`` gives a file's content on the new side (the index for
    ``staged``, the working tree for ``working``, the right-hand revision for ``range``)."""

    kind: str  # staged, working, range
    label: str
    root: Path
    files: list[FileDiff]
    worktree_new_side: bool = False
    git_env: dict[str, str] = field(default_factory=dict)  # GIT_INDEX_FILE for another index
    _texts: dict[str, str | None] = field(default_factory=dict, repr=False)

    def prefetch(self, paths: Sequence[str]) -> None:
        """Load the new-side content of several files at once (one git process)."""
        todo = [f for f in self.files if f.new_path in paths and f.new_path not in self._texts]
        if not todo:
            return
        if self.worktree_new_side:
            for f in todo:
                assert f.new_path is not None
                try:
                    self._texts[f.new_path] = _decode((self.root / f.new_path).read_bytes())
                except OSError:
                    self._texts[f.new_path] = None
            return
        blobs = read_blobs(self.root, [f.new_blob for f in todo])
        for f in todo:
            assert f.new_path is not None
            data = blobs.get(f.new_blob)
            self._texts[f.new_path] = None if data is None else _decode(data)

    def new_text(self, path: str) -> str | None:
        """New-side content of ``path``; None for deleted or binary files."""
        if path not in self._texts:
            self.prefetch([path])
        return self._texts.get(path)


def _relative(root: Path, cwd: Path, raw: str) -> tuple[Path, str]:
    full = (cwd / raw).resolve()
    try:
        rel = full.relative_to(root).as_posix()
    except ValueError:
        raise UsageError(
            f"{raw} is outside the project at {root}", "give a path inside the project"
        ) from None
    return full, rel


def _read_file(full: Path, raw: str) -> str:
    try:
        data = full.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {raw}", "check the path (relative to here)") from None
    except OSError as exc:
        raise UsageError(f"cannot read {raw} ({exc.strerror})", "check its permissions") from exc
    text = _decode(data)
    if text is None:
        raise UsageError(f"{raw} is a binary file", "review a source file")
    return text


def _file_target(root: Path, cwd: Path, raw: str, start: int, end: int | None) -> CodeTarget:
    full, rel = _relative(root, cwd, raw)
    text = _read_file(full, raw)
    n = max(1, len(text.splitlines()))
    if end is None and start == 0:
        return CodeTarget("file", rel, text, language_for(rel), 1, n)
    last = start if end is None else end
    if start < 1 or last < start:
        raise UsageError(
            f"bad line range {start}-{last} in {raw}", "write PATH:START-END with 1 <= START <= END"
        )
    if start > n or last > n:
        raise UsageError(
            f"line range {start}-{last} is past the end of {raw} ({n} lines)",
            f"use lines 1-{n}",
        )
    return CodeTarget("range", rel, text, language_for(rel), start, last)


def _symbol_target(
    root: Path, cwd: Path, raw_path: str, scope: str, index: SymbolFinder | None
) -> CodeTarget:
    full, rel = _relative(root, cwd, raw_path)
    text = _read_file(full, raw_path)
    language = language_for(rel)
    symbols: list[Symbol]
    found: Symbol | None = None
    if index is not None:
        found = index.find_symbol(rel, scope)
    if found is None:
        from gemmacode.index.tags import extract_tags

        symbols = extract_tags(text, language, rel)[0] if language != "text" else []
        found = next((s for s in symbols if s.scope == scope), None)
        if found is None:
            close = difflib.get_close_matches(scope, [s.scope for s in symbols], n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "list them: gemmacode map"
            raise UsageError(f"no symbol '{scope}' in {rel}", hint)
    return CodeTarget(
        "symbol", rel, text, language, found.start_line, found.end_line, scope=found.scope
    )


def _dir_target(root: Path, cwd: Path, raw: str, in_git: bool) -> DirTarget:
    full, rel = _relative(root, cwd, raw)
    if in_git:
        out = git(root, "ls-files", "-co", "--exclude-standard", "-z", "--", rel or ".")
        names = [n for n in out.decode("utf-8", "replace").split("\0") if n]
    else:
        names = [p.relative_to(root).as_posix() for p in full.rglob("*") if p.is_file()]
    files = tuple(sorted(n for n in names if language_for(n) != "text"))
    if not files:
        raise UsageError(f"no source files under {raw}", "give a folder with code in it")
    return DirTarget(rel or ".", files)


def _diff_target(root: Path, kind: str, spec: str, index_file: Path | None = None) -> DiffTarget:
    if kind == "staged":
        env = {"GIT_INDEX_FILE": str(index_file)} if index_file is not None else {}
        raw = git(root, "diff", "--cached", *DIFF_ARGS, env_extra=env)
        return DiffTarget("staged", "staged changes", root, parse_diff(_text(raw)), git_env=env)
    if kind == "working":
        raw = _worktree_diff(root)
        return DiffTarget(
            "working", "working-tree changes", root, parse_diff(_text(raw)), worktree_new_side=True
        )
    sep = "..." if "..." in spec else (".." if ".." in spec else "")
    left, right = spec.split(sep, 1) if sep else (spec, "")
    for rev in (left or "HEAD", right or "HEAD"):
        _check_revision(root, rev)
    raw = git(root, "diff", *DIFF_ARGS, spec, "--") if sep else _worktree_diff(root, left, "--")
    return DiffTarget("range", spec, root, parse_diff(_text(raw)), worktree_new_side=not sep)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _check_revision(root: Path, rev: str) -> None:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise UsageError(
            f"unknown revision '{rev}'", "use a branch, tag or commit (see git log --oneline)"
        )


def resolve_target(
    spec: str | None,
    *,
    cwd: Path,
    staged: bool = False,
    working: bool = False,
    diff: str | None = None,
    index: SymbolFinder | None = None,
    git_root: Path | None = None,
    index_file: Path | None = None,
) -> CodeTarget | DirTarget | DiffTarget:
    """Turn the review command line into a target.

    ``spec`` is ``PATH``, ``PATH:START-END``, ``PATH:LINE``, ``PATH::Scope.name`` or a folder;
    ``staged``, ``working`` and ``diff`` ask for changes instead. ``index`` (a RepoIndex) is
    used to find symbols when given; otherwise the file's own tags are read. ``git_root`` is
    the work-tree root of ``cwd`` when the caller has already asked git (saves a git call).
    ``index_file`` (absolute) is the index ``staged`` reads instead of the repository's: a
    commit hook's ``GIT_INDEX_FILE`` under ``git commit -a`` or ``git commit PATH``.
    """
    modes = [m for m, on in (("--staged", staged), ("--working", working), ("--diff", diff)) if on]
    if len(modes) > 1 or (modes and spec):
        given = modes + ([spec] if spec else [])
        raise UsageError(
            f"review takes one target, got {' and '.join(str(g) for g in given)}",
            "give a path or one of --staged, --working, --diff",
        )
    cwd = cwd.resolve()
    if modes or spec is None:
        root = git_root or repo_root(cwd)
        if diff is not None:
            if not diff.strip():
                raise UsageError("--diff needs a revision range", "e.g. --diff main...HEAD")
            return _diff_target(root, "range", diff.strip())
        return _diff_target(root, "working" if working else "staged", "", index_file)
    try:
        root = repo_root(cwd)
        in_git = True
    except NotARepositoryError:
        root, in_git = cwd, False
    if "::" in spec:
        path, scope = spec.split("::", 1)
        if not path or not scope:
            raise UsageError(f"bad symbol target '{spec}'", "write PATH::Class.method")
        return _symbol_target(root, cwd, path, scope, index)
    full = (cwd / spec).resolve()
    if full.is_dir():
        return _dir_target(root, cwd, spec, in_git)
    m = _RANGE.match(spec)
    if m and not full.exists():
        end = int(m["end"]) if m["end"] is not None else None
        return _file_target(root, cwd, m["path"], int(m["start"]), end)
    return _file_target(root, cwd, spec, 0, None)
