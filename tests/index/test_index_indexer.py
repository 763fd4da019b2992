"""RepoIndex: lookups over a real multi-language repository, parallel parsing giving the same
answers as in-process parsing, the progress bar, and files that change under the indexer."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from gemmacode.config import IndexSettings
from gemmacode.errors import IndexBuildError
from gemmacode.index import files as files_mod
from gemmacode.index import indexer
from gemmacode.index.indexer import open_index
from gemmacode.index.workers import Progress
from tests.conftest import git

STORE = '''\
"""Key-value store."""


class Store:
    def __init__(self, root):
        self.root = root

    def get(self, key):
        data = read_file(self.root, key)
        return decode(data)


def read_file(root, key):
    return open(root + key).read()
'''

MAIN_GO = """\
package main

type Server struct{}

func (s *Server) Serve() error {
\treturn listen()
}

func listen() error { return nil }
"""


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "app").mkdir()
    (git_repo / "app" / "store.py").write_text(STORE)
    (git_repo / "app" / "codec.py").write_text("def decode(data):\n    return data\n")
    (git_repo / "cmd").mkdir()
    (git_repo / "cmd" / "main.go").write_text(MAIN_GO)
    (git_repo / "web.js").write_text("export function decode(s) { return JSON.parse(s); }\n")
    (git_repo / "latin1.txt").write_bytes(b"caf\xe9\n")
    (git_repo / "notes.md").write_text("# Notes\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "init")
    return git_repo


def test_records_and_lookups(repo: Path, tmp_path: Path) -> None:
    index = open_index(repo, IndexSettings(), cache_dir=tmp_path / "c")
    assert index.root == repo.resolve()
    assert list(index.files) == sorted(index.files)
    store = index.files["app/store.py"]
    assert store.language == "python"
    assert store.digest == hashlib.blake2b(STORE.encode(), digest_size=16).hexdigest()
    assert store.size == len(STORE.encode())
    assert index.files["notes.md"].language == "text"
    assert index.files["latin1.txt"].flags == ["non-utf8"]
    assert index.read_text("latin1.txt") == "caf\ufffd\n"

    assert {(s.file, s.kind) for s in index.definitions("decode")} == {
        ("app/codec.py", "function"),
        ("web.js", "function"),
    }
    assert [(r.file, r.line) for r in index.references_to("decode")] == [("app/store.py", 10)]
    assert [(r.file, r.line) for r in index.references_to("listen")] == [("cmd/main.go", 6)]
    get = index.find_symbol("app/store.py", "Store.get")
    assert get is not None and (get.kind, get.start_line, get.end_line) == ("method", 8, 10)
    assert index.find_symbol("cmd/main.go", "Server.Serve") is not None
    assert index.find_symbol("app/store.py", "Store.put") is None
    assert index.find_symbol("nope.py", "Store") is None

    assert index.enclosing("app/store.py", 9) == get  # the method, not the class around it
    enclosing_class = index.enclosing("app/store.py", 7)
    assert enclosing_class is not None and enclosing_class.scope == "Store"
    assert index.enclosing("app/store.py", 2) is None
    assert index.enclosing("notes.md", 1) is None
    names = [s.scope for s in index.symbols()]
    assert names[:3] == ["decode", "Store", "Store.__init__"]


def test_read_text_stays_inside_the_root(repo: Path, tmp_path: Path) -> None:
    index = open_index(repo, IndexSettings(), cache_dir=tmp_path / "c")
    with pytest.raises(IndexBuildError, match="outside"):
        index.read_text("../../etc/passwd")
    with pytest.raises(IndexBuildError, match="cannot read"):
        index.read_text("missing.py")


def test_not_a_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(IndexBuildError, match="not a folder"):
        open_index(tmp_path / "absent", IndexSettings(), cache_dir=tmp_path / "c")


def test_worker_processes_give_the_same_index(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        (repo / "app" / f"m{i}.py").write_text(
            f"class C{i}:\n    def run(self):\n        return helper_{i}()\n"
        )
    serial = open_index(repo, IndexSettings(workers=1), cache_dir=tmp_path / "serial")
    assert serial.stats.workers == 0
    monkeypatch.setattr(indexer, "POOL_MIN_FILES", 4)
    monkeypatch.setattr(indexer, "POOL_MIN_BYTES", 1)
    parallel = open_index(repo, IndexSettings(workers=2), cache_dir=tmp_path / "parallel")
    assert parallel.stats.workers == 2
    assert parallel.stats.parsed == serial.stats.parsed == 34
    assert list(parallel.symbols()) == list(serial.symbols())
    assert {p: r.references for p, r in parallel.files.items()} == {
        p: r.references for p, r in serial.files.items()
    }


def test_small_refresh_parses_in_process(repo: Path, tmp_path: Path) -> None:
    index = open_index(repo, IndexSettings(workers=4), cache_dir=tmp_path / "c")
    assert index.stats.workers == 0 and index.stats.parsed == 4


def test_file_vanishing_after_the_listing(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = files_mod.list_files

    def listing_then_delete(*args: object, **kw: object) -> files_mod.Listing:
        result = real(*args, **kw)  # type: ignore[arg-type]
        (repo / "app" / "codec.py").unlink()
        return result

    monkeypatch.setattr(files_mod, "list_files", listing_then_delete)
    index = open_index(repo, IndexSettings(), cache_dir=tmp_path / "c")
    assert ("app/codec.py", "vanished") in {(s.path, s.reason) for s in index.skipped}
    assert "app/codec.py" not in index.files


def test_walk_outside_git(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "node_modules" / "x" / "i.js").write_text("function hidden() {}\n")
    (root / "tool.rb").write_text("def run\n  puts 1\nend\n")
    index = open_index(root, IndexSettings(), cache_dir=tmp_path / "c")
    assert not index.stats.from_git
    assert list(index.files) == ["tool.rb"]
    assert [s.scope for s in index.symbols()] == ["run"]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    piped = io.StringIO()
    bar = Progress(10, stream=piped)
    bar.update(5, force=True)
    bar.close()
    assert piped.getvalue() == ""

    tty = FakeTerminal()
    bar = Progress(10, stream=tty)
    bar.update(5, force=True)
    bar.update(10, force=True)
    bar.close()
    out = tty.getvalue()
    assert "5/10 files" in out and "10/10 files" in out
    assert "[###############---------------]" in out
    assert out.endswith("\r\x1b[K")  # the line is cleared when done

    quiet = FakeTerminal()
    Progress(10, stream=quiet, enabled=False).update(3, force=True)
    assert quiet.getvalue() == ""


def test_symbols_are_decoded_per_file_on_demand(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    open_index(repo, IndexSettings(), cache_dir=cache)
    index = open_index(repo, IndexSettings(), cache_dir=cache)  # warm: all from the cache
    counts = index.counts()
    assert index.records()["app/store.py"].symbols == []  # nothing decoded yet
    assert index.find_symbol("app/store.py", "Store.get") is not None
    assert len(index.records()["app/store.py"].symbols) == 4
    assert index.records()["cmd/main.go"].symbols == []  # other files still untouched
    full = index.files
    assert counts == {p: (len(r.symbols), len(r.references)) for p, r in full.items()}
    assert counts["app/store.py"] == (4, 4)  # read_file, decode, open, read


def test_definitions_decode_no_file(repo: Path, tmp_path: Path) -> None:
    """A question looks up a few names; finding them must not build every symbol and
    reference of the repository (18,000 files: 55 -> 700 MiB when it did)."""
    cache = tmp_path / "c"
    open_index(repo, IndexSettings(), cache_dir=cache)
    index = open_index(repo, IndexSettings(), cache_dir=cache)  # warm: all from the cache
    from gemmacode.review.question import candidate_files

    found = index.definitions("decode")
    named = candidate_files(index, "where is decode called?", (), [])  # what `ask` does
    assert all(r.symbols == [] for r in index.records().values())  # nothing decoded
    assert set(named) == {"app/codec.py", "web.js"}
    assert {(s.file, s.kind) for s in found} == {
        ("app/codec.py", "function"),
        ("web.js", "function"),
    }
    decoded = [s for s in index.files["app/codec.py"].symbols if s.name == "decode"]
    assert [s for s in found if s.file == "app/codec.py"] == decoded  # the same symbols


def test_with_other_threads_running_workers_are_spawned_not_forked(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TUI runs threads; forking then is unsafe, so the pool falls back to spawn."""
    import multiprocessing
    import threading

    methods: list[str | None] = []
    real_context = multiprocessing.get_context

    def spy(method: str | None = None) -> object:
        methods.append(method)
        return real_context(method)

    monkeypatch.setattr(multiprocessing, "get_context", spy)

    for i in range(6):
        (repo / "app" / f"s{i}.py").write_text(f"def s{i}():\n    return {i}\n")
    monkeypatch.setattr(indexer, "POOL_MIN_FILES", 2)
    monkeypatch.setattr(indexer, "POOL_MIN_BYTES", 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        index = open_index(repo, IndexSettings(workers=2), cache_dir=tmp_path / "c")
    finally:
        stop.set()
        other.join()
    assert index.stats.workers == 2 and methods == ["spawn"]
    assert {s.scope for s in index.symbols()} >= {f"s{i}" for i in range(6)} | {"Store.get"}
