"""How well diff packing fills the prompt budget, and whether anything is sent over num_ctx.

Real diffs from the corpus history (Django 5.0.9 -> 5.1 -> 5.1.3, whole and sliced per
directory and per file, so sizes range from a few lines to the whole release) are packed
at several context sizes and reviewed through the real engine and ModelSession against a
scripted backend that fails any request over ``num_ctx``. Two numbers per context size:

- share: the prompt tokens of each request divided by the prompt budget (num_ctx minus the
  answer reserve and the tokenizer margin), over diffs larger than one request. "full" counts
  every request but each diff's last one (the remainder); "first" is the first request
  alone. Target: at least 85%.
- over: requests whose prompt exceeded num_ctx, counted twice: by the session's own counter
  (fitted total + answer reserve > num_ctx) and by the backend (tiktoken over the messages
  actually sent > num_ctx). Target: 0.

Run: /tmp/venv/bin/python bench/bench_packing.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import django_repo  # noqa: E402
from gemmacode.backends.base import ChatRequest  # noqa: E402
from gemmacode.config import IndexSettings, Settings  # noqa: E402
from gemmacode.context.model_session import ModelSession  # noqa: E402
from gemmacode.index.indexer import open_index  # noqa: E402
from gemmacode.review.diff import parse_diff  # noqa: E402
from gemmacode.review.engine import ReviewOptions, plan_requests, review_plan  # noqa: E402
from gemmacode.review.plan import plan_target  # noqa: E402
from gemmacode.review.targets import DIFF_ARGS, DiffTarget, git  # noqa: E402
from gemmacode.tokens.calibration import CalibrationStore  # noqa: E402
from gemmacode.tokens.encoding import raw_count  # noqa: E402
from tests.fakes.backend import FakeBackend  # noqa: E402

CONTEXTS = (4096, 8192, 16384)
RANGES = ("v5.0.9..v5.1", "v5.1..v5.1.3")
MAX_UNITS_REVIEWED = 40  # requests per diff actually sent through the backend


def diffs(root: Path) -> list[tuple[str, str]]:
    """(label, diff text): whole releases, per-directory and per-file slices."""
    out: list[tuple[str, str]] = []
    for spec in RANGES:
        whole = git(root, "diff", *DIFF_ARGS, spec).decode("utf-8", "replace")
        out.append((spec, whole))
        stat = git(root, "diff", "--numstat", spec, "--", "django", "tests").decode()
        sizes: dict[str, int] = {}
        for line in stat.splitlines():
            add, rem, path = line.split("\t", 2)
            if add == "-" or path.endswith((".po", ".mo")):
                continue
            sizes[path] = int(add) + int(rem)
        dirs = sorted({"/".join(p.split("/")[:3]) for p in sizes if p.count("/") >= 2})
        for d in dirs:
            text = git(root, "diff", *DIFF_ARGS, spec, "--", d).decode("utf-8", "replace")
            out.append((f"{spec} {d}", text))
        ranked = sorted(sizes, key=lambda p: -sizes[p])
        for path in ranked[:: max(1, len(ranked) // 25)][:25]:
            text = git(root, "diff", *DIFF_ARGS, spec, "--", path).decode("utf-8", "replace")
            out.append((f"{spec} {path}", text))
    return [(label, text) for label, text in out if text.strip()]


class CountingBackend(FakeBackend):
    """Counts (instead of raising on) requests whose messages exceed num_ctx."""

    over: int = 0

    async def chat(self, request: ChatRequest):  # type: ignore[no-untyped-def,override]
        prompt = sum(raw_count(m.content) for m in request.messages)
        if prompt > request.options.num_ctx:
            self.over += 1
            request = ChatRequest(request.model, request.messages[:1], request.options)
        async for event in super().chat(request):
            yield event


def answer(request: ChatRequest) -> str:
    if request.json_schema:
        return '{"findings": []}'
    return "- line 1 [low, style]: a name could be clearer. " * 8  # prose the extraction reads


async def run_one(
    root: Path, text: str, num_ctx: int, index: object, calib: Path
) -> tuple[list[float], int, int, int]:
    settings = Settings()
    settings.context.num_ctx = num_ctx
    backend = CountingBackend(answers=answer)
    session = ModelSession(backend, settings, calibration=CalibrationStore(calib))
    await session.prepare()
    opts = ReviewOptions()
    target = DiffTarget("range", "bench", root, parse_diff(text))
    plan, label = plan_target(target, session, opts, index=index)  # type: ignore[arg-type]
    budget = session.budget()
    shares: list[float] = []
    over_counter = 0
    for request in plan_requests(plan, label, opts):
        total = session.explain(request.parts).total
        shares.append(total / budget.prompt_tokens)
        if total + budget.num_predict > num_ctx:
            over_counter += 1
    plan.units = plan.units[:MAX_UNITS_REVIEWED]
    await review_plan(session, plan, label, opts)
    return shares, over_counter, backend.over, len(backend.requests)


def main() -> None:
    root = django_repo()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        index = open_index(root, IndexSettings(), cache_dir=None)
        corpus = diffs(root)
        print(
            f"{len(corpus)} diffs from {root} ({', '.join(RANGES)}), index of "
            f"{len(index.files)} files"
        )
        print(
            f"{'num_ctx':>8} {'diffs':>6} {'multi':>6} {'share full':>11} {'share first':>12}"
            f" {'min full':>9} {'over (counter)':>15} {'over (backend)':>15} {'sent':>6}"
        )
        for num_ctx in CONTEXTS:
            full: list[float] = []
            first: list[float] = []
            over_c = over_b = sent = multi = 0
            for _, text in corpus:
                shares, oc, ob, n = asyncio.run(
                    run_one(root, text, num_ctx, index, Path(tmp) / f"c{num_ctx}.json")
                )
                over_c += oc
                over_b += ob
                sent += n
                if len(shares) > 1:
                    multi += 1
                    full += shares[:-1]
                    first.append(shares[0])
            print(
                f"{num_ctx:>8} {len(corpus):>6} {multi:>6} {statistics.mean(full):>10.1%}"
                f" {statistics.mean(first):>11.1%} {min(full):>9.1%} {over_c:>15} {over_b:>15}"
                f" {sent:>6}"
            )
    print(
        f"target: share >= 85% when the diff is larger than one request; over = 0 "
        f"({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
