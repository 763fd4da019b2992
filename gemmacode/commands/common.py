"""Helpers shared by command modules: finding the project root, flags, settings.

(Start-up tuning lives in :mod:`gemmacode.session.startup`, the map cache folder in
:mod:`gemmacode.session.workspace`.)"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path
from typing import Any

from gemmacode.config import Settings, load_settings


def find_root(start: Path | None = None) -> Path:
    """The git work-tree root above ``start``, or ``start`` itself outside git."""
    start = (start or Path.cwd()).resolve()
    try:
        out = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return start
    if out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip()).resolve()
    return start


def add_root_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="project folder (default: the git root above the current folder)",
    )


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """Flags every model-facing command takes; they override the configuration."""
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, help="model name (default from config: gemma4:e4b)")
    g.add_argument(
        "--backend",
        choices=["ollama", "embedded", "openai"],
        default=None,
        help="model backend (default from config: ollama)",
    )
    g.add_argument("--host", default=None, help="Ollama URL or OpenAI-compatible base URL")
    g.add_argument(
        "--num-ctx",
        type=int,
        default=None,
        help="pin the context size instead of choosing it from free GPU memory",
    )


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    backend = getattr(args, "backend", None)
    host = getattr(args, "host", None)
    out: dict[str, Any] = {
        "backend.model": getattr(args, "model", None),
        "backend.kind": backend,
        "context.num_ctx": getattr(args, "num_ctx", None),
    }
    if host is not None:
        out["backend.openai_base_url" if backend == "openai" else "backend.host"] = host
    return out


def settings_for(
    args: argparse.Namespace, extra: dict[str, Any] | None = None
) -> tuple[Path, Settings]:
    root = args.root.resolve() if getattr(args, "root", None) else find_root()
    overrides = model_overrides(args)
    if extra:
        overrides.update(extra)
    return root, load_settings(root, os.environ, overrides)
