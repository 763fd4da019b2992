"""A local HTTP server that speaks Ollama's wire format, for tests and benchmarks.

It runs on ``127.0.0.1`` (a free port) in a thread and answers what the ``ollama`` client
sends: ``/api/chat`` as NDJSON chunks (``message.content``) ending in a ``done: true`` chunk
with ``done_reason`` and nanosecond metrics, ``/api/tags``, ``/api/show`` (GGUF keys in
``model_info``), ``/api/ps``, ``/api/pull`` progress lines and ``/api/version``. Errors follow
the server: ``{"error": ...}`` with 404 / 500 / 503 before a stream starts, and an
``{"error": ...}`` line on a 200 stream once it has started.

It also copies the two behaviours gemmacode's design rests on (FIELD_NOTES):

- a change of a load-time option (``num_ctx``, ``num_batch``) reloads the model: the answer
  reports a large ``load_duration`` and ``/api/ps`` shows the new ``context_length``;
- a prompt longer than ``num_ctx`` is cut silently (older messages dropped, then the middle
  of the prompt) and answered with 200; only ``prompt_eval_count`` shows it.

Prompt tokens come from tiktoken by default; :class:`LlamaEngine` uses a real GGUF model
through ``llama_cpp`` for real token counts and real generated tokens.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from gemmacode.tokens.encoding import decode, encode

DEFAULT_ANSWER = (
    "The loop in `parse_header` reads one byte past the end of the buffer when the input "
    "has no terminating newline. Check `i < len(buf)` before indexing, and add a test with "
    "an unterminated header."
)
OOM_MESSAGE = "llama runner process has terminated: cudaMalloc failed: out of memory"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"


@dataclass
class FakeModel:
    name: str
    size: int
    family: str
    parameter_size: str
    quantization_level: str
    model_info: dict[str, Any]
    digest: str = "sha256:" + "ab" * 32
    kv_bytes_per_token: int = 16 * 1024


def gemma4_e4b(name: str = "gemma4:e4b") -> FakeModel:
    """A model shaped like Gemma 4 E4B as Ollama reports it (arrays hidden like non-verbose
    ``/api/show``), Q4 weights of ~4.5 GB and 16 KiB of KV cache per token."""
    arch = "gemma4"
    info: dict[str, Any] = {
        "general.architecture": arch,
        "general.parameter_count": 7_996_156_490,
        "general.file_type": 15,
        "general.quantization_version": 2,
        f"{arch}.block_count": 42,
        f"{arch}.context_length": 131072,
        f"{arch}.embedding_length": 2560,
        f"{arch}.feed_forward_length": 10240,
        f"{arch}.attention.head_count": 8,
        f"{arch}.attention.head_count_kv": 2,
        f"{arch}.attention.key_length": 512,
        f"{arch}.attention.value_length": 512,
        f"{arch}.attention.key_length_swa": 256,
        f"{arch}.attention.value_length_swa": 256,
        f"{arch}.attention.sliding_window": 512,
        f"{arch}.attention.shared_kv_layers": 18,
        f"{arch}.attention.sliding_window_pattern": None,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": None,
    }
    return FakeModel(name, 4_543_000_000, arch, "8.0B", "Q4_K_M", info)


def gemma4_e2b(name: str = "gemma4:e2b") -> FakeModel:
    model = gemma4_e4b(name)
    info = dict(model.model_info)
    info.update({"gemma4.block_count": 35, "gemma4.attention.head_count_kv": 1})
    return FakeModel(name, 2_890_000_000, "gemma4", "5.1B", "Q4_K_M", info, "sha256:" + "cd" * 32)


class Engine(Protocol):
    """How the fake turns messages into prompt tokens and produces answer pieces."""

    def template(self, messages: list[dict[str, Any]]) -> str: ...

    def tokenize(self, text: str) -> list[int]: ...

    def generate(self, prompt: str, answer: str, num_predict: int) -> Iterator[str]: ...


class TiktokenEngine:
    """Gemma-style chat template, tiktoken tokens, the scripted answer one token per chunk."""

    def template(self, messages: list[dict[str, Any]]) -> str:
        turns = []
        for m in messages:
            role = "model" if m.get("role") == "assistant" else m.get("role", "user")
            turns.append(f"<start_of_turn>{role}\n{m.get('content', '')}<end_of_turn>\n")
        return "<bos>" + "".join(turns) + "<start_of_turn>model\n"

    def tokenize(self, text: str) -> list[int]:
        return encode(text)

    def generate(self, prompt: str, answer: str, num_predict: int) -> Iterator[str]:
        tokens = encode(answer)[:num_predict]
        for i in range(len(tokens)):
            yield decode(tokens[i : i + 1])


class LlamaEngine:
    """A real GGUF model (SmolLM2 in the tests): its chat template, tokenizer and tokens."""

    def __init__(self, model_path: str) -> None:
        import llama_cpp

        self.llm = llama_cpp.Llama(model_path, n_ctx=2048, n_threads=2, verbose=False)
        self._lock = threading.Lock()

    def template(self, messages: list[dict[str, Any]]) -> str:
        turns = [f"<|im_start|>{m['role']}\n{m.get('content', '')}<|im_end|>\n" for m in messages]
        return "".join(turns) + "<|im_start|>assistant\n"

    def tokenize(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(self, prompt: str, answer: str, num_predict: int) -> Iterator[str]:
        with self._lock:
            self.llm.reset()
            stream = self.llm(prompt, max_tokens=num_predict, temperature=0.0, stream=True)
            for part in stream:
                text = str(part["choices"][0]["text"])
                if text:
                    yield text


@dataclass
class Loaded:
    model: FakeModel
    num_ctx: int
    num_batch: int
    expires_at: datetime
    cache: list[int] = field(default_factory=list)


@dataclass
class StreamRecord:
    """One /api/chat answer as the server saw it: how many chunks went out, how it ended."""

    model: str
    num_ctx: int
    prompt_tokens: int  # the whole templated prompt, before any truncation
    evaluated: int  # prompt_eval_count reported
    truncated: bool
    chunks_sent: int = 0
    num_predict: int = 0
    ended: str = ""  # done, aborted (client went away), error
    ended_at: float = 0.0


def _duration_s(value: Any) -> float:
    """Ollama's keep_alive: seconds as a number or a Go duration like "5m", "1h30m", "-1"."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total = 0.0
    for number, unit in re.findall(r"(-?\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(number) * units[unit]
    return total


class FakeOllama:
    """The server. Use as a context manager; ``host`` is its URL.

    ``installed`` models answer; ``registry`` models can be pulled. ``token_delay_s`` spaces
    the answer chunks like a real model; ``load_s`` is the reported reload cost.
    ``oom_above_ctx`` makes loads with a larger ``num_ctx`` fail with a 500 out-of-memory
    error; ``vram_bytes`` caps ``size_vram`` in ``/api/ps`` (layers spilled to the CPU).
    """

    def __init__(
        self,
        installed: list[FakeModel] | None = None,
        *,
        registry: list[FakeModel] | None = None,
        engine: Engine | None = None,
        answer: str | Callable[[dict[str, Any]], str] = DEFAULT_ANSWER,
        token_delay_s: float = 0.0,
        load_s: float = 1.5,
        default_num_ctx: int = 4096,
        oom_above_ctx: int | None = None,
        vram_bytes: int | None = None,
        version: str = "0.30.0",
    ) -> None:
        self.installed = {
            m.name: m for m in (installed if installed is not None else [gemma4_e4b()])
        }
        self.registry = {m.name: m for m in (registry or [gemma4_e2b()])}
        self.engine: Engine = engine or TiktokenEngine()
        self.answer = answer
        self.token_delay_s = token_delay_s
        self.load_s = load_s
        self.default_num_ctx = default_num_ctx
        self.oom_above_ctx = oom_above_ctx
        self.vram_bytes = vram_bytes
        self.version = version
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.streams: list[StreamRecord] = []
        self.loaded: dict[str, Loaded] = {}
        self.failures: deque[tuple[str, int, str]] = deque()
        self.error_after_chunks: int | None = None
        self.stream_error = OOM_MESSAGE
        self.stall_after_chunks: int | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeOllama:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the server first"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, path: str, status: int, error: str) -> None:
        """Answer the next request to ``path`` with ``status`` and ``{"error": error}``."""
        with self.lock:
            self.failures.append((path, status, error))

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, p, body in self.requests if p == path]

    # --- behaviour -----------------------------------------------------------------------

    def _load(self, model: FakeModel, options: dict[str, Any], keep_alive: Any) -> float:
        """Load or keep ``model`` for these options; the reported load time in seconds."""
        num_ctx = int(options.get("num_ctx") or self.default_num_ctx)
        num_batch = int(options.get("num_batch") or 512)
        if self.oom_above_ctx is not None and num_ctx > self.oom_above_ctx:
            raise _HttpError(500, OOM_MESSAGE)
        expires = datetime.now(UTC) + timedelta(seconds=_duration_s(keep_alive))
        current = self.loaded.get(model.name)
        if current and (current.num_ctx, current.num_batch) == (num_ctx, num_batch):
            current.expires_at = expires
            return 0.002
        self.loaded[model.name] = Loaded(model, num_ctx, num_batch, expires)
        return self.load_s

    def _fit(self, messages: list[dict[str, Any]], num_ctx: int) -> tuple[list[int], int, bool]:
        """Prompt tokens after Ollama's silent truncation, the full size, and whether cut."""
        tokens = self.engine.tokenize(self.engine.template(messages))
        full = len(tokens)
        if full <= num_ctx:
            return tokens, full, False
        kept = list(messages)
        while len(tokens) > num_ctx:
            droppable = [i for i, m in enumerate(kept[:-1]) if m.get("role") != "system"]
            if not droppable:
                break
            del kept[droppable[0]]
            tokens = self.engine.tokenize(self.engine.template(kept))
        if len(tokens) > num_ctx:
            keep = 4  # Ollama's num_keep: the start survives, then the end
            tokens = tokens[:keep] + tokens[len(tokens) - (num_ctx - keep) :]
        return tokens, full, True

    def chat_plan(self, body: dict[str, Any]) -> tuple[StreamRecord, Iterator[str], dict[str, Any]]:
        model = self.installed.get(body.get("model", ""))
        if model is None:
            raise _HttpError(404, f"model '{body.get('model')}' not found, try pulling it first")
        options = dict(body.get("options") or {})
        with self.lock:
            load_s = self._load(model, options, body.get("keep_alive", "5m"))
            loaded = self.loaded[model.name]
            tokens, full, cut = self._fit(list(body.get("messages") or []), loaded.num_ctx)
            common = 0
            if load_s < 0.01:
                for a, b in zip(tokens, loaded.cache, strict=False):
                    if a != b:
                        break
                    common += 1
            evaluated = max(1, len(tokens) - common)
            loaded.cache = tokens
            record = StreamRecord(model.name, loaded.num_ctx, full, evaluated, cut)
            self.streams.append(record)
        answer = self.answer(body) if callable(self.answer) else self.answer
        num_predict = int(options.get("num_predict", -1))
        if num_predict < 0:  # Ollama's default: no limit
            num_predict = 1 << 30
        record.num_predict = num_predict
        prompt_text = self.engine.template(list(body.get("messages") or []))
        pieces = self.engine.generate(prompt_text, answer, num_predict)
        metrics = {
            "load_duration": int(load_s * 1e9),
            "prompt_eval_count": evaluated,
            "prompt_eval_duration": evaluated * 200_000,
        }
        return record, pieces, metrics


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOllama
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end, so their threads do too

    def setup(self) -> None:
        super().setup()
        # Like Ollama's Go server: no Nagle delay, so each streamed chunk leaves at once.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return None

    # --- plumbing ------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _line(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _dispatch(self, method: str) -> None:
        fake = self.server_fake
        path = self.path.split("?", 1)[0]
        try:
            body = self._body() if method == "POST" else {}
            with fake.lock:
                fake.requests.append((method, path, body))
                failure = next((f for f in fake.failures if f[0] == path), None)
                if failure is not None:
                    fake.failures.remove(failure)
            if failure is not None:
                raise _HttpError(failure[1], failure[2])
            route = ROUTES.get((method, path))
            if route is None:
                self._json(404, {"error": "404 page not found"})
                return
            route(self, body)
        except _HttpError as err:
            self._json(err.status, {"error": err.message})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # --- endpoints -----------------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> None:
        fake = self.server_fake
        record, pieces, metrics = fake.chat_plan(body)
        started = time.perf_counter()
        model = record.model
        if body.get("stream") is False:
            parts = list(pieces)
            record.ended, record.ended_at = "done", time.monotonic()
            reason = "length" if len(parts) >= record.num_predict else "stop"
            self._json(
                200, self._final(model, "".join(parts), len(parts), metrics, started, reason)
            )
            return
        self._start_stream()
        count = 0
        try:
            for piece in pieces:
                if fake.error_after_chunks is not None and count >= fake.error_after_chunks:
                    self._line({"error": fake.stream_error})
                    self._end_stream()
                    record.ended, record.ended_at = "error", time.monotonic()
                    return
                if fake.stall_after_chunks is not None and count >= fake.stall_after_chunks:
                    fake.stopping.wait(30)
                if fake.token_delay_s:
                    time.sleep(fake.token_delay_s)
                self._line(
                    {
                        "model": model,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": piece},
                        "done": False,
                    }
                )
                count += 1
                record.chunks_sent = count
            reason = "length" if count >= record.num_predict else "stop"
            self._line(self._final(model, "", count, metrics, started, reason))
            self._end_stream()
            record.ended, record.ended_at = "done", time.monotonic()
        except (BrokenPipeError, ConnectionResetError):
            record.ended, record.ended_at = "aborted", time.monotonic()
            self.close_connection = True

    @staticmethod
    def _final(
        model: str,
        text: str,
        count: int,
        metrics: dict[str, int],
        started: float,
        reason: str = "stop",
    ) -> dict[str, Any]:
        eval_ns = int((time.perf_counter() - started) * 1e9) or count * 1_000_000
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": reason,
            "total_duration": metrics["load_duration"] + metrics["prompt_eval_duration"] + eval_ns,
            "load_duration": metrics["load_duration"],
            "prompt_eval_count": metrics["prompt_eval_count"],
            "prompt_eval_duration": metrics["prompt_eval_duration"],
            "eval_count": count,
            "eval_duration": eval_ns,
        }

    def tags(self, body: dict[str, Any]) -> None:
        fake = self.server_fake
        with fake.lock:
            models = [self._entry(m) for m in fake.installed.values()]
        self._json(200, {"models": models})

    @staticmethod
    def _entry(m: FakeModel) -> dict[str, Any]:
        return {
            "name": m.name,
            "model": m.name,
            "modified_at": "2026-04-10T08:06:48.639712648Z",
            "size": m.size,
            "digest": m.digest.removeprefix("sha256:"),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": m.family,
                "families": [m.family],
                "parameter_size": m.parameter_size,
                "quantization_level": m.quantization_level,
            },
        }

    def show(self, body: dict[str, Any]) -> None:
        fake = self.server_fake
        name = body.get("model") or body.get("name") or ""
        m = fake.installed.get(name)
        if m is None:
            raise _HttpError(404, f"model '{name}' not found")
        entry = self._entry(m)
        self._json(
            200,
            {
                "license": "Apache License Version 2.0",
                "modelfile": f"FROM {m.name}\n",
                "parameters": "temperature 1\ntop_k 64\ntop_p 0.95",
                "template": "{{ .Prompt }}",
                "details": entry["details"],
                "model_info": m.model_info,
                "capabilities": ["completion", "vision", "thinking"],
                "modified_at": entry["modified_at"],
            },
        )

    def ps(self, body: dict[str, Any]) -> None:
        fake = self.server_fake
        out = []
        with fake.lock:
            for loaded in fake.loaded.values():
                size = loaded.model.size + loaded.num_ctx * loaded.model.kv_bytes_per_token
                vram = size if fake.vram_bytes is None else min(size, fake.vram_bytes)
                entry = self._entry(loaded.model)
                entry.update(
                    {
                        "size": size,
                        "size_vram": vram,
                        "context_length": loaded.num_ctx,
                        "expires_at": loaded.expires_at.isoformat().replace("+00:00", "Z"),
                    }
                )
                del entry["modified_at"]
                out.append(entry)
        self._json(200, {"models": out})

    def pull(self, body: dict[str, Any]) -> None:
        fake = self.server_fake
        name = body.get("model") or body.get("name") or ""
        self._start_stream()
        self._line({"status": "pulling manifest"})
        m = fake.registry.get(name) or fake.installed.get(name)
        if m is None:
            self._line({"error": "pull model manifest: file does not exist"})
            self._end_stream()
            return
        steps = 5
        for i in range(steps + 1):
            if fake.token_delay_s:
                time.sleep(fake.token_delay_s)
            self._line(
                {
                    "status": f"pulling {m.digest.removeprefix('sha256:')[:12]}",
                    "digest": m.digest,
                    "total": m.size,
                    "completed": m.size * i // steps,
                }
            )
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            self._line({"status": status})
        with fake.lock:
            fake.installed[m.name] = m
        self._end_stream()

    def version(self, body: dict[str, Any]) -> None:
        self._json(200, {"version": self.server_fake.version})


ROUTES: dict[tuple[str, str], Callable[[_Handler, dict[str, Any]], None]] = {
    ("POST", "/api/chat"): _Handler.chat,
    ("GET", "/api/tags"): _Handler.tags,
    ("POST", "/api/show"): _Handler.show,
    ("GET", "/api/ps"): _Handler.ps,
    ("POST", "/api/pull"): _Handler.pull,
    ("GET", "/api/version"): _Handler.version,
}
