"""``gemmacode ask "question"``: an answer about the code, streamed, with the repo map and the
chunks most related to the question as context. ``--explain-context`` prints what would be
sent without calling a model."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from gemmacode.commands.common import add_model_flags, settings_for
from gemmacode.config import Settings
from gemmacode.errors import UsageError
from gemmacode.session.startup import Prewarm, prewarm

HELP = "ask a question about the code"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help="the question, in quotes")
    p.add_argument(
        "--focus",
        action="append",
        metavar="PATH",
        default=[],
        help="a file to lean on (repeatable)",
    )
    p.add_argument(
        "--explain-context",
        action="store_true",
        help="print exactly what would be sent, without calling the model",
    )
    p.add_argument("--json", action="store_true", help="with --explain-context: as JSON")
    add_model_flags(p)


def run(args: argparse.Namespace) -> int:
    if not args.question.strip():
        raise UsageError(
            "the question is empty", 'ask something, e.g. gemmacode ask "what does X do?"'
        )
    root, settings = settings_for(args)
    # As review does: the tokenizer's tables are built in a helper process while the index
    # opens, the HTTP client and the GPU monitor load in threads, the collector waits until
    # the question is packed.
    pinned_plan = args.explain_context and settings.context.num_ctx
    warm = prewarm(settings, client=not pinned_plan, pause_gc=True)
    try:
        return asyncio.run(_run(args, root, settings, warm))
    finally:
        warm.close()


def focus_paths(raw_paths: list[str], root: Path) -> list[str]:
    """``--focus`` files (relative to here) as project paths."""
    cwd = Path.cwd()
    focus: list[str] = []
    for raw in raw_paths:
        full = (cwd / raw).resolve()
        if not full.is_file():
            raise UsageError(f"no such file: {raw}", "give --focus a file path (relative to here)")
        try:
            focus.append(full.relative_to(root).as_posix())
        except ValueError:
            raise UsageError(
                f"{raw} is outside the project at {root}", "focus on a project file"
            ) from None
    return focus


async def _run(args: argparse.Namespace, root: Path, settings: Settings, warm: Prewarm) -> int:
    # imported once the helper process is building the tokenizer's tables (see run)
    from gemmacode.commands.render import progress, render_task, write
    from gemmacode.commands.review_cmd import explain_text
    from gemmacode.session.core import open_session

    focus = focus_paths(args.focus, root)
    from_git = (root / ".git").exists()
    async with open_session(
        settings, root=root, warm=warm, git_root=from_git, progress_bar=True
    ) as core:
        if args.explain_context:
            found = await core.explain_ask(args.question, focus=focus, note=progress)
            assert found.doc is not None
            doc, how = found.doc, found.how
            write(json.dumps(doc, indent=2) + "\n" if args.json else explain_text(doc, how))
            return 0
        shown = await render_task(core.ask(args.question, focus=focus), prose=True)
    text = shown.finished.prose
    if text and not text.endswith("\n"):
        write("\n")
    return 0
