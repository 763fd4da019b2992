"""``gemmacode map``: the repository's most important definitions, fitted to N tokens.

Human output is the outline itself (what a model is given). ``--json`` prints one object:

    {"root": str, "budget": int, "tokens": int, "files": [str, ...],
     "symbols": [{"file": str, "name": str, "kind": str, "scope": str, "line": int,
                  "end_line": int, "signature": str}, ...],
     "text": str}

``symbols`` are the ranked definitions shown, best first; ``files`` are in outline order;
``tokens`` is the count of ``text`` (never more than ``budget``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gemmacode.commands.common import add_root_flag, settings_for
from gemmacode.config import Settings
from gemmacode.errors import UsageError
from gemmacode.session.startup import prewarm
from gemmacode.session.workspace import map_cache_dir

HELP = "print a ranked outline of the repository"
MIN_TOKENS = 16


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_root_flag(p)
    p.add_argument(
        "--tokens",
        type=int,
        default=None,
        help="size of the map in tokens (default from config: map.tokens)",
    )
    p.add_argument(
        "--focus",
        action="append",
        default=[],
        metavar="PATH",
        help="a file to lean the ranking towards (repeatable)",
    )
    p.add_argument(
        "--question",
        default="",
        metavar="TEXT",
        help="lean the ranking towards the identifiers this text names",
    )
    p.add_argument("--json", action="store_true", help="print the map as JSON")


def _focus_paths(root: Path, given: list[str], indexed: set[str]) -> list[str]:
    """Focus paths as the index names them: relative to the root, POSIX."""
    out = []
    for raw in given:
        full = Path(raw).resolve()
        rel = full.relative_to(root).as_posix() if full.is_relative_to(root) else raw
        if rel not in indexed:
            raise UsageError(
                f"--focus {raw} is not an indexed file of {root}",
                "give a file inside the project that gemmacode index lists",
            )
        out.append(rel)
    return out


def run(args: argparse.Namespace) -> int:
    root, settings = settings_for(args)
    tokens = settings.map.tokens if args.tokens is None else args.tokens
    if tokens < MIN_TOKENS:
        raise UsageError(f"--tokens {tokens} is too small", f"use at least {MIN_TOKENS}")
    # Fitting the map needs the tokenizer unless the finished map is cached: its tables are
    # built in a helper process while the index is opened and the graph ranked. The decoded
    # index lives to the end and holds no cycles, so the collector stays paused throughout
    # (nothing calls gc_ready); close() gives it back for in-process callers such as tests.
    warm = prewarm(settings, client=False, pause_gc=True)
    try:
        return _run(args, root, settings, tokens)
    finally:
        warm.close()


def _run(args: argparse.Namespace, root: Path, settings: Settings, tokens: int) -> int:
    from gemmacode.index.indexer import open_index
    from gemmacode.repomap.build import build_map
    from gemmacode.tokens.calibration import default_store

    index = open_index(root, settings.index, progress=sys.stderr.isatty())
    focus = _focus_paths(index.root, args.focus, set(index.paths()))
    store = default_store(settings)
    repo_map = build_map(
        index,
        store.counter_for(settings.backend.model),
        tokens,
        focus=focus,
        question=args.question,
        cache_dir=map_cache_dir(index.root, settings),
    )
    if args.json:
        doc = {
            "root": str(index.root),
            "budget": tokens,
            "tokens": repo_map.tokens,
            "files": repo_map.files,
            "symbols": [
                {
                    "file": s.file,
                    "name": s.name,
                    "kind": s.kind,
                    "scope": s.scope,
                    "line": s.start_line,
                    "end_line": s.end_line,
                    "signature": s.signature,
                }
                for s in repo_map.symbols
            ],
            "text": repo_map.text,
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(repo_map.text)
    return 0
