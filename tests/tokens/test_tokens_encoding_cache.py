"""The parsed tiktoken tables are cached so start-up skips the base64 parse; a damaged copy
must only cost a re-parse, never a wrong count or a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tiktoken

from gemmacode.config import user_cache_dir
from gemmacode.tokens import encoding

SAMPLE = "def fetch(user_id: int) -> dict[str, object]:\n    return db.get(user_id)  # ✓ ünïcode\n"


def _cache_files() -> list[Path]:
    return sorted((user_cache_dir() / "tiktoken").glob("*.marshal"))


def test_cached_tables_count_exactly_like_tiktoken_and_survive_damage() -> None:
    reference = tiktoken.get_encoding(encoding.ENCODING).encode_ordinary(SAMPLE)
    assert _cache_files() == []  # each test has its own cache folder
    first = encoding._load_encoding()
    assert first.encode_ordinary(SAMPLE) == reference
    (copy,) = _cache_files()
    assert copy.stat().st_size > 1_000_000
    second = encoding._load_encoding()  # from the copy
    assert second.encode_ordinary(SAMPLE) == reference
    copy.write_bytes(b"\x00garbage")
    third = encoding._load_encoding()
    assert third.encode_ordinary(SAMPLE) == reference
    assert copy.stat().st_size > 1_000_000, "the damaged copy is rewritten"


def test_unwritable_cache_folder_still_counts() -> None:
    """A file where the cache folder should be (works as root, unlike chmod)."""
    blocker = user_cache_dir() / "tiktoken"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    enc = encoding._load_encoding()
    assert enc.encode_ordinary("hello world") == [15339, 1917]
    assert blocker.read_text() == "not a folder"


def test_half_written_copies_left_by_a_killed_process_are_cleared() -> None:
    folder = user_cache_dir() / "tiktoken"
    folder.mkdir(parents=True, exist_ok=True)
    stale, fresh = folder / ".enc-killed", folder / ".enc-being-written"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    encoding._load_encoding()  # no copy yet: parses and writes one
    assert not stale.exists()
    assert fresh.exists()  # another process may be writing it right now
    assert len(_cache_files()) == 1


def test_the_cache_folder_is_the_settings_one_without_loading_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GEMMACODE_CACHE_DIR", str(tmp_path / "mine"))
    assert encoding.cache_folder() == user_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("GEMMACODE_CACHE_DIR")
    assert encoding.cache_folder() == user_cache_dir()
    # the tokenizer helper loads its tables without the settings module (~30 ms)
    code = (
        "import sys\n"
        "from gemmacode.tokens.encoding import raw_count\n"
        "print(raw_count('def f(): pass'), 'gemmacode.config' in sys.modules)\n"
    )
    env = {**os.environ, "GEMMACODE_CACHE_DIR": str(tmp_path / "mine")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(encoding.raw_count("def f(): pass")), "False"]
