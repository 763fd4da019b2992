"""The hook's read-only view of git: where it runs, which index, and what one command says.

Git runs a pre-commit hook in the work-tree root with ``GIT_INDEX_FILE`` naming the index the
commit is made from: ``.git/index`` for a plain commit, a temporary ``index.lock`` or
``next-index-*.lock`` for ``git commit -a``, ``git commit PATH`` and ``git commit -p``. The
name may be relative, so :func:`hook_context` makes it absolute at once, before anything
changes folder; every git call here then passes it explicitly. Reading ``.git/index``
instead would review the wrong content.

Every command here only reads: ``GIT_OPTIONAL_LOCKS=0`` (no stat-cache refresh written back,
so the index is never locked or rewritten), no pager, no colour, no external diff or text
conversion, C locale, paths taken literally. The environment is passed in, never read from
the process globally, so tests say exactly what git sees.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gemmacode.errors import NotARepositoryError, UsageError
from gemmacode.index.catfile import parse_batch, wanted_blobs

NULL_SHA = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# Flags that make git's output the same whatever the user's configuration says.
_FIXED = ("-c", "core.quotepath=false", "-c", "color.ui=never", "-c", "diff.noprefix=false")


@dataclass(frozen=True)
class HookGit:
    """One repository as the hook sees it: its work-tree root, the index to read (``None``:
    git's own) and the environment git commands run with."""

    root: Path
    index_file: Path | None
    env: Mapping[str, str]

    def command(self, *args: str) -> tuple[list[str], dict[str, str]]:
        env = dict(self.env)
        env.update(
            {
                "GIT_OPTIONAL_LOCKS": "0",
                "GIT_PAGER": "cat",
                "LC_ALL": "C",
                "GIT_LITERAL_PATHSPECS": "1",
            }
        )
        env.pop("GIT_EXTERNAL_DIFF", None)
        if self.index_file is not None:
            env["GIT_INDEX_FILE"] = str(self.index_file)
        return ["git", "-C", str(self.root), *_FIXED, *args], env

    def run(self, *args: str, stdin: bytes | None = None, ok: Sequence[int] = (0,)) -> bytes:
        """Run one read-only git command; an exit status outside ``ok`` is a one-line
        UsageError naming the command."""
        cmd, env = self.command(*args)
        try:
            out = subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=False)
        except OSError as exc:
            raise NotARepositoryError(f"cannot run git ({exc.strerror})", "install git") from exc
        if out.returncode not in ok:
            lines = out.stderr.decode("utf-8", "replace").strip().splitlines()
            first = lines[0] if lines else f"exit {out.returncode}"
            raise UsageError(f"git {args[0]} failed: {first}", "check the repository's state")
        return out.stdout

    def start(self, *args: str) -> Callable[[], bytes]:
        """Start one read-only git command now; the function returned waits for its output
        (with :meth:`run`'s errors). The hook lists the change while Python loads settings."""
        cmd, env = self.command(*args)
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            raise NotARepositoryError(f"cannot run git ({exc.strerror})", "install git") from exc

        def result() -> bytes:
            out, err = proc.communicate()
            if proc.returncode != 0:
                lines = err.decode("utf-8", "replace").strip().splitlines()
                first = lines[0] if lines else f"exit {proc.returncode}"
                raise UsageError(f"git {args[0]} failed: {first}", "check the repository's state")
            return out

        return result

    def text(self, *args: str) -> str:
        return self.run(*args).decode("utf-8", "replace").strip()

    def git_path(self, name: str) -> Path:
        """``git rev-parse --git-path NAME``, absolute (honours worktrees and core.hooksPath)."""
        path = Path(self.text("rev-parse", "--git-path", name))
        return path if path.is_absolute() else self.root / path

    def verify(self, rev: str) -> str | None:
        """The full object name of ``rev`` (a commit), or None when there is none (no HEAD)."""
        out = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", ok=(0, 1, 128))
        sha = out.decode().strip()
        return sha or None

    def read_blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """Contents of several blobs in one ``git cat-file --batch`` call."""
        wanted = wanted_blobs(shas)
        if not wanted:
            return {}
        raw = self.run("cat-file", "--batch", stdin=("\n".join(wanted) + "\n").encode())
        return parse_batch(raw, wanted)


def absolute_index(env: Mapping[str, str], cwd: Path) -> Path | None:
    """``GIT_INDEX_FILE`` made absolute against ``cwd`` (the folder git started the hook in),
    or None when it is not set."""
    raw = env.get("GIT_INDEX_FILE", "")
    if not raw:
        return None
    path = Path(raw)
    return path if path.is_absolute() else (cwd / path).absolute()


def work_tree_root(cwd: Path, env: Mapping[str, str]) -> Path:
    """The work-tree root of ``cwd``; NotARepositoryError outside a work tree."""
    env2 = {**env, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        out = subprocess.run(
            ["git", "-C", str(cwd), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            env=env2,
            check=False,
        )
    except OSError as exc:
        raise NotARepositoryError(f"cannot run git ({exc.strerror})", "install git") from exc
    if out.returncode != 0 or not out.stdout.strip():
        raise NotARepositoryError(
            f"{cwd} is not inside a git work tree", "run this inside a repository (or git init)"
        )
    return Path(out.stdout.strip())


def hook_context(cwd: Path | None = None, env: Mapping[str, str] | None = None) -> HookGit:
    """The repository a hook (or a hook command) runs in, with the index git named made
    absolute before anything else happens."""
    env = dict(os.environ if env is None else env)
    cwd = cwd or Path.cwd()
    index_file = absolute_index(env, cwd)
    env.pop("GIT_INDEX_FILE", None)  # passed explicitly, absolute, by HookGit.command
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"):
        if env.get(var) and not Path(env[var]).is_absolute():  # git -C would move them
            env[var] = str((cwd / env[var]).absolute())
    return HookGit(work_tree_root(cwd, env), index_file, env)
