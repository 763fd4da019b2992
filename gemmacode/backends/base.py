"""The one interface every model backend implements, and the records it exchanges.

A chat streams :class:`Delta` text pieces followed by exactly one :class:`Final` record with
the server's metrics. Callers never talk to a model server except through this interface, so
the review engine, the TUI and the hook work the same on every backend, and tests swap in
``tests/fakes``. Cancelling the consuming task (or ``aclose()`` on the iterator) stops
generation promptly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatOptions:
    """Sampling plus the context size; ``num_ctx`` is always sent explicitly."""

    num_ctx: int
    temperature: float = 0.2
    top_p: float = 0.9
    top_k: int = 40
    num_predict: int = 1024
    seed: int = 0
    num_batch: int = 512
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    options: ChatOptions
    json_schema: dict[str, Any] | None = None  # constrain the answer to this JSON schema
    think: bool = False
    keep_alive: str = "5m"
    estimated_prompt_tokens: int | None = None  # the budget's estimate, for calibration


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Final:
    """Metrics of a finished request. Durations are seconds; counts are model tokens."""

    done_reason: str = "stop"  # stop, length, load, unload, cancel
    prompt_tokens: int | None = None  # tokens evaluated (prompt_eval_count); cached ones excluded
    completion_tokens: int | None = None
    load_s: float = 0.0
    prompt_s: float = 0.0
    eval_s: float = 0.0
    total_s: float = 0.0
    num_ctx: int | None = None
    cached_tokens: int | None = None  # prompt tokens served from the prefix cache, if known
    truncated: bool = False  # set when the prompt was (detectably) cut by the server


Event = Delta | Final


@dataclass(frozen=True)
class KvArch:
    """Architecture numbers that size the KV cache (FIELD_NOTES: Gemma 4 formula).

    ``global_kv`` and ``sliding_kv`` are sums over layers that own a KV cache of
    ``kv_heads * head_dim`` for global-attention and sliding-window layers.
    """

    global_kv: int
    sliding_kv: int = 0
    sliding_window: int = 0


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    context_length: int = 0  # the model's maximum
    size_bytes: int = 0  # weights on disk
    kv: KvArch | None = None
    digest: str = ""  # the server's content digest of the weights (Ollama /api/tags), if any
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class LoadedModel:
    """What the server has in memory now (Ollama ``/api/ps``)."""

    name: str
    size_bytes: int
    vram_bytes: int
    context_length: int
    expires_at: str = ""

    @property
    def spilled(self) -> bool:
        """True when some layers sit in system RAM instead of GPU memory."""
        return self.vram_bytes < self.size_bytes


@runtime_checkable
class Backend(Protocol):
    name: str

    def chat(self, request: ChatRequest) -> AsyncIterator[Event]:
        """Stream the answer: Delta events then one Final. Raises gemmacode.errors.BackendError."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def describe(self, model: str) -> ModelInfo: ...

    async def loaded(self) -> list[LoadedModel]:
        """Models in memory now; empty where the backend cannot tell."""
        ...

    def count_tokens(self, model: str, text: str) -> int | None:
        """The model's exact token count where the backend has its tokenizer, else None."""
        ...

    async def aclose(self) -> None: ...
