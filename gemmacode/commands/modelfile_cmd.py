"""``gemmacode modelfile``: write a Modelfile for ``ollama create`` with gemmacode's settings.

Useful for the other clients of the same server (``ollama run``, editors): gemmacode itself
sends ``num_ctx`` and the sampling options with every request, so it never depends on it.
"""

from __future__ import annotations

import argparse
import os
import string
import sys
import tempfile
from pathlib import Path

from gemmacode.commands.common import add_model_flags, add_root_flag, settings_for
from gemmacode.config import Settings
from gemmacode.errors import ConfigError, UsageError

HELP = "write a Modelfile (num_ctx, num_batch, sampling, system prompt) for `ollama create`"
DEFAULT_NUM_CTX = 8192  # the seed's baseline when the context is automatic
BUILTIN_SYSTEM = (
    "You are a careful senior software engineer who reviews code. Be short and concrete."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o", "--output", type=Path, default=None, help="write here instead of standard output"
    )
    add_root_flag(p)
    add_model_flags(p)


def system_prompt() -> str:
    """The review system prompt (user override, else shipped), else a built-in line."""
    try:
        from gemmacode.review.prompts import load

        text = load("system")
    except (ImportError, FileNotFoundError, ValueError):
        return BUILTIN_SYSTEM
    return string.Template(text).safe_substitute().strip() or BUILTIN_SYSTEM


def render(settings: Settings, system: str) -> str:
    """The Modelfile text. ``\"\"\"`` cannot appear inside a Modelfile's quoted SYSTEM block."""
    num_ctx = settings.context.num_ctx or DEFAULT_NUM_CTX
    system = system.replace('"""', "'''")
    lines = [
        "# Written by `gemmacode modelfile`. gemmacode sends these with every request anyway;",
        "# this file gives the same defaults to `ollama run` and other clients.",
        f"FROM {settings.backend.model}",
        f"PARAMETER num_ctx {num_ctx}",
        f"PARAMETER num_batch {settings.context.num_batch}",
        f"PARAMETER temperature {settings.sampling.temperature:g}",
        f"PARAMETER top_p {settings.sampling.top_p:g}",
        f'SYSTEM """{system}"""',
    ]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    """Write through a temporary file so an interrupted run never leaves half a Modelfile."""
    target = path.resolve()
    if target.is_dir():
        raise UsageError(f"{path} is a folder", "give a file name, e.g. -o Modelfile")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".Modelfile-", dir=target.parent)
    except OSError as exc:
        raise ConfigError(
            f"cannot write in {target.parent} ({exc.strerror})", "pick another -o path"
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    _, settings = settings_for(args)
    text = render(settings, system_prompt())
    if args.output is None:
        sys.stdout.write(text)
        return 0
    _write(args.output, text)
    name = settings.backend.model.split(":")[0] + "-review"
    print(
        f"wrote {args.output}; create the model with: ollama create {name} -f {args.output}",
        file=sys.stderr,
    )
    return 0
