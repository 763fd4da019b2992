"""The tokenizer helper process counts exactly as this process does, falls back when it is
gone, and a review counted through it plans exactly what an in-process count plans."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemmacode.config import load_settings
from gemmacode.session.startup import prewarm
from gemmacode.tokens import encoding
from gemmacode.tokens.helper import COUNT, FEATURES, HELLO, TokenizerHelper, serve
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [
    "",
    "def add(a, b):\n    return a - b\n",
    "naïve café 東京 \U0001f600 tabs\t\tand   spaces\n\n\n",
    "<|endoftext|> is plain text here",
    "x" * 50_000,
    "lone surrogate \ud800 kept",
]


@pytest.fixture(scope="module")
def helper() -> Iterator[TokenizerHelper]:
    started = TokenizerHelper(_spawn())
    yield started
    started.close()


def test_counts_and_features_are_the_in_process_ones(helper: TokenizerHelper) -> None:
    for text in SAMPLES:
        assert helper.count(text) == encoding.raw_count(text), text[:20]
        assert helper.features(text) == encoding.sparse_features(text), text[:20]


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_text_counts_the_same(helper: TokenizerHelper, text: str) -> None:
    assert helper.count(text) == encoding.raw_count(text)


def test_counting_goes_through_the_helper_and_falls_back_when_it_dies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helper = TokenizerHelper(_spawn())
    asked: list[str] = []
    real_count = helper.count

    def count(text: str) -> int | None:
        asked.append(text)
        return real_count(text)

    monkeypatch.setattr(helper, "count", count)
    monkeypatch.setattr(encoding, "_helper", None)
    encoding.use_helper(helper)
    try:
        expected = len(encoding._get_encoding().encode_ordinary("hello world"))
        assert encoding.raw_count("hello world") == expected
        assert asked == ["hello world"]
        assert helper._proc is not None
        helper._proc.kill()
        helper._proc.wait()
        assert encoding.raw_count("hello world") == expected  # counted here instead
        assert encoding._helper is None and not helper.alive
        assert helper.count("again") is None  # never tried again
    finally:
        encoding.use_helper(None)
        helper.close()


def _request(kind: bytes, text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return struct.pack("<cI", kind, len(data)) + data


def test_serve_answers_until_end_of_file_or_a_bad_request() -> None:
    answers = io.BytesIO()
    serve(io.BytesIO(_request(COUNT, "a b c") + _request(FEATURES, "x")), answers)
    greeting, out = answers.getvalue()[: len(HELLO)], answers.getvalue()[len(HELLO) :]
    assert greeting == HELLO
    assert struct.unpack("<I", out[:4])[0] == encoding.raw_count("a b c")
    (n,) = struct.unpack("<I", out[4:8])
    pairs = struct.unpack(f"<{2 * n}I", out[8:])
    assert dict(zip(pairs[::2], pairs[1::2], strict=True)) == encoding.sparse_features("x")
    answers = io.BytesIO()
    serve(io.BytesIO(_request(b"?", "x") + _request(COUNT, "never read")), answers)
    assert answers.getvalue() == HELLO  # unknown kind: it stops, the caller falls back
    answers = io.BytesIO()
    serve(io.BytesIO(_request(COUNT, "cut short")[:-3]), answers)
    assert answers.getvalue() == HELLO


def test_prewarm_starts_a_helper_only_without_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_ = load_settings(None, {}, {"context.num_ctx": 8192})
    monkeypatch.setattr(encoding, "_helper", None)
    monkeypatch.setattr(encoding, "_encoding", None)
    warm = prewarm(settings_, client=False)
    helper = warm._helper
    try:
        assert helper is not None and encoding._helper is helper
        assert helper._proc is not None and helper._proc.args == _spawn_args()
        assert helper.count("one two") == 2
    finally:
        warm.close()
    assert encoding._helper is None and not helper.alive
    monkeypatch.undo()
    encoding.raw_count("load the tables here")
    warm = prewarm(settings_, client=False)
    try:
        assert warm._helper is None and encoding._helper is None
    finally:
        warm.close()


def test_prewarm_leaves_alone_a_helper_an_earlier_prewarm_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The commit hook starts the helper first thing (``prewarm(None)``: the helper alone,
    before the settings are even read), long before the core and its own prewarm: the second
    prewarm then counts through that one, starts no second helper and does not stop the
    first one's."""
    settings_ = load_settings(None, {}, {"context.num_ctx": 8192})
    monkeypatch.setattr(encoding, "_helper", None)
    monkeypatch.setattr(encoding, "_encoding", None)
    early = prewarm(None)
    assert early._loader is None and early._thread is None  # nothing but the helper
    helper = early._helper
    assert helper is not None and encoding.counting_through_helper()
    try:
        warm = prewarm(settings_, client=False)
        assert warm._helper is None and encoding._helper is helper
        warm.close()
        assert helper.alive and encoding.raw_count("one two") == 2 and not encoding.loaded()
    finally:
        early.close()
    assert not encoding.counting_through_helper() and not helper.alive


BOTH_WAYS = """
import sys
from gemmacode.tokens import encoding
from gemmacode.cli import main
if sys.argv[1] == "in-process":
    encoding.raw_count("load the tables in this process first")
code = main(sys.argv[2:])
print("\\nLOADED-HERE", encoding.loaded(), file=sys.stderr)
sys.exit(code)
"""


def _both_ways(repo: Path, tmp_path: Path, *argv: str) -> dict[str, Any]:
    """The JSON a command prints counting through the helper and counting in-process (each
    with a fresh cache); asserts which process held the tables."""
    docs = {}
    for mode in ("helper", "in-process"):
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "GEMMACODE_CACHE_DIR": str(tmp_path / f"cache-{mode}"),
            "GEMMACODE_CONFIG_DIR": str(tmp_path / "config"),
        }
        out = subprocess.run(
            [sys.executable, "-c", BOTH_WAYS, mode, *argv],
            cwd=repo,
            capture_output=True,
            text=True,
            env=env,
        )
        assert out.returncode == 0, out.stderr
        loaded = out.stderr.strip().splitlines()[-1]
        # through the helper, every count went to it; otherwise the tables were loaded here
        assert loaded == f"LOADED-HERE {mode == 'in-process'}"
        docs[mode] = json.loads(out.stdout)
    return docs


def test_a_review_plans_the_same_through_the_helper(git_repo: Path, tmp_path: Path) -> None:
    src = ROOT / "gemmacode" / "review" / "packing.py"
    (git_repo / "packing.py").write_text(src.read_text())
    git(git_repo, "add", "packing.py")
    git(git_repo, "commit", "-qm", "base")
    text = src.read_text().replace("def ", "def renamed_", 3)
    (git_repo / "packing.py").write_text(text + "\n\ndef extra(x):\n    return x + 1\n")
    git(git_repo, "add", "packing.py")
    argv = ("review", "--staged", "--explain-context", "--json", "--num-ctx", "4096")
    docs = _both_ways(git_repo, tmp_path, *argv)
    assert docs["helper"] == docs["in-process"]
    assert docs["helper"]["requests"], "something was planned"


def _spawn_args() -> list[str]:
    return [sys.executable, "-m", "gemmacode.tokens.helper"]


def _spawn(**kw: Any) -> subprocess.Popen[bytes]:
    """``python -m gemmacode.tokens.helper`` with pipes, as prewarm starts it (checked by
    test_prewarm_starts_a_helper_only_without_the_tables)."""
    return subprocess.Popen(
        _spawn_args(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        **kw,
    )


def _helper_with(site_hook: str, tmp_path: Path) -> TokenizerHelper:
    (tmp_path / "sitecustomize.py").write_text(site_hook)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    return TokenizerHelper(_spawn(env=env))


@pytest.mark.parametrize("noisy", [False, True])
def test_output_before_the_greeting_is_caught_not_read_as_counts(
    tmp_path: Path, noisy: bool
) -> None:
    helper = _helper_with("print('hello from a site hook')\n" if noisy else "\n", tmp_path)
    try:
        expected = None if noisy else encoding.raw_count("a few words")
        assert helper.count("a few words") == expected
        assert helper.alive is not noisy
    finally:
        helper.close()


def test_prints_after_start_go_to_standard_error_not_to_the_protocol(tmp_path: Path) -> None:
    code = (
        "import sys, runpy\n"
        "import gemmacode.tokens.encoding as t\n"
        "real = t.raw_count\n"
        "def noisy(text):\n"
        "    print('noise on stdout')\n"
        "    return real(text)\n"
        "t.raw_count = noisy\n"
        "runpy.run_module('gemmacode.tokens.helper', run_name='__main__')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    helper = TokenizerHelper(proc)
    try:
        assert helper.count("one two three") == encoding.raw_count("one two three")
    finally:
        helper.close()


@pytest.mark.parametrize("used", [False, True])
def test_closing_kills_the_helper_rather_than_waiting_for_it(used: bool) -> None:
    helper = TokenizerHelper(_spawn())
    assert helper._proc is not None
    proc = helper._proc
    if used:
        assert helper.count("a few words") == encoding.raw_count("a few words")
    helper.close()  # unused: straight away, while it is still building its tables
    assert proc.returncode is not None and proc.returncode < 0  # killed by a signal
    assert not helper.alive and helper.count("more") is None


def test_a_helper_whose_command_died_exits_on_end_of_file() -> None:
    proc = _spawn(cwd=ROOT)
    assert proc.stdout is not None
    assert proc.stdout.read(len(HELLO)) == HELLO
    out, _ = proc.communicate(_request(COUNT, "one two"), timeout=30)
    assert proc.returncode == 0 and struct.unpack("<I", out)[0] == 2


def test_the_map_is_fitted_the_same_through_the_helper(git_repo: Path, tmp_path: Path) -> None:
    for name in ("packing.py", "sections.py", "targets.py"):
        src = ROOT / "gemmacode" / "review" / name
        (git_repo / name).write_text(src.read_text())
    git(git_repo, "add", "-A")
    docs = _both_ways(git_repo, tmp_path, "map", "--tokens", "300", "--json")
    assert docs["helper"] == docs["in-process"]
    assert 270 <= docs["helper"]["tokens"] <= 300
