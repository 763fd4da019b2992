"""``gemmacode models`` (list, pull, recommend) and ``gemmacode modelfile`` end to end.

The Ollama side is the wire-format fake server; the GPU side is a scripted memory reading
(no NVIDIA GPU here), injected where the command takes its one reading.
"""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest

from gemmacode.cli import main
from gemmacode.commands import models_cmd
from gemmacode.commands.modelfile_cmd import BUILTIN_SYSTEM
from gemmacode.config import load_settings
from gemmacode.gpu import monitor as gpu_monitor
from gemmacode.gpu.reading import GpuReading, MemoryReading
from tests.fakes.ollama_server import FakeOllama

GIB = 1024**3


def gpu(total_gib: float, free_gib: float) -> MemoryReading:
    total, free = int(total_gib * GIB), int(free_gib * GIB)
    card = GpuReading(0, "NVIDIA GeForce RTX 3060", total, free, total - free)
    return MemoryReading("nvml", total=total, free=free, used=total - free, gpus=(card,))


@pytest.fixture
def reading(monkeypatch: pytest.MonkeyPatch) -> list[MemoryReading]:
    """Set ``reading[0]`` to choose what the commands see as GPU memory: a stand-in for
    NVML, where every reading is taken (the core session's monitor and ``recommend``)."""
    box = [gpu(12, 10)]

    class ScriptedNvml:
        name = "nvml"
        available = True

        def __init__(self, device: int = 0) -> None:
            pass

        def read(self) -> MemoryReading:
            return box[0]

        def close(self) -> None:
            pass

    monkeypatch.setattr(gpu_monitor, "NvmlSource", ScriptedNvml)
    return box


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_models_json_says_what_fits(
    ollama_server: FakeOllama, reading: list[MemoryReading], capsys: pytest.CaptureFixture[str]
) -> None:
    reading[0] = gpu(6, 5)
    assert main(["models", "--host", ollama_server.host, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["host"] == ollama_server.host
    assert out["memory"]["source"] == "nvml"
    [model] = out["models"]
    assert model["name"] == "gemma4:e4b"
    assert model["size_bytes"] == 4_543_000_000
    assert model["context_length"] == 131072
    assert model["loaded"] is None
    # 5 GiB free - 4.54 GB weights - 384 MiB margin leaves room for 16K (not 24K) of KV
    assert model["fits"] is True and model["max_ctx"] == 16384

    reading[0] = gpu(4, 3.6)  # a GTX 1650 with the desktop running
    assert main(["models", "--host", ollama_server.host, "--json"]) == 0
    [model] = json.loads(capsys.readouterr().out)["models"]
    assert model["fits"] is False and model["max_ctx"] == 0


def test_the_cli_and_the_model_picker_judge_fit_alike(
    ollama_server: FakeOllama,
    reading: list[MemoryReading],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """``gemmacode models`` and the terminal UI's /model picker (``core.models()``) are one
    code path: the same server and GPU give the same verdicts."""
    import asyncio

    from gemmacode.session.core import open_session

    assert main(["models", "pull", "gemma4:e2b", "--host", ollama_server.host]) == 0
    reading[0] = gpu(6, 5)
    capsys.readouterr()
    assert main(["models", "--host", ollama_server.host, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)

    async def picker() -> list[tuple[str, bool | None, int | None, str]]:
        settings = load_settings(None, {}, {"backend.host": ollama_server.host})
        async with open_session(settings, root=tmp_path) as core:
            return [(c.info.name, c.fits_now, c.max_ctx_now, c.note) for c in await core.models()]

    choices = asyncio.run(picker())
    cli = [(m["name"], m["fits"], m["max_ctx"]) for m in doc["models"]]
    assert cli == [c[:3] for c in choices]
    assert ("gemma4:e4b", True, 16384) in cli  # as test_models_json_says_what_fits
    e2b = next(c for c in choices if c[0] == "gemma4:e2b")
    assert e2b[2] is not None and e2b[2] > 16384 and e2b[3].startswith("yes, up to")


def test_models_table_shows_loaded_and_fit(
    ollama_server: FakeOllama, reading: list[MemoryReading], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "gemma4:e2b", "--host", ollama_server.host]) == 0
    ollama_server.vram_bytes = 4 * GIB
    import asyncio

    from gemmacode.backends.base import ChatOptions, ChatRequest, Message
    from gemmacode.backends.ollama import OllamaBackend

    async def load() -> None:
        b = OllamaBackend(ollama_server.host)
        req = ChatRequest("gemma4:e4b", (Message("user", "hi"),), ChatOptions(num_ctx=8192))
        async for _ in b.chat(req):
            pass
        await b.aclose()

    asyncio.run(load())
    capsys.readouterr()
    reading[0] = gpu(12, 10)
    assert main(["models", "--host", ollama_server.host]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ollama_server.host in lines[0] and "10.0 of 12.0 GiB free" in lines[0]
    assert lines[1].split()[:2] == ["NAME", "SIZE"]
    e4b = next(line for line in lines if line.startswith("gemma4:e4b"))
    e2b = next(line for line in lines if line.startswith("gemma4:e2b"))
    assert "4.5 GB" in e4b and "Q4_K_M" in e4b and "8K ctx, 91% GPU" in e4b
    assert "yes, up to" in e4b
    assert "2.9 GB" in e2b and e2b.split()[5] == "-"


def test_models_without_a_gpu_or_server(
    reading: list[MemoryReading], capsys: pytest.CaptureFixture[str], ollama_server: FakeOllama
) -> None:
    reading[0] = MemoryReading("system-ram", total=16 * GIB, free=8 * GIB, note="no NVIDIA GPU")
    assert main(["models", "--host", ollama_server.host, "--json"]) == 0
    [model] = json.loads(capsys.readouterr().out)["models"]
    assert model["fits"] is None
    assert main(["models", "--host", ollama_server.host]) == 0
    assert "no GPU" in capsys.readouterr().out

    host = f"http://127.0.0.1:{closed_port()}"
    assert main(["models", "--host", host]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and host in err and "ollama serve" in err


def test_remote_server_gpu_is_not_guessed() -> None:
    settings = load_settings(None, {})
    got = models_cmd.read_memory(settings, "http://10.1.2.3:11434")
    assert got.source == "none" and "remote" in got.note


def test_pull_piped_prints_each_status_once(
    ollama_server: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "gemma4:e2b", "--host", ollama_server.host]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "pulling manifest"
    assert lines.count("pulling cdcdcdcdcdcd") == 1
    assert lines[-2:] == [
        "success",
        "pulled gemma4:e2b; use it with: gemmacode review --model gemma4:e2b",
    ]
    assert "\r" not in captured.out + captured.err
    assert "gemma4:e2b" in ollama_server.installed


def test_pull_on_a_terminal_draws_a_bar(ollama_server: FakeOllama) -> None:
    import asyncio

    from gemmacode.backends.ollama import OllamaBackend

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, err = io.StringIO(), Tty()

    async def go() -> int:
        backend = OllamaBackend(ollama_server.host)
        try:
            return await models_cmd._pull(backend, "gemma4:e2b", out, err)
        finally:
            await backend.aclose()

    assert asyncio.run(go()) == 0
    frames = err.getvalue().split("\r")
    assert frames[-1].startswith("pulling cdcdcdcdcdcd: [" + "#" * 30 + "] 100%")
    assert " 0%" in frames[1] and "2.89 GB" in frames[-1]
    assert "pulling cdcdcdcdcdcd" not in out.getvalue()  # the bar replaces the status lines
    assert out.getvalue().splitlines()[-2] == "success"


def test_pull_needs_a_known_name(
    ollama_server: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "--host", ollama_server.host]) == 2
    assert "needs a model name" in capsys.readouterr().err
    assert main(["models", "pull", "nosuch:1b", "--host", ollama_server.host]) == 2
    assert "file does not exist" in capsys.readouterr().err


def test_recommend_on_a_4gb_card(
    ollama_server: FakeOllama, reading: list[MemoryReading], capsys: pytest.CaptureFixture[str]
) -> None:
    reading[0] = gpu(4, 3.5)
    assert main(["models", "recommend", "--host", ollama_server.host]) == 0
    out = capsys.readouterr().out
    assert "recommended: gemma4:e2b" in out
    assert "alternative: gemma4:e4b" in out and "spills" in out
    assert "note: the seed's matrix picks gemma4:e4b" in out and "4.5 GB" in out
    assert "install it with: gemmacode models pull gemma4:e2b" in out

    assert main(["models", "recommend", "--host", ollama_server.host, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["model"], got["fits"], got["installed"]) == ("gemma4:e2b", True, False)
    assert got["seed_model"] == "gemma4:e4b"
    assert got["gpu"]["total"] == 4 * GIB


def test_recommend_with_vram_flag_and_server_down(capsys: pytest.CaptureFixture[str]) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    assert main(["models", "recommend", "--vram", "12", "--host", host, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["model"] == "gemma4:e4b" and got["alternative"] == "gemma4:26b"
    assert got["installed"] is None
    assert main(["models", "recommend", "--vram", "24", "--host", host]) == 0
    out = capsys.readouterr().out
    assert "recommended: gemma4:31b" in out and "not running" in out


def test_recommend_for_a_remote_server_needs_its_vram(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "recommend", "--host", "http://10.1.2.3:11434"]) == 2
    err = capsys.readouterr().err
    assert "remote" in err and "--vram" in err


def test_recommend_without_a_gpu(
    ollama_server: FakeOllama, reading: list[MemoryReading], capsys: pytest.CaptureFixture[str]
) -> None:
    reading[0] = MemoryReading("system-ram", total=16 * GIB, free=8 * GIB, note="no NVIDIA GPU")
    assert main(["models", "recommend", "--host", ollama_server.host, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["model"] == "gemma4:e2b" and "no GPU" in got["reason"]


def test_modelfile_to_stdout_uses_settings_and_the_system_prompt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["modelfile", "--model", "gemma4:e2b", "--num-ctx", "16384"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    body = [line for line in lines if not line.startswith("#")]
    assert body[:5] == [
        "FROM gemma4:e2b",
        "PARAMETER num_ctx 16384",
        "PARAMETER num_batch 512",
        "PARAMETER temperature 0.2",
        "PARAMETER top_p 0.9",
    ]
    shipped = (Path(__file__).resolve().parents[2] / "prompts" / "system.md").read_text("utf-8")
    assert text.count('SYSTEM """') == 1 and text.rstrip().endswith('"""')
    assert shipped.splitlines()[0] in text


def test_modelfile_to_a_file_with_a_user_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    (config / "prompts").mkdir(parents=True)
    (config / "prompts" / "system.md").write_text('Review Go code. Quote with """ never.\n')
    monkeypatch.setenv("GEMMACODE_CONFIG_DIR", str(config))
    target = tmp_path / "Modelfile"
    assert main(["modelfile", "-o", str(target)]) == 0
    text = target.read_text()
    assert "FROM gemma4:e4b" in text and "PARAMETER num_ctx 8192" in text
    assert 'SYSTEM """Review Go code. Quote with \'\'\' never."""' in text
    assert f"ollama create gemma4-review -f {target}" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".Modelfile")] == []

    assert main(["modelfile", "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_modelfile_builtin_line_when_no_prompt_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmacode.commands import modelfile_cmd

    def missing(name: str) -> str:
        raise FileNotFoundError(name)

    monkeypatch.setattr("gemmacode.review.prompts.load", missing)
    assert modelfile_cmd.system_prompt() == BUILTIN_SYSTEM
