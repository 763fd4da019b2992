"""The headless core must never load textual (or other heavy imports at start-up)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import gemmacode

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS_WITH_TEXTUAL = ("gemmacode.tui",)  # the only packages allowed to import textual


def _core_modules() -> list[str]:
    """Every module of the package, sub-packages included, except the terminal UI's."""
    top = str(Path(gemmacode.__file__).parent)
    return [
        m.name
        for m in pkgutil.walk_packages([top], prefix="gemmacode.")
        if not m.name.startswith(FRONT_ENDS_WITH_TEXTUAL)
    ]


def test_core_modules_exist() -> None:
    mods = _core_modules()
    assert "gemmacode.index.languages" in mods
    assert {"gemmacode.cli", "gemmacode.tokens", "gemmacode.tokens.helper"} <= set(mods)
    assert "gemmacode.backends.base" in mods
    assert {"gemmacode.review.findings.parse", "gemmacode.repomap.build"} <= set(mods)


def test_core_never_imports_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"mods = {_core_modules()!r}\n"
        "bad = []\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "    if 'textual' in sys.modules:\n"
        "        bad.append(m); break\n"
        "print('BAD', bad)\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from gemmacode.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('textual', 'tree_sitter', 'tiktoken', 'ollama', 'llama_cpp', 'git', "
        "'pynvml', 'httpx') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "raise SystemExit(1 if heavy else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
