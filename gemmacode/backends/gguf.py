"""GGUF metadata: the architecture numbers that size a model's KV cache, read from the
server's description (Ollama ``/api/show`` ``model_info``) or from the file itself.

The arithmetic on those numbers lives in :mod:`gemmacode.context.kvcache`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from gemmacode.backends.base import KvArch

# Sliding-window period for architectures whose GGUF has no pattern key: a layer is
# sliding unless (layer + 1) % period == 0 (llama.cpp's convention for these families).
_DEFAULT_SWA_PERIOD = {"gemma2": 2, "gemma3": 6, "cohere2": 4}

# Published Gemma 4 shapes keyed by block_count, used when the server hides the per-layer
# arrays (Ollama empties arrays longer than five items unless ``/api/show`` is verbose):
# (sliding layers, global layers, kv heads sliding, global, head dim sliding, global, window)
GEMMA4_SHAPES: dict[int, tuple[int, int, int, int, int, int, int]] = {
    35: (12, 3, 1, 1, 256, 512, 512),  # E2B
    42: (20, 4, 2, 2, 256, 512, 512),  # E4B
    30: (25, 5, 8, 2, 256, 512, 1024),  # 26B A4B (MoE)
    60: (50, 10, 16, 4, 256, 512, 1024),  # 31B
}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _per_layer(value: Any, n_layers: int) -> list[int] | None:
    """A scalar or per-layer array as one int per layer; None when missing or unusable."""
    scalar = _int(value)
    if scalar is not None:
        return [scalar] * n_layers
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= n_layers:
        items = [_int(v) for v in value[:n_layers]]
        if all(i is not None for i in items):
            return [i for i in items if i is not None]
    return None


def _swa_flags(info: Mapping[str, Any], arch: str, n_layers: int, window: int) -> list[bool]:
    """Which of the first ``n_layers`` layers use sliding-window attention."""
    if window <= 0:
        return [False] * n_layers
    pattern = info.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, Sequence) and not isinstance(pattern, str) and len(pattern) >= n_layers:
        return [bool(v) for v in pattern[:n_layers]]
    period = _int(pattern) or _DEFAULT_SWA_PERIOD.get(arch, 0)
    if period > 1:
        return [(il + 1) % period != 0 for il in range(n_layers)]
    # Unknown pattern: count every layer as global, which over-estimates (the safe side).
    return [False] * n_layers


def kv_arch_from_gguf(model_info: Mapping[str, Any]) -> KvArch | None:
    """Read the KV shape from GGUF metadata keys; None when the keys needed are missing.

    Understands a scalar or per-layer ``head_count_kv``, separate sliding head sizes
    (``key_length_swa``), a sliding-window pattern given as a per-layer bool array (Gemma 3n
    and 4), as a period, or implied by the architecture (Gemma 2 and 3), and Gemma's shared-KV
    layers (``shared_kv_layers``: the last layers reuse earlier caches and own none).
    """
    arch = model_info.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        return None
    n_layers = _int(model_info.get(f"{arch}.block_count"))
    if not n_layers or n_layers <= 0:
        return None
    shared = _int(model_info.get(f"{arch}.attention.shared_kv_layers")) or 0
    own = max(1, n_layers - max(0, shared))
    heads = _per_layer(model_info.get(f"{arch}.attention.head_count_kv"), n_layers)
    pattern = model_info.get(f"{arch}.attention.sliding_window_pattern")
    full_pattern = (
        isinstance(pattern, Sequence) and not isinstance(pattern, str) and len(pattern) >= own
    )
    if arch == "gemma4" and n_layers in GEMMA4_SHAPES and (heads is None or not full_pattern):
        s_layers, g_layers, s_heads, g_heads, s_dim, g_dim, window = GEMMA4_SHAPES[n_layers]
        window = _int(model_info.get(f"{arch}.attention.sliding_window")) or window
        return KvArch(g_layers * g_heads * g_dim, s_layers * s_heads * s_dim, window)
    if heads is None:
        heads = _per_layer(model_info.get(f"{arch}.attention.head_count"), n_layers)
    if heads is None:
        return None
    key_len = _int(model_info.get(f"{arch}.attention.key_length"))
    if key_len is None:
        embd = _int(model_info.get(f"{arch}.embedding_length"))
        n_head = _int(model_info.get(f"{arch}.attention.head_count"))
        if not embd or not n_head:
            return None
        key_len = embd // n_head
    val_len = _int(model_info.get(f"{arch}.attention.value_length")) or key_len
    key_swa = _int(model_info.get(f"{arch}.attention.key_length_swa")) or key_len
    val_swa = _int(model_info.get(f"{arch}.attention.value_length_swa")) or key_swa
    window = _int(model_info.get(f"{arch}.attention.sliding_window")) or 0
    flags = _swa_flags(model_info, arch, own, window)
    global_kv = sliding_kv = 0
    for il in range(own):
        if flags[il]:
            sliding_kv += heads[il] * (key_swa + val_swa) // 2
        else:
            global_kv += heads[il] * (key_len + val_len) // 2
    return KvArch(global_kv=global_kv, sliding_kv=sliding_kv, sliding_window=window)


_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("GGUF header ends early")
    return struct.unpack(fmt, data)[0]


def _read_string(fh: BinaryIO) -> str:
    n = _read(fh, "<Q")
    data = fh.read(n)
    if len(data) != n:
        raise ValueError("GGUF header ends early")
    return data.decode("utf-8", "replace")


def _read_value(fh: BinaryIO, vtype: int, keep_arrays: int) -> Any:
    if vtype in _SCALARS:
        return _read(fh, _SCALARS[vtype])
    if vtype == _STRING:
        return _read_string(fh)
    if vtype == _ARRAY:
        itype = _read(fh, "<I")
        count = _read(fh, "<Q")
        if count > keep_arrays and itype in _SCALARS:
            fh.seek(count * struct.calcsize(_SCALARS[itype]), 1)
            return None
        items = [_read_value(fh, itype, keep_arrays) for _ in range(count)]
        return items if count <= keep_arrays else None
    raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path: Path | str, *, keep_arrays: int = 4096) -> dict[str, Any]:
    """The key/value metadata of a GGUF file (v2/v3, little-endian).

    Arrays longer than ``keep_arrays`` (the tokenizer's vocabulary) are skipped and read as
    None, so this stays fast on real models.
    """
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = _read(fh, "<I")
        if version not in (2, 3):
            raise ValueError(f"{path}: unsupported GGUF version {version}")
        _read(fh, "<Q")  # tensor count
        n_kv = _read(fh, "<Q")
        out: dict[str, Any] = {}
        for _ in range(n_kv):
            key = _read_string(fh)
            out[key] = _read_value(fh, _read(fh, "<I"), keep_arrays)
        return out
