"""Copying text out of the UI: the terminal's clipboard and a file that always works.

The app calls one :data:`CopyFunction`; the result says which way the text went so the user
is told (a terminal may ignore OSC 52 silently, so the file is written every time and named).
:func:`osc52_and_file` is the simple version: Textual's ``copy_to_clipboard`` (a raw OSC 52
sequence; inside tmux it needs ``set-clipboard on``) plus the file. A smarter function (tmux
passthrough wrapping, detection) drops in by passing another ``copy`` to the app factory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CopyResult:
    terminal: bool  # an OSC 52 sequence was written to the terminal
    path: Path | None  # the file that holds the text
    how: str  # one line for the user

    @property
    def ok(self) -> bool:
        return self.terminal or self.path is not None


CopyFunction = Callable[[str, Callable[[str], None]], CopyResult]
"""``copy(text, write_osc52)``: ``write_osc52`` is the app's ``copy_to_clipboard``."""


def save_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable only by the user (it is usually private code)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path


def osc52_and_file(folder: Path) -> CopyFunction:
    """Copy through OSC 52 and save to ``folder/last-copy.txt``."""

    def copy(text: str, write_osc52: Callable[[str], None]) -> CopyResult:
        terminal = True
        try:
            write_osc52(text)
        except Exception:  # a terminal that cannot take it must not lose the text
            terminal = False
        try:
            path: Path | None = save_private(folder / "last-copy.txt", text)
        except OSError:
            path = None
        parts = []
        if terminal:
            parts.append("sent to the terminal clipboard (OSC 52)")
        if path is not None:
            parts.append(f"saved to {path}")
        how = " and ".join(parts) if parts else "could not copy: no terminal clipboard, no file"
        return CopyResult(terminal, path, how)

    return copy
