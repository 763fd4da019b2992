"""install / uninstall / status on real repositories: where the shim goes, what it keeps."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gemmacode.errors import UsageError
from gemmacode.hook.gitio import hook_context
from gemmacode.hook.install import install, status, uninstall
from gemmacode.hook.shim import MARKER, shim_python, shim_text
from tests.conftest import git
from tests.hook.conftest import commit_all

PY = sys.executable


def _ctx(path: Path):  # type: ignore[no-untyped-def]
    return hook_context(path, {k: v for k, v in os.environ.items() if not k.startswith("GIT_")})


def test_install_writes_an_lf_shim_with_the_absolute_interpreter(git_repo: Path) -> None:
    lines = install(_ctx(git_repo), "pre-commit")
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    data = hook.read_bytes()
    assert b"\r" not in data and data.startswith(b"#!/bin/sh\n")
    assert MARKER.encode() in data
    assert shim_python(data) == PY and os.path.isabs(PY)
    assert stat.S_IMODE(hook.stat().st_mode) & 0o111
    assert f"installed the pre-commit hook at {hook}" in lines
    assert subprocess.run(["sh", "-n", str(hook)]).returncode == 0
    again = install(_ctx(git_repo), "pre-commit")  # idempotent
    assert again[0].startswith("updated the pre-commit hook")
    assert not (git_repo / ".git" / "hooks" / "pre-commit.gemmacode-chained").exists()


def test_shim_quotes_an_interpreter_path_with_spaces_and_quotes() -> None:
    odd = "/opt/my tools/it's/python3"
    text = shim_text(odd, "pre-push")
    assert shim_python(text.encode()) == odd
    assert subprocess.run(["sh", "-n", "-c", text]).returncode == 0


def test_existing_hook_is_chained_and_uninstall_restores_it_byte_for_byte(git_repo: Path) -> None:
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    original = b"#!/bin/sh\r\n# a team's own check, CRLF and all\r\nexit 0\r\n\xff"
    hook.write_bytes(original)
    os.chmod(hook, 0o750)
    lines = install(_ctx(git_repo), "pre-commit")
    chained = hook.with_name("pre-commit.gemmacode-chained")
    assert any("kept the existing pre-commit hook" in line for line in lines)
    assert chained.read_bytes() == original
    assert MARKER.encode() in hook.read_bytes()
    install(_ctx(git_repo), "pre-commit")  # reinstalling keeps the chain as it is
    assert chained.read_bytes() == original
    uninstall(_ctx(git_repo), "pre-commit")
    assert hook.read_bytes() == original
    assert stat.S_IMODE(hook.stat().st_mode) == 0o750
    assert not chained.exists()


def test_uninstall_without_a_previous_hook_removes_the_shim(git_repo: Path) -> None:
    install(_ctx(git_repo), "pre-commit")
    uninstall(_ctx(git_repo), "pre-commit")
    assert not (git_repo / ".git" / "hooks" / "pre-commit").exists()
    assert "no gemmacode pre-commit hook" in uninstall(_ctx(git_repo), "pre-commit")[0]


def test_uninstall_leaves_a_hook_that_is_not_gemmacodes(git_repo: Path) -> None:
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    assert "not gemmacode's" in uninstall(_ctx(git_repo), "pre-commit")[0]
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"


def test_a_leftover_chained_file_is_never_overwritten(git_repo: Path) -> None:
    hooks = git_repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit.gemmacode-chained").write_text("precious\n")
    with pytest.raises(UsageError, match="in the way"):
        install(_ctx(git_repo), "pre-commit")
    assert (hooks / "pre-commit.gemmacode-chained").read_text() == "precious\n"


def test_core_hooks_path_of_another_tool_gets_the_line_not_a_file(git_repo: Path) -> None:
    (git_repo / ".githooks").mkdir()
    git(git_repo, "config", "core.hooksPath", ".githooks")
    lines = install(_ctx(git_repo), "pre-commit")
    assert "core.hooksPath points at a folder another tool manages" in lines[0]
    assert f"'{PY}' -m gemmacode.hook run pre-commit" in lines[1]
    assert not (git_repo / ".githooks" / "pre-commit").exists()
    install(_ctx(git_repo), "pre-commit", force=True)
    assert MARKER in (git_repo / ".githooks" / "pre-commit").read_text()
    assert "core.hooksPath = .githooks" in status(_ctx(git_repo))[0]


def test_husky_and_lefthook_get_their_configuration_line(git_repo: Path) -> None:
    (git_repo / ".husky" / "_").mkdir(parents=True)
    git(git_repo, "config", "core.hooksPath", ".husky/_")
    lines = install(_ctx(git_repo), "pre-commit")
    assert lines[0] == "husky manages the pre-commit hook: add this line to .husky/pre-commit"
    git(git_repo, "config", "--unset", "core.hooksPath")
    (git_repo / "lefthook.yml").write_text("pre-commit:\n  commands: {}\n")
    lines = install(_ctx(git_repo), "pre-commit")
    assert lines[0].startswith("lefthook manages the pre-commit hook")
    assert any(line.strip().startswith("run: ") for line in lines)
    assert not (git_repo / ".git" / "hooks" / "pre-commit").exists()


def test_worktree_installs_where_git_runs_its_hooks(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "a.py").write_text("a = 1\n")
    commit_all(git_repo)
    wt = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", str(wt), "-b", "side")
    install(_ctx(wt), "pre-commit")
    assert MARKER in (git_repo / ".git" / "hooks" / "pre-commit").read_text()
    assert f"hooks folder: {git_repo / '.git' / 'hooks'}" == status(_ctx(wt))[0]


def test_submodule_installs_in_its_own_git_folder(git_repo: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    (lib / "l.py").write_text("l = 1\n")
    git(lib, "add", "-A")
    git(lib, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-q", "-m", "lib")
    git(git_repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    install(_ctx(git_repo / "lib"), "pre-commit")
    hook = git_repo / ".git" / "modules" / "lib" / "hooks" / "pre-commit"
    assert MARKER in hook.read_text()
    assert not (git_repo / ".git" / "hooks" / "pre-commit").exists()


def test_status_says_what_is_installed_where_and_with_which_interpreter(git_repo: Path) -> None:
    hooks = git_repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(hooks / "pre-commit", 0o755)
    before = status(_ctx(git_repo))
    assert "pre-commit: not installed (another pre-commit hook is there" in before[1]
    install(_ctx(git_repo), "pre-commit")
    install(_ctx(git_repo), "pre-push")
    lines = status(_ctx(git_repo))
    assert lines[1] == f"pre-commit: installed at {hooks / 'pre-commit'}"
    assert "runs first: the hook that was there before" in lines[2]
    assert lines[3].startswith(f"  interpreter: {PY} (gemmacode ")
    assert lines[4] == f"pre-push: installed at {hooks / 'pre-push'}"
    shim = (hooks / "pre-push").read_text().replace(PY, "/nowhere/python")
    (hooks / "pre-push").write_text(shim)
    assert "missing: run `gemmacode hook install` again" in status(_ctx(git_repo))[-1]
