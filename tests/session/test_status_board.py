"""The status board's translation of single reports, and its snapshot."""

from __future__ import annotations

from gemmacode.backends.base import ChatOptions, ChatRequest, Final, LoadedModel, Message
from gemmacode.context.budget import Budget
from gemmacode.gpu.reading import MemoryReading
from gemmacode.session.events import GpuSample, ModelSpilled, PromptCut, RequestStats
from gemmacode.session.status import HISTORY, StatusBoard, gpu_sample

GIB = 1024**3


def request(num_ctx: int = 8192, estimate: int = 6000) -> ChatRequest:
    return ChatRequest(
        "gemma4:e4b",
        (Message("user", "x"),),
        ChatOptions(num_ctx=num_ctx),
        estimated_prompt_tokens=estimate,
    )


def test_readings_of_every_kind() -> None:
    gpu = gpu_sample(MemoryReading("nvml", total=8 * GIB, free=3 * GIB, used=5 * GIB, at=4.0))
    assert gpu == GpuSample("gpu", 5 * GIB, 8 * GIB, at=4.0) and gpu.free == 3 * GIB
    ram = gpu_sample(MemoryReading("system-ram", total=16 * GIB, free=GIB, used=15 * GIB))
    assert ram.kind == "cpu" and ram.used == 15 * GIB
    loaded = (LoadedModel("gemma4:e4b", 6 * GIB, 4 * GIB, 8192),)
    remote = gpu_sample(MemoryReading("ollama-ps", used=4 * GIB, loaded=loaded, note="remote"))
    assert remote.kind == "remote" and remote.vram == 4 * GIB and remote.note == "remote"
    none = gpu_sample(MemoryReading("none", note="no NVIDIA GPU/driver"))
    assert none.kind == "none" and none.note == "no NVIDIA GPU/driver"


def test_a_cut_prompt_a_spill_and_the_speed_of_an_answer() -> None:
    board = StatusBoard()
    seen: list[object] = []
    unsubscribe = board.subscribe(seen.append)
    final = Final(prompt_tokens=8000, completion_tokens=120, eval_s=2.0, load_s=0.5, truncated=True)
    spilled = [LoadedModel("gemma4:e4b", 6 * GIB, 5 * GIB, 8192)]
    board.finished(request(), Budget(8192, 1024), final, spilled)
    cut, spill, stats = seen
    assert cut == PromptCut(6000, 8000, "")
    assert spill == ModelSpilled("gemma4:e4b", 5 * GIB, 6 * GIB)
    assert isinstance(stats, RequestStats)
    assert stats.tokens_per_s == 60.0 and stats.load_s == 0.5
    assert stats.budget_tokens == Budget(8192, 1024).prompt_tokens
    assert 0 < stats.fill < 1
    status = board.status
    assert status.prompt_cut == cut and status.spilled == spill and status.last_request == stats
    unsubscribe()
    board.finished(request(), Budget(8192, 1024), Final(), None)
    assert len(seen) == 3


def test_a_model_wholly_in_system_ram_is_not_a_spill() -> None:
    # The embedded engine and a CPU-only Ollama report size_vram 0: no spill warning.
    board = StatusBoard()
    seen: list[object] = []
    board.subscribe(seen.append)
    on_cpu = [LoadedModel("gemma4:e4b", 6 * GIB, 0, 8192)]
    board.finished(request(), Budget(8192, 1024), Final(completion_tokens=10, eval_s=1.0), on_cpu)
    assert not any(isinstance(e, ModelSpilled) for e in seen) and board.status.spilled is None


def test_the_memory_history_is_short_and_a_broken_subscriber_is_ignored() -> None:
    board = StatusBoard()

    def broken(event: object) -> None:
        raise RuntimeError("a front end's bug")

    board.subscribe(broken)
    for i in range(HISTORY + 10):
        board.reading(MemoryReading("nvml", total=8 * GIB, free=GIB, used=i))
    history = board.status.memory_history
    assert len(history) == HISTORY and history[-1] == HISTORY + 9 and history[0] == 10
