"""Ollama failures become typed one-line errors; cancelling a stream closes it promptly."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gemmacode.backends.base import ChatOptions, ChatRequest, Delta, Message
from gemmacode.backends.ollama import OllamaBackend, translate
from gemmacode.errors import (
    BackendError,
    ModelNotFoundError,
    OutOfMemoryError,
    RequestTimeoutError,
    ServerBusyError,
    ServerUnreachableError,
    StreamInterruptedError,
    StreamOutOfMemoryError,
    StreamTimeoutError,
)
from tests.fakes.ollama_server import BUSY_MESSAGE, FakeOllama

MODEL = "gemma4:e4b"


def request(model: str = MODEL, num_ctx: int = 8192) -> ChatRequest:
    return ChatRequest(model, (Message("user", "Review this."),), ChatOptions(num_ctx=num_ctx))


async def drain(backend: OllamaBackend, req: ChatRequest, seen: list[str]) -> None:
    async for ev in backend.chat(req):
        if isinstance(ev, Delta):
            seen.append(ev.text)


def failing(
    host: str, action: Callable[[OllamaBackend], Awaitable[Any]], timeout_s: float | None = 10
) -> BaseException:
    async def go() -> BaseException:
        backend = OllamaBackend(host, timeout_s=timeout_s)
        try:
            await action(backend)
        except BaseException as exc:
            return exc
        finally:
            await backend.aclose()
        raise AssertionError("no error raised")

    return asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_server_down_streaming_and_plain_calls() -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    for action in (
        lambda b: drain(b, request(), []),  # httpx.ConnectError on first iteration
        lambda b: b.list_models(),  # builtin ConnectionError
        lambda b: b.describe(MODEL),
        lambda b: b.ps(),
    ):
        err = failing(host, action)
        assert isinstance(err, ServerUnreachableError), repr(err)
        text = one_line(err)
        assert host in text
        assert "ollama serve" in text and "OLLAMA_HOST" in text and "backend.host" in text


def test_missing_model_suggests_the_pull_commands(ollama_server: FakeOllama) -> None:
    for action in (
        lambda b: drain(b, request("gemma4:31b"), []),
        lambda b: b.describe("gemma4:31b"),
    ):
        err = failing(ollama_server.host, action)
        assert isinstance(err, ModelNotFoundError)
        text = one_line(err)
        assert "gemma4:31b" in text and ollama_server.host in text
        assert "ollama pull gemma4:31b" in text and "gemmacode models pull gemma4:31b" in text


def test_out_of_memory_at_load_suggests_a_smaller_context(ollama_server: FakeOllama) -> None:
    ollama_server.oom_above_ctx = 16384
    err = failing(ollama_server.host, lambda b: drain(b, request(num_ctx=32768), []))
    assert isinstance(err, OutOfMemoryError) and not isinstance(err, StreamInterruptedError)
    text = one_line(err)
    assert "32768" in text and "--num-ctx 16384" in text and "smaller model" in text
    assert "cudaMalloc failed" in text


@pytest.mark.parametrize(
    "message",
    [
        "model requires more system memory (9.1 GiB) than is available (6.2 GiB)",
        "insufficient memory for model",
        "llama runner process has terminated: cudaMalloc failed: out of memory",
    ],
)
def test_every_out_of_memory_wording_is_recognised(ollama_server: FakeOllama, message: str) -> None:
    ollama_server.fail_next("/api/chat", 500, message)
    err = failing(ollama_server.host, lambda b: drain(b, request(), []))
    assert isinstance(err, OutOfMemoryError)


def test_error_line_mid_stream_keeps_the_partial_text(ollama_server: FakeOllama) -> None:
    ollama_server.error_after_chunks = 4
    ollama_server.stream_error = "an error was encountered while running the model"
    seen: list[str] = []
    err = failing(ollama_server.host, lambda b: drain(b, request(), seen))
    assert type(err) is StreamInterruptedError
    assert len(seen) == 4
    assert err.partial == "".join(seen) != ""
    assert "while running the model" in one_line(err)


def test_out_of_memory_mid_stream_is_both_kinds(ollama_server: FakeOllama) -> None:
    ollama_server.error_after_chunks = 2  # stream_error defaults to a CUDA OOM line
    seen: list[str] = []
    err = failing(ollama_server.host, lambda b: drain(b, request(), seen))
    assert isinstance(err, StreamOutOfMemoryError)
    assert isinstance(err, OutOfMemoryError) and isinstance(err, StreamInterruptedError)
    assert err.partial == "".join(seen) and len(seen) == 2


def test_queue_full_and_other_statuses(ollama_server: FakeOllama) -> None:
    ollama_server.fail_next("/api/chat", 503, BUSY_MESSAGE)
    err = failing(ollama_server.host, lambda b: drain(b, request(), []))
    assert isinstance(err, ServerBusyError)
    assert "queue is full" in one_line(err) and "OLLAMA_MAX_QUEUE" in str(err)

    ollama_server.fail_next("/api/chat", 400, "invalid options")
    err = failing(ollama_server.host, lambda b: drain(b, request(), []))
    assert type(err) is BackendError and "rejected" in one_line(err)

    # a 404 that is not about a model: the host is probably not an Ollama server
    ollama_server.fail_next("/api/tags", 404, "404 page not found")
    err = failing(ollama_server.host, lambda b: b.list_models())
    assert type(err) is BackendError and "points at an Ollama server" in one_line(err)


def test_pull_of_an_unknown_name(ollama_server: FakeOllama) -> None:
    async def pull(b: OllamaBackend) -> None:
        async for _ in b.pull("gemma4:nonexistent"):
            pass

    err = failing(ollama_server.host, pull)
    assert type(err) is BackendError
    assert "gemma4:nonexistent" in one_line(err) and "file does not exist" in str(err)


def test_server_going_quiet_mid_answer_times_out_with_the_text(ollama_server: FakeOllama) -> None:
    ollama_server.stall_after_chunks = 3
    seen: list[str] = []
    started = time.monotonic()
    err = failing(ollama_server.host, lambda b: drain(b, request(), seen), timeout_s=0.3)
    assert time.monotonic() - started < 3
    assert isinstance(err, StreamTimeoutError) and isinstance(err, RequestTimeoutError)
    assert err.partial == "".join(seen) and len(seen) == 3
    assert "0.3 s" in one_line(err) and "backend.timeout_s" in str(err)


def test_server_quiet_before_any_text_is_a_plain_timeout(ollama_server: FakeOllama) -> None:
    ollama_server.stall_after_chunks = 0
    err = failing(ollama_server.host, lambda b: drain(b, request(), []), timeout_s=0.3)
    assert isinstance(err, RequestTimeoutError) and not isinstance(err, StreamInterruptedError)


async def _wait_for(predicate: Callable[[], bool], limit_s: float = 2.0) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > limit_s:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


def test_closing_the_iterator_closes_the_http_stream(ollama_server: FakeOllama) -> None:
    ollama_server.token_delay_s = 0.01
    ollama_server.answer = "token " * 400

    async def go() -> float:
        backend = OllamaBackend(ollama_server.host)
        try:
            stream: Any = backend.chat(request())
            got = 0
            async for _ in stream:
                got += 1
                if got == 5:
                    break
            await stream.aclose()
            return await _wait_for(lambda: ollama_server.streams[-1].ended == "aborted")
        finally:
            await backend.aclose()

    noticed_after = asyncio.run(go())
    record = ollama_server.streams[-1]
    assert record.ended == "aborted"
    assert record.chunks_sent < 20  # of 400: generation stopped, not run to the end
    assert noticed_after < 0.5


def test_cancelling_the_task_closes_the_http_stream(ollama_server: FakeOllama) -> None:
    ollama_server.token_delay_s = 0.01
    ollama_server.answer = "token " * 400

    async def go() -> None:
        backend = OllamaBackend(ollama_server.host)
        seen: list[str] = []
        task = asyncio.create_task(drain(backend, request(), seen))
        try:
            await _wait_for(lambda: len(seen) >= 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _wait_for(lambda: ollama_server.streams[-1].ended == "aborted", 0.5)
        finally:
            await backend.aclose()

    asyncio.run(go())
    assert ollama_server.streams[-1].chunks_sent < 30


def test_empty_model_name_is_a_user_error(ollama_server: FakeOllama) -> None:
    err = failing(ollama_server.host, lambda b: drain(b, request(model=""), []))
    assert type(err) is BackendError
    assert "--model" in one_line(err)
    assert ollama_server.bodies("/api/chat") == []  # never sent


def test_an_answer_not_in_ollamas_format() -> None:
    err = translate(json.JSONDecodeError("Expecting value", "<html>", 0), host="h", model="m")
    assert type(err) is BackendError and "did not answer like an Ollama server" in str(err)
    assert translate(KeyError("x"), host="h", model="m") is None  # a bug stays a bug


def test_other_server_failures_point_at_the_server_log(ollama_server: FakeOllama) -> None:
    ollama_server.fail_next("/api/show", 500, "unexpected EOF")
    err = failing(ollama_server.host, lambda b: b.describe(MODEL))
    assert type(err) is BackendError
    assert "HTTP 500" in one_line(err) and "unexpected EOF" in str(err) and "log" in str(err)
