"""`gemmacode map --tokens 2048` end to end on a warm index of a real repository (Django,
6,800 files), against baselines measured in the same run.

Run: /tmp/venv/bin/python bench/bench_map.py [--runs N]

Every row is a fresh process (interpreter start included), median of N runs, with its peak
resident memory. The index cache lives in a temporary folder warmed once by `gemmacode index`.

- `gemmacode --help`: start-up floor of any command.
- open warm index: a process that only opens the warm index (what every map call pays).
- map (all warm): the headline; index, ranking and the finished map are cached. Target 0.5 s.
- map, ranking cached: the map cache emptied before each run (another budget, another
  counter factor): decode the symbols, load the tokenizer, fit.
- map, nothing cached: the map's cache folder emptied before each run (a changed file, a new
  focus or question): decode, build the graph, PageRank, fit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.corpus import django_repo  # noqa: E402

TOKENS = 2048
OPEN_ONLY = (
    "import sys\n"
    "from pathlib import Path\n"
    "from gemmacode.config import load_settings\n"
    "from gemmacode.index.indexer import open_index\n"
    "root = Path(sys.argv[1])\n"
    "open_index(root, load_settings(root, {}, {}).index)\n"
)


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB and stdout of one fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it, with its own resource usage
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode(errors='replace')}")
        return wall, usage.ru_maxrss // 1024, out.read().decode("utf-8", "replace")


def measure(
    variants: list[tuple[list[str], Callable[[], None] | None]], env: dict[str, str], runs: int
) -> list[tuple[float, int, str]]:
    """Median wall time, peak RSS and last output per variant. Runs are interleaved (one of
    each per round) so a burst of load from other processes hits every variant alike."""
    walls: list[list[float]] = [[] for _ in variants]
    peaks: list[int] = [0] * len(variants)
    outs: list[str] = [""] * len(variants)
    for _ in range(runs):
        for i, (cmd, before) in enumerate(variants):
            if before is not None:
                before()
            wall, rss, outs[i] = run_once(cmd, env)
            walls[i].append(wall)
            peaks[i] = max(peaks[i], rss)
    return [(statistics.median(w), p, o) for w, p, o in zip(walls, peaks, outs, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    repo = django_repo()
    exe = shutil.which("gemmacode", path=str(Path(sys.executable).parent)) or "gemmacode"
    with tempfile.TemporaryDirectory(prefix="bench-map-") as cache:
        env = {**os.environ, "GEMMACODE_CACHE_DIR": cache}
        start = time.perf_counter()
        subprocess.run(
            [exe, "index", "--root", str(repo)], env=env, check=True, stdout=subprocess.DEVNULL
        )
        cold_index = time.perf_counter() - start
        map_cmd = [exe, "map", "--root", str(repo), "--tokens", str(TOKENS)]

        def map_folders() -> list[Path]:
            return list(Path(cache).glob("**/repomap"))

        def forget_maps() -> None:
            for folder in map_folders():
                for entry in folder.glob("map-*.json"):
                    entry.unlink()

        def forget_all() -> None:
            for folder in map_folders():
                shutil.rmtree(folder)

        def nothing() -> None:
            return None

        # Variant order matters for the caches: the all-warm run follows one that refilled
        # the map cache.
        results = measure(
            [
                ([exe, "--help"], None),
                ([sys.executable, "-c", OPEN_ONLY, str(repo)], None),
                (map_cmd, forget_all),
                (map_cmd, forget_maps),
                (map_cmd, nothing),
            ],
            env,
            args.runs,
        )
        (help_s, help_mb, _), (open_s, open_mb, _), (cold_s, cold_mb, _) = results[:3]
        (ranked_s, ranked_mb, _), (warm_s, warm_mb, text) = results[3:]
        _, _, as_json = run_once([*map_cmd, "--json"], env)
    doc = json.loads(as_json)
    assert doc["text"] == text, "--json and the plain map must agree"
    rows = [
        ("gemmacode --help (baseline)", help_s, help_mb),
        ("open warm index only (baseline)", open_s, open_mb),
        ("map, all warm", warm_s, warm_mb),
        ("map, ranking cached", ranked_s, ranked_mb),
        ("map, nothing cached", cold_s, cold_mb),
    ]
    print(f"repository: {repo} (cold index {cold_index:.1f} s, not part of the rows)")
    print(f"runs per row: {args.runs}, median wall time, peak RSS of the process")
    print(f"{'what':34} {'median s':>9} {'x help':>7} {'x open':>7} {'peak MiB':>9}")
    for name, secs, mb in rows:
        print(f"{name:34} {secs:9.3f} {secs / help_s:7.2f} {secs / open_s:7.2f} {mb:9d}")
    share = doc["tokens"] / TOKENS
    print(
        f"map size: {doc['tokens']} of {TOKENS} tokens ({share:.1%}), "
        f"{len(doc['symbols'])} definitions from {len(doc['files'])} files"
    )
    verdict = "OK" if warm_s <= 0.5 else "OVER"
    print(f"target: map --tokens {TOKENS} on a warm index <= 0.500 s: {warm_s:.3f} s {verdict}")
    print(f"target: at least 90% of the budget used: {share:.1%} {'OK' if share >= 0.9 else 'LOW'}")


if __name__ == "__main__":
    main()
