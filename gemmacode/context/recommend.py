"""Which Gemma 4 variant to run on the GPU actually present: a pure decision, no I/O.

The seed article's decision matrix maps hardware to variants: E2B for edge/IoT, E4B for 4 GB
laptops, the 26B MoE for 8-12 GB workstations, 31B for 16-20 GB or more. Its memory figures
are too low against the published Q4 weights (FIELD_NOTES: ~2.9 / 4.5 / 14.4 / 17.5 GB), and
a mixture-of-experts model keeps all its experts in memory, so taken literally it would put
E4B on a 4 GB card (it spills to the CPU) and the 26B on a 12 GB card (it spills a lot).
:func:`recommend` therefore picks the largest variant whose weights, KV cache at a useful
context and a compute margin fit the card, and reports where that differs from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gemmacode.backends.base import KvArch
from gemmacode.context.kvcache import kv_cache_bytes

GB = 1_000_000_000
GIB = 1024**3
MIB = 1024**2

# Smallest context a review is useful at (and the seed's own baseline for 4 GB cards).
MIN_USEFUL_CTX = 8192
# The context policy's steps, so "fits up to N" names a size gemmacode would actually use.
LADDER = (2048, 4096, 8192, 12288, 16384, 24576, 32768, 49152, 65536, 98304, 131072, 196608, 262144)


@dataclass(frozen=True)
class Variant:
    tag: str  # the Ollama tag
    label: str
    weights: int  # bytes of Q4 weights (FIELD_NOTES)
    kv: KvArch  # from the published architecture table (FIELD_NOTES)
    max_ctx: int
    seed_claim: str  # what the seed article says it needs
    seed_error: str  # why that is wrong, or "" where it holds


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "gemma4:e2b", "E2B", int(2.9 * GB), KvArch(3 * 1 * 512, 12 * 1 * 256, 512), 131072,
        "~2.5 GB VRAM (its table), ~1.4 GB (its decision matrix)",
        "its Q4 weights alone are ~2.9 GB",
    ),
    Variant(
        "gemma4:e4b", "E4B", int(4.5 * GB), KvArch(4 * 2 * 512, 20 * 2 * 256, 512), 131072,
        "~3.8 GB VRAM, 'fits 4 GB'",
        "at Q4 its weights are ~4.5 GB, so on a 4 GB card part of it spills to the CPU",
    ),
    Variant(
        "gemma4:26b", "26B A4B (MoE)", int(14.4 * GB), KvArch(5 * 2 * 512, 25 * 8 * 256, 1024),
        262144,
        "8-12 GB VRAM ('only the active experts are loaded')",
        "a MoE keeps all experts in memory (~14.4 GB at Q4); only the compute per token is "
        "sparse, so it needs a 16 GB card to stay on the GPU",
    ),
    Variant(
        "gemma4:31b", "31B", int(17.5 * GB), KvArch(10 * 4 * 512, 50 * 16 * 256, 1024), 262144,
        "16-20 GB VRAM",
        "~17.5 GB of Q4 weights plus ~1.9 GB of KV cache at 8K context: it needs about 20 GB, "
        "so a 16 GB card spills",
    ),
)  # fmt: skip

BY_TAG = {v.tag: v for v in VARIANTS}


def footprint(v: Variant, num_ctx: int, *, kv_type: str = "f16", margin: int = 384 * MIB) -> int:
    """Bytes the server needs for ``v`` at ``num_ctx``: weights, KV cache and a margin."""
    return v.weights + kv_cache_bytes(v.kv, num_ctx, kv_type=kv_type) + margin


def largest_ctx(
    weights: int,
    kv: KvArch,
    available: int,
    *,
    max_ctx: int = LADDER[-1],
    kv_type: str = "f16",
    margin: int = 384 * MIB,
) -> int:
    """The largest ladder step whose weights + KV cache + margin fit ``available``; 0: none."""
    best = 0
    for step in LADDER:
        if step > max_ctx:
            break
        if weights + kv_cache_bytes(kv, step, kv_type=kv_type) + margin <= available:
            best = step
    return best


def seed_choice(vram: int | None, *, edge: bool = False) -> str:
    """The seed's decision matrix taken literally (sizes as the article states them)."""
    if edge or vram is None or vram < 4 * GB * 0.95:  # "4 GB" cards report ~3.8-4.3 GB
        return "gemma4:e2b"
    if vram < 8 * GB * 0.95:
        return "gemma4:e4b"
    if vram < 16 * GB * 0.95:
        return "gemma4:26b"
    return "gemma4:31b"


@dataclass(frozen=True)
class Recommendation:
    model: str
    fits: bool  # weights and a useful context sit entirely in GPU memory
    max_ctx: int  # the largest context that fits with it (0 when it spills or no GPU)
    reason: str
    alternative: str = ""
    alternative_reason: str = ""
    seed_model: str = ""
    notes: list[str] = field(default_factory=list)


def _spill(v: Variant, vram: int, kv_type: str, margin: int) -> float:
    return max(0, footprint(v, MIN_USEFUL_CTX, kv_type=kv_type, margin=margin) - vram) / GB


def recommend(
    vram: int | None,
    *,
    edge: bool = False,
    kv_type: str = "f16",
    margin: int = 384 * MIB,
) -> Recommendation:
    """The variant to run on a GPU with ``vram`` bytes in total (None: no GPU).

    Sized against the card's total, not the free memory of the moment: free memory moves
    with the desktop and the browser, and the context policy adapts ``num_ctx`` to it.
    """
    seed = seed_choice(vram, edge=edge)
    e2b, e4b = BY_TAG["gemma4:e2b"], BY_TAG["gemma4:e4b"]
    if edge:
        return Recommendation(
            e2b.tag, vram is not None and _spill(e2b, vram, kv_type, margin) == 0, 0,
            "edge/IoT device: E2B is the variant built for it (the seed's matrix agrees)",
            seed_model=seed,
        )  # fmt: skip
    if vram is None:
        return Recommendation(
            e2b.tag, False, 0,
            "no GPU: the model runs on the CPU from system RAM, where E2B is the only variant "
            "with interactive speed",
            e4b.tag, "better reviews at roughly half the speed, if 8 GB of RAM are free",
            seed_model=seed,
        )  # fmt: skip
    need = {v.tag: footprint(v, MIN_USEFUL_CTX, kv_type=kv_type, margin=margin) for v in VARIANTS}
    fitting = [v for v in VARIANTS if need[v.tag] <= vram]
    gb = f"{vram / GIB:.1f} GiB"
    if fitting:
        best = fitting[-1]
        ctx = largest_ctx(
            best.weights, best.kv, vram, max_ctx=best.max_ctx, kv_type=kv_type, margin=margin
        )
        reason = (
            f"the largest variant whose ~{best.weights / GB:.1f} GB of Q4 weights and an "
            f"{MIN_USEFUL_CTX // 1024}K context fit entirely on this {gb} GPU "
            f"(context up to {ctx // 1024}K)"
        )
        i = VARIANTS.index(best)
        bigger = VARIANTS[i + 1] if i + 1 < len(VARIANTS) else None
    else:
        best, bigger, ctx = e2b, e4b, 0
        reason = (
            f"no variant fits this {gb} GPU entirely; E2B spills least "
            f"(~{_spill(e2b, vram, kv_type, margin):.1f} GB to system RAM): expect slow answers"
        )
    alt = alt_reason = ""
    if bigger is not None:
        alt = bigger.tag
        alt_reason = (
            f"better reviews, but ~{_spill(bigger, vram, kv_type, margin):.1f} GB of it spills "
            "to system RAM on this GPU (roughly 2-5x slower answers)"
        )
    notes = []
    if seed != best.tag and BY_TAG[seed].seed_error:
        sv = BY_TAG[seed]
        notes.append(
            f"the seed's matrix picks {sv.tag} here, assuming it needs {sv.seed_claim}; "
            f"{sv.seed_error}"
        )
    return Recommendation(best.tag, bool(fitting), ctx, reason, alt, alt_reason, seed, notes)
