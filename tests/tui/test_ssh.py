"""The UI over a real SSH connection: a private ``sshd`` on a free local port (its own host key,
one authorized key, this user), ``ssh -t`` in a tmux pane running ``gemmacode tui`` on the
far side, and the same checks as ``test_terminal``: the context size on the status bar, a
review that streams, Esc that cancels it and keeps the text, a clean exit.

It needs OpenSSH's ``sshd`` and ``ssh`` and tmux; without them it is skipped and says which.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import git
from tests.tui.test_terminal import CALC, CHANGE, _stream_cancel_and_quit, answer_text
from tests.tui.tmux_screen import TmuxScreen, tmux_available

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not tmux_available(), reason="tmux 3.2 or newer is not installed"),
    pytest.mark.skipif(
        SSHD is None or shutil.which("ssh") is None, reason="OpenSSH (sshd, ssh) is not installed"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ssh_command(tmp_path: Path) -> Iterator[list[str]]:
    """The ``ssh`` command line (without the remote command) to a private sshd."""
    assert SSHD is not None
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "user"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    (keys / "authorized_keys").chmod(0o600)
    port = _free_port()
    config = keys / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"PidFile {keys / 'sshd.pid'}\n"
    )
    log = keys / "sshd.log"
    server = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(log)])
    command = ["ssh", "-i", str(keys / "user"), "-p", str(port), "-o", "BatchMode=yes"]
    command += ["-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={keys / 'known'}"]
    command += ["-o", "LogLevel=ERROR", f"{os.environ.get('USER') or 'root'}@127.0.0.1"]
    try:
        deadline = time.monotonic() + 15
        while True:
            probe = subprocess.run([*command, "true"], capture_output=True, text=True)
            if probe.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                why = log.read_text().strip().splitlines()[-1:] if log.exists() else []
                pytest.skip(f"no private sshd here: {' '.join(why) or probe.stderr.strip()}")
            time.sleep(0.2)
        yield command
    finally:
        server.terminate()
        server.wait(10)


def test_over_ssh_a_review_streams_shows_the_context_size_and_esc_cancels(
    git_repo: Path, ssh_command: list[str]
) -> None:
    (git_repo / "calc.py").write_text(CALC)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "init")
    (git_repo / "calc.py").write_text(CHANGE)
    # The far side gets no environment from this one: what the run needs goes on its line.
    env = {
        "GEMMACODE_SAMPLING_NUM_PREDICT": "400",
        "GEMMACODE_CONFIG_DIR": os.environ["GEMMACODE_CONFIG_DIR"],
        "GEMMACODE_CACHE_DIR": os.environ["GEMMACODE_CACHE_DIR"],
    }
    remote = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    remote = f"cd {shlex.quote(str(git_repo))} && {remote} {shlex.quote(sys.executable)} "
    remote += "-m gemmacode tui --backend embedded --model smollm2"
    with TmuxScreen([*ssh_command, "-t", remote], cwd=git_repo, width=120, height=32) as term:
        term.wait_for("calc.py", 90)
        term.send("/review calc.py", literal=True)
        term.send("Enter")
        first = term.wait_for(re.compile(r"ctx \d{3,}"), 180).splitlines()[0]
        assert re.search(r"ctx \d{3,}", first), first
        term.wait_for(lambda s: len(answer_text(s)) > 0, 120)
        _stream_cancel_and_quit(term)
