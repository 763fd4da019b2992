"""Definitions and references from tree-sitter tags queries, one ``queries/<lang>.scm`` each.

A query marks a definition node ``@definition.<kind>`` with its identifier ``@name``, the
identifier of a reference ``@reference.<kind>`` (one capture per match keeps the hot loop
short), and a node that only opens a scope (a Rust ``impl`` block) ``@scope`` with
``@name``. An optional ``@receiver`` (a Go receiver type, the ``Foo`` of C++ ``Foo::bar``)
prefixes the scope. Enclosing scopes come from how definition
nodes nest, so ``Class.method`` needs no per-language code. A query file may start with
``; inherits: a, b`` to include other files first (TypeScript extends JavaScript).

:func:`parse_tags` is the hot path used by the indexer's worker processes: it takes bytes and
returns a :class:`~gemmacode.index.parsed.ParseResult` of named tuples, cheap to build and to
store. :func:`extract_tags` wraps it for any text, for example the staged version of a file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from pathlib import Path
from typing import Any

from gemmacode.index.languages import LANGUAGES, get_language, get_parser
from gemmacode.index.model import Reference, Symbol
from gemmacode.index.parsed import ParseResult, SymbolTuple, symbols_from

QUERY_DIR = Path(__file__).resolve().parent / "queries"
TAGS_FORMAT = 3  # bump when the meaning of parse results changes, to invalidate caches
MAX_SIGNATURE = 240

CLASS_LIKE = frozenset({"class", "interface", "struct", "enum", "scope"})
# Nodes that wrap a definition and belong to its range (Python decorators); the query
# captures them, the signature is taken from the definition inside.
WRAPPERS = frozenset({"decorated_definition"})
LIFT_SIGNATURE = frozenset({"javascript", "typescript", "tsx", "go"})
# A lone declaration around a definition whose keyword belongs in the signature.
SIGNATURE_PARENTS = frozenset(
    {
        "type_declaration",
        "lexical_declaration",
        "variable_declaration",
        "export_statement",
        "const_declaration",
        "var_declaration",
    }
)

_INHERITS = re.compile(r"^;\s*inherits:\s*(.+)$", re.MULTILINE)


def query_source(language: str) -> str:
    """The full query text for ``language``, with inherited files prepended in order."""
    seen: set[str] = set()
    parts: list[str] = []

    def add(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        text = (QUERY_DIR / f"{name}.scm").read_text(encoding="utf-8")
        match = _INHERITS.search(text)
        if match:
            for parent in match.group(1).split(","):
                add(parent.strip())
        parts.append(text)

    add(language)
    return "\n".join(parts)


def fingerprint() -> str:
    """Changes whenever a query, a grammar install or the result format changes.

    Cached parse results are only valid for the fingerprint they were made with. Grammar
    wheels are identified by their install folder's mtime (found without importing them),
    which a reinstall or upgrade changes.
    """
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{TAGS_FORMAT}".encode())
    for scm in sorted(QUERY_DIR.glob("*.scm")):
        h.update(scm.name.encode())
        h.update(scm.read_bytes())
    modules = sorted({spec.module for spec in LANGUAGES.values()} | {"tree_sitter"})
    for module in modules:
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            h.update(f"{module}:missing".encode())
            continue
        folder = list(found.submodule_search_locations)[0]
        h.update(f"{module}:{folder}:{os.stat(folder).st_mtime_ns}".encode())
    return h.hexdigest()


_lock = threading.Lock()
_queries: dict[str, tuple[Any, list[tuple[str, str, str]]]] = {}
_local = threading.local()
_CAPTURE = re.compile(r"@((?:definition|reference)\.\w+|scope)\b")


def _compiled(language: str) -> tuple[Any, list[tuple[str, str, str]]]:
    """The query and, per pattern, its (role, capture, kind): role is def, ref or scope."""
    with _lock:
        found = _queries.get(language)
    if found is None:
        from tree_sitter import Query

        source = query_source(language)
        query: Any = Query(get_language(language), source)  # the stubs lag the runtime API
        raw = source.encode("utf-8")
        roles = []
        for i in range(query.pattern_count):
            text = raw[query.start_byte_for_pattern(i) : query.end_byte_for_pattern(i)]
            match = _CAPTURE.search(text.decode("utf-8"))
            capture = match.group(1) if match else ""
            role, _, kind = capture.partition(".")
            role = {"definition": "def", "reference": "ref"}.get(role, role)
            roles.append((role, capture, kind or role))
        found = (query, roles)
        with _lock:
            _queries[language] = found
    return found


def get_query(language: str) -> Any:
    """The compiled ``tree_sitter.Query`` for ``language`` (cached per process)."""
    return _compiled(language)[0]


def _parser(language: str) -> Any:
    parsers: dict[str, Any] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = get_parser(language)
    return parser


class _Def:
    __slots__ = ("start", "end", "name", "kind", "node", "receiver", "pattern", "prefix")

    def __init__(
        self, start: int, end: int, name: str, kind: str, node: Any, receiver: str, pattern: int
    ) -> None:
        self.start = start
        self.end = end
        self.name = name
        self.kind = kind
        self.node = node
        self.receiver = receiver
        self.pattern = pattern
        self.prefix: str | None = None  # scope path for nested definitions; None: empty


def parse_tags(data: bytes, language: str) -> ParseResult:
    """Parse ``data`` (UTF-8) and run the language's tags query over it.

    One definition per name token: when several patterns match it, the first pattern in the
    query file wins, so specific patterns (a decorated function, a Go interface) come first.
    This loop runs for every match in the repository, hence the plain style.
    """
    from tree_sitter import QueryCursor

    tree = _parser(language).parse(data)
    root = tree.root_node
    query, roles = _compiled(language)
    defs: dict[int, _Def] = {}  # by name start
    refs: dict[int, int] = {}  # name start -> end; a dict since two patterns may share a node
    for pattern, caps in QueryCursor(query).matches(root):
        role, capture, kind = roles[pattern]
        if role == "ref":  # most matches: keep this branch short
            node = caps[capture][0]
            refs[node.start_byte] = node.end_byte
            continue
        names = caps.get("name")
        if not role or not names:
            continue
        name_node = names[0]
        sb = name_node.start_byte
        if sb in defs and defs[sb].pattern <= pattern:
            continue
        node = caps[capture][0]
        receivers = caps.get("receiver")
        receiver = ""
        if receivers:
            r = receivers[0]
            receiver = _clean_receiver(data[r.start_byte : r.end_byte].decode("utf-8", "replace"))
        name = data[sb : name_node.end_byte].decode("utf-8", "replace")
        defs[sb] = _Def(node.start_byte, node.end_byte, name, kind, node, receiver, pattern)
    symbols = _nest(list(defs.values()), data, language in LIFT_SIGNATURE)
    if defs:
        for sb in defs.keys() & refs.keys():
            del refs[sb]
    starts = sorted(refs)
    ref_names = _names(data, [data[sb : refs[sb]] for sb in starts])
    ref_lines: list[int] = []
    append = ref_lines.append
    count = data.count
    pos, line = 0, 1  # counting newlines between sorted offsets beats node.start_point
    for sb in starts:
        line += count(b"\n", pos, sb)
        pos = sb
        append(line)
    return ParseResult(symbols, ref_names, ref_lines, root.has_error)


def _names(data: bytes, raw: list[bytes]) -> list[str]:
    """Decode many identifiers at once (one decode call instead of one per name)."""
    if not raw:
        return []
    if b"\0" in data:  # cannot use NUL as the separator
        return [r.decode("utf-8", "replace") for r in raw]
    return b"\0".join(raw).decode("utf-8", "replace").split("\0")


def _clean_receiver(text: str) -> str:
    while "<" in text and ">" in text:
        cleaned = re.sub(r"<[^<>]*>", "", text)
        if cleaned == text:
            break
        text = cleaned
    return text.replace("::", ".").strip(". ")


def _nest(defs: list[_Def], data: bytes, lift: bool) -> list[SymbolTuple]:
    """Scope paths and final kinds from how definition ranges nest, in document order."""
    defs.sort(key=lambda d: (d.start, -d.end))
    stack: list[_Def] = []
    out: list[SymbolTuple] = []
    count = data.count
    pos, line = 0, 1  # line of ``pos``; starts only grow, so counting newlines is cheap
    for d in defs:
        while stack and not (stack[-1].start <= d.start and d.end <= stack[-1].end):
            stack.pop()
        parent = stack[-1] if stack else None
        kind = d.kind
        in_class = parent is not None and parent.kind in CLASS_LIKE
        if kind == "function" and in_class:
            kind = "method"
        elif kind == "method" and not in_class and not d.receiver and parent is None:
            kind = "function"  # a Ruby def at the top of a file
        # A C typedef around a struct names the same thing: not a scope of its own. Each
        # stacked definition keeps the path it gives the ones inside, built once.
        pre = parent.prefix if parent is not None else None
        outer = pre
        if d.receiver:
            outer = d.receiver if outer is None else f"{outer}.{d.receiver}"
        scope = d.name if outer is None else f"{outer}.{d.name}"
        d.prefix = pre if d.kind == "type" else (d.name if pre is None else f"{pre}.{d.name}")
        stack.append(d)
        if d.kind == "scope":
            continue
        line += count(b"\n", pos, d.start)
        pos = d.start
        end_line = line + count(b"\n", d.start, d.end)
        if end_line > line and data[d.end - 1] == 10:  # ends at a line start: not that line
            end_line -= 1
        out.append(
            SymbolTuple(
                d.name,
                kind,
                scope,
                line,
                end_line,
                _signature(d.node, data, lift),
                d.start,
                d.end,
            )
        )
    return out


def _signature(node: Any, data: bytes, lift: bool) -> str:
    """The definition's header: its text up to the body, whitespace collapsed, capped.

    ``lift`` takes in a lone enclosing declaration (``const``, ``type``, ``export``); it is
    off for languages without them because finding a node's parent is not free.
    """
    if node.type in WRAPPERS:
        inner = node.child_by_field_name("definition")
        node = inner if inner is not None else node
    start = node.start_byte
    if lift:
        parent = node.parent
        if (
            parent is not None
            and parent.type in SIGNATURE_PARENTS
            and parent.named_child_count == 1
        ):
            start = parent.start_byte
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")
        if value is not None:
            body = value.child_by_field_name("body")
    if body is not None and body.start_byte > start:
        end = body.start_byte
        header = data[start:end]
        if b"#" in header or b"/" in header:  # maybe a comment before the body: leave it out
            end = start
            for child in node.children:
                if child.start_byte >= body.start_byte:
                    break
                if not child.is_extra:
                    end = child.end_byte
    else:
        newline = data.find(b"\n", start, node.end_byte)
        end = node.end_byte if newline < 0 else newline
    text = " ".join(data[start:end].decode("utf-8", "replace").split()).rstrip(" {")
    text = text.replace("( ", "(").replace(" )", ")")
    if len(text) > MAX_SIGNATURE:
        text = text[: MAX_SIGNATURE - 1] + "…"
    return text


def extract_tags(text: str, language: str, path: str) -> tuple[list[Symbol], list[Reference]]:
    """Definitions and references in ``text``; empty for languages without a grammar.

    Byte offsets refer to ``text`` encoded as UTF-8 (lone surrogates replaced).
    """
    if language not in LANGUAGES:
        return [], []
    data = text.encode("utf-8", "replace")
    return symbols_from(parse_tags(data, language), path)
