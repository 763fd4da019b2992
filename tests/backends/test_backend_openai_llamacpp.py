"""The OpenAI-compatible backend against a real server: llama-cpp-python's
``python -m llama_cpp.server`` serving SmolLM2 on 127.0.0.1 (the ``dev`` extra installs its
dependencies). One server serves the whole module.

This server streams without a usage chunk and only accepts llama-cpp-python's
``json_object`` + ``schema`` form of structured output, so it exercises both fallbacks.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gemmacode.backends.base import ChatOptions, ChatRequest, Final, Message
from gemmacode.backends.embedded import smollm2_path
from gemmacode.backends.openai_compat import OpenAIBackend
from gemmacode.errors import AuthenticationError
from tests.conftest import collect

KEY = "sk-local-test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_path()), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--api_key", KEY, "--verbose", "False",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                headers = {"Authorization": f"Bearer {KEY}"}
                if httpx.get(f"{url}/models", headers=headers, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start: {Path(log).read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ask(question: str, num_predict: int = 8, **kw: object) -> ChatRequest:
    messages = (
        Message("system", "You are a code reviewer."),
        Message("user", f"def f(xs):\n    return sum(xs) / len(xs)\n\n{question}"),
    )
    options = ChatOptions(num_ctx=2048, num_predict=num_predict, seed=11)
    return ChatRequest("smollm2", messages, options, **kw)  # type: ignore[arg-type]


def run(url: str, *requests: ChatRequest) -> list[tuple[list[str], Final]]:
    async def go() -> list[tuple[list[str], Final]]:
        backend = OpenAIBackend(url, KEY, timeout_s=60)
        try:
            return [await collect(backend.chat(r)) for r in requests]
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_streams_real_tokens(server: str) -> None:
    [(deltas, final)] = run(server, ask("What is wrong?", num_predict=10))
    assert len(deltas) >= 5 and "".join(deltas).strip()
    assert final.done_reason == "length"
    assert final.prompt_tokens is None  # this server sends no usage chunk when streaming
    assert final.prompt_s > 0 and final.eval_s > 0


def test_schema_output_through_the_json_object_fallback(server: str) -> None:
    schema = {
        "type": "object",
        "properties": {"bug": {"type": "boolean"}, "line": {"type": "integer"}},
        "required": ["bug", "line"],
    }
    results = run(server, ask("Answer as JSON.", 40, json_schema=schema))
    answer = json.loads("".join(results[0][0]))
    assert isinstance(answer["bug"], bool) and isinstance(answer["line"], int)


def test_lists_the_served_model(server: str) -> None:
    async def go() -> list[str]:
        backend = OpenAIBackend(server, KEY)
        try:
            return [m.name for m in await backend.list_models()]
        finally:
            await backend.aclose()

    assert asyncio.run(go()) == ["smollm2"]


def test_wrong_key_is_an_authentication_error(server: str) -> None:
    async def go() -> None:
        backend = OpenAIBackend(server, "sk-wrong")
        try:
            await collect(backend.chat(ask("Hi")))
        finally:
            await backend.aclose()

    with pytest.raises(AuthenticationError):
        asyncio.run(go())


def test_closing_mid_stream_leaves_the_server_usable(server: str) -> None:
    async def go() -> tuple[int, Final]:
        backend = OpenAIBackend(server, KEY)
        try:
            it = backend.chat(ask("Write a long essay.", num_predict=400))
            seen = 0
            async for _ in it:
                seen += 1
                if seen == 2:
                    break
            await it.aclose()  # type: ignore[attr-defined]
            _, final = await collect(backend.chat(ask("Is it correct?", num_predict=3)))
            return seen, final
        finally:
            await backend.aclose()

    seen, final = asyncio.run(go())
    assert seen == 2 and final.done_reason == "length"
