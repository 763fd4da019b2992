"""Prompt templates: shipped in the package, overridable from the user's config folder.

Templates live in ``prompts/*.md`` (installed as the package ``gemmacode.prompts``) and are
read with :mod:`importlib.resources`, so they work from a wheel or a zip; when the package
is a plain folder (any ordinary install) the file is read directly, the same bytes without
the ~20 ms of CPU that importing ``importlib.resources`` (and ``zipfile``) costs a short
command such as the commit hook. A file
``<user config dir>/prompts/<name>.md`` replaces the shipped one of the same name. Templates
use ``$name`` placeholders (:class:`string.Template`), so the JSON examples in them need no
escaping. Focus areas and the project's extra instructions are injected only when asked: a
small model gets only what the step needs.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path

from gemmacode.config import user_config_dir
from gemmacode.errors import ConfigError

NAMES: tuple[str, ...] = ("system", "review_file", "review_diff", "question", "merge", "extract")
FOCUS_AREAS: dict[str, str] = {
    "security": (
        "security: injection (SQL, shell, paths), unchecked input, secrets in code, "
        "missing permission checks"
    ),
    "bugs": ("bugs: wrong logic, off-by-one, unchecked None or null, wrong error handling, races"),
    "performance": (
        "performance: needless work in loops, repeated I/O or queries, wrong data structures"
    ),
    "style": "style: unclear names, dead code, duplication, unhelpful error messages",
}


def override_path(name: str, env: Mapping[str, str] | None = None) -> Path:
    return user_config_dir(env) / "prompts" / f"{name}.md"


def load(name: str, env: Mapping[str, str] | None = None) -> str:
    """The template text for ``name``: the user's override if present, else the shipped one."""
    if name not in NAMES:
        raise ValueError(f"unknown prompt {name!r}")
    user = override_path(name, env)
    if user.is_file():
        try:
            return user.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{user}: cannot be read ({exc})", "fix or remove the file") from exc
    return _shipped(name)


def _shipped(name: str) -> str:
    """The template ``name`` as the package ships it."""
    import importlib.util

    spec = importlib.util.find_spec("gemmacode.prompts")  # where, without importing it
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        try:
            return (Path(folder) / f"{name}.md").read_text("utf-8")
        except OSError:  # not a plain folder (a zip): the resource loader knows the way
            break
    from importlib import resources

    return resources.files("gemmacode.prompts").joinpath(f"{name}.md").read_text("utf-8")


def focus_text(focus: Sequence[str]) -> str:
    """The focus line, or "" when no focus is asked for."""
    areas = [FOCUS_AREAS[f] for f in focus if f in FOCUS_AREAS]
    if not areas:
        return ""
    return "\nFocus on " + "; and on ".join(areas) + "."


def extra_text(extra: str) -> str:
    extra = extra.strip()
    return f"\nProject instructions: {extra}" if extra else ""


def render(name: str, env: Mapping[str, str] | None = None, **values: str) -> str:
    """Fill template ``name``; a placeholder the caller does not know is a ConfigError."""
    text = load(name, env)
    try:
        return string.Template(text).substitute(values).strip() + "\n"
    except (KeyError, ValueError) as exc:
        where = override_path(name, env) if override_path(name, env).is_file() else name
        known = ", ".join(f"${k}" for k in sorted(values))
        raise ConfigError(
            f"prompt {where}: unknown or bad placeholder {exc}",
            f"use only {known} (write $$ for a dollar sign)",
        ) from exc
