"""The real program in a real terminal: ``gemmacode tui`` in tmux on a fixture repository with
the embedded model (smollm2), driven by keys and read back with ``capture-pane``.

It checks what a user sees: the status bar shows the context size, a review's answer streams
(the text grows while the request runs), Esc cancels it and keeps the text, and the UI then
quits cleanly; the same again with GNU screen between tmux and the UI (skipped without
screen). Waits poll the screen with generous deadlines: on a shared 2-core machine the
first token of a review can take half a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from tests.tui.tmux_screen import TmuxScreen, tmux_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not tmux_available(), reason="tmux 3.2 or newer is not installed"),
]

CALC = "def div(a, b):\n    return a / b\n"
CHANGE = CALC + "\n\ndef avg(xs):\n    return sum(xs) / len(xs)\n"
PROMPT_ROW = "› /review calc.py"


def answer_text(screen: str) -> str:
    """The conversation pane's text below the request line (box borders stripped)."""
    lines = screen.splitlines()
    start = next((i for i, line in enumerate(lines) if PROMPT_ROW in line), None)
    if start is None:
        return ""
    out = []
    for line in lines[start + 1 :]:
        if "╰" in line:
            break
        cells = line.split("│")
        out.append(cells[-2].strip() if len(cells) >= 3 else "")
    return "\n".join(x for x in out if x)


@pytest.mark.parametrize("inside", ["tmux", "screen"])
def test_a_review_streams_shows_the_context_size_and_esc_cancels(
    git_repo: Path, tmp_path: Path, inside: str
) -> None:
    (git_repo / "calc.py").write_text(CALC)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "init")
    (git_repo / "calc.py").write_text(CHANGE)
    command = [sys.executable, "-m", "gemmacode", "tui", "--backend", "embedded"]
    command += ["--model", "smollm2"]
    # A bounded answer, so a missed Esc cannot keep the model busy for long.
    env = {"GEMMACODE_SAMPLING_NUM_PREDICT": "400"}
    if inside == "screen":  # GNU screen in the tmux pane, the UI inside screen
        if shutil.which("screen") is None:
            pytest.skip("GNU screen is not installed")
        sockets = tmp_path / "screen"
        sockets.mkdir(mode=0o700)
        rc = tmp_path / "screenrc"
        rc.write_text("defutf8 on\nterm screen-256color\nstartup_message off\n")
        env["SCREENDIR"] = str(sockets)
        command = ["screen", "-U", "-c", str(rc), "-S", "gemmacode-test", *command]
    try:
        with TmuxScreen(command, cwd=git_repo, env=env, width=120, height=32) as term:
            term.wait_for("calc.py", 90)  # the tree: the app is up
            term.send("/review calc.py", literal=True)
            term.send("Enter")
            first = term.wait_for(re.compile(r"ctx \d{3,}"), 180).splitlines()[0]
            assert re.search(r"ctx \d{3,}", first), first  # in the status bar, the top line
            term.wait_for(lambda s: len(answer_text(s)) > 0, 120)
            _stream_cancel_and_quit(term)
    finally:  # screen outlives its tmux pane, detached, if the app did not quit
        if inside == "screen":
            quit_screen = ["screen", "-S", "gemmacode-test", "-X", "quit"]
            subprocess.run(quit_screen, env={**os.environ, **env}, capture_output=True)


def _stream_cancel_and_quit(term: TmuxScreen) -> None:
    seen = answer_text(term.screen())
    grown = term.wait_for(lambda s: len(answer_text(s)) > len(seen), 120)
    assert answer_text(grown).startswith(seen[:20])  # the same answer, longer: streaming
    term.send("Escape")
    cancelled = term.wait_for("cancelled", 60)
    assert answer_text(cancelled).startswith(seen[:20])  # the text so far stays
    # Nothing is running any more: the status bar's second line no longer says which
    # request is under way (notices may still cover the pane's bottom lines).
    term.wait_for(lambda s: "request 1/" not in s.splitlines()[1], 30)
    assert answer_text(term.screen()).startswith(seen[:20])
    term.send("/quit", literal=True)
    term.send("Enter")
    status = term.wait_exit(30)
    assert status == 0, f"exit status {status}"
