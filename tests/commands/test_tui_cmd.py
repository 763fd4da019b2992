"""`gemmacode tui` and `gemmacode` with no command: the UI on a terminal, the command list
when piped, one clear line for a bad path, and no textual import until the UI runs."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from gemmacode import cli

ROOT = Path(__file__).resolve().parents[2]


def test_no_command_on_a_terminal_opens_the_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmacode.commands import tui_cmd

    ran: list[argparse.Namespace] = []
    monkeypatch.setattr(cli, "_on_terminal", lambda: True)
    monkeypatch.setattr(tui_cmd, "run", lambda args: ran.append(args) or 0)
    assert cli.main([]) == 0
    assert len(ran) == 1 and ran[0].path is None and not ran[0].no_mouse


def test_no_command_piped_prints_the_command_list() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gemmacode"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.PIPE,
    )
    assert out.returncode == 0
    assert "tui" in out.stdout and "review" in out.stdout


def test_tui_help_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from gemmacode.cli import main\n"
        "try:\n    main(['tui', '--help'])\nexcept SystemExit:\n    pass\n"
        "raise SystemExit(1 if 'textual' in sys.modules else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "--no-mouse" in out.stdout


def test_bad_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tui", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err


def test_bad_theme_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMMACODE_TUI_THEME", "neon")
    assert cli.main(["tui", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tui.theme" in err and "textual-light" in err


def test_unknown_key_id_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMMACODE_TUI_KEYS", "reveiw=f5")
    assert cli.main(["tui", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown action 'reveiw'" in err


def test_no_mouse_flag_reaches_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.app import App

    seen: list[bool] = []
    monkeypatch.delenv("STY", raising=False)  # not inside GNU screen (see the next test)
    monkeypatch.setattr(App, "run", lambda self, mouse=True, **kw: seen.append(mouse))
    assert cli.main(["tui", str(tmp_path), "--no-mouse"]) == 0
    assert cli.main(["tui", str(tmp_path)]) == 0
    monkeypatch.setenv("GEMMACODE_TUI_MOUSE", "false")
    assert cli.main(["tui", str(tmp_path)]) == 0
    assert seen == [False, True, False]


def test_inside_gnu_screen_the_mouse_is_off_unless_the_user_turned_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GNU screen holds a lone Esc back while the app reads the mouse (its SGR mouse mode):
    Esc would not cancel. Inside screen (STY set) the mouse is off by default, with a hint;
    a config file or variable that sets tui.mouse wins."""
    from textual.app import App

    from gemmacode.config import PROJECT_FILE

    seen: list[tuple[bool, str]] = []
    monkeypatch.setattr(App, "run", lambda self, mouse=True, **kw: seen.append((mouse, self.hint)))
    monkeypatch.setenv("STY", "1234.pts-0.host")
    assert cli.main(["tui", str(tmp_path)]) == 0
    monkeypatch.setenv("GEMMACODE_TUI_MOUSE", "true")
    assert cli.main(["tui", str(tmp_path)]) == 0
    monkeypatch.delenv("GEMMACODE_TUI_MOUSE")
    (tmp_path / PROJECT_FILE).write_text("[tui]\nmouse = true\n")
    assert cli.main(["tui", str(tmp_path)]) == 0
    assert seen[0][0] is False and "GNU screen" in seen[0][1] and "tui.mouse" in seen[0][1]
    assert seen[1:] == [(True, ""), (True, "")]


CHILD = """
import os, sys
from pathlib import Path
from gemmacode.backends.embedded import _quiet_stderr
from gemmacode.commands.tui_cmd import own_terminal_descriptor

def ui(text):
    sys.__stderr__.write(text + "\\n")
    sys.__stderr__.flush()

with own_terminal_descriptor(Path(sys.argv[1])):
    ui("UI-BEFORE")
    os.write(2, b"NOTE-FROM-C\\n")  # what llama.cpp or CUDA print, unasked
    with _quiet_stderr():  # a model loading
        ui("UI-WHILE-LOADING")
    ui("UI-AFTER")
os.write(2, b"STDERR-AGAIN\\n")
"""


def test_the_ui_draws_on_its_own_descriptor_and_fd2_goes_to_a_private_log(
    tmp_path: Path,
) -> None:
    """On a real terminal (a pty): the UI's output reaches it even while a model load silences
    fd 2, what C code prints on fd 2 goes to the 0600 log instead of the screen, and fd 2 is
    the terminal again once the UI has gone."""
    import os
    import pty

    log = tmp_path / "cache" / "tui-stderr.log"
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(log)],
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child has gone and closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert child.wait(30) == 0
    text = screen.decode()
    assert "UI-BEFORE" in text and "UI-WHILE-LOADING" in text and "UI-AFTER" in text
    assert "NOTE-FROM-C" not in text and "STDERR-AGAIN" in text
    assert "NOTE-FROM-C" in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.parent.stat().st_mode & 0o777 == 0o700


def test_python_dash_m_ignores_packages_in_the_reviewed_folder(git_repo: Path) -> None:
    """``python -m gemmacode`` puts the current folder first on sys.path; a repository that
    holds a folder named like a dependency (GitPython's own has ``git/``) must not replace it."""
    from tests.conftest import git

    for name in ("tree_sitter", "git"):
        (git_repo / name).mkdir()
        (git_repo / name / "__init__.py").write_text(f"raise SystemExit('shadowed {name}')\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "init")
    out = subprocess.run(
        [sys.executable, "-m", "gemmacode", "index"],
        cwd=git_repo,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "shadowed" not in out.stdout + out.stderr
