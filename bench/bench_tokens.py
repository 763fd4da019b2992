"""Token estimate error: tiktoken (``cl100k_base``) times a calibrated factor against Gemma's
own tokenizer, on real source chunks in six languages.

Gemma's tokenizer comes from the Gemma 3 270M GGUF through llama.cpp (vocabulary only), via
``EmbeddedBackend.count_tokens``. Files are real open-source code found on this machine
(installed Python packages, Django's JavaScript and templates, the C runtime of mypyc, the
C++ standard library headers, Go from git's contrib), chunked with gemmacode's own
syntax-aware chunker at a 500-token budget. Files alternate between a training half, which
calibrates the factor, and a held-out half, on which the error is measured. Error per chunk
is ``|estimate - gemma| / gemma``; chunks under 50 Gemma tokens are left out (a 5-token tail
of a file has no meaningful relative error and does not decide a budget).

Besides the p95 of the error it prints the share of under-estimates and their p95 (what
``context.token_margin`` must absorb, since only an under-estimate can overflow ``num_ctx``)
and the error on prompt-sized groups of 2,000+ tokens.

Run: ``/tmp/venv/bin/python bench/bench_tokens.py``
"""

from __future__ import annotations

import math
import statistics
import sys
import sysconfig
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gemmacode.backends.embedded import EmbeddedBackend  # noqa: E402
from gemmacode.index.chunker import chunk_text  # noqa: E402
from gemmacode.tokens import CalibrationStore, TokenCounter, raw_count  # noqa: E402

SITE = Path(sysconfig.get_paths()["purelib"])
DJANGO = ROOT / "bench" / "_repos" / "django"
BUDGET = 500
PER_LANGUAGE = 70  # chunks per language at most
PER_FILE = 6  # so that many files, not one big one, make up a language's sample
MIN_TOKENS = 50
TARGET = 0.05

# language -> (chunker language, globs)
SOURCES: dict[str, tuple[str, list[Path | str]]] = {
    "python": ("python", [SITE / "httpx", SITE / "jinja2", SITE / "urllib3", "*.py"]),
    "javascript": (
        "javascript",
        [DJANGO / "django" / "contrib" / "admin" / "static" / "admin" / "js",
         DJANGO / "js_tests", "*.js"],
    ),
    "c": ("c", [SITE / "mypyc" / "lib-rt", SITE / "markupsafe", "*.c"]),
    "cpp": ("cpp", [Path("/usr/include/c++/12/bits"), "stl_*.h"]),
    "go": ("go", [Path("/usr/share/doc/git/contrib"), "*.go"]),
    "html": ("text", [DJANGO / "django" / "contrib" / "admin" / "templates", "*.html"]),
}  # fmt: skip


@dataclass
class Sample:
    language: str
    file: str
    raw: int  # tiktoken tokens
    gemma: int  # Gemma tokens
    train: bool


def files_for(globs: list[Path | str]) -> list[Path]:
    pattern = str(globs[-1])
    out: list[Path] = []
    for base in globs[:-1]:
        assert isinstance(base, Path)
        if base.is_dir():
            out += sorted(
                p for p in base.rglob(pattern) if "vendor" not in p.parts and ".min." not in p.name
            )
    return out


def collect(backend: EmbeddedBackend) -> list[Sample]:
    counter = TokenCounter()
    samples: list[Sample] = []
    for lang, (chunk_lang, globs) in SOURCES.items():
        files = files_for(globs)
        taken = 0
        for i, path in enumerate(files):
            if taken >= PER_LANGUAGE:
                break
            try:
                text = path.read_text("utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            in_file = 0
            for chunk in chunk_text(
                text, path=str(path), language=chunk_lang, budget=BUDGET, counter=counter
            ):
                gemma = backend.count_tokens("gemma3-270m", chunk.text) or 0
                if gemma < MIN_TOKENS or taken >= PER_LANGUAGE or in_file >= PER_FILE:
                    continue
                in_file += 1
                samples.append(Sample(lang, str(path), raw_count(chunk.text), gemma, i % 2 == 0))
                taken += 1
    return samples


def p95(errors: list[float]) -> float:
    ordered = sorted(errors)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def estimate(s: Sample, factor: dict[str, float] | float) -> int:
    f = factor if isinstance(factor, float) else factor[s.language]
    return math.ceil(s.raw * f)


def errors(samples: list[Sample], factor: dict[str, float] | float) -> list[float]:
    return [abs(estimate(s, factor) - s.gemma) / s.gemma for s in samples]


def under(samples: list[Sample], factor: dict[str, float] | float) -> list[float]:
    """How far below the true count each estimate falls (0 when it over-estimates)."""
    return [max(0, s.gemma - estimate(s, factor)) / s.gemma for s in samples]


def prompts(samples: list[Sample], tokens: int) -> list[list[Sample]]:
    """Consecutive held-out chunks of one language grouped into prompt-sized code parts."""
    groups: list[list[Sample]] = []
    for lang in SOURCES:
        group: list[Sample] = []
        for s in (s for s in samples if s.language == lang):
            group.append(s)
            if sum(g.raw for g in group) >= tokens:
                groups.append(group)
                group = []
    return groups


def prompt_errors(groups: list[list[Sample]], factor: dict[str, float] | float) -> list[float]:
    out = []
    for g in groups:
        est = sum(estimate(s, factor) for s in g)
        true = sum(s.gemma for s in g)
        out.append(abs(est - true) / true)
    return out


def main() -> None:
    t0 = time.perf_counter()
    backend = EmbeddedBackend()
    samples = collect(backend)
    collect_s = time.perf_counter() - t0
    train = [s for s in samples if s.train]
    test = [s for s in samples if not s.train]
    by_lang: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_lang[s.language].append(s)

    # The runtime path: one CalibrationStore fed one observation per training chunk.
    with tempfile.TemporaryDirectory() as tmp:
        store = CalibrationStore(Path(tmp) / "calibration.json")
        for s in train:
            store.observe("gemma3-270m", s.raw, s.gemma)
        ema = store.factor("gemma3-270m")
    ratios = sorted(s.gemma / s.raw for s in train)
    median = statistics.median(ratios)
    safe = ratios[int(0.9 * (len(ratios) - 1))]  # over-estimates 9 chunks in 10
    per_lang = {
        lang: statistics.median(s.gemma / s.raw for s in group if s.train)
        for lang, group in by_lang.items()
    }

    print(
        f"{len(samples)} chunks ({len(train)} train, {len(test)} held out) in {len(by_lang)} "
        f"languages; budget {BUDGET}, Gemma 3 tokenizer; {collect_s:.1f}s"
    )
    print()
    header = ("language", "chunks", "held", "factor", "p95 raw", "p95 calibrated")
    print("{:<11} {:>6} {:>5} {:>7} {:>8} {:>15}".format(*header))
    for lang, group in by_lang.items():
        held = [s for s in group if not s.train]
        print(
            f"{lang:<11} {len(group):>6} {len(held):>5} {per_lang[lang]:>7.3f} "
            f"{p95(errors(held, 1.0)):>8.1%} {p95(errors(held, median)):>15.1%}"
        )
    print()
    rows: list[tuple[str, dict[str, float] | float]] = [
        ("uncalibrated (factor 1.0)", 1.0),
        ("CalibrationStore EMA, one factor", ema),
        ("median ratio, one factor", median),
        ("median ratio per language", per_lang),
        ("90th-percentile ratio (safe side)", safe),
    ]
    groups = prompts(test, 2000)
    print(
        f"{'held-out estimate':<34} {'factor':>6} {'p95 err':>8} {'mean':>6} {'under':>6} "
        f"{'p95 under':>9} {'p95 err, 2k-token prompts':>26}"
    )
    for name, factor in rows:
        errs = errors(test, factor)
        unders = under(test, factor)
        shown = f"{factor:.3f}" if isinstance(factor, float) else "-"
        print(
            f"{name:<34} {shown:>6} {p95(errs):>8.1%} {statistics.mean(errs):>6.1%} "
            f"{sum(u > 0 for u in unders) / len(test):>6.0%} {p95(unders):>9.1%} "
            f"{p95(prompt_errors(groups, factor)):>26.1%}"
        )
    chunk_p95 = p95(errors(test, median))
    prompt_p95 = p95(prompt_errors(groups, median))
    for what, value in (("per chunk", chunk_p95), (f"per prompt ({len(groups)})", prompt_p95)):
        verdict = "meets" if value <= TARGET else "misses"
        print(f"calibrated p95 error {what}: {value:.1%}, {verdict} the {TARGET:.0%} target")


if __name__ == "__main__":
    main()
