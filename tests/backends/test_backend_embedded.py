"""The embedded backend end to end with the real SmolLM2-135M-Instruct (llama.cpp in-process).

One backend (one loaded model) serves the whole module; answers are kept to a few tokens so
the module runs in seconds on two cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemmacode.backends.base import (
    Backend,
    ChatOptions,
    ChatRequest,
    Delta,
    Final,
    Message,
)
from gemmacode.backends.embedded import EmbeddedBackend, smollm2_path
from gemmacode.errors import ContextOverflowError, ModelNotFoundError
from tests.backends.test_ollama_store import add_model
from tests.conftest import collect

SYSTEM = Message("system", "You are a careful code reviewer. Answer briefly.")
CODE = (
    "def average(values):\n"
    "    total = 0\n"
    "    for v in values:\n"
    "        total += v\n"
    "    return total / len(values)\n"
)


def ask(question: str, *, num_ctx: int = 2048, num_predict: int = 8, **kw: object) -> ChatRequest:
    user = Message("user", f"```python\n{CODE}```\n\n{question}")
    stop = kw.pop("stop", ())
    options = ChatOptions(num_ctx=num_ctx, num_predict=num_predict, seed=7, stop=stop)  # type: ignore[arg-type]
    return ChatRequest("smollm2", (SYSTEM, user), options, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def backend() -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend()
    yield b
    asyncio.run(b.aclose())


def run(backend: EmbeddedBackend, request: ChatRequest) -> tuple[list[str], Final]:
    return asyncio.run(collect(backend.chat(request)))


def test_backend_satisfies_the_protocol(backend: EmbeddedBackend) -> None:
    assert isinstance(backend, Backend)


def test_streams_deltas_then_one_final_with_metrics(backend: EmbeddedBackend) -> None:
    deltas, final = run(backend, ask("What is wrong with this function?", num_predict=12))
    assert len(deltas) >= 3, "the answer streams in pieces, not in one block"
    assert "".join(deltas).strip()
    assert final.done_reason == "length"
    assert final.completion_tokens == 12
    assert final.prompt_tokens is not None and final.prompt_tokens > 40
    assert final.num_ctx == 2048
    assert final.prompt_s > 0 and final.eval_s > 0
    assert final.total_s >= final.load_s + final.prompt_s
    loaded = asyncio.run(backend.loaded())
    assert [(m.name, m.context_length, m.vram_bytes) for m in loaded] == [("smollm2", 2048, 0)]


def test_follow_up_on_the_same_code_evaluates_only_the_new_suffix(
    backend: EmbeddedBackend,
) -> None:
    hello = ChatRequest(
        "smollm2", (Message("user", "Hi"),), ChatOptions(num_ctx=2048, num_predict=1)
    )
    run(backend, hello)  # leave a cache that shares nothing with the code prompt
    _, first = run(backend, ask("What does this function return for an empty list?"))
    assert first.cached_tokens is not None and first.cached_tokens < 10
    _, follow = run(backend, ask("How would you rename the variables?"))
    assert first.prompt_tokens and follow.prompt_tokens and follow.cached_tokens
    assert follow.load_s == 0.0, "same num_ctx: no reload"
    assert follow.prompt_tokens < first.prompt_tokens / 3
    # The cached prefix (system + code) plus what was evaluated is the whole prompt.
    total = follow.prompt_tokens + follow.cached_tokens
    assert total > first.prompt_tokens / 2
    _, again = run(backend, ask("How would you rename the variables?"))
    assert again.prompt_tokens == 1, "an identical prompt replays only its last token"
    assert again.cached_tokens == total - 1


def test_changing_num_ctx_reloads_like_ollama(backend: EmbeddedBackend) -> None:
    run(backend, ask("Is there a bug?", num_ctx=2048, num_predict=2))
    _, final = run(backend, ask("Is there a bug?", num_ctx=1024, num_predict=2))
    assert final.load_s > 0 and final.num_ctx == 1024
    assert final.cached_tokens == 0, "a reload starts from an empty cache"
    assert asyncio.run(backend.loaded())[0].context_length == 1024
    _, same = run(backend, ask("Is there a bug?", num_ctx=1024, num_predict=2))
    assert same.load_s == 0.0


def test_stop_sequence_ends_with_reason_stop(backend: EmbeddedBackend) -> None:
    deltas, final = run(backend, ask("Explain the code.", num_predict=60, stop=("e",)))
    assert final.done_reason == "stop"
    assert "e" not in "".join(deltas)
    assert final.completion_tokens is not None and final.completion_tokens < 60


def test_json_schema_constrains_the_answer(backend: EmbeddedBackend) -> None:
    schema = {
        "type": "object",
        "properties": {
            "line": {"type": "integer"},
            "severity": {"type": "string", "enum": ["low", "medium", "high"]},
            "message": {"type": "string", "maxLength": 60},
        },
        "required": ["line", "severity", "message"],
    }
    request = ask("Report the most serious problem as JSON.", num_predict=80, json_schema=schema)
    deltas, final = run(backend, request)
    answer = json.loads("".join(deltas))
    assert isinstance(answer["line"], int)
    assert answer["severity"] in ("low", "medium", "high")
    assert isinstance(answer["message"], str)
    assert final.done_reason == "stop"


def test_closing_the_stream_stops_generation_promptly(backend: EmbeddedBackend) -> None:
    async def go() -> tuple[float, int]:
        it = backend.chat(ask("Write a long essay about this code.", num_predict=1500))
        seen = 0
        async for ev in it:
            assert isinstance(ev, Delta)
            seen += 1
            if seen == 3:
                break
        t0 = time.perf_counter()
        await it.aclose()  # type: ignore[attr-defined]
        return time.perf_counter() - t0, seen

    stop_s, seen = asyncio.run(go())
    assert seen == 3
    assert stop_s < 1.0, f"generation took {stop_s:.2f}s to stop"
    assert not backend.busy
    _, final = run(backend, ask("Is there a bug?", num_predict=2))
    assert final.completion_tokens == 2, "the model is usable right after a cancel"


def test_cancelling_the_consumer_task_stops_generation(backend: EmbeddedBackend) -> None:
    async def go() -> tuple[float, int]:
        got: list[str] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for ev in backend.chat(ask("Write a long essay.", num_predict=1500)):
                if isinstance(ev, Delta):
                    got.append(ev.text)
                    first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        t0 = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - t0, len(got)

    stop_s, n = asyncio.run(go())
    assert 1 <= n < 200
    assert stop_s < 1.0 and not backend.busy


def test_prompt_over_num_ctx_is_a_typed_error(backend: EmbeddedBackend) -> None:
    long = Message("user", CODE * 40)
    request = ChatRequest("smollm2", (long,), ChatOptions(num_ctx=256, num_predict=4))
    with pytest.raises(ContextOverflowError) as err:
        run(backend, request)
    assert "num_ctx 256" in str(err.value)


def test_count_tokens_is_the_models_own_tokenizer(backend: EmbeddedBackend) -> None:
    assert backend.count_tokens("smollm2", "") == 0
    one = backend.count_tokens("smollm2", CODE)
    two = backend.count_tokens("smollm2", CODE + CODE)
    assert one is not None and two is not None and 20 < one < len(CODE)
    assert one * 2 - 2 <= two <= one * 2


def test_unknown_model_and_bad_gguf_path_are_typed_errors(tmp_path: Path) -> None:
    b = EmbeddedBackend(ollama_models=tmp_path / "empty-store")
    with pytest.raises(ModelNotFoundError) as err:
        b.resolve("no-such-model:7b")
    assert "ollama pull no-such-model:7b" in str(err.value)
    with pytest.raises(ModelNotFoundError):
        b.resolve(str(tmp_path / "missing.gguf"))
    bad = EmbeddedBackend(gguf_path=str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelNotFoundError) as err2:
        bad.resolve("anything")
    assert "backend.gguf_path" in str(err2.value)

    async def stream() -> None:
        await collect(b.chat(ChatRequest("no-such-model:7b", (), ChatOptions(num_ctx=512))))

    with pytest.raises(ModelNotFoundError):
        asyncio.run(stream())


def test_ollama_name_runs_from_the_ollama_store(tmp_path: Path) -> None:
    store = tmp_path / "models"
    blob = add_model(store, "registry.ollama.ai/library/gemma4", "e4b", smollm2_path())
    b = EmbeddedBackend(ollama_models=store)
    try:
        assert b.resolve("gemma4:e4b") == blob
        request = ChatRequest(
            "gemma4:e4b",
            (Message("user", "Say hello."),),
            ChatOptions(num_ctx=512, num_predict=3, seed=1),
        )
        deltas, final = run(b, request)
        assert "".join(deltas) and final.completion_tokens == 3 and final.load_s > 0
        names = [m.name for m in asyncio.run(b.list_models())]
        assert {"smollm2", "gemma3-270m", "gemma4:e4b"} <= set(names)
        assert asyncio.run(b.loaded())[0].name == "gemma4:e4b"
    finally:
        asyncio.run(b.aclose())


def test_gguf_path_setting_serves_any_model_name(tmp_path: Path) -> None:
    b = EmbeddedBackend(gguf_path=str(smollm2_path()))
    try:
        info = asyncio.run(b.describe("my-reviewer"))
        assert info.name == "my-reviewer" and info.family == "llama"
        assert info.context_length == 8192 and info.quantization == "Q4_1"
        assert info.kv is not None and info.kv.global_kv > 0
    finally:
        asyncio.run(b.aclose())


def _fd2() -> tuple[int, int]:
    st = os.fstat(2)
    return st.st_dev, st.st_ino


def test_overlapping_loads_restore_stderr_whichever_finishes_first() -> None:
    """A model load and a tokenizer load silence fd 2 at once; when the first one in leaves
    first, the second must not put its /dev/null back for good (the TUI went blank that way)."""
    from gemmacode.backends.embedded import _quiet_stderr

    real = _fd2()
    null = os.stat(os.devnull)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, int]] = []

    def first() -> None:
        with _quiet_stderr():
            a_in.set()
            b_in.wait(5)
            seen.append(_fd2())
        a_out.set()

    def second() -> None:
        a_in.wait(5)
        with _quiet_stderr():
            b_in.set()
            a_out.wait(5)
            seen.append(_fd2())  # the first has left; this one is still loading

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [(null.st_dev, null.st_ino)] * 2  # silenced while either one loads
    assert _fd2() == real  # and the real stderr is back once both have left
