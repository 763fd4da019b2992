"""Clipboard: the exact bytes of each route, the decision, the file fallback, and what a real
tmux does with them (its paste buffer, its passthrough to an outer terminal)."""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gemmacode.review.findings.model import Finding
from gemmacode.tui.clipboard import (
    FILE_NAME,
    MAX_SEQUENCE_BYTES,
    SCREEN_CHUNK,
    code_blocks,
    copy,
    finding_text,
    osc52,
    plan,
    save_to_file,
    screen_passthrough,
    tmux_passthrough,
)

TEXT = "héllo\n  x = 1\n"


def options(**values: str) -> Callable[[str], str | None]:
    return lambda name: values.get(name.replace("-", "_"))


def test_osc52_is_base64_of_utf8_between_the_osc_and_bel() -> None:
    assert osc52("hi") == "\x1b]52;c;aGk=\x07"
    seq = osc52(TEXT)
    assert seq.startswith("\x1b]52;c;") and seq.endswith("\x07")
    assert base64.b64decode(seq[7:-1]).decode() == TEXT


def test_tmux_wrapping_doubles_every_inner_escape() -> None:
    assert tmux_passthrough("\x1b]52;c;aGk=\x07") == "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"
    assert tmux_passthrough("a\x1bb\x1bc") == "\x1bPtmux;a\x1b\x1bb\x1b\x1bc\x1b\\"


def test_screen_wrapping_cuts_into_pieces_screen_accepts() -> None:
    seq = osc52("y" * 3000)
    wrapped = screen_passthrough(seq)
    pieces = wrapped.split("\x1b\\")[:-1]
    assert all(p.startswith("\x1bP") and len(p) + 2 <= 768 for p in pieces)
    assert len(pieces) == -(-len(seq) // SCREEN_CHUNK)
    assert "".join(p[2:] for p in pieces) == seq


def test_the_route_follows_the_multiplexer_and_its_options() -> None:
    raw = osc52(TEXT)
    assert plan(TEXT, {}, options()) == ("osc52", raw, "")
    tmux = {"TMUX": "/tmp/tmux-0/default,1,0"}
    assert plan(TEXT, tmux, options(set_clipboard="on")) == ("osc52-tmux-buffer", raw, "")
    route, seq, _ = plan(TEXT, tmux, options(set_clipboard="external", allow_passthrough="on"))
    assert (route, seq) == ("osc52-tmux-passthrough", tmux_passthrough(raw))
    route, seq, why = plan(TEXT, tmux, options(set_clipboard="external", allow_passthrough="off"))
    assert (route, seq) == ("file", "") and "set-clipboard on" in why
    assert plan(TEXT, tmux, options())[0] == "file"  # tmux before 3.3 knows no passthrough
    route, seq, _ = plan(TEXT, {"STY": "123.pts-0"}, options())
    assert (route, seq) == ("osc52-screen", screen_passthrough(raw))


def test_text_over_the_limit_goes_to_the_file() -> None:
    big = "z" * (MAX_SEQUENCE_BYTES * 3 // 4)
    route, _, why = plan(big, {}, options())
    assert route == "file" and "too large" in why
    assert plan("z" * (MAX_SEQUENCE_BYTES // 2), {}, options())[0] == "osc52"


def test_copy_writes_the_sequence_saves_the_file_and_says_so(tmp_path: Path) -> None:
    written: list[str] = []
    result = copy(TEXT, written.append, env={}, tmux_option=options(), folder=tmp_path)
    assert written == [osc52(TEXT)]
    assert result.route == "osc52" and result.terminal and result.ok
    assert result.path == tmp_path / FILE_NAME and result.path.read_text() == TEXT
    assert result.how == (
        f"{len(TEXT)} chars to the terminal's clipboard (OSC 52); saved to {result.path}"
    )


def test_copy_falls_back_to_the_file_and_says_why(tmp_path: Path) -> None:
    def broken(_: str) -> None:
        raise OSError(5, "Input/output error")

    result = copy(TEXT, broken, env={}, tmux_option=options(), folder=tmp_path)
    assert result.route == "file" and not result.terminal and result.ok
    assert result.path == tmp_path / FILE_NAME
    assert result.path.read_text(encoding="utf-8") == TEXT
    assert str(result.path) in result.how and "write failed" in result.how
    written: list[str] = []
    tmux = {"TMUX": "x"}
    result = copy("b", written.append, env=tmux, tmux_option=options(), folder=tmp_path)
    assert written == [] and result.route == "file" and "set-clipboard on" in result.how
    result = copy("c", written.append, env={}, folder=tmp_path, to_file=True)
    assert written == [] and result.route == "file"
    assert (tmp_path / FILE_NAME).read_text() == "c"


def test_copy_never_raises_when_nothing_works(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")

    def broken(_: str) -> None:
        raise OSError(5, "Input/output error")

    result = copy("x", broken, env={}, tmux_option=options(), folder=blocker / "clip")
    assert result.route == "none" and not result.ok and result.path is None
    assert result.how.startswith("could not copy: the terminal write failed")


def test_the_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = save_to_file("secret code", tmp_path / "clip")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [FILE_NAME]  # no temp left


def test_the_file_defaults_to_the_cache_folder() -> None:
    path = save_to_file("x")
    assert path.is_relative_to(Path(os.environ["GEMMACODE_CACHE_DIR"]))


def test_code_blocks_are_found_without_fences() -> None:
    md = (
        "Intro\n```python\na = 1\n```\ntext\n~~~\nb\n~~~\n"
        "````md\n```\ninner\n```\n````\nthen\n```sh\nopen at the end\n"
    )
    assert code_blocks(md) == ["a = 1\n", "b\n", "```\ninner\n```\n", "open at the end\n"]
    assert code_blocks("no code here") == []


def test_a_finding_reads_as_one_line_and_its_suggestion() -> None:
    f = Finding("src/a.py", 3, 5, "high", "bug", "off by one", "use <=")
    assert finding_text(f) == "src/a.py:3-5 [high, bug] off by one\nSuggestion: use <="
    assert finding_text(Finding("a.py", 7, 7, "low", "style", "long line")) == (
        "a.py:7 [low, style] long line"
    )


# --- a real tmux ----------------------------------------------------------------------------

_COPIER = """
import sys, time
from pathlib import Path
from gemmacode.tui.clipboard import copy
go, out = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():
    time.sleep(0.02)
def write(s):
    sys.stdout.write(s)
    sys.stdout.flush()
r = copy(sys.argv[3], write)
out.write_text(r.route + "\\n" + str(r.path))
time.sleep(30)
"""


class Tmux:
    """A private tmux server (its own socket) started from this test's environment."""

    def __init__(self, name: str, conf: Path, *settings: str) -> None:
        self.base = ["tmux", "-L", name, "-f", str(conf)]
        conf.write_text("".join(f"set -g {s}\n" for s in settings))

    def __call__(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "TMUX"}
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, env=env)
        return done.stdout

    def buffer(self) -> str | None:
        names = self("list-buffers", "-F", "#{buffer_name}").split()
        return self("show-buffer") if names else None

    def kill(self) -> None:
        socket = self("display-message", "-p", "#{socket_path}").strip()
        self("kill-server")
        if socket:  # tmux leaves its socket file behind
            Path(socket).unlink(missing_ok=True)


def _wait(check: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.fixture
def tmux_servers(tmp_path: Path) -> Iterator[Callable[..., Tmux]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    started: list[Tmux] = []

    def start(label: str, *settings: str) -> Tmux:
        server = Tmux(f"gc-clip-{os.getpid()}-{label}", tmp_path / f"{label}.conf", *settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def _copier(tmp_path: Path, text: str) -> tuple[str, Path, Path]:
    """A shell command that copies ``text`` once ``go`` exists and writes the route to
    ``out``; the pane inherits the server's environment (this test's PYTHONPATH)."""
    go, out, script = tmp_path / "go", tmp_path / "out", tmp_path / "copier.py"
    script.write_text(_COPIER)
    args = [sys.executable, str(script), str(go), str(out), text]
    return " ".join(shlex.quote(a) for a in args), go, out


def test_real_tmux_with_set_clipboard_on_stores_the_text(
    tmp_path: Path, tmux_servers: Callable[..., Tmux]
) -> None:
    tmux = tmux_servers("on", "set-clipboard on")
    command, go, out = _copier(tmp_path, "copied through tmux")
    tmux("new-session", "-d", "-x", "80", "-y", "24", command)
    go.touch()
    _wait(out.exists)
    assert out.read_text().split("\n")[0] == "osc52-tmux-buffer"
    assert _wait(tmux.buffer) == "copied through tmux"


def test_real_tmux_by_default_drops_osc52_so_the_file_is_used(
    tmp_path: Path, tmux_servers: Callable[..., Tmux]
) -> None:
    tmux = tmux_servers("default")
    command, go, out = _copier(tmp_path, "into the file")
    tmux("new-session", "-d", "-x", "80", "-y", "24", command)
    go.touch()
    _wait(out.exists)
    route, path = out.read_text().split("\n")
    assert route == "file" and Path(path).read_text() == "into the file"
    assert tmux.buffer() is None


def test_real_tmux_passthrough_reaches_the_outer_terminal(
    tmp_path: Path, tmux_servers: Callable[..., Tmux]
) -> None:
    """The outer terminal is a second tmux (set-clipboard on) whose pane runs a client of
    the inner one: what the inner tmux passes through lands in the outer one's buffer."""
    inner = tmux_servers("inner", "allow-passthrough on", "set-clipboard off")
    outer = tmux_servers("outer", "set-clipboard on")
    command, go, out = _copier(tmp_path, "out through two tmuxes")
    inner("new-session", "-d", "-s", "in", "-x", "80", "-y", "24", command)
    attach = " ".join([*inner.base, "attach", "-t", "in"])
    outer("new-session", "-d", "-x", "100", "-y", "30", f"env -u TMUX {attach}")
    _wait(lambda: inner("list-clients").strip())
    go.touch()
    _wait(out.exists)
    assert out.read_text().split("\n")[0] == "osc52-tmux-passthrough"
    assert _wait(outer.buffer) == "out through two tmuxes"
    assert inner.buffer() is None  # passed through, not kept
