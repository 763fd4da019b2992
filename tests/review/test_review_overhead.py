"""What keeps ``review --staged`` quick to send: each shortcut must give the same answer as
the slow way (bench/bench_review_overhead.py measures the time)."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gemmacode.backends.ollama import OllamaBackend
from gemmacode.cli import main
from gemmacode.config import IndexSettings, Settings, load_settings
from gemmacode.errors import BackendError
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.gpu.reading import MemoryReading, SourceName
from gemmacode.index.cached_tags import CachedTags, content_key
from gemmacode.index.indexer import open_index
from gemmacode.index.tags import extract_tags
from gemmacode.index.workers import digest
from gemmacode.review.related import GrepRelated, defines, memo_tags
from gemmacode.session.startup import prewarm
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------- client imports


def test_httpx_loads_without_its_command_line_client() -> None:
    code = (
        "import sys\n"
        "from gemmacode.backends.clientlib import import_ollama\n"
        "import_ollama()\n"
        "cli = ('httpx._main', 'click', 'rich', 'pygments')\n"
        "print(sorted(m for m in cli if m in sys.modules))\n"
        "import httpx, httpx._main\n"  # still importable on purpose afterwards
        "print(httpx._main.__name__, callable(httpx.main))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "httpx._main True"]


class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(307)
        self.send_header("Location", "https://127.0.0.1:9/api/tags")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_plain_http_server_is_never_left_for_unverified_tls(redirecting_server: str) -> None:
    # The http:// client carries no CA bundle, so it must not follow a redirect to https.
    async def go() -> None:
        backend = OllamaBackend(redirecting_server, timeout_s=5)
        try:
            with pytest.raises(BackendError, match="307"):
                await backend.list_models()
        finally:
            await backend.aclose()

    asyncio.run(go())


def test_https_servers_keep_the_clients_redirect_handling() -> None:
    async def go() -> tuple[bool, bool]:
        plain, secure = OllamaBackend("http://127.0.0.1:1"), OllamaBackend("https://a.test")
        try:
            return (
                plain._get_client().http.follow_redirects,
                secure._get_client().http.follow_redirects,
            )
        finally:
            await plain.aclose()
            await secure.aclose()

    assert asyncio.run(go()) == (False, True)


# ---------------------------------------------------------------------------- git grep


def test_a_search_with_more_output_than_a_pipe_holds_finishes_unattended(
    git_repo: Path,
) -> None:
    lines = [f"value_{i} = normalise({i})" for i in range(20_000)]  # ~600 KB of hits
    (git_repo / "many.py").write_text("\n".join(lines) + "\n")
    git(git_repo, "add", "many.py")
    related = GrepRelated(git_repo, memo_tags(extract_tags))
    related.start(["normalise"], {"python"})
    try:
        proc = related._proc
        assert proc is not None
        # Nobody reads yet: git must still run to the end (a full pipe would block it).
        assert proc.wait(timeout=20) == 0
        related.prime(["normalise"])
    finally:
        related.close()
    hits = related.references_to("normalise")
    assert len(hits) == 20_000
    assert hits[0].file == "many.py" and hits[0].line == 1 and hits[-1].line == 20_000


def _hits_by_lines(root: Path, names: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Every (file, line) naming each name as a whole word, read the slow way."""
    word = re.compile(r"\b(" + "|".join(names) + r")\b")
    out: dict[str, list[tuple[str, int]]] = {n: [] for n in names}
    for path in sorted(p for p in root.rglob("*.py") if ".git" not in p.parts):
        rel = path.relative_to(root).as_posix()
        for i, text in enumerate(path.read_text().splitlines(), 1):
            for name in sorted(set(word.findall(text))):
                out[name].append((rel, i))
    return out


@pytest.mark.parametrize("pcre", [True, False], ids=["pcre", "git-without-pcre"])
def test_the_search_finds_each_name_once_per_line_with_or_without_pcre(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pcre: bool
) -> None:
    (git_repo / "a.py").write_text(
        "def normalise(x):\n"
        "    return normalise(normalise(x))  # twice on one line: one hit\n"
        "normalise_all = renormalise = 1  # longer names: no hit\n"
        "clean(normalise)\n"
    )
    (git_repo / "pkg").mkdir()
    (git_repo / "pkg" / "b.py").write_text("from a import normalise\nclean = normalise\n")
    (git_repo / "notes.txt").write_text("normalise\n")  # not a searched language
    git(git_repo, "add", "-A")
    if not pcre:  # a git built without PCRE refuses -P with exit 128
        real = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "git").write_text(
            f'#!/bin/sh\nfor a; do [ "$a" = -P ] && exit 128; done\nexec {real} "$@"\n'
        )
        (fake / "git").chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    related = GrepRelated(git_repo, memo_tags(extract_tags))
    related.prime(["normalise", "clean"], {"python"})
    expected = _hits_by_lines(git_repo, ["normalise", "clean"])
    for name in ("normalise", "clean"):
        got = [(r.file, r.line) for r in related.references_to(name)]
        assert got == expected[name]
    assert [(r.file, r.line) for r in related.references_to("normalise")][:3] == [
        ("a.py", 1),
        ("a.py", 2),
        ("a.py", 4),
    ]
    assert [s.name for s in related.definitions("normalise")] == ["normalise"]


def test_closing_an_uncollected_search_stops_it(git_repo: Path) -> None:
    (git_repo / "a.py").write_text("def normalise(x):\n    return x\n")
    git(git_repo, "add", "a.py")
    related = GrepRelated(git_repo, memo_tags(extract_tags))
    related.start(["normalise"], {"python"})
    related.close()
    assert related._proc is None and related._out is None
    related.close()  # twice is fine


_DEF_KEYWORDS = (
    r"\b(def|class|function|func|fn|struct|interface|enum|trait|type|module|record|"
    r"object|sub|alias|const|let|var|impl)\s+(\w+\s*\.\s*|\([^)]*\)\s*)?"
)


def _defines_by_regex(line: str, name: str) -> bool:
    """The one-regex-per-name form the matcher replaced."""
    return re.search(_DEF_KEYWORDS + re.escape(name) + r"\b", line) is not None


@pytest.mark.parametrize(
    ("line", "name", "expected"),
    [
        ("def normalise(x):", "normalise", True),
        ("    async def normalise(self):", "normalise", True),
        ("class Normaliser(Base):", "Normaliser", True),
        ("func (r *Reader) Normalise() error {", "Normalise", True),
        ("def Reader.normalise", "normalise", True),
        ("def Reader.normalise", "Reader", True),
        ("const normalise = (x) => x;", "normalise", True),
        ("def normalise_all(x):", "normalise", False),
        ("value = normalise(x)", "normalise", False),
        ("undef normalise", "normalise", False),
    ],
)
def test_definition_lines(line: str, name: str, expected: bool) -> None:
    assert defines(line, name) is expected
    assert _defines_by_regex(line, name) is expected


_PIECES = st.sampled_from(
    ["def", "class", "func", "fn", "type", "let", " ", "\t", "foo", "foo_bar", "Foo", ".", "(",
     ")", "*", "r", "(r *T)", "é", "_", "1", "=", ":", "mydef"]
)  # fmt: skip


@given(st.lists(_PIECES, min_size=1, max_size=10), st.sampled_from(["foo", "Foo", "r", "T"]))
def test_definition_matcher_agrees_with_the_regex(pieces: list[str], name: str) -> None:
    line = "".join(pieces)
    assert defines(line, name) == _defines_by_regex(line, name)


# ---------------------------------------------------------------------------- cached tags


def _indexed_repo(root: Path) -> None:
    (root / "util.py").write_text(
        "class Box:\n    def open(self):\n        return helper(1)\n\n\ndef helper(x):\n"
        "    return x\n"
    )
    (root / "notes.txt").write_text("not code\n")
    git(root, "add", ".")
    open_index(root, IndexSettings())


def test_tags_of_indexed_content_come_from_the_cache_and_match_a_parse(git_repo: Path) -> None:
    _indexed_repo(git_repo)
    text = (git_repo / "util.py").read_text()
    with CachedTags(git_repo.resolve(), IndexSettings()) as cached:
        assert cached(text, "python", "util.py") == extract_tags(text, "python", "util.py")
        assert (cached.hits, cached.misses) == (1, 0)
        # The same content under another path (a copy, a rename) is found too.
        symbols, _ = cached(text, "python", "copy.py")
        assert {s.file for s in symbols} == {"copy.py"} and cached.hits == 2
        # Edited since indexing: a different hash, so it is parsed, and right.
        edited = text.replace("def helper(x):", "def helper(x, y=2):")
        assert cached(edited, "python", "util.py") == extract_tags(edited, "python", "util.py")
        assert cached.misses == 1
        assert cached("plain words\n", "text", "notes.txt") == ([], [])


def test_content_key_is_the_indexers_hash() -> None:
    for data in (b"", b"x = 1\n", "caf\u00e9 = 1\n".encode()):
        assert content_key(data) == digest(data)


def test_results_of_other_grammars_or_queries_are_not_used(git_repo: Path) -> None:
    _indexed_repo(git_repo)
    cached = CachedTags(git_repo.resolve(), IndexSettings())
    with sqlite3.connect(cached.path) as db:
        db.execute("UPDATE meta SET value = 'another-fingerprint' WHERE key = 'parser'")
    db.close()
    text = (git_repo / "util.py").read_text()
    with cached:
        assert cached(text, "python", "util.py") == extract_tags(text, "python", "util.py")
        assert (cached.hits, cached.misses) == (0, 1)


def test_without_an_index_every_file_is_parsed_and_no_cache_is_made(git_repo: Path) -> None:
    (git_repo / "util.py").write_text("def helper(x):\n    return x\n")
    cached = CachedTags(git_repo.resolve(), IndexSettings())
    with cached:
        symbols, _ = cached("def helper(x):\n    return x\n", "python", "util.py")
    assert [s.name for s in symbols] == ["helper"] and cached.misses == 1
    assert not cached.path.exists() and not cached.path.parent.exists()


# ---------------------------------------------------------------------------- GPU set-up


class _RecordingSource:
    """A memory source that says which thread made it and whether it was closed."""

    name: SourceName = "none"

    def __init__(self) -> None:
        self.thread = threading.current_thread().name
        self.closed = False

    def read(self) -> MemoryReading:
        return MemoryReading(source="none", note="recording")

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[_RecordingSource]:
    sources: list[_RecordingSource] = []

    def fake_monitor_for(settings: Settings) -> GpuMonitor:
        sources.append(_RecordingSource())
        return GpuMonitor(sources[-1])

    monkeypatch.setattr("gemmacode.gpu.monitor.monitor_for", fake_monitor_for)
    return sources


def test_the_gpu_monitor_is_set_up_in_the_background_and_handed_over(
    made: list[_RecordingSource],
) -> None:
    settings = load_settings(None, {})
    warm = prewarm(settings)
    monitor = warm.take_monitor(settings)
    assert [s.thread for s in made] == ["gemmacode-gpu-setup"]
    assert monitor.source is made[0]
    again = warm.take_monitor(settings)  # a second caller gets its own
    assert again.source is made[1] and made[1].thread == threading.current_thread().name
    warm.close()
    assert not made[0].closed  # taken: the taker closes it
    monitor.close()
    again.close()


def test_an_untaken_monitor_is_closed(made: list[_RecordingSource]) -> None:
    warm = prewarm(load_settings(None, {}))
    warm.close()
    assert len(made) == 1 and made[0].closed


def test_no_monitor_is_made_for_a_pinned_context(made: list[_RecordingSource]) -> None:
    settings = load_settings(None, {}, {"context.num_ctx": 8192})
    prewarm(settings).close()
    assert made == []


def test_a_review_with_nothing_staged_shuts_the_gpu_monitor_down(
    git_repo: Path, made: list[_RecordingSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(git_repo)
    assert main(["review", "--staged", "--json"]) == 0
    assert len(made) == 1 and made[0].closed


def test_the_collector_waits_until_the_request_is_ready_and_is_restored_after(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import gemmacode.review.plan as plan_mod

    (git_repo / "a.py").write_text("def f(x):\n    return x + 1\n")
    git(git_repo, "add", "a.py")
    seen: dict[str, tuple[bool, bool]] = {}
    real_plan, real_explain = plan_mod.plan_target, plan_mod.explain_plan

    def plan_target(*a: Any, **k: Any) -> Any:
        seen["planning"] = (gc.isenabled(), gc.get_freeze_count() > 0)
        return real_plan(*a, **k)

    def explain_plan(*a: Any, **k: Any) -> Any:
        seen["ready"] = (gc.isenabled(), gc.get_freeze_count() > 0)
        return real_explain(*a, **k)

    monkeypatch.setattr(plan_mod, "plan_target", plan_target)
    monkeypatch.setattr(plan_mod, "explain_plan", explain_plan)
    monkeypatch.chdir(git_repo)
    assert main(["review", "--staged", "--explain-context", "--num-ctx", "4096"]) == 0
    assert seen == {"planning": (False, False), "ready": (True, True)}
    assert gc.isenabled() and gc.get_freeze_count() == 0
