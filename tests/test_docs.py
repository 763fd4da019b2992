"""The reference in docs/ names every command, flag and configuration key the code has.

The commands and flags come from the real parsers (``gemmacode.cli.COMMANDS`` and each command
module's ``add_arguments``), the keys and defaults from the real settings model
(``gemmacode.config.describe``), so a flag or key added without its documentation fails here,
with a message saying which file should mention what.

Where a command is documented: the section ``## `gemmacode NAME` `` of docs/commands.md, and/or
a file of its own, docs/NAME.md (a front end with a long reference, such as the commit hook,
may keep it there). Its flags, subcommands and positional choices must appear in one of them.
"""

from __future__ import annotations

import argparse
import importlib
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmacode.cli import COMMANDS
from gemmacode.config import describe

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COMMANDS_DOC = DOCS / "commands.md"
CONFIG_DOC = DOCS / "configuration.md"
README = ROOT / "README.md"


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"gemmacode {name}")
    importlib.import_module(COMMANDS[name][0]).add_arguments(parser)
    return parser


def _surface(parser: argparse.ArgumentParser) -> Iterator[str]:
    """What a user types: option strings, subcommand names and positional choices."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield sub_name
                yield from _surface(sub)
        elif action.option_strings:
            yield from action.option_strings
        elif action.choices is not None:
            yield from (str(c) for c in action.choices)


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def _sections(path: Path) -> dict[str, str]:
    """The command sections of docs/commands.md: command name -> its text."""
    out: dict[str, str] = {}
    parts = re.split(r"^(?=## )", path.read_text(encoding="utf-8"), flags=re.M)
    for part in parts:
        head = re.match(r"## `?gemmacode ([\w-]+)`?\s*$", part.split("\n", 1)[0])
        if head:
            out[head.group(1)] = part
    return out


def _reference(name: str) -> tuple[str, list[str]]:
    """A command's reference text and the places it was read from."""
    text, where = "", []
    section = _sections(COMMANDS_DOC).get(name)
    if section is not None:
        text += section
        where.append(f"{_rel(COMMANDS_DOC)} section '## `gemmacode {name}`'")
    own = DOCS / f"{name}.md"
    if own.is_file():
        text += own.read_text(encoding="utf-8")
        where.append(_rel(own))
    return text, where


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_flag_and_subcommand_is_documented(name: str) -> None:
    surface = sorted(set(_surface(_parser(name))))
    text, where = _reference(name)
    module_file = COMMANDS[name][0].replace(".", "/") + ".py"
    assert where, (
        f"command '{name}' ({module_file}) has no reference: add a section "
        f"'## `gemmacode {name}`' to {_rel(COMMANDS_DOC)}, or write docs/{name}.md, "
        f"naming {', '.join(surface) or 'what it does'}"
    )
    missing = [word for word in surface if not _mentions(text, word)]
    assert not missing, (
        f"{' and '.join(where)} must mention {', '.join(missing)} "
        f"(declared in {module_file}'s add_arguments)"
    )


def test_commands_doc_names_no_command_or_flag_the_parsers_lack() -> None:
    """A removed command or flag must leave the reference too."""
    stale: list[str] = []
    for name, section in _sections(COMMANDS_DOC).items():
        if name not in COMMANDS:
            stale.append(f"section '## `gemmacode {name}`' (no such command in gemmacode/cli.py)")
            continue
        flags = set(_surface(_parser(name)))
        for flag in sorted(set(re.findall(r"(?<![\w-])--[a-z][\w-]*", section))):
            if flag not in flags:
                stale.append(f"'{flag}' in the '## `gemmacode {name}`' section")
    assert not stale, f"{_rel(COMMANDS_DOC)} documents what does not exist: " + "; ".join(stale)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _key_rows() -> dict[str, str]:
    """docs/configuration.md's table rows: dotted key -> the default cell's text."""
    rows: dict[str, str] = {}
    for line in CONFIG_DOC.read_text(encoding="utf-8").splitlines():
        row = re.match(r"\|\s*`([\w]+\.[\w]+)`\s*\|\s*`([^`]*)`\s*\|", line)
        if row:
            rows[row.group(1)] = row.group(2)
    return rows


def test_every_configuration_key_is_documented_with_its_default() -> None:
    rows = _key_rows()
    problems: list[str] = []
    for key, doc, default in describe():
        section = key.split(".")[0]
        wanted = f"| `{key}` | `{_toml(default)}` | {doc} |"
        if key not in rows:
            problems.append(f"no row for `{key}`: add {wanted!r} under '### [{section}]'")
        elif tomllib.loads(f"v = {rows[key]}")["v"] != default:
            problems.append(f"`{key}` shows default {rows[key]}, the code's is {_toml(default)}")
    known = {key for key, _, _ in describe()}
    problems += [f"`{key}` is no setting: remove its row" for key in rows if key not in known]
    assert not problems, (
        f"{_rel(CONFIG_DOC)} is out of step with gemmacode/config.py: " + "; ".join(problems)
    )


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def test_readme_links_every_doc_and_every_link_resolves() -> None:
    readme = README.read_text(encoding="utf-8")
    unlinked = [_rel(p) for p in sorted(DOCS.glob("*.md")) if f"]({_rel(p)}" not in readme]
    assert not unlinked, f"README.md must link {', '.join(unlinked)} (under '## Read on')"
    broken: list[str] = []
    for md in _markdown_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", md.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (md.parent / file_part).resolve() if file_part else md
            if not dest.exists():
                broken.append(f"{_rel(md)} -> {target} (no such file)")
            elif anchor and dest.suffix == ".md":
                heads = re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), flags=re.M)
                if anchor not in {_slug(h) for h in heads}:
                    broken.append(f"{_rel(md)} -> {target} (no such heading)")
    assert not broken, "broken links: " + "; ".join(broken)


def test_every_file_path_named_in_the_docs_exists() -> None:
    """A module moved or renamed must take its mentions along (folders are not checked, so
    a package being built may be named before it lands)."""
    path_re = re.compile(r"`(?:python )?((?:gemmacode|bench|tests|prompts|docs)/[\w./-]+\.\w+)")
    missing = [
        f"{_rel(md)} names {path}"
        for md in _markdown_files()
        for path in path_re.findall(md.read_text(encoding="utf-8"))
        if not (ROOT / path).exists()
    ]
    assert not missing, "no such file: " + "; ".join(missing)


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md needs its '## {heading}' section"
    return match.group(1)


def test_readme_install_and_test_commands_are_the_ones_ci_runs() -> None:
    readme = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for heading, command in (
        ("Install", 'python -m pip install -e ".[dev,embedded]"'),
        ("Test", "python -m pytest"),
    ):
        assert f"\n{command}\n" in _section(readme, heading), (heading, command)
        assert f"\n{command}\n" in ci, f".ci/run must run {command!r}"
