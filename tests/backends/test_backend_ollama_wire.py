"""OllamaWire sends exactly what the official ``ollama`` client sends, reads answers and errors
the same way, and keeps the official package out of a review's start-up."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from gemmacode.backends.base import ChatOptions, ChatRequest, Message
from gemmacode.backends.ollama import OllamaBackend, chat_payload
from gemmacode.backends.ollama_wire import OllamaWire, ResponseError
from tests.conftest import git
from tests.fakes.ollama_server import FakeOllama

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gemma4:e4b"
BASE = "http://127.0.0.1:11434"
FINAL = {"model": MODEL, "message": {"role": "assistant", "content": ""}, "done": True}


def _handler(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/chat":
            return httpx.Response(200, content=json.dumps(FINAL).encode() + b"\n")
        if request.url.path == "/api/show":
            return httpx.Response(200, json={"model_info": {}, "details": {}})
        return httpx.Response(200, json={"models": []})

    return handle


REQUESTS = [
    ChatRequest(MODEL, (Message("user", "Review this."),), ChatOptions(num_ctx=8192)),
    ChatRequest(
        MODEL,
        (Message("system", "Be brief."), Message("user", "héllo \u2603")),
        ChatOptions(num_ctx=2048, num_predict=64, temperature=0.0, seed=7, stop=("\n\n",)),
        json_schema={"type": "object", "properties": {"findings": {"type": "array"}}},
        keep_alive=-1,
        think=True,
    ),
]


def _sent(use_wire: bool) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    async def go() -> None:
        transport = httpx.MockTransport(_handler(seen))
        if use_wire:
            wire = OllamaWire(BASE, transport=transport)
            for req in REQUESTS:
                [part async for part in wire.chat(chat_payload(req))]
            await wire.show(MODEL)
            await wire.tags()
            await wire.ps()
            await wire.aclose()
        else:
            client = ollama.AsyncClient(host=BASE, transport=transport)
            for req in REQUESTS:
                [part async for part in await client.chat(**chat_payload(req), stream=True)]
            await client.show(MODEL)
            await client.list()
            await client.ps()
            await client._client.aclose()

    asyncio.run(go())
    return seen


def test_requests_are_the_official_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "secret-key")
    ours, theirs = _sent(use_wire=True), _sent(use_wire=False)
    assert len(ours) == len(theirs) == len(REQUESTS) + 3
    for mine, official in zip(ours, theirs, strict=True):
        assert (mine.method, str(mine.url)) == (official.method, str(official.url))
        mine_body = json.loads(mine.content) if mine.content else None
        official_body = json.loads(official.content) if official.content else None
        assert mine_body == official_body
        for name in ("content-type", "accept", "authorization"):
            assert mine.headers.get(name) == official.headers.get(name), name
    assert ours[0].headers["authorization"] == "Bearer secret-key"
    assert ours[0].headers["user-agent"].startswith("gemmacode/")


# Both transports: httpx, and asyncio's own streams for plain-HTTP servers (http_lite).
WIRES: dict[str, Callable[[str], OllamaWire]] = {
    "httpx": lambda host: OllamaWire(host),
    "plain-http": lambda host: OllamaWire.lite(host, timeout_s=30, connect_timeout_s=10),
}


class _Recorder(BaseHTTPRequestHandler):
    """Records each raw request (method, path, headers, body) and answers like _handler."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.seen.append((self.command, self.path, headers, body))
        if self.path == "/api/chat":
            payload = json.dumps(FINAL).encode() + b"\n"
        elif self.path == "/api/show":
            payload = json.dumps({"model_info": {}, "details": {}}).encode()
        else:
            payload = json.dumps({"models": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return None


def _sent_raw() -> tuple[list[Any], list[Any]]:
    """The raw requests of the plain-HTTP wire, then the official client's, to one server."""
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"

    async def go() -> None:
        wire = OllamaWire.lite(host, timeout_s=10)
        for req in REQUESTS:
            [part async for part in wire.chat(chat_payload(req))]
        await wire.show(MODEL)
        await wire.tags()
        await wire.ps()
        await wire.aclose()
        client = ollama.AsyncClient(host=host)
        for req in REQUESTS:
            [part async for part in await client.chat(**chat_payload(req), stream=True)]
        await client.show(MODEL)
        await client.list()
        await client.ps()
        await client._client.aclose()

    try:
        asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    half = len(_Recorder.seen) // 2
    return _Recorder.seen[:half], _Recorder.seen[half:]


def test_plain_http_requests_are_the_official_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "secret-key")
    ours, theirs = _sent_raw()
    assert len(ours) == len(theirs) == len(REQUESTS) + 3
    for (method, path, mine, body), (o_method, o_path, official, o_body) in zip(
        ours, theirs, strict=True
    ):
        assert (method, path) == (o_method, o_path)
        # the same JSON (the official client writes keep_alive -1 as -1.0, like OllamaWire)
        assert (json.loads(body) if body else None) == (json.loads(o_body) if o_body else None)
        for name in ("host", "content-type", "accept", "authorization"):
            assert mine.get(name) == official.get(name), name
        assert ("content-length" in mine) == ("content-length" in official)
    assert ours[0][2]["authorization"] == "Bearer secret-key"
    assert ours[0][2]["user-agent"].startswith("gemmacode/")
    assert "accept-encoding" not in ours[0][2]  # nothing compressed comes back


def _both(
    host: str,
    call: Callable[[Any], Awaitable[Any]],
    official_call: Callable[[Any], Awaitable[Any]],
    transport: str = "httpx",
) -> tuple[Any, Any]:
    async def go() -> tuple[Any, Any]:
        wire, client = WIRES[transport](host), ollama.AsyncClient(host=host)
        try:
            return await call(wire), await official_call(client)
        finally:
            await wire.aclose()
            await client._client.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("transport", list(WIRES))
def test_answers_read_like_the_official_clients(ollama_server: FakeOllama, transport: str) -> None:
    req = ChatRequest(MODEL, (Message("user", "hi"),), ChatOptions(num_ctx=4096, num_predict=8))

    async def chat_wire(w: OllamaWire) -> list[dict[str, Any]]:
        return [p async for p in w.chat(chat_payload(req))]

    async def chat_official(c: ollama.AsyncClient) -> list[Any]:
        return [p async for p in await c.chat(**chat_payload(req), stream=True)]

    ours, theirs = _both(ollama_server.host, chat_wire, chat_official, transport)
    assert [p["message"]["content"] for p in ours] == [p.message.content for p in theirs]
    # (the second chat reuses the first one's cached prompt, so only its prompt count differs)
    keys = ("done", "done_reason", "eval_count")
    mine = [[p.get(k) for k in keys] for p in ours]
    assert mine == [[getattr(p, k) for k in keys] for p in theirs]
    assert isinstance(ours[-1]["prompt_eval_count"], int)

    show, official_show = _both(
        ollama_server.host, lambda w: w.show(MODEL), lambda c: c.show(MODEL), transport
    )
    assert show["model_info"] == official_show.modelinfo
    assert show["details"]["quantization_level"] == official_show.details.quantization_level
    assert show["details"]["family"] == official_show.details.family

    tags, official_tags = _both(
        ollama_server.host, lambda w: w.tags(), lambda c: c.list(), transport
    )
    assert [(m["model"], m["size"]) for m in tags["models"]] == [
        (m.model, m.size) for m in official_tags.models
    ]

    ps, official_ps = _both(ollama_server.host, lambda w: w.ps(), lambda c: c.ps(), transport)
    assert ps["models"], "the chat above loaded the model"
    assert [(m["model"], m["size_vram"], m["context_length"]) for m in ps["models"]] == [
        (m.model, m.size_vram, m.context_length) for m in official_ps.models
    ]
    loaded = asyncio.run(_loaded(ollama_server.host))
    assert datetime.fromisoformat(loaded[0].expires_at) == official_ps.models[0].expires_at


async def _loaded(host: str) -> list[Any]:
    backend = OllamaBackend(host)
    try:
        return await backend.ps()
    finally:
        await backend.aclose()


@pytest.mark.parametrize("transport", list(WIRES))
@pytest.mark.parametrize("case", ["status", "missing-model", "error-line"])
def test_errors_have_the_official_shape(
    ollama_server: FakeOllama, case: str, transport: str
) -> None:
    model = "gemma4:31b" if case == "missing-model" else MODEL
    req = ChatRequest(model, (Message("user", "hi"),), ChatOptions(num_ctx=4096, num_predict=8))

    async def failure(call: Awaitable[Any]) -> Any:
        try:
            await call
        except (ResponseError, ollama.ResponseError) as exc:
            return exc
        raise AssertionError("no error")

    async def drain_wire(w: OllamaWire) -> None:
        [p async for p in w.chat(chat_payload(req))]

    async def drain_official(c: ollama.AsyncClient) -> None:
        [p async for p in await c.chat(**chat_payload(req), stream=True)]

    def arm() -> None:
        if case == "status":
            ollama_server.fail_next("/api/chat", 500, "unexpected EOF")
        elif case == "error-line":
            ollama_server.error_after_chunks = 2

    async def go() -> tuple[Any, Any]:
        wire = WIRES[transport](ollama_server.host)
        client = ollama.AsyncClient(ollama_server.host)
        try:
            arm()
            ours = await failure(drain_wire(wire))
            arm()
            theirs = await failure(drain_official(client))
            return ours, theirs
        finally:
            await wire.aclose()
            await client._client.aclose()

    ours, theirs = asyncio.run(go())
    assert isinstance(ours, ResponseError)
    assert (ours.error, ours.status_code, str(ours)) == (
        theirs.error,
        theirs.status_code,
        str(theirs),
    )
    assert ours.status_code == {"status": 500, "missing-model": 404, "error-line": -1}[case]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"error": "model \'x\' not found"}', "model 'x' not found"),
        ("<html>bad gateway</html>", "<html>bad gateway</html>"),
        ('["not", "an", "object"]', '["not", "an", "object"]'),
        ('{"other": 1}', '{"other": 1}'),
    ],
)
def test_response_error_takes_the_error_field_or_the_body(body: str, error: str) -> None:
    exc = ResponseError(body, 502)
    assert (exc.error, exc.status_code, str(exc)) == (error, 502, f"{error} (status code: 502)")


def test_a_stream_line_that_is_not_an_object_is_a_value_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'\n["a list"]\n')

    async def go() -> None:
        wire = OllamaWire(BASE, transport=httpx.MockTransport(handle))
        try:
            [p async for p in wire.chat(chat_payload(REQUESTS[0]))]
        finally:
            await wire.aclose()

    with pytest.raises(ValueError, match="not a JSON object"):
        asyncio.run(go())


REVIEW = """
import sys
from gemmacode.cli import main
code = main(["review", "--staged", "--host", sys.argv[1]])
print("exit", code, "ollama" in sys.modules, "pydantic" in sys.modules)
"""


def test_a_review_never_loads_the_official_client(
    ollama_server: FakeOllama, git_repo: Path
) -> None:
    (git_repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    git(git_repo, "add", "calc.py")
    out = subprocess.run(
        [sys.executable, "-c", REVIEW, ollama_server.host],
        cwd=git_repo,
        capture_output=True,
        text=True,
        env={**_env(git_repo), "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "exit 0 False False"
    assert ollama_server.bodies("/api/chat"), "the review reached the server"


def _env(tmp: Path) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "GEMMACODE_CACHE_DIR": str(tmp / ".cache-gc"),
        "GEMMACODE_CONFIG_DIR": str(tmp / ".config-gc"),
    }
