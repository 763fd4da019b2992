"""Prefix reuse with the embedded engine: a follow-up question on the same code evaluates only
what follows the shared prefix.

Layout as gemmacode sends it: the system prompt as the system message, then one user message
with the code first and the question last. Request 1 asks about the code; request 2 asks a
different question about the same code. llama.cpp keeps the KV cache of request 1 and
evaluates only the tokens after the common prefix. Baselines in the same run: the follow-up
sent with a cold cache (an unrelated prompt in between), and the unstable layout (question
before the code), which defeats the reuse. Target: the follow-up evaluates at most 20% of the
first request's prompt tokens. Run for SmolLM2 (global attention) and Gemma 3 270M (sliding
window layers, which some llama.cpp versions cannot trim).

Run: ``/tmp/venv/bin/python bench/bench_prefix_cache.py``
"""

from __future__ import annotations

import asyncio
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gemmacode.backends.base import ChatOptions, ChatRequest, Final, Message  # noqa: E402
from gemmacode.backends.embedded import EmbeddedBackend  # noqa: E402

SYSTEM = (
    "You are a meticulous senior code reviewer. Report bugs, security problems and "
    "performance issues with the line number, the severity and a one-sentence fix. "
    "Do not comment on style unless asked."
)
SOURCE = Path(sysconfig.get_paths()["purelib"]) / "httpx" / "_models.py"
LINES = 220
Q1 = "Which method in this code could raise an exception on malformed input?"
Q2 = "Is there any place where a header value could be decoded with the wrong encoding?"
NUM_CTX = 4096
TARGET = 0.20


def request(model: str, code: str, question: str, *, code_first: bool = True) -> ChatRequest:
    body = f"```python\n{code}```\n\n{question}" if code_first else f"{question}\n\n{code}"
    return ChatRequest(
        model,
        (Message("system", SYSTEM), Message("user", body)),
        ChatOptions(num_ctx=NUM_CTX, num_predict=16, temperature=0.2, seed=1),
    )


async def final_of(backend: EmbeddedBackend, req: ChatRequest) -> Final:
    final = None
    async for ev in backend.chat(req):
        if isinstance(ev, Final):
            final = ev
    assert final is not None
    return final


async def run(model: str, code: str) -> list[tuple[str, Final]]:
    backend = EmbeddedBackend()
    try:
        unrelated = ChatRequest(
            model, (Message("user", "Hello"),), ChatOptions(num_ctx=NUM_CTX, num_predict=1)
        )
        await final_of(backend, unrelated)  # load the model; later loads cost nothing
        rows = [("first request", await final_of(backend, request(model, code, Q1)))]
        rows.append(("follow-up, same code", await final_of(backend, request(model, code, Q2))))
        await final_of(backend, unrelated)
        rows.append(("follow-up, cold cache", await final_of(backend, request(model, code, Q2))))
        await final_of(backend, request(model, code, Q1, code_first=False))
        unstable = request(model, code, Q2, code_first=False)
        rows.append(("follow-up, question first", await final_of(backend, unstable)))
        return rows
    finally:
        await backend.aclose()


def main() -> None:
    code = "".join(SOURCE.read_text("utf-8").splitlines(keepends=True)[:LINES])
    verdicts = []
    for model in ("smollm2", "gemma3-270m"):
        rows = asyncio.run(run(model, code))
        first = rows[0][1]
        print(f"\n{model}: system + {LINES} lines of {SOURCE.name} + question, num_ctx {NUM_CTX}")
        print(f"{'request':<27} {'evaluated':>9} {'cached':>7} {'ratio':>6} {'prompt s':>9}")
        for name, f in rows:
            assert f.prompt_tokens is not None and first.prompt_tokens
            ratio = f.prompt_tokens / first.prompt_tokens
            print(
                f"{name:<27} {f.prompt_tokens:>9} {f.cached_tokens or 0:>7} {ratio:>6.1%} "
                f"{f.prompt_s:>9.3f}"
            )
        follow, cold = rows[1][1], rows[2][1]
        assert follow.prompt_tokens is not None and first.prompt_tokens
        ratio = follow.prompt_tokens / first.prompt_tokens
        speedup = cold.prompt_s / follow.prompt_s if follow.prompt_s else float("inf")
        verdicts.append(
            f"{model}: follow-up evaluates {ratio:.1%} of the first request's prompt tokens "
            f"({'meets' if ratio <= TARGET else 'misses'} the {TARGET:.0%} target); "
            f"prompt time {speedup:.1f}x faster than with a cold cache"
        )
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
