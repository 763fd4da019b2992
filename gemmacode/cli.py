"""Command-line entry point: parse, dispatch to a command module, render user errors.

Command modules are imported only when their command runs (or ``--help`` for it is asked),
so ``gemmacode --help`` and the pre-commit hook start fast. Each module in
``gemmacode/commands/`` has ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gemmacode import __version__
from gemmacode.errors import GemmacodeError

# name -> (module, one-line help). Modules are imported lazily.
COMMANDS: dict[str, tuple[str, str]] = {
    "index": ("gemmacode.commands.index_cmd", "build or refresh the repository index"),
    "map": ("gemmacode.commands.map_cmd", "print a ranked outline of the repository"),
    "chunks": ("gemmacode.commands.chunks_cmd", "split a file into syntax-aware chunks"),
    "config": ("gemmacode.commands.config_cmd", "show the settings in force and where from"),
    "review": (
        "gemmacode.commands.review_cmd",
        "review a file, range, symbol, folder, or staged/working/revision changes",
    ),
    "ask": ("gemmacode.commands.ask_cmd", "ask a question about the code"),
    "models": (
        "gemmacode.commands.models_cmd",
        "list Ollama models and whether they fit the GPU; pull; recommend one",
    ),
    "modelfile": ("gemmacode.commands.modelfile_cmd", "write a Modelfile for `ollama create`"),
    "eval": ("gemmacode.commands.eval_cmd", "measure a model's reviews on cases with planted bugs"),
    "tui": (
        "gemmacode.commands.tui_cmd",
        "open the terminal UI (the default on a terminal with no command)",
    ),
    "hook": (
        "gemmacode.commands.hook_cmd",
        "install, remove or inspect the git commit hook; run it; accept findings",
    ),
}


def _build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gemmacode",
        description="Local code review with small models: context that always fits your GPU.",
    )
    parser.add_argument("--version", action="version", version=f"gemmacode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the chosen command's module is imported; the rest get a bare parser for --help.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list and _on_terminal():
        args_list = ["tui"]  # piped or redirected: the command list, as before
    parser = _build_parser(args_list)
    args = parser.parse_args(args_list)
    module = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return 0
    try:
        return int(module.run(args))
    except GemmacodeError as err:
        print(f"gemmacode: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("gemmacode: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error for the user. Point stdout
        # at devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
