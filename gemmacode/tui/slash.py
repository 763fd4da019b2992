"""The input line's language: slash commands, their parsing and their completion.

Every user action has one id (``review``, ``staged``, ``cancel``, ...) shared by its key
binding, its command-palette entry and, here, its slash command, so the three can never
disagree. Text without a leading slash is a question (``/ask``). Pure functions, no widget.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gemmacode.session.repo_state import split_range


@dataclass(frozen=True)
class SlashCommand:
    name: str  # also the action id
    usage: str  # arguments, as the help screen shows them
    help: str
    needs_arg: bool = False


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("review", "[PATH[:A-B|::Symbol]]", "review a file, range, symbol or folder "
                 "(default: the file selected in the tree)"),
    SlashCommand("staged", "", "review the staged changes"),
    SlashCommand("working", "", "review the working tree's unstaged changes"),
    SlashCommand("diff", "RANGE", "review a revision range, e.g. main...HEAD", needs_arg=True),
    SlashCommand("ask", "QUESTION", "ask about the code (plain text does the same)",
                 needs_arg=True),
    SlashCommand("model", "[NAME]", "switch model (no name: pick from the server's list)"),
    SlashCommand("ctx", "N|auto", "pin the context size, or return it to automatic",
                 needs_arg=True),
    SlashCommand("copy", "[answer|code|finding]", "copy the last answer, its last code block "
                 "or the selected finding"),
    SlashCommand("export", "json|sarif [FILE]", "save this conversation's findings",
                 needs_arg=True),
    SlashCommand("index", "", "re-index the repository"),
    SlashCommand("new", "", "start a new conversation"),
    SlashCommand("sessions", "", "open a past conversation of this project"),
    SlashCommand("help", "", "every key binding and command"),
    SlashCommand("quit", "", "leave gemmacode"),
)  # fmt: skip
BY_NAME = {c.name: c for c in COMMANDS}
COPY_WHAT = ("answer", "code", "finding")
EXPORT_FORMATS = ("json", "sarif")


class SlashError(ValueError):
    """A line the UI cannot run; the message says what to type instead."""


@dataclass(frozen=True)
class Parsed:
    action: str
    arg: str = ""


def parse(line: str) -> Parsed | None:
    """The action a submitted line asks for; ``None`` for an empty line.

    Raises :class:`SlashError` for an unknown command or a missing or bad argument.
    """
    text = line.strip()
    if not text:
        return None
    if not text.startswith("/"):
        return Parsed("ask", text)
    name, _, arg = text[1:].partition(" ")
    arg = arg.strip()
    command = BY_NAME.get(name.lower())
    if command is None:
        close = [c.name for c in COMMANDS if c.name.startswith(name.lower()[:2])] if name else []
        hint = f" (did you mean /{close[0]}?)" if close else ""
        raise SlashError(f"unknown command /{name}{hint}: /help lists them")
    if command.needs_arg and not arg:
        raise SlashError(f"/{command.name} needs {command.usage}")
    if command.name == "ctx" and arg != "auto" and not (arg.isdigit() and int(arg) >= 512):
        raise SlashError("/ctx takes a size of at least 512 (e.g. /ctx 8192) or auto")
    if command.name == "copy" and arg and arg not in COPY_WHAT:
        raise SlashError("/copy takes answer, code or finding")
    if command.name == "export" and arg.split(" ", 1)[0] not in EXPORT_FORMATS:
        raise SlashError("/export takes json or sarif, then an optional file name")
    if command.name == "review" and arg and not _REVIEW_TARGET.match(arg):
        raise SlashError("/review takes PATH, PATH:START-END or PATH::Symbol")
    return Parsed(command.name, arg)


_REVIEW_TARGET = re.compile(r"^[^\s:]+(:\d+-\d+|::[\w.]+)?$")


def complete(
    line: str,
    paths: Sequence[str] = (),
    models: Sequence[str] = (),
    revisions: Sequence[str] = (),
) -> str | None:
    """The whole line the user probably means, for the input's inline suggestion.

    ``/re`` -> ``/review ``; ``/review src/ap`` -> ``/review src/app.py`` (from ``paths``);
    ``/model gem`` -> ``/model gemma4:e4b``; ``/copy c`` -> ``/copy code``;
    ``/diff ma`` -> ``/diff main`` and ``/diff main..fe`` -> ``/diff main..feature`` (from
    ``revisions``: the part after the dots of a range is completed).
    """
    if not line.startswith("/"):
        return None
    name, space, arg = line[1:].partition(" ")
    if not space:
        for command in COMMANDS:
            if command.name.startswith(name.lower()) and command.name != name:
                return f"/{command.name} "
        return None
    choices: Sequence[str] = ()
    if name == "review":
        choices = paths
    elif name == "model":
        choices = models
    elif name == "copy":
        choices = COPY_WHAT
    elif name == "export":
        choices = EXPORT_FORMATS
    elif name == "ctx":
        choices = ("auto", "4096", "8192", "16384", "32768")
    elif name == "diff":
        left, word = split_range(arg)
        choices = [left + r for r in revisions if r.startswith(word)] if word or left else ()
    if not arg:
        return None
    for choice in choices:
        if choice.startswith(arg) and choice != arg:
            return f"/{name} {choice}"
    return None
