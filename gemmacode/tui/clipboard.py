"""Copy text to the user's clipboard from a terminal program, and say how it went.

Two routes, tried in this order:

1. **OSC 52**: the terminal itself sets the clipboard from an escape sequence
   (``ESC ] 52 ; c ; <base64> BEL``). It works over SSH, because the sequence travels with the
   screen output to the terminal on the user's machine. Multiplexers sit in between:

   - **tmux** (``TMUX`` set) acts on OSC 52 itself only with ``set-clipboard on``: it stores the
     text in a paste buffer and forwards it to the outer terminal. The default (``external``)
     drops an application's OSC 52. Otherwise, with ``allow-passthrough on`` (tmux 3.3+), a
     sequence wrapped as ``ESC P tmux; ... ESC \\`` (inner ESCs doubled) goes straight to the
     outer terminal. With neither, OSC 52 cannot get through: the file route is taken.
   - **GNU screen** (``STY`` set) passes DCS strings (``ESC P ... ESC \\``) through, at most
     768 bytes each, so the sequence is cut into pieces that are each wrapped.

2. **A file**: ``<cache>/clipboard/last-copy.txt`` (folder 0700, file 0600, written
   atomically), written on every copy. Whether a terminal honours OSC 52 cannot be observed
   from the program (some ignore it silently), so the file is what always works; it is the
   only route when OSC 52 cannot get through or the text is over :data:`MAX_SEQUENCE_BYTES`
   (terminals drop longer sequences: hterm at 100,000 bytes).

The result says which route was taken, where the file is, and how to turn OSC 52 on when it
could not get through. Nothing here imports textual: the app passes a function that writes an
escape sequence to its terminal as is (Textual's own ``copy_to_clipboard`` can only write the
raw form, which tmux drops by default), and tests pass their own.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gemmacode.config import private_dir, user_cache_dir
from gemmacode.review.findings.model import Finding

MAX_SEQUENCE_BYTES = 100_000
SCREEN_CHUNK = 768 - 4  # screen's string limit less the ESC P / ESC \ around each piece
FILE_NAME = "last-copy.txt"

Route = Literal[
    "osc52", "osc52-tmux-buffer", "osc52-tmux-passthrough", "osc52-screen", "file", "none"
]
TmuxOption = Callable[[str], str | None]
Write = Callable[[str], object]


@dataclass(frozen=True)
class CopyResult:
    """How the text went out: ``route`` (``file`` when OSC 52 could not be sent, ``none``
    when not even the file could be written), the file, and ``how``, one line for the user."""

    route: Route
    path: Path | None
    how: str

    @property
    def terminal(self) -> bool:
        """An OSC 52 sequence was written to the terminal."""
        return self.route.startswith("osc52")

    @property
    def ok(self) -> bool:
        return self.terminal or self.path is not None


CopyFunction = Callable[[str, Write], CopyResult]
"""``copy(text, write)``, what the app calls: ``write`` puts an escape sequence on the
terminal as is."""


def osc52(text: str) -> str:
    """The OSC 52 sequence that sets the clipboard (``c``) to ``text``, BEL-terminated (more
    terminals accept BEL than ST here)."""
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"\x1b]52;c;{payload}\x07"


def tmux_passthrough(sequence: str) -> str:
    """Wrap ``sequence`` for tmux's passthrough: every ESC inside is doubled."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def screen_passthrough(sequence: str, chunk: int = SCREEN_CHUNK) -> str:
    """Wrap ``sequence`` for GNU screen: pieces of at most ``chunk`` characters, each its own
    DCS string; screen strips the wrappers and the terminal sees the pieces joined."""
    return "".join(
        "\x1bP" + sequence[i : i + chunk] + "\x1b\\" for i in range(0, len(sequence), chunk)
    )


def tmux_option_reader(env: Mapping[str, str]) -> TmuxOption:
    """Read a global tmux option of the server ``TMUX`` names (``tmux show -gv NAME``);
    None when tmux does not answer or does not know the option (tmux before 3.3 has no
    ``allow-passthrough``)."""

    def read(name: str) -> str | None:
        try:
            out = subprocess.run(
                ["tmux", "show-options", "-gv", name],
                capture_output=True,
                text=True,
                timeout=2,
                env=dict(env),
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    return read


def plan(text: str, env: Mapping[str, str], tmux_option: TmuxOption) -> tuple[Route, str, str]:
    """Decide the route: (route, the bytes to write or "", why when it is the file)."""
    sequence = osc52(text)
    if len(sequence) > MAX_SEQUENCE_BYTES:
        size = len(sequence) // 1000
        return "file", "", f"too large for a terminal clipboard ({size} KB encoded)"
    if env.get("TMUX"):
        if tmux_option("set-clipboard") == "on":
            return "osc52-tmux-buffer", sequence, ""
        if tmux_option("allow-passthrough") in ("on", "all"):
            return "osc52-tmux-passthrough", tmux_passthrough(sequence), ""
        return "file", "", "tmux drops OSC 52 (tmux set -g set-clipboard on lets it through)"
    if env.get("STY"):
        return "osc52-screen", screen_passthrough(sequence), ""
    return "osc52", sequence, ""


def save_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable only by the user (it is usually private code);
    ``/export`` uses it for files the user names."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path


def save_to_file(text: str, folder: Path | None = None) -> Path:
    """Write ``text`` to ``<folder>/last-copy.txt`` atomically: folder 0700, file 0600."""
    folder = folder or user_cache_dir() / "clipboard"
    private_dir(folder)
    fd, tmp = tempfile.mkstemp(prefix=".copy-", dir=folder)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, folder / FILE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / FILE_NAME


_VIA = {
    "osc52": "the terminal's clipboard (OSC 52)",
    "osc52-tmux-buffer": "tmux's paste buffer and the terminal's clipboard (OSC 52)",
    "osc52-tmux-passthrough": "the terminal's clipboard (OSC 52 through tmux passthrough)",
    "osc52-screen": "the terminal's clipboard (OSC 52 through screen)",
}


def copy(
    text: str,
    write: Write,
    *,
    env: Mapping[str, str] | None = None,
    tmux_option: TmuxOption | None = None,
    folder: Path | None = None,
    to_file: bool = False,
) -> CopyResult:
    """Copy ``text``: OSC 52 through ``write`` when it can get through (not with
    ``to_file``), and the file every time. Never raises: a failing ``write`` or file is
    reported in the result."""
    env = os.environ if env is None else env
    route: Route = "file"
    sequence, why = "", "asked for a file"
    if not to_file:
        route, sequence, why = plan(text, env, tmux_option or tmux_option_reader(env))
    if route != "file":
        try:
            write(sequence)
        except OSError as err:
            route, why = "file", f"the terminal write failed ({err.strerror or err})"
    path: Path | None = None
    try:
        path = save_to_file(text, folder)
    except OSError as err:
        saved = f"not saved to a file ({err.strerror or err})"
    else:
        saved = f"saved to {path}"
    if route != "file":
        return CopyResult(route, path, f"{len(text)} chars to {_VIA[route]}; {saved}")
    if path is None:
        return CopyResult("none", None, f"could not copy: {why}; {saved}")
    return CopyResult("file", path, f"{len(text)} chars {saved} ({why})")


def terminal_copy(folder: Path | None = None, env: Mapping[str, str] | None = None) -> CopyFunction:
    """The app's :data:`CopyFunction`: :func:`copy` with the file in ``folder``."""
    return lambda text, write: copy(text, write, env=env, folder=folder)


_FENCE = re.compile(r"^(?P<fence>```+|~~~+)[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)


def code_blocks(markdown: str) -> list[str]:
    """The fenced code blocks of ``markdown`` in order, without their fences; a block still
    open at the end (an answer cut short) counts too."""
    blocks, end = [], 0
    for m in _FENCE.finditer(markdown):
        blocks.append(m.group("body"))
        end = m.end()
    still_open = re.search(r"^(```+|~~~+)[^\n]*\n(?P<body>.*)\Z", markdown[end:], re.M | re.S)
    if still_open:
        blocks.append(still_open.group("body"))
    return blocks


def finding_text(f: Finding) -> str:
    """A finding as plain text to paste into an issue or a commit message."""
    where = f"{f.file}:{f.line}" + (f"-{f.end_line}" if f.end_line > f.line else "")
    text = f"{where} [{f.severity}, {f.category}] {f.message}"
    return text + (f"\nSuggestion: {f.suggestion}" if f.suggestion else "")
