"""Client overhead: gemmacode's Ollama backend against the raw ``ollama.AsyncClient``.

Both talk to the same local fake Ollama server (tests/fakes/ollama_server.py) streaming the
same ~300-token answer with a small per-token delay, like a model generating. Rounds are
interleaved and alternate which client goes first, so drift on a shared machine hits both.
Reported: median time to first token and total time per client, and the median of the
per-round ratios (backend / raw). Target (issue 3): at most 1.05x.

    python bench/bench_client_overhead.py [--rounds 24] [--delay-ms 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gemmacode.backends.base import ChatOptions, ChatRequest, Delta, Message  # noqa: E402
from gemmacode.backends.ollama import OllamaBackend, chat_payload  # noqa: E402
from gemmacode.tokens.encoding import raw_count  # noqa: E402
from tests.fakes.ollama_server import FakeOllama  # noqa: E402

ANSWER = " ".join(
    f"Line {i}: the loop bound reads one past the end of `items`; use `range(len(items))`."
    for i in range(1, 16)
)
MODEL = "gemma4:e4b"
Timing = tuple[float, float]  # (time to first token, total)


async def via_backend(backend: OllamaBackend, request: ChatRequest) -> Timing:
    start = time.perf_counter()
    first = 0.0
    async for ev in backend.chat(request):
        if isinstance(ev, Delta) and not first:
            first = time.perf_counter() - start
    return first, time.perf_counter() - start


async def via_raw(client: object, request: ChatRequest) -> Timing:
    start = time.perf_counter()
    first = 0.0
    stream = await client.chat(**chat_payload(request), stream=True)  # type: ignore[attr-defined]
    async for chunk in stream:
        if chunk.message.content and not first:
            first = time.perf_counter() - start
    return first, time.perf_counter() - start


async def measure(host: str, rounds: int) -> tuple[list[Timing], list[Timing]]:
    import ollama

    request = ChatRequest(
        MODEL,
        (Message("system", "You review code."), Message("user", "Review: for i in range(n+1)")),
        ChatOptions(num_ctx=8192, num_predict=1024),
    )
    backend = OllamaBackend(host)
    raw = ollama.AsyncClient(host=host)
    ours: list[Timing] = []
    theirs: list[Timing] = []
    try:
        runs: list[tuple[Callable[[], Awaitable[Timing]], list[Timing]]] = [
            (lambda: via_backend(backend, request), ours),
            (lambda: via_raw(raw, request), theirs),
        ]
        for _ in range(2):  # warm-up: load the model, open connections
            for run, _sink in runs:
                await run()
        for i in range(rounds):
            order = runs if i % 2 == 0 else runs[::-1]
            for run, sink in order:
                sink.append(await run())
    finally:
        await backend.aclose()
        await raw.close()
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--delay-ms", type=float, default=1.0, help="per-token delay")
    args = parser.parse_args()
    with FakeOllama(answer=ANSWER, token_delay_s=args.delay_ms / 1000) as server:
        ours, theirs = asyncio.run(measure(server.host, args.rounds))
    tokens = raw_count(ANSWER)
    print(f"answer {tokens} tokens, {args.delay_ms:g} ms/token, {args.rounds} interleaved rounds")
    print(f"{'metric':<22}{'raw ollama':>12}{'gemmacode':>12}{'ratio':>8}")
    for name, idx in (("time to first token", 0), ("total time", 1)):
        raw_med = statistics.median(t[idx] for t in theirs)
        our_med = statistics.median(t[idx] for t in ours)
        ratio = statistics.median(o[idx] / r[idx] for o, r in zip(ours, theirs, strict=True))
        print(f"{name:<22}{raw_med * 1000:>10.2f}ms{our_med * 1000:>10.2f}ms{ratio:>7.3f}x")
    print("target: ratio <= 1.05x (median of per-round ratios)")


if __name__ == "__main__":
    main()
