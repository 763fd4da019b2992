"""``gemmacode chunks PATH``: split one file into syntax-aware chunks within a token budget.

Human output is one line per chunk (lines, tokens, scope); ``--json`` prints one object:

    {"file": str, "language": str, "budget": int, "tokens": int,
     "chunks": [{"start_line": int, "end_line": int, "start_byte": int, "end_byte": int,
                 "scope": str, "tokens": int, "text": str}, ...]}

Joining the ``text`` of every chunk gives the file back exactly (undecodable bytes replaced).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gemmacode.commands.common import add_root_flag, settings_for
from gemmacode.errors import UsageError
from gemmacode.index.pathquote import quote_path

HELP = "split a file into syntax-aware chunks"
MIN_BUDGET = 16


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_root_flag(p)
    p.add_argument("path", type=Path, metavar="PATH", help="the file to split")
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="most tokens per chunk (default from config: chunks.tokens)",
    )
    p.add_argument("--json", action="store_true", help="print the chunks as JSON")


def _read(path: Path) -> str:
    if not path.exists():
        raise UsageError(f"{path}: no such file", "give the path of a file to split")
    if path.is_dir():
        raise UsageError(f"{path} is a directory", "give the path of one file inside it")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"{path}: cannot read ({err.strerror})", "check its permissions") from err
    if b"\0" in data[:8192]:
        raise UsageError(f"{path} looks binary", "chunks are for source and text files")
    return data.decode("utf-8", "replace")


def run(args: argparse.Namespace) -> int:
    from gemmacode.index.chunker import chunk_text
    from gemmacode.index.languages import language_for, language_for_shebang
    from gemmacode.tokens.calibration import default_store

    root, settings = settings_for(args)
    budget = settings.chunks.tokens if args.budget is None else args.budget
    if budget < MIN_BUDGET:
        raise UsageError(
            f"--budget {budget} is too small", f"use at least {MIN_BUDGET} tokens per chunk"
        )
    path: Path = args.path
    text = _read(path)
    resolved = path.resolve()
    shown = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(path)
    language = language_for(shown)
    if language == "text":
        language = language_for_shebang(text.split("\n", 1)[0])
    store = default_store(settings)
    counter = store.counter_for(settings.backend.model)
    chunks = chunk_text(text, path=shown, language=language, budget=budget, counter=counter)
    if args.json:
        doc = {
            "file": shown,
            "language": language,
            "budget": budget,
            "tokens": sum(c.tokens for c in chunks),
            "chunks": [
                {
                    "start_line": c.start_line,
                    "end_line": c.end_line,
                    "start_byte": c.start_byte,
                    "end_byte": c.end_byte,
                    "scope": c.scope,
                    "tokens": c.tokens,
                    "text": c.text,
                }
                for c in chunks
            ],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(f"{quote_path(shown)} ({language}): {len(chunks)} chunks, budget {budget} tokens")
    width = len(str(chunks[-1].end_line)) if chunks else 1
    for c in chunks:
        lines = f"{c.start_line:>{width}}-{c.end_line:<{width}}"
        print(f"  lines {lines}  {c.tokens:>5} tokens  {c.scope or '(top level)'}")
    return 0
