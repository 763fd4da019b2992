"""Index speed on a real repository (Django, 6,800 files) against a floor measured in the same run.

Run: /tmp/venv/bin/python bench/bench_index.py

- floor: read and tree-sitter-parse the same files in one process, no query, hashing or
  cache. "The same files" is read two ways and both are printed: every file git lists, each
  parsed when its name has a grammar (the target's baseline: what indexing them naively
  costs), and, stricter, only the files the index ends up parsing. Target: cold <= 1.0x.
- cold: ``open_index`` on an empty cache, in a fresh process (so its peak memory, workers
  included, is its own).
- warm: ``open_index`` again with nothing changed (target 0.3 s for 3,000 files), then after
  touching one file's mtime and after editing one file (target 0.5 s); the edit is undone.
- symbols: decoding every symbol and reference from a warm index (what ``map`` pays first).
- cli: the whole ``gemmacode index --json`` command on a warm cache, interpreter start included.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.corpus import django_repo  # noqa: E402
from gemmacode.config import IndexSettings  # noqa: E402
from gemmacode.index import files as files_mod  # noqa: E402
from gemmacode.index.indexer import open_index  # noqa: E402
from gemmacode.index.languages import LANGUAGES, get_parser  # noqa: E402

COLD_CHILD = """
import json, resource, sys, time
from pathlib import Path
from gemmacode.config import IndexSettings
from gemmacode.index.indexer import open_index
t = time.perf_counter()
index = open_index(Path(sys.argv[1]), IndexSettings(), cache_dir=Path(sys.argv[2]), rebuild=True)
seconds = time.perf_counter() - t
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
me = resource.getrusage(resource.RUSAGE_SELF)
ch = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime
print(json.dumps({"seconds": seconds, "files": len(index.paths()), "parsed": index.stats.parsed,
                  "workers": index.stats.workers, "rss_kib": own, "children_rss_kib": kids,
                  "cpu": cpu}))
"""


def floors(root: Path) -> tuple[float, float, float, int, int]:
    """Two single-process floors: (all s, parsed-only s, parsed-only cpu s, files, bytes).

    - all: read every regular file git lists and tree-sitter-parse each one whose name has a
      grammar (minified bundles included), the naive way to index the same files;
    - parsed-only: read and parse just the files the index itself parses (a stricter floor:
      it already skips everything the index skips, and does no query, hashing or caching).
    """
    listed = files_mod.git_paths(root) or []
    everything = []
    for rel in listed:
        full = os.path.join(root, rel)
        if os.path.isfile(full) and not os.path.islink(full):
            everything.append((full, files_mod.language_of(rel)))
    listing = files_mod.list_files(root, max_file_bytes=IndexSettings().max_file_bytes)
    parsed_only = []
    indexed = []
    for c in listing.candidates:
        language = files_mod.language_of(c.path)
        indexed.append((c.abspath, language))
        if language in LANGUAGES:
            parsed_only.append((c.abspath, language))
    parsers = {lang: get_parser(lang) for lang in LANGUAGES}

    def run(work: list[tuple[str, str]]) -> tuple[float, float, int]:
        total = 0
        start = time.perf_counter()
        cpu = time.process_time()
        for path, language in work:
            with open(path, "rb") as fh:
                data = fh.read()
            total += len(data)
            if language in parsers:
                parsers[language].parse(data)
        return time.perf_counter() - start, time.process_time() - cpu, total

    all_s, _, _ = run(everything)
    only_s, only_cpu, nbytes = run(parsed_only)
    # The same files the index handles: it reads every file it indexes (5,400 on Django) and
    # parses those with a grammar; printed as a third floor between the other two.
    global LAST_INDEXED_FLOOR
    LAST_INDEXED_FLOOR = min(LAST_INDEXED_FLOOR, run(indexed)[0])
    return all_s, only_s, only_cpu, len(parsed_only), nbytes


LAST_INDEXED_FLOOR = float("inf")


def cold(root: Path, cache: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", COLD_CHILD, str(root), str(cache)],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def _spin(n: int = 4_000_000) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def parallel_capacity() -> float:
    """How much faster two busy processes finish two units of work than one process does,
    right now: 2.0 on two idle cores, less when other work shares them."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    start = time.perf_counter()
    _spin()
    _spin()
    serial = time.perf_counter() - start
    start = time.perf_counter()
    procs = [ctx.Process(target=_spin) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return serial / (time.perf_counter() - start)


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    root = django_repo()
    settings = IndexSettings()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        capacity = [parallel_capacity()]
        floor_all, floor_only, floor_cpu, colds = [], [], [], []
        runs: list[dict[str, float]] = []
        for _ in range(3):  # alternate so background load hits both alike; keep the best
            f_all, f_only, fcpu, nfiles, nbytes = floors(root)
            floor_all.append(f_all)
            floor_only.append(f_only)
            floor_cpu.append(fcpu)
            run = cold(root, cache)
            runs.append(run)
            colds.append(run["seconds"])
        capacity.append(parallel_capacity())
        open_index(root, settings, cache_dir=cache)  # this process's imports, first read
        warm = [timed(lambda: open_index(root, settings, cache_dir=cache)) for _ in range(5)]
        index = open_index(root, settings, cache_dir=cache)
        decode = timed(lambda: sum(1 for _ in index.symbols()))
        nsyms = sum(1 for _ in index.symbols())
        nrefs = sum(len(r.references) for r in index.files.values())
        target = root / "django" / "utils" / "text.py"
        original = target.read_bytes()
        st = target.stat()
        try:
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
            touched = timed(lambda: open_index(root, settings, cache_dir=cache))
            target.write_bytes(original + b"\n# bench edit\n")
            edited = timed(lambda: open_index(root, settings, cache_dir=cache))
        finally:
            target.write_bytes(original)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        open_index(root, settings, cache_dir=cache)
        env = {**os.environ, "GEMMACODE_INDEX_CACHE_DIR": ""}
        cmd = [sys.executable, "-m", "gemmacode", "index", "--root", str(root), "--json"]
        cli_cold_cache = Path(tmp) / "cli"
        env["GEMMACODE_CACHE_DIR"] = str(cli_cold_cache)
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=HERE.parent)
        cli = [
            timed(
                lambda: subprocess.run(
                    cmd, check=True, capture_output=True, env=env, cwd=HERE.parent
                )
            )
            for _ in range(3)
        ]
    best_all, best_only, best_cold = min(floor_all), min(floor_only), min(colds)
    run = runs[colds.index(best_cold)]
    peak_mib = (run["rss_kib"] + run["children_rss_kib"]) / 1024
    print(f"corpus: {root} ({len(index.paths())} indexed files, {len(index.skipped)} skipped)")
    print(f"parsed: {nfiles} files, {nbytes / 1e6:.1f} MB; {nsyms} symbols, {nrefs} references")
    print(f"cores: {len(os.sched_getaffinity(0))}, cold index workers: {int(run['workers'])}")
    print(
        "two-process speedup available (before, after the cold runs): "
        + ", ".join(f"{c:.2f}x" for c in capacity)
        + " (2.00x on two idle cores)"
    )
    print()
    w = 46
    print(f"{'measure':<{w}}{'seconds':>9}{'target':>10}{'ratio':>8}")
    print(f"{'floor: read all listed files, parse, 1 process':<{w}}{best_all:>9.3f}{'':>10}")
    print(f"{'floor: read + parse only what the index parses':<{w}}{best_only:>9.3f}{'':>10}")
    print(
        f"{'cold index vs the all-files floor':<{w}}{best_cold:>9.3f}{'<= 1.0x':>10}"
        f"{best_cold / best_all:>7.2f}x"
    )
    print(
        f"{'cold index vs the parsed-only floor':<{w}}{'':>9}{'':>10}{best_cold / best_only:>7.2f}x"
    )
    print(
        f"{'floor: read what the index reads, parse':<{w}}{LAST_INDEXED_FLOOR:>9.3f}{'':>10}"
        f"{best_cold / LAST_INDEXED_FLOOR:>7.2f}x"
    )
    print(f"{'warm, nothing changed (median of 5)':<{w}}{statistics.median(warm):>9.3f}{'0.3':>10}")
    print(f"{'warm, one file touched':<{w}}{touched:>9.3f}{'0.5':>10}")
    print(f"{'warm, one file edited':<{w}}{edited:>9.3f}{'0.5':>10}")
    print(f"{'decode all symbols (first query)':<{w}}{decode:>9.3f}")
    print(f"{'gemmacode index --json, warm (median)':<{w}}{statistics.median(cli):>9.3f}")
    print()
    print(
        f"runs: floor all {[round(x, 3) for x in floor_all]}, floor parsed-only "
        f"{[round(x, 3) for x in floor_only]}, cold {[round(x, 3) for x in colds]}"
    )
    print(
        f"cpu seconds: parsed-only floor {min(floor_cpu):.3f}, cold index (all processes) "
        f"{min(r['cpu'] for r in runs):.3f}; load average at the end {os.getloadavg()[0]:.2f}"
    )
    print(
        f"peak memory, cold index: {peak_mib:.0f} MiB (main {run['rss_kib'] / 1024:.0f} MiB"
        f" + largest worker {run['children_rss_kib'] / 1024:.0f} MiB)"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory, this process (warm runs + all symbols decoded): {own:.0f} MiB")


if __name__ == "__main__":
    main()
