"""The plain-HTTP transport against a raw socket server: every body framing a server may use,
interim answers, broken and silent connections, and when httpx must be used instead."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gemmacode.backends.http_lite import (
    LiteHTTP,
    WireConnectError,
    WireProtocolError,
    WireReadTimeout,
    usable,
)
from gemmacode.backends.ollama import translate
from gemmacode.errors import RequestTimeoutError, ServerUnreachableError, StreamInterruptedError

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def serve(script: Script, call: Callable[[LiteHTTP], Awaitable[Any]], **kw: Any) -> Any:
    """Run ``call`` on a client of a server that answers every connection with ``script``
    (after reading the request head and body); returns what ``call`` returned, with the
    raw requests the server saw as ``serve.seen``."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        seen.append(head + (await reader.readexactly(length) if length else b""))
        try:
            await script(reader, writer)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            writer.close()

    async def go() -> Any:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            client = LiteHTTP(f"http://127.0.0.1:{port}/base/", {"accept": "x/y"}, **kw)
            return await call(client)
        finally:
            server.close()
            await server.wait_closed()

    result = asyncio.run(go())
    serve.seen = seen  # type: ignore[attr-defined]
    return result


def answer(*pieces: bytes, pause: float = 0.0) -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)

    return script


async def lines(client: LiteHTTP) -> tuple[int, list[str]]:
    async with client.stream("POST", "/api/chat", b'{"a":1}') as response:
        return response.status_code, [line async for line in response.aiter_lines()]


def test_chunks_split_anywhere_give_the_same_lines() -> None:
    body = '{"t":"snow \u2603"}\n{"done":true}\r\n'.encode()
    cut = body.index(b"\xe2") + 1  # inside the snowman's UTF-8 bytes
    chunks = [body[:5], body[5:cut], body[cut:]]
    framed = b"".join(f"{len(c):x};ext=1\r\n".encode() + c + b"\r\n" for c in chunks)
    script = answer(
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        framed,
        b"0\r\n\r\n",
        pause=0.01,
    )
    assert serve(script, lines) == (200, ['{"t":"snow \u2603"}', '{"done":true}'])
    request = serve.seen[0]  # type: ignore[attr-defined]
    head, _, body_sent = request.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST /base/api/chat HTTP/1.1"
    assert b"\r\nHost: 127.0.0.1:" in head and b"\r\naccept: x/y" in head
    assert b"\r\nContent-Length: 7" in head and b"\r\nConnection: close" in head
    assert body_sent == b'{"a":1}'


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
def test_whole_bodies_by_length_or_until_the_server_closes(length: bool) -> None:
    payload = b'{"models": []}'
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
    if length:
        head += f"Content-Length: {len(payload)}\r\n".encode()
    script = answer(head + b"\r\n" + payload[:4], payload[4:], pause=0.01)

    async def call(client: LiteHTTP) -> tuple[int, bytes, str]:
        response = await client.request("GET", "/api/tags")
        return response.status_code, await response.aread(), response.headers["content-type"]

    assert serve(script, call) == (200, payload, "application/json")
    assert serve.seen[0].startswith(b"GET /base/api/tags HTTP/1.1\r\n")  # type: ignore[attr-defined]
    assert b"Content-Length" not in serve.seen[0]  # type: ignore[attr-defined]


def test_an_error_status_is_an_answer_with_its_text() -> None:
    script = answer(b'HTTP/1.1 404 Not Found\r\nContent-Length: 20\r\n\r\n{"error":"no model"}')

    async def call(client: LiteHTTP) -> tuple[int, bool, str]:
        response = await client.request("POST", "/api/show", b"{}")
        return response.status_code, response.is_success, response.text

    assert serve(script, call) == (404, False, '{"error":"no model"}')


def test_a_connection_closed_mid_answer_keeps_what_came() -> None:
    script = answer(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"6\r\n{}\n{}\n\r\n20\r\n{"
    )
    got: list[str] = []

    async def call(client: LiteHTTP) -> BaseException:
        try:
            async with client.stream("POST", "/api/chat", b"{}") as response:
                async for line in response.aiter_lines():
                    got.append(line)
        except WireProtocolError as exc:
            return exc
        raise AssertionError("no error")

    err = serve(script, call)
    assert got == ["{}", "{}"]
    mapped = translate(err, host="http://h:1", model="m", partial="".join(got))
    assert isinstance(mapped, StreamInterruptedError) and "broke during the answer" in str(mapped)
    assert isinstance(
        translate(err, host="http://h:1", model="m"), ServerUnreachableError
    )  # before any text: the server broke off


def test_not_http_at_all() -> None:
    script = answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    with pytest.raises(WireProtocolError, match="not an HTTP answer"):
        serve(script, lambda c: c.request("GET", "/api/ps"))


def test_a_silent_server_times_out_per_wait() -> None:
    script = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n", pause=2)
    got: list[str] = []

    async def call(client: LiteHTTP) -> None:
        async with client.stream("POST", "/api/chat", b"{}") as response:
            async for line in response.aiter_lines():
                got.append(line)

    with pytest.raises(WireReadTimeout) as caught:
        serve(script, call, timeout_s=0.3)
    assert got == ["{}"]
    mapped = translate(caught.value, host="http://h:1", model="m", partial="{}", timeout_s=0.3)
    assert isinstance(mapped, RequestTimeoutError) and "0.3 s" in str(mapped)


def test_nobody_listening_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> None:
        await LiteHTTP(f"http://127.0.0.1:{port}", {}, connect_timeout_s=2).request("GET", "/")

    with pytest.raises(WireConnectError) as caught:
        asyncio.run(go())
    mapped = translate(caught.value, host=f"http://127.0.0.1:{port}", model="m")
    assert isinstance(mapped, ServerUnreachableError) and "cannot reach" in str(mapped)


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("http://127.0.0.1:11434", {}, True),
        ("http://[::1]:11434/ollama", {"NO_PROXY": "*"}, True),
        ("https://gpu.example:443", {}, False),
        ("http://127.0.0.1:11434", {"HTTP_PROXY": "http://proxy:3128"}, False),
        ("http://127.0.0.1:11434", {"all_proxy": "socks5://proxy:1080"}, False),
        ("http://127.0.0.1:11434", {"HTTPS_PROXY": "http://proxy:3128"}, True),
    ],
)
def test_used_only_where_httpx_would_do_the_same(
    url: str, env: dict[str, str], expected: bool
) -> None:
    assert usable(url, env) is expected


def test_refuses_anything_but_plain_http() -> None:
    with pytest.raises(ValueError, match="not a plain-HTTP URL"):
        LiteHTTP("https://a.test", {})
    assert LiteHTTP("http://[::1]:8080/x", {}).netloc == "[::1]:8080"
    assert LiteHTTP("http://a.test", {}).netloc == "a.test"
