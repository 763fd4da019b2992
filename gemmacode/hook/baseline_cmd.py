"""``gemmacode hook baseline``: accept the staged change's current findings.

The staged change is reviewed the way the hook reviews it (or its cached review is read, so
right after a blocked commit this costs nothing), and every finding's fingerprint is added
to ``hook.baseline`` (``--replace``: the file then holds only these). Commit the file with
the code: the whole team then accepts the same findings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gemmacode.config import load_settings
from gemmacode.errors import UsageError
from gemmacode.hook.accept import baseline_document, load_entries, write_baseline
from gemmacode.hook.exits import EXIT_NOT_REVIEWED, EXIT_OK
from gemmacode.hook.gitio import HookGit
from gemmacode.hook.output import Printer
from gemmacode.hook.run import HookIO, HookRun


def write_current_baseline(git: HookGit, *, replace: bool, io: HookIO | None = None) -> int:
    """Review the staged change and write its findings into the baseline file."""
    if io is None:

        def write(text: str) -> None:
            sys.stderr.write(text)

        io = HookIO(Path.cwd(), os.environ, Printer(write))
    settings = load_settings(git.root, io.env)
    run = HookRun("pre-commit", io, git, settings)
    change = run.changes()[0]
    got = run.obtain(change)
    if got is None:
        raise UsageError(
            "nothing reviewable is staged",
            "stage the change whose findings you accept (git add), then run this again",
        )
    if got.failure or not got.complete:
        io.out.say(f"baseline not written: the review did not finish ({got.failure or 'deadline'})")
        return EXIT_NOT_REVIEWED
    path = git.root / settings.hook.baseline
    texts = run.texts(change, got.findings)
    keep = [] if replace else load_entries(path)
    doc = baseline_document(got.findings, texts, keep=keep)
    write_baseline(path, doc)
    io.out.say(f"accepted {len(got.findings)} finding(s) in {path.name}; commit it with the code")
    return EXIT_OK
