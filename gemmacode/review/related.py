"""Related code for a diff without loading the whole index: ``git grep`` plus a few tag parses.

The diff packer adds the definitions a change calls and the ones that call it. A warm
:class:`~gemmacode.index.indexer.RepoIndex` answers that, but decoding every symbol of a large
repository costs more than the whole review's start-up budget (0.5 s to the request). For the
command line, :class:`GrepRelated` answers the same four questions from one ``git grep`` for
all the names the change involves, started in the background as soon as the diff is read
(so it runs while the tokenizer loads), and from the tags of a few files it finds (parsed
on demand, at most ``max_parses``). A name found in more than ``max_files`` files is too
common to resolve and is skipped, as the packer skips names with many definitions.
"""

from __future__ import annotations

import builtins
import keyword
import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from gemmacode.index.languages import EXTENSIONS, language_for
from gemmacode.index.model import Reference, Symbol
from gemmacode.review.sections import TagsFn, innermost
from gemmacode.review.targets import DiffTarget, git_command

MAX_NAMES = 32
_BUILTINS = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | {"self", "cls", "this"}
# A line that defines NAME: a definition keyword, maybe a receiver ("Foo." or "(r *T) "),
# then NAME as a whole word. Matched in two steps so no regex is compiled per name.
_DEF_KEYWORD = re.compile(
    r"\b(def|class|function|func|fn|struct|interface|enum|trait|type|module|record|"
    r"object|sub|alias|const|let|var|impl)\s+"
)
_RECEIVER = re.compile(r"\w+\s*\.\s*|\([^)]*\)\s*")
_NO_KEYWORD = frozenset({"c", "cpp", "java", "csharp"})


def memo_tags(tags_fn: TagsFn) -> TagsFn:
    """``tags_fn`` with its results kept per (path, text), so a file is parsed once."""
    cache: dict[tuple[str, str], tuple[list[Symbol], list[Reference]]] = {}

    def tags(text: str, language: str, path: str) -> tuple[list[Symbol], list[Reference]]:
        key = (path, text)
        if key not in cache:
            cache[key] = tags_fn(text, language, path)
        return cache[key]

    return tags


def change_names(target: DiffTarget, tags_fn: TagsFn) -> tuple[list[str], set[str]]:
    """Names the change touches (definitions around changed lines first, then what added
    lines use) and the languages of the changed files."""
    files = [f for f in target.files if f.new_path and not f.binary and f.hunks]
    target.prefetch([f.path for f in files])
    defines: list[str] = []
    calls: list[str] = []
    languages: set[str] = set()
    for fd in sorted(files, key=lambda f: -f.size):
        text = target.new_text(fd.path)
        language = language_for(fd.path)
        if text is None or language == "text":
            continue
        languages.add(language)
        symbols, references = tags_fn(text, language, fd.path)
        added = {n for h in fd.hunks for n in h.added_lines()}
        calls += [r.name for r in references if r.line in added]
        for h in fd.hunks:
            lines = h.added_lines() or [h.new_range[0]]
            sym = innermost(symbols, min(lines), max(lines))
            if sym is not None:
                defines.append(sym.name)
    return list(dict.fromkeys(defines + calls)), languages


def _word_at(text: str, pos: int, name: str) -> bool:
    end = pos + len(name)
    if not text.startswith(name, pos):
        return False
    return end == len(text) or not (text[end].isalnum() or text[end] == "_")


def defines(line: str, name: str) -> bool:
    """Whether ``line`` reads like the definition of ``name`` (``def name``,
    ``class name``, ``func (r *T) name``, ``def Foo.name``...)."""
    for kw in _DEF_KEYWORD.finditer(line):
        if _word_at(line, kw.end(), name):
            return True
        receiver = _RECEIVER.match(line, kw.end())
        if receiver is not None and _word_at(line, receiver.end(), name):
            return True
    return False


class GrepRelated:
    """Implements :class:`gemmacode.review.packing.RelatedIndex` over the work tree."""

    def __init__(
        self,
        root: Path,
        tags_fn: TagsFn,
        *,
        max_files: int = 12,
        max_parses: int = 12,
        env: dict[str, str] | None = None,
    ) -> None:
        """``env``: extra git environment (``GIT_INDEX_FILE`` for a commit hook's index)."""
        self.root = root
        self.tags_fn = tags_fn
        self.env = env or {}
        self.max_files = max_files
        self.max_parses = max_parses
        self._hits: dict[str, list[tuple[str, int]]] = {}
        self._texts: dict[str, str] = {}
        self._lines: dict[str, list[str]] = {}
        self._symbols: dict[str, list[Symbol]] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._pending: list[str] = []
        self._exts: list[str] = []
        self._perl = True

    def start(self, names: Iterable[str], languages: Iterable[str] = ()) -> None:
        """Begin one ``git grep`` for every line naming any of ``names`` in files of
        ``languages`` (all known languages when empty); :meth:`prime` collects it."""
        if self._proc is not None:
            return
        todo = [
            n
            for n in dict.fromkeys(names)
            if n.isidentifier()
            and len(n) >= 3
            and not (n.startswith("__") and n.endswith("__"))  # dunders: everywhere, no help
            and n not in _BUILTINS
            and n not in self._hits
        ][:MAX_NAMES]
        for n in todo:
            self._hits[n] = []
        if not todo:
            return
        wanted = set(languages)
        self._exts = [e for e, lang in EXTENSIONS.items() if not wanted or lang in wanted]
        self._pending = todo
        self._spawn(perl=True)

    def _spawn(self, *, perl: bool) -> None:
        """Start the search for ``self._pending``, printing one ``path NUL line NUL name``
        row per match (``-o``), so no line is matched again here. Perl-compatible patterns
        (``-P``, PCRE's JIT) search a large tree in about half the time of git's extended
        ones (``-w -E``), which are the fallback for a git built without PCRE; with ``LC_ALL=C``
        both treat only ASCII letters, digits and ``_`` as word characters. One alternation
        for all names: git's many "-F -w -e" patterns take seconds on a large tree."""
        names = "|".join(self._pending)
        how = ["-P", "-e", rf"\b(?:{names})\b"] if perl else ["-w", "-E", "-e", f"({names})"]
        args = ["grep", "-n", "-o", "-I", "-z", "--full-name", *how, "--"]
        cmd, env = git_command(self.root, *args, *(f"*{e}" for e in self._exts), env_extra=self.env)
        self._perl = perl
        # Output goes to a file, not a pipe: a pipe holds 64 KB, and git would stall once it
        # is full until prime() reads, instead of searching while the caller works.
        self._out = tempfile.TemporaryFile(prefix="gemmacode-grep-")
        try:
            self._proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.DEVNULL, env=env)
        except BaseException:
            self.close()
            raise

    def prime(self, names: Iterable[str], languages: Iterable[str] = ()) -> None:
        """Collect the search (starting it now if :meth:`start` was not called); names that
        were not searched for have no hits."""
        self.start(names, languages)
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.wait()
        out = self._take_output()
        if proc.returncode == 128 and self._perl:  # no PCRE in this git: the slower way
            self._spawn(perl=False)
            proc, self._proc = self._proc, None
            if proc is None:
                return
            proc.wait()
            out = self._take_output()
        if proc.returncode not in (0, 1):
            return  # related code is a bonus: a failed search only leaves it out
        hits = self._hits
        for row in out.decode("utf-8", "replace").split("\n"):
            path, _, rest = row.partition("\0")
            line, _, name = rest.partition("\0")
            got = hits.get(name)
            if got is None or not line.isdigit():
                continue
            entry = (path, int(line))
            if not got or got[-1] != entry:  # a name twice on one line: one hit
                got.append(entry)

    def _take_output(self) -> bytes:
        out, self._out = self._out, None
        if out is None:
            return b""
        with out:
            out.seek(0)
            return out.read()

    def close(self) -> None:
        """Stop a search that was started but never collected."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._out is not None:
            self._out.close()
            self._out = None

    def read_text(self, path: str) -> str:
        text = self._texts.get(path)
        if text is None:
            text = (self.root / path).read_bytes().decode("utf-8", "replace")
            self._texts[path] = text
        return text

    def _line(self, path: str, line: int) -> str:
        lines = self._lines.get(path)
        if lines is None:
            try:
                lines = self.read_text(path).splitlines()
            except OSError:
                lines = []
            self._lines[path] = lines
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def _tags(self, path: str) -> list[Symbol]:
        syms = self._symbols.get(path)
        if syms is None:
            if len(self._symbols) >= self.max_parses:  # keep start-up fast: enough context
                return []
            language = language_for(path)
            try:
                text = self.read_text(path)
            except OSError:
                text = ""
            syms = self.tags_fn(text, language, path)[0] if language != "text" and text else []
            self._symbols[path] = syms
        return syms

    def definitions(self, name: str) -> list[Symbol]:
        hits = self._hits.get(name, [])
        files = list(dict.fromkeys(p for p, _ in hits))
        if len(files) > self.max_files:
            return []
        # Parse only files where a hit reads like a definition, when the language has a
        # definition keyword; C-family files (no keyword) are parsed as they come.
        likely = [
            path
            for path in files
            if language_for(path) in _NO_KEYWORD
            or any(p == path and defines(self._line(p, n), name) for p, n in hits)
        ]
        return [s for path in likely for s in self._tags(path) if s.name == name]

    def references_to(self, name: str) -> list[Reference]:
        return [Reference(name, path, line) for path, line in self._hits.get(name, [])]

    def enclosing(self, path: str, line: int) -> Symbol | None:
        return innermost([s for s in self._tags(path) if s.start_line <= line], line, line)
