"""KV-cache arithmetic: how many bytes a context size costs on the GPU.

The context policy needs bytes per token to turn free GPU memory into a ``num_ctx``. The
numbers come from the model's GGUF metadata (Ollama ``/api/show`` ``model_info``, or the
file itself: :mod:`gemmacode.backends.gguf`) and follow FIELD_NOTES' formula:

- per token: ``2 * b * global_kv * parallel`` (K and V, every global-attention layer);
- fixed: ``2 * b * sliding_kv * cells`` with ``cells = min(ctx, window + num_batch)``
  rounded up to 256, because sliding-window layers keep only the window;
- ``b`` = 2 (f16), 1.0625 (q8_0), 0.5625 (q4_0) bytes per element.

Compute buffers come on top; the policy keeps a margin for them.
"""

from __future__ import annotations

import math

from gemmacode.backends.base import KvArch

BYTES_PER_ELEMENT = {"f16": 2.0, "q8_0": 1.0625, "q4_0": 0.5625}
CELL_PAD = 256


def bytes_per_element(kv_type: str) -> float:
    try:
        return BYTES_PER_ELEMENT[kv_type]
    except KeyError:
        raise ValueError(f"unknown KV cache type {kv_type!r}; use f16, q8_0 or q4_0") from None


def kv_bytes_per_token(kv: KvArch, *, kv_type: str = "f16", parallel: int = 1) -> float:
    """Bytes one more token of context costs (global layers only)."""
    return 2 * bytes_per_element(kv_type) * kv.global_kv * max(1, parallel)


def kv_fixed_bytes(
    kv: KvArch, num_ctx: int, *, kv_type: str = "f16", parallel: int = 1, num_batch: int = 512
) -> int:
    """Bytes of the sliding-window layers' cache, which stops growing past the window.

    With ``parallel`` slots each keeps its own window (llama.cpp's unified cache), so the
    cells grow with it; for ``parallel == 1`` this is exactly FIELD_NOTES' formula.
    """
    if kv.sliding_kv <= 0:
        return 0
    slots = max(1, parallel)
    cells = min(num_ctx * slots, kv.sliding_window * slots + num_batch)
    cells = math.ceil(cells / CELL_PAD) * CELL_PAD
    return math.ceil(2 * bytes_per_element(kv_type) * kv.sliding_kv * cells)


def kv_cache_bytes(
    kv: KvArch, num_ctx: int, *, kv_type: str = "f16", parallel: int = 1, num_batch: int = 512
) -> int:
    """Total KV-cache bytes for ``num_ctx`` tokens (per slot) and ``parallel`` slots."""
    per_token = kv_bytes_per_token(kv, kv_type=kv_type, parallel=parallel)
    fixed = kv_fixed_bytes(kv, num_ctx, kv_type=kv_type, parallel=parallel, num_batch=num_batch)
    return math.ceil(per_token * num_ctx) + fixed


def max_ctx_for(
    kv: KvArch, free_bytes: int, *, kv_type: str = "f16", parallel: int = 1, num_batch: int = 512
) -> int:
    """Largest context whose KV cache fits ``free_bytes`` (0 when not even one token does)."""
    per_token = kv_bytes_per_token(kv, kv_type=kv_type, parallel=parallel)
    big = 1 << 30  # the sliding part at its largest (window fully used)
    fixed = kv_fixed_bytes(kv, big, kv_type=kv_type, parallel=parallel, num_batch=num_batch)
    room = free_bytes - fixed
    if room <= 0:
        return 0
    if per_token <= 0:
        return big
    return int(room // per_token)


# --- a small GGUF metadata reader (header only; tensors are never read) -------------------
