"""``gemmacode hook install``, ``uninstall`` and ``status``: put the shim where git runs it,
keep what was there, and put it back exactly.

Where: the folder ``git rev-parse --git-path hooks`` names, which follows ``core.hooksPath``,
worktrees (their hooks are the main repository's) and submodules (their git folder lives in
the superproject's ``.git/modules``).

Never overwritten, never written into someone else's folder:

- an existing hook is renamed to ``<hook>.gemmacode-chained`` (a rename keeps every byte,
  the mode and a symbolic link as it was) and the shim runs it first;
- when husky or lefthook owns the hooks (they rewrite them on their next install), or
  ``core.hooksPath`` points at a folder another tool manages, nothing is written: the line
  to add to that tool's configuration is printed instead (``--force`` installs into a
  ``core.hooksPath`` folder anyway, still chaining what is there);
- ``uninstall`` removes the shim only if it is gemmacode's, and renames the chained hook
  back, byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gemmacode.errors import UsageError
from gemmacode.hook.gitio import HookGit
from gemmacode.hook.shim import CHAINED_SUFFIX, command_line, is_shim, shim_python, shim_text

STAGES = ("pre-commit", "pre-push")


@dataclass(frozen=True)
class Owner:
    """Who manages the hooks folder, when it is not plain git."""

    tool: str  # husky, lefthook, core.hooksPath
    where: str  # the file or setting to edit


def hooks_dir(git: HookGit) -> Path:
    return git.git_path("hooks")


def hooks_path_setting(git: HookGit) -> str:
    out = git.run("config", "--get", "core.hooksPath", ok=(0, 1))
    return out.decode("utf-8", "replace").strip()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def owner(git: HookGit, stage: str) -> Owner | None:
    """husky, lefthook or another tool's ``core.hooksPath`` (None: plain git hooks)."""
    folder = hooks_dir(git)
    setting = hooks_path_setting(git)
    existing = _read(folder / stage) or b""
    husky = ".husky" in setting or (folder / "husky.sh").exists() or b"husky" in existing
    if husky:
        return Owner("husky", f".husky/{stage}")
    root = git.root
    lefthook = any((root / n).exists() for n in ("lefthook.yml", ".lefthook.yml"))
    if b"lefthook" in existing or (lefthook and not is_shim(existing)):
        return Owner("lefthook", "lefthook.yml")
    if setting:
        return Owner("core.hooksPath", f"{folder}/{stage}")
    return None


def _advice(found: Owner, python: str, stage: str) -> list[str]:
    line = command_line(python, stage)
    if found.tool == "lefthook":
        return [
            f"lefthook manages the {stage} hook: add this to lefthook.yml instead",
            f"  {stage}:",
            "    commands:",
            "      gemmacode:",
            f"        run: {line}",
        ]
    if found.tool == "husky":
        return [f"husky manages the {stage} hook: add this line to {found.where}", f"  {line}"]
    return [
        f"core.hooksPath points at a folder another tool manages: add this line to {found.where}",
        f"  {line}",
        "(or run `gemmacode hook install --force` to install gemmacode's shim there)",
    ]


def install(
    git: HookGit, stage: str, *, python: str | None = None, force: bool = False
) -> list[str]:
    """Install the shim for ``stage``; the lines to print."""
    python = python or sys.executable
    if not python:
        raise UsageError(
            "cannot tell which Python runs gemmacode", "run it as `python -m gemmacode`"
        )
    found = owner(git, stage)
    if found is not None and not (force and found.tool == "core.hooksPath"):
        return _advice(found, python, stage)
    folder = hooks_dir(git)
    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / stage
    chained = folder / f"{stage}{CHAINED_SUFFIX}"
    existing = _read(hook)
    lines: list[str] = []
    if existing is not None and is_shim(existing):
        lines.append(f"updated the {stage} hook at {hook}")
    elif hook.exists() or hook.is_symlink():
        if chained.exists() or chained.is_symlink():
            raise UsageError(
                f"{chained} is in the way of keeping the existing {stage} hook",
                "move it aside, then run `gemmacode hook install` again",
            )
        os.rename(hook, chained)
        lines.append(f"kept the existing {stage} hook: it runs first, as {chained.name}")
        lines.append(f"installed the {stage} hook at {hook}")
    else:
        lines.append(f"installed the {stage} hook at {hook}")
    _write_shim(hook, shim_text(python, stage), mode_from=chained)
    lines.append(f"it runs {python} -m gemmacode.hook run {stage}")
    return lines


def _write_shim(hook: Path, text: str, *, mode_from: Path) -> None:
    tmp = hook.with_name(f".{hook.name}.gemmacode-tmp")
    with open(tmp, "wb") as fh:  # bytes: LF line endings on every platform
        fh.write(text.encode("utf-8"))
    mode = 0o755
    try:
        if mode_from.exists():
            mode = (mode_from.stat().st_mode & 0o777) | 0o111
    except OSError:
        pass
    os.chmod(tmp, mode)
    os.replace(tmp, hook)


def uninstall(git: HookGit, stage: str) -> list[str]:
    """Remove the shim and put back what was there; the lines to print."""
    folder = hooks_dir(git)
    hook = folder / stage
    chained = folder / f"{stage}{CHAINED_SUFFIX}"
    existing = _read(hook)
    if existing is not None and not is_shim(existing):
        return [f"the {stage} hook at {hook} is not gemmacode's: left as it is"]
    lines: list[str] = []
    if existing is not None:
        hook.unlink()
        lines.append(f"removed gemmacode's {stage} hook from {hook}")
    if chained.exists() or chained.is_symlink():
        os.rename(chained, hook)
        lines.append(f"put back the {stage} hook that was there before")
    if not lines:
        lines.append(f"no gemmacode {stage} hook is installed in {folder}")
    return lines


def _interpreter(python: str) -> str:
    if not os.access(python, os.X_OK):
        return f"{python} (missing: run `gemmacode hook install` again)"
    try:
        out = subprocess.run(
            [python, "-c", "import gemmacode; print(gemmacode.__version__)"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return f"{python} (cannot be run)"
    if out.returncode != 0:
        return f"{python} (cannot import gemmacode: run `gemmacode hook install` again)"
    return f"{python} (gemmacode {out.stdout.strip()})"


def status(git: HookGit) -> list[str]:
    """What is installed, where, and which interpreter it uses."""
    folder = hooks_dir(git)
    setting = hooks_path_setting(git)
    lines = [f"hooks folder: {folder}" + (f" (core.hooksPath = {setting})" if setting else "")]
    for stage in STAGES:
        hook = folder / stage
        data = _read(hook)
        chained = folder / f"{stage}{CHAINED_SUFFIX}"
        if data is not None and is_shim(data):
            lines.append(f"{stage}: installed at {hook}")
            if chained.exists() or chained.is_symlink():
                lines.append(f"  runs first: the hook that was there before ({chained.name})")
            python = shim_python(data)
            lines.append(f"  interpreter: {_interpreter(python) if python else 'unknown'}")
            continue
        found = owner(git, stage)
        if data is not None and found is None:
            lines.append(f"{stage}: not installed (another {stage} hook is there: {hook})")
        elif found is not None:
            lines.append(f"{stage}: not installed here ({found.tool} manages it: {found.where})")
        else:
            lines.append(f"{stage}: not installed")
    config = git.root / ".pre-commit-config.yaml"
    text = _read(config)
    if text is not None and b"gemmacode" in text:
        lines.append(f"pre-commit framework: {config.name} runs gemmacode")
    return lines
