"""A real terminal for tests and benches: one program in a private tmux server, driven with
``send-keys`` and read with ``capture-pane``.

Every wait polls the screen (every ``poll_s``) up to a generous deadline instead of sleeping
a fixed time, so a slow, shared machine makes a test slower, never flaky. Each instance owns
its own tmux server (``-L`` socket name), never the user's, and kills it on :meth:`close`.

Keys and screen reads go through one tmux client in control mode (``tmux -C``, its pane
output turned off), not a ``tmux`` process per call: spawning one costs about 2.5 ms of CPU,
and a bench polling every 5 ms would take a core of a 2-core machine from the program it
measures.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_counter = iter(range(1_000_000))
_REPLY_END = re.compile(rb"^%(end|error) \d+ \d+ \d+\r?$")
_PLAIN = re.compile(r"[A-Za-z0-9_.,:/@+=-]+")


def _quote(arg: str) -> str:
    """``arg`` as one word of tmux's command language (double quotes: backslash escapes)."""
    if _PLAIN.fullmatch(arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("\n", "\\n") + '"'


def tmux_available() -> bool:
    """tmux 3.2 or newer is on the PATH (control mode's ``refresh-client -f no-output``)."""
    if shutil.which("tmux") is None:
        return False
    out = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout
    found = re.search(r"(\d+)\.(\d+)", out)
    return found is not None and (int(found[1]), int(found[2])) >= (3, 2)


class TmuxScreen:
    """``command`` running in a ``width`` x ``height`` tmux pane with ``env`` (added to this
    process's environment, less ``TMUX``)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        width: int = 120,
        height: int = 40,
        poll_s: float = 0.02,
    ) -> None:
        self.socket = f"gemmacode-test-{os.getpid()}-{next(_counter)}"
        self.poll_s = poll_s
        self.env = {k: v for k, v in os.environ.items() if k != "TMUX"}
        self.env.update(env or {})
        self.env.setdefault("TERM", "xterm-256color")
        conf = Path(tempfile.gettempdir()) / f"{self.socket}.conf"  # not in the work tree
        # escape-time 0: tmux passes Esc at once instead of waiting to see if a sequence follows.
        conf.write_text("set -g escape-time 0\nset -g status off\nset -g remain-on-exit on\n")
        self._conf = conf
        line = " ".join(shlex.quote(c) for c in command)
        self.started = time.monotonic()
        self._tmux(
            "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "-c", str(cwd),
            f"exec {line}",
        )  # fmt: skip
        self.pid = int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        self._socket_path = self._tmux("display-message", "-p", "#{socket_path}").strip()
        self._control = subprocess.Popen(
            ["tmux", "-L", self.socket, "-f", str(conf), "-C", "attach-session", "-t", "t"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self.env,
        )
        self._reply()  # the attach's own (empty) reply
        self._command("refresh-client", "-f", "no-output")

    def _reply(self) -> str:
        """The control client's next command reply (``%begin`` ... ``%end``); notifications
        between replies are skipped."""
        assert self._control.stdout is not None
        lines: list[bytes] | None = None
        while True:
            line = self._control.stdout.readline()
            if not line:
                raise AssertionError("the tmux control client exited")
            if lines is None:
                if line.startswith(b"%begin "):
                    lines = []
            elif _REPLY_END.match(line):
                return b"".join(lines).decode("utf-8", "replace")
            else:
                lines.append(line)

    def _command(self, *args: str) -> str:
        """One tmux command through the control client; its output."""
        assert self._control.stdin is not None
        self._control.stdin.write((" ".join(_quote(a) for a in args) + "\n").encode())
        self._control.stdin.flush()
        return self._reply()

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self._conf), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        return done.stdout

    def screen(self) -> str:
        """The visible screen as text, one line per row."""
        return self._command("capture-pane", "-p", "-t", "t")

    def send(self, *keys: str, literal: bool = False) -> None:
        """tmux key names (``Enter``, ``Escape``, ``C-c``) or, with ``literal``, text."""
        self._command("send-keys", "-t", "t", *(["-l"] if literal else []), *keys)

    def wait_for(
        self, what: str | re.Pattern[str] | Callable[[str], bool], timeout: float = 60.0
    ) -> str:
        """Poll until the screen contains ``what`` (text, a pattern, or a test); returns the
        screen. On timeout, AssertionError with the last screen."""
        if isinstance(what, str):
            test: Callable[[str], bool] = lambda s: what in s  # noqa: E731
        elif isinstance(what, re.Pattern):
            test = lambda s: what.search(s) is not None  # noqa: E731
        else:
            test = what
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if test(shown):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what!r}:\n{shown}")
            if not self.alive():
                raise AssertionError(f"the program exited while waiting for {what!r}:\n{shown}")
            time.sleep(self.poll_s)

    def alive(self) -> bool:
        out = self._command("list-panes", "-t", "t", "-F", "#{pane_dead}")
        return out.strip() == "0"

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Poll until the program has exited; returns its exit status, or minus the signal
        that ended it."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout} s:\n{self.screen()}")
            time.sleep(self.poll_s)
        fmt = "#{pane_dead_status}:#{pane_dead_signal}"
        status, _, signal = (
            self._tmux("display-message", "-p", "-t", "t", fmt).strip().partition(":")
        )
        return int(status) if status else -int(signal or 0)

    def rss_bytes(self) -> int:
        """The program's resident memory now (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def close(self) -> None:
        self._tmux("kill-server")
        try:
            self._control.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._control.kill()
            self._control.wait()
        for pipe in (self._control.stdin, self._control.stdout):
            if pipe is not None:
                pipe.close()
        self._conf.unlink(missing_ok=True)
        if self._socket_path:  # tmux leaves its socket file behind
            Path(self._socket_path).unlink(missing_ok=True)

    def __enter__(self) -> TmuxScreen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
