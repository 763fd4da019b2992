"""The Ollama backend through the real ``ollama`` client against a wire-format fake server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gemmacode.backends.base import (
    Backend,
    ChatOptions,
    ChatRequest,
    Event,
    Final,
    KvArch,
    Message,
)
from gemmacode.backends.gguf import kv_arch_from_gguf
from gemmacode.backends.ollama import OllamaBackend, chat_payload, display_host
from gemmacode.tokens.encoding import raw_count
from tests.conftest import collect
from tests.fakes.ollama_server import DEFAULT_ANSWER, FakeOllama, gemma4_e4b

MODEL = "gemma4:e4b"


def request(text: str = "Review this.", num_ctx: int = 8192, **kw: Any) -> ChatRequest:
    messages = kw.pop("messages", (Message("system", "You review code."), Message("user", text)))
    options = kw.pop("options", ChatOptions(num_ctx=num_ctx))
    return ChatRequest(MODEL, tuple(messages), options, **kw)


def chat(server: FakeOllama, *requests: ChatRequest) -> list[tuple[str, Final]]:
    async def go() -> list[tuple[str, Final]]:
        backend = OllamaBackend(server.host, timeout_s=10)
        try:
            return [await _joined(backend.chat(r)) for r in requests]
        finally:
            await backend.aclose()

    return asyncio.run(go())


async def _joined(events: AsyncIterator[Event]) -> tuple[str, Final]:
    deltas, final = await collect(events)
    return "".join(deltas), final


def test_backend_satisfies_the_protocol() -> None:
    assert isinstance(OllamaBackend("127.0.0.1:1"), Backend)
    assert OllamaBackend("127.0.0.1:1").count_tokens(MODEL, "some text") is None


def test_streams_deltas_then_one_final_with_metrics(ollama_server: FakeOllama) -> None:
    [(text, final)] = chat(ollama_server, request())
    assert text == DEFAULT_ANSWER
    assert final.done_reason == "stop"
    assert final.completion_tokens == raw_count(DEFAULT_ANSWER)
    assert final.num_ctx == 8192
    record = ollama_server.streams[-1]
    assert final.prompt_tokens == record.evaluated == record.prompt_tokens
    # nanoseconds on the wire, seconds in Final
    assert final.load_s == pytest.approx(ollama_server.load_s)
    assert final.prompt_s == pytest.approx(record.evaluated * 200_000 / 1e9)
    assert 0 < final.eval_s < final.total_s
    assert final.total_s == pytest.approx(final.load_s + final.prompt_s + final.eval_s)


def test_every_request_sends_num_ctx_and_the_options(ollama_server: FakeOllama) -> None:
    schema = {"type": "object", "properties": {"findings": {"type": "array"}}}
    options = ChatOptions(
        num_ctx=12288, temperature=0.1, top_p=0.8, top_k=20, num_predict=64, seed=7,
        num_batch=256, stop=("</review>",),
    )  # fmt: skip
    chat(ollama_server, request(options=options, json_schema=schema, keep_alive="10m"))
    chat(ollama_server, request(num_ctx=4096))
    first, second = ollama_server.bodies("/api/chat")
    assert first["stream"] is True
    assert first["think"] is False
    assert first["keep_alive"] == "10m"
    assert first["format"] == schema
    assert first["options"] == {
        "num_ctx": 12288, "temperature": 0.1, "top_p": 0.8, "top_k": 20, "num_predict": 64,
        "seed": 7, "num_batch": 256, "stop": ["</review>"],
    }  # fmt: skip
    assert first["messages"] == [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": "Review this."},
    ]
    # defaults: the seed's production advice, num_ctx still explicit, seed 0 means random (-1)
    assert second["options"]["num_ctx"] == 4096
    assert second["options"]["temperature"] == 0.2
    assert second["options"]["top_p"] == 0.9
    assert second["options"]["seed"] == -1
    assert second["keep_alive"] == "5m"
    assert "format" not in second and "stop" not in second["options"]


def test_think_is_sent_only_when_asked(ollama_server: FakeOllama) -> None:
    chat(ollama_server, request(think=True))
    assert ollama_server.bodies("/api/chat")[0]["think"] is True
    assert chat_payload(request())["think"] is False


def test_num_predict_limit_reports_length(ollama_server: FakeOllama) -> None:
    [(text, final)] = chat(ollama_server, request(options=ChatOptions(num_ctx=4096, num_predict=5)))
    assert final.completion_tokens == 5
    assert final.done_reason == "length"
    assert DEFAULT_ANSWER.startswith(text) and text != DEFAULT_ANSWER


def test_num_ctx_change_reloads_the_model(ollama_server: FakeOllama) -> None:
    results = chat(
        ollama_server,
        request("first", num_ctx=4096),
        request("second", num_ctx=4096),
        request("third", num_ctx=8192),
    )
    loads = [final.load_s for _, final in results]
    assert loads[0] == pytest.approx(1.5)  # cold load
    assert loads[1] < 0.01  # same options: stays loaded
    assert loads[2] == pytest.approx(1.5)  # num_ctx changed: unload and reload

    async def ps() -> list[Any]:
        backend = OllamaBackend(ollama_server.host)
        try:
            return await backend.loaded()
        finally:
            await backend.aclose()

    [loaded] = asyncio.run(ps())
    assert loaded.name == MODEL
    assert loaded.context_length == 8192
    assert loaded.size_bytes > gemma4_e4b().size  # weights plus the KV cache
    assert not loaded.spilled
    assert loaded.expires_at.startswith("20")


def test_spilled_layers_show_in_ps(ollama_server: FakeOllama) -> None:
    ollama_server.vram_bytes = 4 * 1024**3  # a 4 GiB card cannot hold E4B's 4.5 GB
    chat(ollama_server, request())

    async def ps() -> list[Any]:
        backend = OllamaBackend(ollama_server.host)
        try:
            return await backend.ps()
        finally:
            await backend.aclose()

    [loaded] = asyncio.run(ps())
    assert loaded.vram_bytes == 4 * 1024**3 < loaded.size_bytes
    assert loaded.spilled


def test_silent_truncation_shows_only_as_a_low_prompt_eval_count(
    ollama_server: FakeOllama,
) -> None:
    long_code = "\n".join(f"def f{i}(x):\n    return x * {i} + {i * 7}" for i in range(400))
    estimate = raw_count(long_code)
    assert estimate > 4000
    [(text, final)] = chat(ollama_server, request(long_code, num_ctx=2048))
    assert text == DEFAULT_ANSWER  # 200, a normal answer: nothing else tells the client
    assert final.prompt_tokens == 2048 < estimate
    assert ollama_server.streams[-1].truncated
    # the same prompt with room to spare is evaluated in full
    [(_, roomy)] = chat(ollama_server, request(long_code, num_ctx=16384))
    assert roomy.prompt_tokens is not None and roomy.prompt_tokens > estimate


def test_truncation_drops_older_messages_first(ollama_server: FakeOllama) -> None:
    old = "x = 1\n" * 1500
    messages = (
        Message("system", "You review code."),
        Message("user", old),
        Message("assistant", "Looks fine."),
        Message("user", "And this one: y = 2"),
    )
    [(_, final)] = chat(ollama_server, request(messages=messages, num_ctx=1024))
    assert final.prompt_tokens is not None and final.prompt_tokens < 100
    assert ollama_server.streams[-1].truncated


def test_shared_prefix_is_served_from_the_cache(ollama_server: FakeOllama) -> None:
    code = "\n".join(f"line_{i} = {i}" for i in range(300))
    first, follow_up = chat(
        ollama_server,
        request(code + "\nQuestion: what does line 3 do?"),
        request(code + "\nQuestion: what does line 9 do?"),
    )
    assert first[1].prompt_tokens is not None and follow_up[1].prompt_tokens is not None
    assert follow_up[1].prompt_tokens < first[1].prompt_tokens * 0.2


def test_list_describe_and_pull(ollama_server: FakeOllama) -> None:
    async def go() -> tuple[Any, ...]:
        backend = OllamaBackend(ollama_server.host)
        try:
            listed = await backend.list_models()
            info = await backend.describe(MODEL)
            progress = [p async for p in backend.pull("gemma4:e2b")]
            after = await backend.list_models()
            return listed, info, progress, after
        finally:
            await backend.aclose()

    listed, info, progress, after = asyncio.run(go())
    assert [(m.name, m.size_bytes, m.quantization) for m in listed] == [
        (MODEL, gemma4_e4b().size, "Q4_K_M")
    ]
    assert info.family == "gemma4"
    assert info.parameter_size == "8.0B"
    assert info.context_length == 131072  # gemma4.context_length
    assert info.size_bytes == gemma4_e4b().size
    assert info.kv == kv_arch_from_gguf(gemma4_e4b().model_info)
    assert info.kv == KvArch(global_kv=4 * 2 * 512, sliding_kv=20 * 2 * 256, sliding_window=512)
    assert progress[0].status == "pulling manifest"
    assert progress[-1].status == "success"
    fractions = [p.fraction for p in progress if p.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {m.name for m in after} == {MODEL, "gemma4:e2b"}


def test_host_comes_from_ollama_host_unless_given(
    ollama_server: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{ollama_server.port}")
    backend = OllamaBackend()
    assert backend.host == ollama_server.host

    async def names(b: OllamaBackend) -> list[str]:
        try:
            return [m.name for m in await b.list_models()]
        finally:
            await b.aclose()

    assert asyncio.run(names(backend)) == [MODEL]
    assert OllamaBackend("gpu-box:11500").host == "http://gpu-box:11500"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("10.0.0.5", "http://10.0.0.5:11434"),
        (":8080", "http://127.0.0.1:8080"),
        ("http://box", "http://box:80"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("https://ollama.example.com:8443/proxy/", "https://ollama.example.com:8443/proxy"),
        ("[::1]:11500", "http://[::1]:11500"),
    ],
)
def test_display_host_matches_the_client(given: str | None, expected: str) -> None:
    assert display_host(given) == expected


def test_fake_speaks_ollamas_documented_wire_format(ollama_server: FakeOllama) -> None:
    """Raw HTTP, no client: the shapes the ollama docs (docs/api.md) give for /api/chat."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "options": {"num_ctx": 2048, "num_predict": 3},
    }
    with httpx.Client(base_url=ollama_server.host) as client:
        with client.stream("POST", "/api/chat", json=body) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "application/x-ndjson"
            lines = [json.loads(line) for line in resp.iter_lines() if line]
        missing = client.post("/api/chat", json={**body, "model": "nope"})
        version = client.get("/api/version").json()
    assert [line["done"] for line in lines] == [False, False, False, True]
    assert all(line["message"]["role"] == "assistant" for line in lines)
    final = lines[-1]
    assert final["done_reason"] == "length"
    for key in (
        "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration",
        "eval_count", "eval_duration",
    ):  # fmt: skip
        assert isinstance(final[key], int)
    assert missing.status_code == 404
    assert missing.json() == {"error": "model 'nope' not found, try pulling it first"}
    assert version == {"version": "0.30.0"}
