"""Stored conversations: round trips, privacy, restarts, and several processes at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemmacode.config import Settings, load_settings
from gemmacode.errors import ConversationError
from gemmacode.review.findings.model import Finding
from gemmacode.session.conversations import (
    DB_NAME,
    ConversationStore,
    Sampling,
    Turn,
    store_dir,
)

SAMPLING = Sampling(temperature=0.2, top_p=0.9, top_k=40, seed=7, num_predict=512)


def _turn(prompt: str = "why?", answer: str = "because", **kw: object) -> Turn:
    fields: dict[str, object] = {
        "kind": "ask",
        "prompt": prompt,
        "answer": answer,
        "model": "gemma4:e4b",
        "num_ctx": 8192,
        "sampling": SAMPLING,
    }
    fields.update(kw)
    return Turn(**fields)  # type: ignore[arg-type]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_answer_round_trips_with_everything_that_reproduces_it(tmp_path: Path) -> None:
    finding = Finding("a.py", 3, 4, "high", "bug", "off by one", "use <=")
    with ConversationStore(tmp_path / "c") as store:
        cid = store.new()
        saved = store.append(
            cid,
            _turn(
                kind="review",
                prompt="staged changes",
                answer="## Review\n```py\nx = 1\n```",
                model_digest="sha256:abc",
                prompt_tokens=1234,
                completion_tokens=56,
                seconds=3.5,
                findings=(finding,),
            ),
        )
        assert saved.seq == 0
        (back,) = store.turns(cid)
    assert back == saved
    assert back.sampling == SAMPLING and back.num_ctx == 8192
    assert back.model_digest == "sha256:abc" and back.findings == (finding,)


def test_folder_is_0700_and_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        folder = tmp_path / "deep" / "er" / "c"
        with ConversationStore(folder) as store:
            store.append(store.new(), _turn())
            # While open in WAL mode, SQLite has made its -wal and -shm files.
            files = sorted(folder.iterdir())
            assert {p.name for p in files} >= {DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"}
            assert all(_mode(p) == 0o600 for p in files), [(p.name, oct(_mode(p))) for p in files]
    finally:
        os.umask(old)
    assert _mode(folder) == 0o700
    assert _mode(folder.parent) == 0o700 and _mode(folder.parent.parent) == 0o700


def test_an_existing_loose_folder_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    ConversationStore(folder).close()
    assert _mode(folder) == 0o700


def test_store_lives_in_the_cache_folder_not_the_work_tree(git_repo: Path) -> None:
    settings = load_settings(git_repo)
    where = store_dir(git_repo, settings)
    assert where.is_relative_to(Path(os.environ["GEMMACODE_CACHE_DIR"]))
    assert not where.is_relative_to(git_repo)
    # A second repository gets its own folder.
    other = git_repo.parent / "other"
    other.mkdir()
    assert store_dir(other, settings) != where


def test_conversations_survive_a_restart_and_resume_picks_the_latest(tmp_path: Path) -> None:
    settings = Settings()
    root = tmp_path / "repo"
    root.mkdir()
    with ConversationStore.open(root, settings) as store:
        first = store.new()
        store.append(first, _turn("first question\nmore lines"))
        second = store.new("named")
        store.append(second, _turn("second"))
        time.sleep(0.01)
        store.append(first, _turn("follow-up"))
    with ConversationStore.open(root, settings) as store:
        listed = store.conversations()
        assert [s.id for s in listed] == [first, second]
        assert listed[0].title == "first question" and listed[0].turns == 2
        assert listed[1].title == "named" and listed[1].turns == 1
        assert store.latest() == first
        assert [t.prompt for t in store.turns(first)] == ["first question\nmore lines", "follow-up"]


def test_history_holds_only_finished_questions(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c") as store:
        cid = store.new()
        store.append(cid, _turn("q1", "a1"))
        store.append(cid, _turn("staged", "review text", kind="review"))
        store.append(cid, _turn("q2", "half", outcome="cancelled"))
        store.append(cid, _turn("q3", "a3"))
        assert store.history(cid) == (("q1", "a1"), ("q3", "a3"))


def test_new_store_is_empty_and_unknown_ids_are_one_clear_error(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c") as store:
        assert store.latest() is None and store.conversations() == []
        assert store.turns("nope") == []
        with pytest.raises(ConversationError, match="no conversation 'nope'"):
            store.append("nope", _turn())
        cid = store.new()
        assert store.delete(cid) and not store.delete(cid)


def test_a_damaged_file_is_one_line_with_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / DB_NAME).write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ConversationError) as info:
        ConversationStore(folder)
    assert "move the file aside" in str(info.value) and "\n" not in str(info.value)


_WRITER = """
import sys, time
from pathlib import Path
from gemmacode.session.conversations import ConversationStore, Sampling, Turn
folder, shared, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
n, go = int(sys.argv[4]), Path(sys.argv[5])
s = Sampling(0.2, 0.9, 40, 0, 100)
with ConversationStore(folder) as store:
    own = store.new(name)
    (go.parent / f"ready-{name}").touch()  # imported and open: only the writes are left
    while not go.exists():
        time.sleep(0.001)
    for i in range(n):
        body = f"{name}-{i}:" + "x" * (i * 37 % 5000)
        store.append(shared, Turn("ask", f"{name} {i}", body, "m", 2048, s))
        store.append(own, Turn("ask", f"{name} {i}", body, "m", 2048, s))
        time.sleep(0.002)  # a turn is seconds apart in real use: let the other one in
print(own)
"""


def _start_writer(folder: Path, shared: str, name: str, n: int, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(folder), shared, name, str(n), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_writing_at_once_lose_and_mix_nothing(tmp_path: Path) -> None:
    folder, go, n = tmp_path / "c", tmp_path / "go", 150
    with ConversationStore(folder) as store:
        shared = store.new("shared")
    procs = [_start_writer(folder, shared, name, n, go) for name in ("ui", "hook")]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name in ("ui", "hook")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()  # both are ready: the flag starts them together
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    with ConversationStore(folder) as store:
        turns = store.turns(shared)
        assert [t.seq for t in turns] == list(range(2 * n))
        for name, (own, _) in zip(("ui", "hook"), outs, strict=True):
            mine = [t for t in turns if t.prompt.startswith(name + " ")]
            assert [t.prompt for t in mine] == [f"{name} {i}" for i in range(n)]
            assert all(t.answer.split(":")[0] == t.prompt.replace(" ", "-") for t in mine)
            assert [t.prompt for t in store.turns(own.strip())] == [t.prompt for t in mine]
        assert len(store.conversations()) == 3
    # The two really wrote at the same time: their turns interleave in the shared one.
    names = [t.prompt.split()[0] for t in turns]
    assert sum(a != b for a, b in zip(names, names[1:], strict=False)) >= 2


def test_a_writer_killed_mid_stream_leaves_only_whole_answers(tmp_path: Path) -> None:
    folder, go = tmp_path / "c", tmp_path / "go"
    with ConversationStore(folder) as store:
        shared = store.new()
    go.touch()
    proc = _start_writer(folder, shared, "victim", 100_000, go)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with ConversationStore(folder) as store:
            if len(store.turns(shared)) > 50:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    db = sqlite3.connect(folder / DB_NAME)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    with ConversationStore(folder) as store:
        turns = store.turns(shared)
        assert len(turns) > 50
        for t in turns:
            i = int(t.prompt.split()[1])
            assert t.answer == f"victim-{i}:" + "x" * (i * 37 % 5000)
        store.append(shared, _turn("after the crash"))
        assert store.turns(shared)[-1].seq == len(turns)
