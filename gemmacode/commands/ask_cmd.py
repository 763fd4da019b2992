"""``gemmacode ask "question"``: an answer about the code, streamed, with the repo map and the
chunks most related to the question as context. ``--explain-context`` prints what would be
sent without calling a model."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from gemmacode.commands.common import (
    add_model_flags,
    map_cache_dir,
    settings_for,
    start_tokenizer_helper,
    stop_tokenizer_helper,
)
from gemmacode.errors import UsageError

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
    helper = start_tokenizer_helper()  # the tables are built while the index opens
    try:
        return asyncio.run(_run(args))
    finally:
        stop_tokenizer_helper(helper)


async def _run(args: argparse.Namespace) -> int:
    from gemmacode.commands.review_cmd import (
        close_session,
        explain_text,
        make_session,
        open_index_quietly,
    )
    from gemmacode.review.engine import Request
    from gemmacode.review.packing import Unit
    from gemmacode.review.plan import explain_requests
    from gemmacode.review.question import answer, question_parts

    if not args.question.strip():
        raise UsageError(
            "the question is empty", 'ask something, e.g. gemmacode ask "what does X do?"'
        )
    root, settings = settings_for(args)
    cwd = Path.cwd()
    focus: list[str] = []
    for raw in args.focus:
        full = (cwd / raw).resolve()
        if not full.is_file():
            raise UsageError(f"no such file: {raw}", "give --focus a file path (relative to here)")
        try:
            focus.append(full.relative_to(root).as_posix())
        except ValueError:
            raise UsageError(
                f"{raw} is outside the project at {root}", "focus on a project file"
            ) from None
    index = open_index_quietly(root, settings)
    if index is None:
        raise UsageError(f"{root} has no index to answer from", "run ask inside a git repository")
    session, handles, how = await make_session(settings, offline_ok=args.explain_context)
    try:
        from functools import partial

        from gemmacode.repomap.build import build_map

        parts, chunks = question_parts(
            session,
            args.question,
            index=index,
            focus=focus,
            map_tokens=settings.map.tokens,
            chunk_tokens=settings.chunks.tokens,
            map_builder=partial(build_map, cache_dir=map_cache_dir(index.root, settings)),
        )
        if args.explain_context:
            ranges: dict[str, list[tuple[int, int]]] = {}
            for c in chunks:
                ranges.setdefault(c.file, []).append((c.start_line, c.end_line))
            request = Request(Unit("question", "", 0, ranges, ""), "question", parts)
            doc = explain_requests(session, [request], "one streamed answer")
            doc["num_ctx_source"] = how
            _write(json.dumps(doc, indent=2) + "\n" if args.json else explain_text(doc, how))
            return 0
        text, _ = await answer(session, parts, on_text=_write)
        if text and not text.endswith("\n"):
            _write("\n")
    finally:
        await close_session(handles)
    return 0


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
