"""The hook's entry point from git: the stage, stdin for pre-push, stderr, the exit code.

Shared by ``gemmacode hook run`` and ``python -m gemmacode.hook run`` (the shim's short
path). A user-caused error is one line and exit 2 (the run itself says how to bypass);
Ctrl-C is 130.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from gemmacode.hook.exits import EXIT_USAGE, skip_requested

STAGES = ("pre-commit", "pre-push")
USAGE = "usage: python -m gemmacode.hook run [pre-commit|pre-push]"


def stage_for(given: str | None, env: Mapping[str, str]) -> str:
    """The stage named, else pre-push when the pre-commit framework names a push range."""
    if given:
        return given
    return "pre-push" if env.get("PRE_COMMIT_TO_REF") else "pre-commit"


def run_stage(stage: str) -> int:
    """Run the hook for ``stage`` in this process's folder and environment, printing to
    stderr (colour only on a terminal).

    Unless the review is skipped, the tokenizer helper process starts first thing, before
    the hook's own modules load: its tables take ~0.2 s of CPU to build, on another core,
    and a review counts tokens as soon as it has read the change, so the earlier it starts
    the less the review waits for it. When nothing gets reviewed (nothing reviewable, a
    cached review, no server) it is stopped unused; that costs this process ~2 ms."""
    early = None
    if not skip_requested(os.environ):
        from gemmacode.session.startup import prewarm

        early = prewarm(None)  # the helper alone, before even the settings are read
    try:
        from gemmacode.hook.output import Printer, color_for
        from gemmacode.hook.run import HookIO, run_hook

        stdin = ""
        if stage == "pre-push" and sys.stdin is not None and not sys.stdin.isatty():
            stdin = sys.stdin.read()
        err = sys.stderr

        def write(text: str) -> None:
            err.write(text)
            err.flush()

        out = Printer(write, color=color_for(err.isatty(), os.environ))
        io = HookIO(Path.cwd(), os.environ, out, stdin=stdin)
        return run_hook(stage, io)
    finally:
        if early is not None:
            early.close()


def main(argv: Sequence[str]) -> int:
    """``run [STAGE] [git's hook arguments...]``."""
    args = list(argv)
    if not args or args[0] != "run":
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    given = args[1] if len(args) > 1 and args[1] in STAGES else None
    try:
        return run_stage(stage_for(given, os.environ))
    except KeyboardInterrupt:
        print("gemmacode: interrupted", file=sys.stderr)
        return 130
