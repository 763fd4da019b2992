"""What the commit hook adds to ``git commit``, measured against ``git commit --no-verify``
in the same run.

A shared clone of the corpus (Django, ~6,800 files; ``GEMMACODE_BENCH_REPO`` for another
repository) gets the hook installed (the shim, as ``gemmacode hook install`` writes it) and
its index warmed. Each case stages a change, then commits it with the hook and without it
in alternating runs (the commit is undone with ``git reset --soft`` between runs, so every
run commits the same index) and prints both medians and the overhead:

- nothing reviewable staged (docs, a lock file, a binary): target at most 0.15 s;
- the model server down (a closed port): target at most 0.15 s;
- a ~200-line staged diff of real Python, with the index refreshed after the edit (warm),
  reviewed through the core against the fake Ollama server (tests/fakes/ollama_server.py),
  which answers at once; the time the server spent on each request is subtracted, so what
  is left is the hook's own time beyond the model's: target at most 0.4 s. Each run uses
  another ``hook.seed`` so no run is a cache hit;
- the same diff again with the review cached: target at most 0.15 s.

Bytecode is compiled once into a private cache (``PYTHONPYCACHEPREFIX``), as an installed
package has it. Run: python bench/bench_hook.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import django_repo  # noqa: E402
from tests.fakes.ollama_server import FakeOllama  # noqa: E402

RUNS = 9
TARGET_LINES = 200
TARGETS = {"nothing": 0.15, "server-down": 0.15, "review": 0.4, "cached": 0.15}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def clone_at(tmp: Path) -> Path:
    clone = tmp / "repo"
    git(tmp, "clone", "-q", "--shared", "--no-checkout", str(django_repo()), str(clone))
    git(clone, "checkout", "-q", "v5.0.9")
    git(clone, "config", "user.name", "bench")
    git(clone, "config", "user.email", "b@example.com")
    git(clone, "config", "commit.gpgsign", "false")
    return clone


def stage_python_diff(clone: Path) -> tuple[int, int]:
    """Stage ~TARGET_LINES changed lines of v5.1.3's Python: (lines, files)."""
    stat = git(clone, "diff", "--numstat", "v5.0.9", "v5.1.3", "--", "django/*.py")
    changed = []
    for line in stat.splitlines():
        add, rem, path = line.split("\t", 2)
        if add != "-" and 5 <= int(add) + int(rem) <= 80:
            changed.append((int(add) + int(rem), path))
    total, files = 0, []
    for n, path in sorted(changed, reverse=True):
        if total + n <= TARGET_LINES:
            files.append(path)
            total += n
    git(clone, "checkout", "-q", "v5.1.3", "--", *files)
    return total, len(files)


def stage_nothing_reviewable(clone: Path) -> None:
    (clone / "NOTES.md").write_text("# Release notes\n\nNothing to see.\n")
    (clone / "docs" / "extra.txt").write_text("More words.\n")
    (clone / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}\n')
    (clone / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    git(clone, "add", "NOTES.md", "docs/extra.txt", "package-lock.json", "logo.png")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commit_time(clone: Path, env: dict[str, str], *, hook: bool) -> float:
    """One ``git commit`` (the hook's verdict does not matter here), then undone."""
    args = ["git", "commit", "-q", "-m", "bench"] + ([] if hook else ["--no-verify"])
    t0 = time.perf_counter()
    done = subprocess.run(args, cwd=clone, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode == 0:
        git(clone, "reset", "-q", "--soft", "HEAD~1")
    elif hook and "commit blocked" not in done.stderr:
        raise SystemExit(f"the hook failed: {done.stderr.strip()}")
    return elapsed


def alternate(
    clone: Path,
    env_for: Callable[[int], dict[str, str]],
    runs: int,
    model_time: Callable[[], float] | None = None,
) -> tuple[list[float], list[float]]:
    """Alternating runs with and without the hook: (hook times less model time, plain)."""
    with_hook: list[float] = []
    plain: list[float] = []
    for i in range(runs):
        order = (True, False) if i % 2 == 0 else (False, True)
        for hook in order:
            before = model_time() if model_time is not None else 0.0
            t = commit_time(clone, env_for(i), hook=hook)
            spent = (model_time() - before) if model_time is not None else 0.0
            (with_hook if hook else plain).append(t - spent)
    return with_hook, plain


def report(name: str, what: str, with_hook: list[float], plain: list[float]) -> bool:
    hook_m, plain_m = statistics.median(with_hook), statistics.median(plain)
    overhead = hook_m - plain_m
    ok = overhead <= TARGETS[name]
    print(
        f"{what:<58} hook {hook_m:.3f} s  plain {plain_m:.3f} s  "
        f"overhead {overhead:.3f} s  (target <= {TARGETS[name]:.2f})  {'ok' if ok else 'OVER'}"
    )
    return ok


class ServerClock:
    """The fake server's time on each request: from its arrival to the last byte."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> str:
        with self.lock:
            self.arrivals.append(time.monotonic())
        return '{"findings": []}'

    def spent(self, server: FakeOllama) -> float:
        with self.lock:
            ends = [s.ended_at for s in server.streams if s.ended_at]
            return sum(end - start for start, end in zip(self.arrivals, ends, strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per case (default {RUNS})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clone = clone_at(tmp)
        base = {
            **os.environ,
            "GEMMACODE_CACHE_DIR": str(tmp / "cache"),
            "GEMMACODE_CONFIG_DIR": str(tmp / "config"),
            # this tree first, then whatever the caller's path holds (a dependency folder)
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
            "PATH": "/usr/local/bin:/usr/bin:/bin",  # as a GUI client runs hooks
        }
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base.pop("GEMMACODE_BENCH_REPO", None)  # the bench's own switch, not a setting
        base.pop("VIRTUAL_ENV", None)
        gemmacode = [sys.executable, "-m", "gemmacode"]
        subprocess.run(gemmacode + ["hook", "install"], cwd=clone, env=base, check=True)
        t0 = time.perf_counter()
        built = subprocess.run(gemmacode + ["index"], cwd=clone, env=base, capture_output=True)
        if built.returncode != 0:
            raise SystemExit(f"gemmacode index failed: {built.stderr.decode().strip()}")
        files = len(git(clone, "ls-files").splitlines())
        print(f"corpus clone: {files} files; index warmed in {time.perf_counter() - t0:.1f} s")
        print(f"{args.runs} alternating runs per case, medians; the hook through the shim\n")
        results = []

        stage_nothing_reviewable(clone)
        down = {**base, "OLLAMA_HOST": f"127.0.0.1:{closed_port()}"}
        alternate(clone, lambda i: down, 1)  # bytecode
        hook, plain = alternate(clone, lambda i: down, args.runs)
        results.append(
            report("nothing", "nothing reviewable (docs, lock file, binary)", hook, plain)
        )
        git(clone, "reset", "-q", "--hard")
        git(clone, "clean", "-qfd")

        lines, nfiles = stage_python_diff(clone)
        # A warm index holds what the developer is committing: it was refreshed (by the
        # terminal UI, `gemmacode index`) after the files were edited.
        subprocess.run(gemmacode + ["index"], cwd=clone, env=base, capture_output=True, check=True)
        hook, plain = alternate(clone, lambda i: down, args.runs)
        results.append(report("server-down", "server down (closed port), code staged", hook, plain))

        clock = ServerClock()
        with FakeOllama(answer=clock.answer, load_s=0.0) as server:
            up = {**base, "OLLAMA_HOST": server.host}

            def seeded(i: int) -> dict[str, str]:
                return {**up, "GEMMACODE_HOOK_SEED": str(1000 + i)}  # never a cache hit

            alternate(clone, lambda i: {**up, "GEMMACODE_HOOK_SEED": "1"}, 2)  # warm-up
            hook, plain = alternate(clone, seeded, args.runs, lambda: clock.spent(server))
            what = f"{lines}-line diff in {nfiles} files, warm index, less model time"
            results.append(report("review", what, hook, plain))
            cached = {**up, "GEMMACODE_HOOK_SEED": "1"}  # reviewed in the warm-up
            sent = len(server.bodies("/api/chat"))
            hook, plain = alternate(clone, lambda i: cached, args.runs)
            assert len(server.bodies("/api/chat")) == sent, "a cached run asked the model"
            results.append(report("cached", "the same diff, review cached", hook, plain))
        print("\nall within target" if all(results) else "\nSOME CASES OVER TARGET")


if __name__ == "__main__":
    main()
