"""The index cache: incremental by size+mtime then content hash, parse results shared across
branches, crash-safe and shared by two processes, rebuilt when corrupt."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemmacode.config import IndexSettings
from gemmacode.index import cache as cache_mod
from gemmacode.index.cache import IndexCache, ParseRow, default_cache_dir
from gemmacode.index.indexer import open_index
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[2]


def age(root: Path, seconds: int = 600) -> None:
    """Move every file's mtime into the past, as if written long before the index ran."""
    past = time.time_ns() - seconds * 1_000_000_000
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames:
            os.utime(os.path.join(dirpath, name), ns=(past, past))


def make_repo(root: Path) -> None:
    (root / "pkg").mkdir()
    (root / "pkg" / "store.py").write_text(
        "class Store:\n    def get(self, key):\n        return load(key)\n"
    )
    (root / "pkg" / "util.py").write_text("def load(key):\n    return key\n")
    (root / "README.md").write_text("# demo\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    age(root)


@pytest.fixture
def repo(git_repo: Path) -> Path:
    make_repo(git_repo)
    return git_repo


def test_warm_refresh_reads_and_parses_nothing(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = open_index(repo, IndexSettings(), cache_dir=cache)
    assert (first.stats.hashed, first.stats.parsed) == (
        3,
        2,
    )  # the binary logo is sniffed, not hashed
    second = open_index(repo, IndexSettings(), cache_dir=cache)
    assert (second.stats.hashed, second.stats.parsed) == (0, 0)
    assert second.files.keys() == first.files.keys()
    assert [s.scope for s in second.symbols()] == ["Store", "Store.get", "load"]
    assert {(s.path, s.reason) for s in second.skipped} == {("logo.png", "binary")}


def test_touched_file_is_hashed_not_parsed(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_index(repo, IndexSettings(), cache_dir=cache)
    os.utime(repo / "pkg" / "util.py")
    index = open_index(repo, IndexSettings(), cache_dir=cache)
    assert (index.stats.hashed, index.stats.parsed) == (1, 0)


def test_same_size_edit_within_the_same_mtime_tick_is_seen(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    util = repo / "pkg" / "util.py"
    util.write_text("def load(key):\n    return key\n")
    stamp = util.stat().st_mtime_ns
    open_index(repo, IndexSettings(), cache_dir=cache)
    util.write_text("def save(key):\n    return key\n")  # same size
    os.utime(util, ns=(stamp, stamp))  # and the same mtime, as on a coarse clock
    index = open_index(repo, IndexSettings(), cache_dir=cache)
    assert index.definitions("save") and not index.definitions("load")


def test_switching_branches_and_back_reparses_nothing_seen(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_index(repo, IndexSettings(), cache_dir=cache)
    git(repo, "checkout", "-qb", "feature")
    (repo / "pkg" / "util.py").write_text("def load(key, default=None):\n    return key\n")
    (repo / "pkg" / "new.py").write_text("def fresh():\n    pass\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "feature")
    on_feature = open_index(repo, IndexSettings(), cache_dir=cache)
    assert on_feature.stats.parsed == 2
    git(repo, "checkout", "-q", "main")
    back = open_index(repo, IndexSettings(), cache_dir=cache)
    assert back.stats.parsed == 0
    assert back.stats.hashed >= 1  # util.py changed on disk, found by its hash
    assert "pkg/new.py" not in back.files
    assert back.definitions("load")[0].signature == "def load(key):"
    git(repo, "checkout", "-q", "feature")
    assert open_index(repo, IndexSettings(), cache_dir=cache).stats.parsed == 0


def test_rebuild_starts_fresh(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_index(repo, IndexSettings(), cache_dir=cache)
    index = open_index(repo, IndexSettings(), cache_dir=cache, rebuild=True)
    assert (index.stats.hashed, index.stats.parsed) == (
        3,
        2,
    )  # the binary logo is sniffed, not hashed


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_cache_file_is_rebuilt(repo: Path, tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    open_index(repo, IndexSettings(), cache_dir=cache)
    db = cache / cache_mod.DB_NAME
    with sqlite3.connect(db) as conn:  # fold the WAL into the main file first
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    else:
        db.write_bytes(db.read_bytes()[:1500])
    index = open_index(repo, IndexSettings(), cache_dir=cache)
    assert index.stats.parsed == 2
    assert [s.scope for s in index.symbols()] == ["Store", "Store.get", "load"]
    assert open_index(repo, IndexSettings(), cache_dir=cache).stats.parsed == 0


def test_damaged_parse_entry_is_parsed_again(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_index(repo, IndexSettings(), cache_dir=cache)
    conn = sqlite3.connect(cache / cache_mod.DB_NAME)
    with conn:
        conn.execute("UPDATE parses SET blob = x'00ff00'")
    conn.close()
    index = open_index(repo, IndexSettings(), cache_dir=cache)
    assert [s.scope for s in index.symbols()] == ["Store", "Store.get", "load"]


CRASH = """
import os, sys
from pathlib import Path
from gemmacode.config import IndexSettings
from gemmacode.index import cache
from gemmacode.index.indexer import open_index

def die(self):
    os._exit(9)  # the process dies inside the write transaction, before COMMIT

cache.IndexCache._prune = die
open_index(Path(sys.argv[1]), IndexSettings(), cache_dir=Path(sys.argv[2]))
"""


def test_a_crash_mid_write_leaves_the_previous_state(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_index(repo, IndexSettings(), cache_dir=cache)
    (repo / "pkg" / "util.py").write_text("def load(key):\n    return key * 2\n")
    out = subprocess.run(
        [sys.executable, "-c", CRASH, str(repo), str(cache)], cwd=ROOT, capture_output=True
    )
    assert out.returncode == 9, out.stderr
    index = open_index(repo, IndexSettings(), cache_dir=cache)
    # The crashed run's file rows were rolled back, so util.py is read again; its parse
    # result, committed on its own (content-addressed), is reused rather than redone.
    assert (index.stats.hashed, index.stats.parsed) == (1, 0)
    assert index.read_text("pkg/util.py").endswith("key * 2\n")
    assert [s.scope for s in index.symbols()] == ["Store", "Store.get", "load"]


TWO = """
import json, sys
from pathlib import Path
from gemmacode.config import IndexSettings
from gemmacode.index.indexer import open_index
index = open_index(Path(sys.argv[1]), IndexSettings(), cache_dir=Path(sys.argv[2]))
print(json.dumps(sorted(s.scope for s in index.symbols())))
"""


def test_processes_share_one_cache(repo: Path, tmp_path: Path) -> None:
    for i in range(40):
        (repo / "pkg" / f"mod{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO, str(repo), str(cache)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)  # all three create the same new database at once
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert outputs[0][0] == outputs[1][0] == outputs[2][0]
    age(repo)
    index = open_index(repo, IndexSettings(), cache_dir=cache)
    assert index.stats.parsed == 0
    assert len(list(index.symbols())) == 43


def test_parse_results_follow_the_fingerprint(tmp_path: Path) -> None:
    with IndexCache(tmp_path, "one") as db:
        db.write([], [], [ParseRow("d1", "python", b"x", "")])
        assert db.parse_keys() == {("d1", "python")}
    with IndexCache(tmp_path, "one") as db:
        assert db.parse_keys() == {("d1", "python")}
    with IndexCache(tmp_path, "two") as db:  # other queries or grammars: results are stale
        assert db.parse_keys() == set()


def test_unused_parse_results_are_pruned_oldest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_mod, "KEEP_UNUSED_PARSES", 2)
    with IndexCache(tmp_path, "fp") as db:
        for i in range(5):
            db.write([], [], [ParseRow(f"d{i}", "python", b"x", "")])
        assert db.parse_keys() == {("d3", "python"), ("d4", "python")}


def test_cache_lives_outside_the_work_tree_by_default(repo: Path) -> None:
    folder = default_cache_dir(repo, IndexSettings())
    assert not folder.is_relative_to(repo)
    assert folder.is_relative_to(Path(os.environ["GEMMACODE_CACHE_DIR"]))
    index = open_index(repo, IndexSettings())
    assert Path(index.stats.cache_path).parent == folder
    other = repo.parent / "other"
    other.mkdir()
    assert default_cache_dir(other, IndexSettings()) != folder


def test_cache_dir_setting_inside_the_root_is_not_indexed(repo: Path) -> None:
    settings = IndexSettings(cache_dir=".gemmacode-cache")
    open_index(repo, settings)
    index = open_index(repo, settings)
    assert (repo / ".gemmacode-cache").is_dir()
    assert not [p for p in index.paths() if p.startswith(".gemmacode-cache")]
    assert not [s for s in index.skipped if s.path.startswith(".gemmacode-cache")]


def test_unusable_cache_folder_is_a_one_line_user_error(repo: Path, tmp_path: Path) -> None:
    from gemmacode.errors import IndexBuildError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(IndexBuildError, match="cannot create the index cache folder"):
        open_index(repo, IndexSettings(), cache_dir=blocker / "cache")
