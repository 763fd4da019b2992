"""Stored conversations: SQLite in WAL mode (what ships) against an append-only JSON-lines
file per conversation (the alternative), measured in the same run on the same disk.

Printed, each as a median over rounds with the ratio SQLite / JSONL:
- one answer appended (a 4 KB answer with its metadata), one process;
- the same with two processes appending to one conversation at once (wall time for both);
- listing 500 conversations newest first (SQLite: one query; JSONL: read each file's last
  line and sort);
- resuming one conversation of 50 answers.

The JSONL writer is the careful version: one ``os.write`` of a whole line on an ``O_APPEND``
descriptor, so concurrent lines never interleave (Linux, local file systems), and a reader that
skips a torn last line. Neither side calls fsync (SQLite runs ``synchronous=NORMAL``).

    python bench/bench_conversations.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gemmacode.session.conversations import ConversationStore, Sampling, Turn  # noqa: E402

ANSWER = ("The loop reads `items[i + 1]` past the end when i is the last index.\n" * 60)[:4096]
SAMPLING = Sampling(0.2, 0.9, 40, 0, 1024)


def turn(i: int) -> Turn:
    return Turn("ask", f"question {i}", ANSWER, "gemma4:e4b", 8192, SAMPLING, prompt_tokens=900)


def jsonl_append(path: Path, i: int) -> None:
    t = turn(i)
    record = {**t.__dict__, "sampling": t.sampling.__dict__, "findings": []}
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def jsonl_read(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line
    return out


def per_append(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        with ConversationStore(Path(d) / "s") as store:
            cid = store.new()
            t0 = time.perf_counter()
            for i in range(n):
                store.append(cid, turn(i))
            sql = (time.perf_counter() - t0) / n
        path = Path(d) / "c.jsonl"
        t0 = time.perf_counter()
        for i in range(n):
            jsonl_append(path, i)
        js = (time.perf_counter() - t0) / n
    return sql, js


_TWO = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from bench.bench_conversations import jsonl_append, turn
from gemmacode.session.conversations import ConversationStore
kind, target, cid = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
n, go = int(sys.argv[5]), Path(sys.argv[6])
store = ConversationStore(target) if kind == "sql" else None
while not go.exists():
    time.sleep(0.0005)
for i in range(n):
    store.append(cid, turn(i)) if store else jsonl_append(target, i)
print(time.time())
"""


def two_writers(kind: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        target, cid = Path(d) / ("s" if kind == "sql" else "c.jsonl"), ""
        if kind == "sql":
            with ConversationStore(target) as store:
                cid = store.new()
        go = Path(d) / "go"
        args = [str(ROOT), kind, str(target), cid, str(n), str(go)]
        procs = [
            subprocess.Popen([sys.executable, "-c", _TWO, *args], stdout=subprocess.PIPE)
            for _ in range(2)
        ]
        time.sleep(1.0)
        start = time.time()
        go.touch()
        ends = [float(p.communicate()[0]) for p in procs]
        if kind == "sql":
            with ConversationStore(target) as store:
                assert len(store.turns(cid)) == 2 * n
        else:
            assert len(jsonl_read(target)) == 2 * n
        return max(ends) - start


def listing(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        with ConversationStore(Path(d) / "s") as store:
            for i in range(n):
                store.append(store.new(), turn(i))
            t0 = time.perf_counter()
            assert len(store.conversations(limit=n)) == n
            sql = time.perf_counter() - t0
        folder = Path(d) / "j"
        folder.mkdir()
        for i in range(n):
            jsonl_append(folder / f"{i}.jsonl", i)
        t0 = time.perf_counter()
        rows = sorted(
            ((jsonl_read(p)[-1]["at"], p.stem) for p in folder.glob("*.jsonl")), reverse=True
        )
        assert len(rows) == n
        js = time.perf_counter() - t0
    return sql, js


def resume(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        with ConversationStore(Path(d) / "s") as store:
            cid = store.new()
            for i in range(n):
                store.append(cid, turn(i))
        path = Path(d) / "c.jsonl"
        for i in range(n):
            jsonl_append(path, i)
        t0 = time.perf_counter()
        with ConversationStore(Path(d) / "s") as store:
            assert len(store.turns(cid)) == n
        sql = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert len(jsonl_read(path)) == n
        js = time.perf_counter() - t0
    return sql, js


def row(name: str, sql: list[float], js: list[float], unit: float, label: str) -> None:
    s, j = statistics.median(sql) * unit, statistics.median(js) * unit
    print(f"{name:<34} sqlite {s:9.3f} {label}   jsonl {j:9.3f} {label}   ratio {s / j:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    a = [per_append(200) for _ in range(rounds)]
    row("append one answer (1 process)", [x[0] for x in a], [x[1] for x in a], 1e3, "ms")
    two_sql = [two_writers("sql", 200) for _ in range(rounds)]
    two_js = [two_writers("jsonl", 200) for _ in range(rounds)]
    row("2 processes x 200 answers (wall)", two_sql, two_js, 1.0, "s ")
    li = [listing(500) for _ in range(rounds)]
    row("list 500 conversations", [x[0] for x in li], [x[1] for x in li], 1e3, "ms")
    re = [resume(50) for _ in range(rounds)]
    row("resume a 50-answer conversation", [x[0] for x in re], [x[1] for x in re], 1e3, "ms")


if __name__ == "__main__":
    main()
