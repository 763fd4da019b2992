"""Start-up time of `gemmacode --help` against a bare interpreter, measured in the same run.

Target (issue 2): at most 0.3 s. Heavy imports (tree-sitter grammars, tiktoken, ollama,
llama_cpp, textual) must stay deferred for this to hold.

    python bench/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _time(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("gemmacode", path=str(Path(sys.executable).parent)) or "gemmacode"
    # Warm the OS file cache once so every variant is measured the same way.
    _time([sys.executable, "-c", "pass"], 2)
    _time([exe, "--help"], 2)
    bare = _time([sys.executable, "-c", "pass"], args.runs)
    site = _time([sys.executable, "-c", "import argparse"], args.runs)
    helped = _time([exe, "--help"], args.runs)
    review_help = _time([exe, "review", "--help"], args.runs)
    print(f"{'what':34} {'median s':>9} {'x bare':>7}")
    for name, value in [
        ("python -c pass (baseline)", bare),
        ("python -c 'import argparse'", site),
        ("gemmacode --help", helped),
        ("gemmacode review --help", review_help),
    ]:
        print(f"{name:34} {value:9.3f} {value / bare:7.2f}")
    verdict = "OK" if helped <= 0.3 else "OVER"
    print(f"target: gemmacode --help <= 0.300 s: {helped:.3f} s {verdict}")


if __name__ == "__main__":
    main()
