"""Records the index produces and every other part consumes.

Lines are 1-based and inclusive; byte offsets are 0-based, end exclusive, into the file's
UTF-8 bytes (after undecodable bytes were replaced). Paths are POSIX, relative to the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Symbol:
    """A definition: ``scope`` is the enclosing path such as ``Class.method`` (itself included)."""

    name: str
    kind: str  # function, method, class, interface, module, type, constant, ...
    scope: str
    file: str
    start_line: int
    end_line: int
    signature: str  # the definition's first line(s), body left out
    start_byte: int = 0
    end_byte: int = 0


@dataclass(frozen=True)
class Reference:
    name: str
    file: str
    line: int


@dataclass
class FileRecord:
    path: str
    language: str  # a key of languages.LANGUAGES, or "text"
    size: int
    mtime_ns: int
    digest: str  # content hash (blake2b hex)
    symbols: list[Symbol] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # e.g. "non-utf8", "parse-errors"


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str  # binary, too-large, lockfile, minified, generated, symlink-outside, loop, vanished


@dataclass(frozen=True)
class Chunk:
    file: str
    language: str
    start_line: int
    end_line: int
    start_byte: int
    end_byte: int
    scope: str  # enclosing symbol path, "" at top level
    text: str
    tokens: int
