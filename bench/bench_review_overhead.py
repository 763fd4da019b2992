"""Time from ``gemmacode review --staged`` starting to its request reaching the model server.

A shared clone of the corpus (Django, ~6,800 files) is checked out at 5.0.9 and a few files
are staged at their 5.1.3 content: a real staged diff of about 300 changed lines. The index is
warmed once. Then the command runs as a fresh process against the Ollama wire-format fake
server, which stamps the moment the chat request arrives; overhead = arrival - spawn. The
measured command is the default one, as a user or the pre-commit hook runs it: the context
size comes from the policy (so the model is described and ``/api/ps`` asked first) and the
first request is the streamed prose pass. A pinned ``--num-ctx 8192 --no-prose`` run (no
server round trips before the request) is shown beside it. Both are printed beside
baselines measured in the same run: a bare interpreter, ``git diff --cached``,
``gemmacode --help``, ``review --staged --explain-context`` (the packing alone) and the
imports of httpx and of the official ``ollama`` client (which the review no longer loads).
Target: at most 0.5 s.

With ``--against REV`` it then times the default command of this tree and of a checkout of
REV (a temporary git worktree) in alternating runs on the same clone and server, and prints
both medians and their ratio: a before/after measured side by side, not across a noisy day.

Run: /tmp/venv/bin/python bench/bench_review_overhead.py [--against REV] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import django_repo  # noqa: E402
from tests.fakes.ollama_server import FakeOllama  # noqa: E402

RUNS = 15
TARGET_LINES = 300
GEMMACODE = [sys.executable, "-m", "gemmacode"]
TOKENIZER = "from gemmacode.tokens.encoding import raw_count; raw_count('x')"
IMPORT_HTTPX = "from gemmacode.backends.clientlib import import_httpx; import_httpx()"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout


def staged_clone(tmp: Path) -> tuple[Path, int, int]:
    """A clone at v5.0.9 with ~300 changed lines of v5.1.3 staged: (path, lines, files)."""
    src = django_repo()
    clone = tmp / "django"
    _git(tmp, "clone", "-q", "--shared", "--no-checkout", str(src), str(clone))
    _git(clone, "checkout", "-q", "v5.0.9")
    stat = _git(clone, "diff", "--numstat", "v5.0.9", "v5.1.3", "--", "django/*.py")
    changed = []
    for line in stat.splitlines():
        add, rem, path = line.split("\t", 2)
        if add != "-" and 5 <= int(add) + int(rem) <= 120:
            changed.append((int(add) + int(rem), path))
    total, files = 0, []
    for n, path in sorted(changed, reverse=True):
        if total + n <= TARGET_LINES:
            files.append(path)
            total += n
    _git(clone, "checkout", "-q", "v5.1.3", "--", *files)  # stages them
    return clone, total, len(files)


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def against(rev: str, runs: int, clone: Path, tmp: Path, env: dict[str, str]) -> None:
    """Alternate the default review of this tree and of ``rev``; print medians and ratio."""
    arrivals: list[float] = []

    def answer(body: dict[str, Any]) -> str:
        arrivals.append(time.perf_counter())
        return '{"findings": []}'

    other = tmp / "against"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(other), rev],
        check=True,
        capture_output=True,
    )
    server = FakeOllama(answer=answer, load_s=0.0).start()
    try:
        host = server.host
        trees = {"this tree": ROOT, rev: other}
        envs = {
            name: {**env, "PYTHONPATH": str(root), "PYTHONPYCACHEPREFIX": str(tmp / f"pyc{i}")}
            for i, (name, root) in enumerate(trees.items())
        }
        review = GEMMACODE + ["review", "--staged", "--host", host]
        for name in trees:
            for _ in range(2):  # bytecode, caches
                subprocess.run(review, cwd=clone, env=envs[name], capture_output=True)
        times: dict[str, list[float]] = {name: [] for name in trees}
        for i in range(runs):
            for name in list(trees)[:: 1 if i % 2 == 0 else -1]:
                before = len(arrivals)
                t0 = time.perf_counter()
                subprocess.run(review, cwd=clone, env=envs[name], capture_output=True)
                if len(arrivals) == before:
                    raise SystemExit(f"{name}: no request arrived")
                times[name].append(arrivals[before] - t0)
        print(f"\nalternating runs, {runs} each, default review --staged, spawn -> request:")
        for name, values in times.items():
            q = statistics.quantiles(values, n=4)
            median = statistics.median(values)
            print(f"{name:<20} median {median:.3f} s  p25 {q[0]:.3f}  p75 {q[2]:.3f}")
        ratio = statistics.median(times["this tree"]) / statistics.median(times[rev])
        print(f"this tree / {rev}: {ratio:.2f}x")
    finally:
        server.stop()
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)],
            capture_output=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also compare with this git revision")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per row (default {RUNS})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clone, lines, nfiles = staged_clone(tmp)
        # Bytecode as an installed package has it: compiled once (by the warm-up runs) into
        # a private cache, even where PYTHONDONTWRITEBYTECODE is set in the calling shell.
        env = {
            **os.environ,
            "GEMMACODE_CACHE_DIR": str(tmp / "cache"),
            "GEMMACODE_CONFIG_DIR": str(tmp / "config"),
            "PYTHONPATH": str(ROOT),
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        arrivals: list[float] = []

        def answer(body: dict[str, Any]) -> str:
            arrivals.append(time.perf_counter())
            return '{"findings": []}'

        t0 = time.perf_counter()
        subprocess.run(GEMMACODE + ["index"], cwd=clone, env=env, capture_output=True, check=True)
        cold = time.perf_counter() - t0
        files = len(_git(clone, "ls-files").splitlines())
        print(
            f"corpus clone: {files} files; staged: {lines} changed lines in {nfiles} files; "
            f"cold index {cold:.1f} s"
        )
        rows: dict[str, list[float]] = {}
        with FakeOllama(answer=answer, load_s=0.0) as server:
            # As a user or the pre-commit hook runs it: the context size from the policy
            # (which asks the server what is installed and loaded), the streamed prose pass.
            review = GEMMACODE + ["review", "--staged", "--host", server.host]
            pinned = GEMMACODE + [
                "review",
                "--staged",
                "--no-prose",
                "--num-ctx",
                "8192",
                "--host",
                server.host,
            ]
            warm_ups = (review, pinned, [sys.executable, "-c", TOKENIZER + "; " + IMPORT_HTTPX])
            for warm in warm_ups:
                subprocess.run(warm, cwd=clone, env=env, capture_output=True, check=True)
            print(
                "bytecode compiled once (PYTHONPYCACHEPREFIX), as an installed package has it; "
                "one warm-up review"
            )
            for _ in range(args.runs):
                rows.setdefault("python -c pass", []).append(
                    timed([sys.executable, "-c", "pass"], clone, env)
                )
                rows.setdefault("git diff --cached", []).append(
                    timed(["git", "diff", "--cached", "--no-color"], clone, env)
                )
                rows.setdefault("gemmacode --help", []).append(
                    timed(GEMMACODE + ["--help"], clone, env)
                )
                rows.setdefault("part: python -c 'load the tokenizer'", []).append(
                    timed([sys.executable, "-c", TOKENIZER], clone, env)
                )
                rows.setdefault("part: python -c 'import httpx' (as gemmacode does)", []).append(
                    timed([sys.executable, "-c", IMPORT_HTTPX], clone, env)
                )
                rows.setdefault("part: python -c 'import ollama'", []).append(
                    timed([sys.executable, "-c", "import ollama"], clone, env)
                )
                rows.setdefault("review --staged --explain-context", []).append(
                    timed(
                        GEMMACODE
                        + ["review", "--staged", "--explain-context", "--num-ctx", "8192"],
                        clone,
                        env,
                    )
                )
                for name, cmd in (
                    ("review --staged --num-ctx 8192 --no-prose", pinned),
                    ("review --staged: spawn -> request arrives", review),
                ):
                    before = len(arrivals)
                    t0 = time.perf_counter()
                    proc = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True)
                    if len(arrivals) == before:
                        raise SystemExit(f"no request arrived: {proc.stderr.strip()}")
                    rows.setdefault(name, []).append(arrivals[before] - t0)
        print(f"{'what':<52} {'median s':>9} {'min s':>7} {'max s':>7}")
        for name, values in rows.items():
            print(
                f"{name:<52} {statistics.median(values):>9.3f} {min(values):>7.3f} "
                f"{max(values):>7.3f}"
            )
        base = statistics.median(rows["python -c pass"])
        over = statistics.median(rows["review --staged: spawn -> request arrives"])
        print(
            f"review overhead above a bare interpreter: {over - base:.3f} s; "
            f"target: spawn -> request <= 0.5 s ({'met' if over <= 0.5 else 'NOT met'})"
        )
        if args.against:
            against(args.against, args.runs, clone, tmp, env)


if __name__ == "__main__":
    main()
