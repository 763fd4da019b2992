"""``gemmacode tui [PATH]``: the terminal UI on the repository around PATH (default: the
current folder). ``gemmacode`` with no command does the same on a terminal.

The UI package is loaded by name only when the command runs, the way the CLI loads command
modules, so this module (and ``gemmacode --help``) never imports textual.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from gemmacode.commands.common import add_model_flags, find_root, model_overrides
from gemmacode.config import load_settings, private_dir, set_by_user, user_cache_dir
from gemmacode.errors import UsageError

# Textual paints at most TEXTUAL_FPS frames a second (60 by default), and a key that comes
# just after a frame waits for the next slot: 17-33 ms while an answer streams. Frames are
# only painted when something changed, so a higher cap costs nothing at rest; it halves that
# wait and more (bench/bench_tui.py: keypress p95 50 -> 28 ms at 500 tokens/s, same CPU).
FRAME_RATE = "240"

SCREEN_HINT = (
    "Mouse off inside GNU screen, which holds Esc back while an app reads the mouse; "
    "tui.mouse = true turns it on"
)

HELP = "open the terminal UI on the repository around PATH (the default with no command)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", type=Path, default=None, help="a folder in the repository")
    p.add_argument(
        "--no-mouse",
        action="store_true",
        help="do not capture the mouse (slow SSH links); setting tui.mouse",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="open this project's most recent conversation (/sessions lists the others)",
    )
    add_model_flags(p)


def run(args: argparse.Namespace) -> int:
    start = (args.path or Path.cwd()).expanduser()
    if not start.is_dir():
        raise UsageError(f"{start} is not a folder", "give a folder inside the repository")
    root = find_root(start)
    overrides = model_overrides(args)
    hint = ""
    if args.no_mouse:
        overrides["tui.mouse"] = False
    elif "STY" in os.environ and not set_by_user(root, os.environ, "tui.mouse"):
        # GNU screen holds a lone Esc back until the next key while an app reads the mouse
        # (its SGR mouse mode; see docs/tui.md): Esc would not cancel an answer.
        overrides["tui.mouse"] = False
        hint = SCREEN_HINT
    settings = load_settings(root, os.environ, overrides)
    os.environ.setdefault("TEXTUAL_FPS", FRAME_RATE)  # read when textual is imported
    app_module = importlib.import_module("gemmacode.tui.app")
    with own_terminal_descriptor(user_cache_dir() / "tui-stderr.log"):
        app = app_module.make_app(root, settings, resume=args.resume, freeze_gc=True, hint=hint)
        app.run(mouse=settings.tui.mouse)
    return 0


_LOG_KEEP_BYTES = 1 << 20


@contextlib.contextmanager
def own_terminal_descriptor(log: Path) -> Iterator[None]:
    """Textual draws on file descriptor 2 (``sys.__stderr__``), and so do C libraries
    (llama.cpp, CUDA) from any thread, unasked: their notes would land on the screen, and the
    embedded engine's silencing of fd 2 while it loads a model also silenced the UI (frames
    and keys went unseen for the whole load). For the app's lifetime Textual gets a
    descriptor of its own on the terminal and fd 2 goes to ``log`` (0600, cut when it passes
    1 MiB), so whatever anything else prints there is kept, off the screen."""
    if not os.isatty(2):
        yield
        return
    try:
        private_dir(log.parent)
        if log.exists() and log.stat().st_size > _LOG_KEEP_BYTES:
            log.unlink()
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        log_fd = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    before = sys.__stderr__
    encoding = getattr(before, "encoding", None) or "utf-8"
    terminal = os.fdopen(os.dup(2), "w", encoding=encoding, errors="replace")
    sys.stderr.flush()
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.__stderr__ = terminal  # type: ignore[misc]  # what Textual's driver draws on
    try:
        yield
    finally:
        sys.__stderr__ = before  # type: ignore[misc]
        with contextlib.suppress(OSError, ValueError):
            terminal.close()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
