"""The OpenAI-compatible backend against a local server that follows the OpenAI SSE format.

``tests/fakes/openai_server.py`` speaks the wire format over real sockets (chunked SSE,
``data: [DONE]``, the usage chunk); ``test_backend_openai_llamacpp.py`` runs the same backend
against a real server (llama-cpp-python's).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gemmacode.backends.base import (
    Backend,
    ChatOptions,
    ChatRequest,
    Delta,
    Final,
    Message,
)
from gemmacode.backends.embedded import smollm2_path
from gemmacode.backends.openai_compat import (
    OpenAIBackend,
    _sse_data,
    normalise_base_url,
)
from gemmacode.errors import (
    AuthenticationError,
    BackendError,
    ModelNotFoundError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamInterruptedError,
)
from tests.conftest import collect
from tests.fakes.openai_server import DEFAULT_ANSWER, FakeOpenAI, llama_generator, scripted

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def request(model: str = "smollm2", **kw: Any) -> ChatRequest:
    options = kw.pop("options", ChatOptions(num_ctx=4096, num_predict=64, seed=5))
    messages = (Message("system", "You review code."), Message("user", "x = 1 / 0"))
    return ChatRequest(model, messages, options, **kw)


def chat(url: str, *requests: ChatRequest, **kw: Any) -> list[tuple[list[str], Final]]:
    async def go() -> list[tuple[list[str], Final]]:
        backend = OpenAIBackend(url, **kw)
        try:
            return [await collect(backend.chat(r)) for r in requests]
        finally:
            await backend.aclose()

    return asyncio.run(go())


def failure(url: str, req: ChatRequest, **kw: Any) -> BaseException:
    with pytest.raises(BackendError) as err:
        chat(url, req, **kw)
    return err.value


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def test_backend_satisfies_the_protocol() -> None:
    assert isinstance(OpenAIBackend("http://127.0.0.1:1/v1"), Backend)


def test_streams_text_and_usage(server: FakeOpenAI) -> None:
    [(deltas, final)] = chat(server.url, request())
    assert deltas == DEFAULT_ANSWER
    assert final.done_reason == "stop"
    assert (final.prompt_tokens, final.completion_tokens) == (42, len(DEFAULT_ANSWER))
    assert final.cached_tokens is None and final.total_s >= final.prompt_s
    body = server.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (
        64,
        0.2,
        0.9,
        5,
    )
    assert body["messages"][0] == {"role": "system", "content": "You review code."}
    assert "response_format" not in body and "stop" not in body


def test_cached_prefix_is_not_counted_as_evaluated() -> None:
    with FakeOpenAI(generate=scripted(["ok"], prompt_tokens=500, cached=448)) as fake:
        [(_, final)] = chat(fake.url, request())
    assert (final.prompt_tokens, final.cached_tokens) == (52, 448)


def test_server_without_usage_gives_a_final_without_counts() -> None:
    with FakeOpenAI(report_usage=False) as fake:
        [(deltas, final)] = chat(fake.url, request())
    assert deltas == DEFAULT_ANSWER
    assert final.prompt_tokens is None and final.completion_tokens is None


def test_json_schema_is_sent_in_the_standard_form(server: FakeOpenAI) -> None:
    chat(server.url, request(json_schema=SCHEMA))
    assert server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA},
    }


def test_json_object_only_server_gets_its_form_once_and_for_all() -> None:
    with FakeOpenAI(json_object_only=True) as fake:
        results = chat(fake.url, request(json_schema=SCHEMA), request(json_schema=SCHEMA))
    assert [d for d, _ in results] == [DEFAULT_ANSWER, DEFAULT_ANSWER]
    kinds = [r["response_format"]["type"] for r in fake.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert fake.requests[1]["response_format"]["schema"] == SCHEMA


def test_connection_refused_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    err = failure(url, request())
    assert isinstance(err, ServerUnreachableError)
    assert url in str(err) and "llama-server" in str(err)
    with pytest.raises(ServerUnreachableError):
        asyncio.run(OpenAIBackend(url).list_models())


def test_unknown_model_is_model_not_found(server: FakeOpenAI) -> None:
    err = failure(server.url, request("gpt-9"))
    assert isinstance(err, ModelNotFoundError)
    assert "gpt-9" in str(err) and "HTTP 404" in str(err)


def test_wrong_base_path_is_not_mistaken_for_a_missing_model(server: FakeOpenAI) -> None:
    err = failure(server.url.replace("/v1", "/api"), request())
    assert type(err) is BackendError and "openai_base_url" in str(err)


def test_api_key_is_sent_and_a_bad_one_is_named() -> None:
    with FakeOpenAI(api_key="sk-right") as fake:
        [(deltas, _)] = chat(fake.url, request(), api_key="sk-right")
        assert deltas == DEFAULT_ANSWER
        assert fake.headers[0]["Authorization"] == "Bearer sk-right"
        err = failure(fake.url, request(), api_key="sk-wrong", api_key_env="TEAM_LLM_KEY")
    assert isinstance(err, AuthenticationError)
    assert "TEAM_LLM_KEY" in str(err) and "HTTP 401" in str(err)


def test_error_event_mid_stream_keeps_the_partial_text() -> None:
    with FakeOpenAI(fail_after=3) as fake:
        err = failure(fake.url, request())
    assert isinstance(err, StreamInterruptedError)
    assert err.partial == "".join(DEFAULT_ANSWER[:3])
    assert "out of memory" in str(err)


def test_dropped_connection_mid_stream_keeps_the_partial_text() -> None:
    with FakeOpenAI(drop_after=2) as fake:
        err = failure(fake.url, request())
    assert isinstance(err, StreamInterruptedError)
    assert err.partial == "".join(DEFAULT_ANSWER[:2])


def test_slow_server_times_out() -> None:
    with FakeOpenAI(first_byte_delay_s=1.0) as fake:
        err = failure(fake.url, request(), timeout_s=0.2)
    assert isinstance(err, RequestTimeoutError)
    assert "backend.timeout_s" in str(err)


def test_lists_and_describes_served_models() -> None:
    with FakeOpenAI(models=["smollm2", "qwen"]) as fake:

        async def go() -> tuple[list[str], int]:
            backend = OpenAIBackend(fake.url)
            try:
                names = [m.name for m in await backend.list_models()]
                info = await backend.describe("qwen")
                with pytest.raises(ModelNotFoundError) as err:
                    await backend.describe("gemma4:e4b")
                assert "smollm2, qwen" in str(err.value)
                assert await backend.loaded() == []
                assert backend.count_tokens("qwen", "text") is None
                return names, info.context_length
            finally:
                await backend.aclose()

        assert asyncio.run(go()) == (["smollm2", "qwen"], 8192)


def test_closing_the_stream_early_closes_the_connection(server: FakeOpenAI) -> None:
    async def go() -> str:
        backend = OpenAIBackend(server.url)
        try:
            it = backend.chat(request())
            first = await it.__anext__()
            await it.aclose()  # type: ignore[attr-defined]
            _, final = await collect(backend.chat(request()))
            assert final.done_reason == "stop"
            assert isinstance(first, Delta)
            return first.text
        finally:
            await backend.aclose()

    assert asyncio.run(go()) == DEFAULT_ANSWER[0]


def test_real_tokens_from_smollm2_behind_the_wire_format() -> None:
    import llama_cpp

    llm = llama_cpp.Llama(str(smollm2_path()), n_ctx=1024, verbose=False)
    try:
        with FakeOpenAI(generate=llama_generator(llm)) as fake:
            req = request(json_schema=SCHEMA, options=ChatOptions(num_ctx=1024, num_predict=24))
            [(deltas, final)] = chat(fake.url, req)
    finally:
        llm.close()
    assert json.loads("".join(deltas))["ok"] in (True, False)
    assert final.completion_tokens is not None and final.completion_tokens >= len(deltas) - 1
    assert final.prompt_tokens is not None and final.prompt_tokens > 10


def test_sse_parser_follows_the_event_stream_rules() -> None:
    raw = (
        b": keep-alive comment\n\n"
        b'data: {"a": 1}\n\n'
        b'data:{"b": 2}\n\n'
        b"event: message\ndata: line one\ndata: line two\n\n"
        b"data: [DONE]\n\n"
    )

    async def go() -> list[str]:
        resp = httpx.Response(200, stream=httpx.ByteStream(raw))
        return [d async for d in _sse_data(resp)]

    assert asyncio.run(go()) == ['{"a": 1}', '{"b": 2}', "line one\nline two", "[DONE]"]


def test_base_url_normalisation() -> None:
    assert normalise_base_url("http://gpu-box:8000") == "http://gpu-box:8000/v1"
    assert normalise_base_url("http://gpu-box:8000/v1/") == "http://gpu-box:8000/v1"
    assert normalise_base_url("https://llm.team/openai/v1") == "https://llm.team/openai/v1"
