"""prime_async_io: the async client's lazily loaded modules are loaded before the first
request, so none is left to load between the packed prompt and the request leaving. (The
httpx client carries requests to https:// servers and through proxies; a plain-HTTP server
needs neither httpx nor anyio, which the last test checks.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FIRST_REQUEST = """
import asyncio, sys
from tests.fakes.ollama_server import FakeOllama
from gemmacode.backends.base import ChatOptions, ChatRequest, Final, Message
from gemmacode.backends.clientlib import import_httpx, prime_async_io
from gemmacode.backends.ollama import OllamaBackend, chat_payload
from gemmacode.backends.ollama_wire import OllamaWire

import_httpx()
if sys.argv[1] == "primed":
    prime_async_io()

async def ask(host):
    # the httpx client, as an https:// server or a proxy gets it
    wire = OllamaWire(host, **OllamaBackend(host)._client_options())
    request = ChatRequest(
        model="gemma4:e4b",
        messages=(Message("user", "hi"),),
        options=ChatOptions(num_ctx=2048, num_predict=4),
    )
    try:
        before = set(sys.modules)
        events = [e async for e in wire.chat(chat_payload(request))]
        new = set(sys.modules) - before
    finally:
        await wire.aclose()
    assert events[-1]["done"]
    return new

with FakeOllama() as server:
    new = asyncio.run(ask(server.host))
print(sorted(m for m in new if m.split(".")[0] in ("anyio", "sniffio", "encodings")))
"""


def first_request_imports(mode: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST, mode], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_first_request_loads_no_async_io_module_once_primed() -> None:
    # without priming, the first request is where anyio's backend gets loaded ...
    assert "anyio._backends._asyncio" in first_request_imports("cold")
    # ... primed, nothing of it is left for the request path
    assert first_request_imports("primed") == "[]"


def test_priming_leaves_no_event_loop_behind() -> None:
    code = (
        "import asyncio, gc, warnings\n"
        "warnings.simplefilter('error')\n"
        "from gemmacode.backends.clientlib import prime_async_io\n"
        "prime_async_io(); prime_async_io()\n"  # twice: it must be safe to repeat
        "gc.collect()\n"
        "try:\n"
        "    asyncio.get_running_loop()\n"
        "except RuntimeError:\n"
        "    print('no loop')\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no loop" and out.stderr == ""


PLAIN_HTTP = """
import asyncio, sys
from tests.fakes.ollama_server import FakeOllama
from gemmacode.backends.base import ChatOptions, ChatRequest, Final, Message
from gemmacode.backends.ollama import OllamaBackend

async def ask(host):
    backend = OllamaBackend(host, timeout_s=10)
    request = ChatRequest("gemma4:e4b", (Message("user", "hi"),), ChatOptions(num_ctx=2048))
    try:
        info = await backend.describe("gemma4:e4b")
        loaded = await backend.ps()
        events = [e async for e in backend.chat(request)]
    finally:
        await backend.aclose()
    assert info.context_length and isinstance(events[-1], Final), events
    return len(loaded)

with FakeOllama() as server:
    asyncio.run(ask(server.host))
print(sorted(m for m in sys.modules if m.split(".")[0] in ("httpx", "anyio", "httpcore", "h11")))
"""


def test_a_plain_http_server_is_asked_without_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_HTTP], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
