"""File name to language, and tree-sitter grammars loaded on demand from their offline wheels.

Grammar modules are imported only when a file of that language is parsed, so commands that
never parse (``--help``, the hook's fast path) pay nothing for them.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any


@dataclass(frozen=True)
class LanguageSpec:
    key: str
    module: str  # the grammar wheel's module
    entry: str = "language"  # function in that module returning the grammar pointer


LANGUAGES: dict[str, LanguageSpec] = {
    "python": LanguageSpec("python", "tree_sitter_python"),
    "javascript": LanguageSpec("javascript", "tree_sitter_javascript"),
    "typescript": LanguageSpec("typescript", "tree_sitter_typescript", "language_typescript"),
    "tsx": LanguageSpec("tsx", "tree_sitter_typescript", "language_tsx"),
    "go": LanguageSpec("go", "tree_sitter_go"),
    "rust": LanguageSpec("rust", "tree_sitter_rust"),
    "java": LanguageSpec("java", "tree_sitter_java"),
    "c": LanguageSpec("c", "tree_sitter_c"),
    "cpp": LanguageSpec("cpp", "tree_sitter_cpp"),
    "csharp": LanguageSpec("csharp", "tree_sitter_c_sharp"),
    "ruby": LanguageSpec("ruby", "tree_sitter_ruby"),
    "php": LanguageSpec("php", "tree_sitter_php", "language_php"),
    "bash": LanguageSpec("bash", "tree_sitter_bash"),
}

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".rake": "ruby",
    ".php": "php",
    ".sh": "bash",
    ".bash": "bash",
}

FILENAMES: dict[str, str] = {"Rakefile": "ruby", "Gemfile": "ruby", ".bashrc": "bash"}

TEXT = "text"  # everything else: Markdown, TOML, YAML, SQL, ... chunked by lines


def language_for(path: str) -> str:
    """The language key for a path, or ``"text"`` when no grammar applies."""
    p = PurePosixPath(path)
    if p.name in FILENAMES:
        return FILENAMES[p.name]
    return EXTENSIONS.get(p.suffix.lower(), TEXT)


def language_for_shebang(first_line: str) -> str:
    if first_line.startswith("#!"):
        if "python" in first_line:
            return "python"
        if "bash" in first_line or first_line.rstrip().endswith("/sh"):
            return "bash"
        if "node" in first_line:
            return "javascript"
        if "ruby" in first_line:
            return "ruby"
    return TEXT


_lock = threading.Lock()
_languages: dict[str, Any] = {}


def get_language(key: str) -> Any:
    """The ``tree_sitter.Language`` for ``key`` (cached per process)."""
    with _lock:
        lang = _languages.get(key)
        if lang is None:
            from tree_sitter import Language

            spec = LANGUAGES[key]
            module = importlib.import_module(spec.module)
            lang = Language(getattr(module, spec.entry)())
            _languages[key] = lang
        return lang


def get_parser(key: str) -> Any:
    """A fresh ``tree_sitter.Parser`` for ``key``; parsers are cheap, not thread-safe."""
    from tree_sitter import Parser

    return Parser(get_language(key))
