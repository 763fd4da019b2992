"""``gemmacode hook``: the git commit hook.

``install`` / ``uninstall`` / ``status`` manage the shim git runs (:mod:`gemmacode.hook.install`);
``run`` is what the shim and the pre-commit framework call (:mod:`gemmacode.hook.run`);
``baseline`` accepts the current findings (:mod:`gemmacode.hook.accept`). The work lives in
``gemmacode.hook``; this module parses flags and prints.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gemmacode.hook.exits import EXIT_OK

HELP = "install, remove or inspect the git commit hook; run it; accept findings"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="hook_command", metavar="ACTION", required=True)
    inst = sub.add_parser(
        "install",
        help="install the hook in this repository (keeps and chains an existing one)",
        description="Install the pre-commit hook (or, with --pre-push, the pre-push hook) "
        "where git runs hooks for this repository.",
    )
    inst.add_argument(
        "--pre-push", action="store_true", help="install the review of pushed ranges instead"
    )
    inst.add_argument(
        "--force",
        action="store_true",
        help="install into a core.hooksPath folder another tool manages (still chaining)",
    )
    uninst = sub.add_parser("uninstall", help="remove the hook and put back exactly what was there")
    uninst.add_argument("--pre-push", action="store_true", help="remove the pre-push hook")
    sub.add_parser("status", help="what is installed, where, and which interpreter it uses")
    run = sub.add_parser(
        "run",
        help="run the review now, as git does (called by the installed hook)",
        description="Review what the commit (or push) would record and decide whether it "
        "may go ahead. Exit 0: go ahead; 1: findings block it; 2: a usage or configuration "
        "error; 3: not reviewed and hook.strict is on.",
    )
    run.add_argument(
        "stage",
        nargs="?",
        choices=("pre-commit", "pre-push"),
        default=None,
        help="which hook (default: pre-push when the pre-commit framework names a push "
        "range, else pre-commit)",
    )
    run.add_argument("hook_args", nargs="*", help=argparse.SUPPRESS)
    base = sub.add_parser(
        "baseline",
        help="accept the staged change's current findings (writes hook.baseline)",
        description="Review the staged change (or read its cached review) and add every "
        "finding's fingerprint to the baseline file, so only new findings block commits.",
    )
    base.add_argument(
        "--replace", action="store_true", help="drop the entries already in the baseline"
    )


def run(args: argparse.Namespace) -> int:
    action = args.hook_command
    if action == "run":
        return _run(args)
    from gemmacode.hook.gitio import hook_context

    git = hook_context(Path.cwd())
    if action == "baseline":
        from gemmacode.hook.baseline_cmd import write_current_baseline

        return write_current_baseline(git, replace=args.replace)
    from gemmacode.hook import install

    stage = "pre-push" if getattr(args, "pre_push", False) else "pre-commit"
    if action == "install":
        lines = install.install(git, stage, force=args.force)
    elif action == "uninstall":
        lines = install.uninstall(git, stage)
    else:
        lines = install.status(git)
    for line in lines:
        print(line)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from gemmacode.hook.entry import run_stage, stage_for

    return run_stage(stage_for(args.stage, os.environ))
