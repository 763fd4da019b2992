"""``make_backend`` picks and configures the backend named by the settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from gemmacode.backends.base import Backend
from gemmacode.backends.embedded import EmbeddedBackend, smollm2_path
from gemmacode.backends.factory import make_backend
from gemmacode.backends.ollama import OllamaBackend
from gemmacode.backends.openai_compat import OpenAIBackend
from gemmacode.config import Settings, load_settings
from gemmacode.errors import ConfigError
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]


def test_ollama_with_host_and_timeout() -> None:
    settings = load_settings(None, {}, {"backend.host": "http://gpu-box:11434"})
    settings.backend.timeout_s = 42.0
    backend = make_backend(settings)
    assert isinstance(backend, OllamaBackend) and isinstance(backend, Backend)
    assert backend.host == "http://gpu-box:11434" and backend.timeout_s == 42.0


def test_ollama_without_host_follows_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://10.0.0.7:11434")
    backend = make_backend(load_settings(None, {}))
    assert isinstance(backend, OllamaBackend) and backend.host == "http://10.0.0.7:11434"


def test_embedded_takes_gguf_path_and_threads() -> None:
    env = {
        "GEMMACODE_BACKEND_KIND": "embedded",
        "GEMMACODE_BACKEND_GGUF_PATH": str(smollm2_path()),
        "GEMMACODE_BACKEND_THREADS": "2",
    }
    backend = make_backend(load_settings(None, env))
    assert isinstance(backend, EmbeddedBackend)
    assert backend.threads == 2 and backend.resolve("whatever") == smollm2_path()


def test_openai_reads_the_key_from_the_named_variable() -> None:
    with FakeOpenAI(api_key="sk-team") as fake:
        env = {
            "GEMMACODE_BACKEND_KIND": "openai",
            "GEMMACODE_BACKEND_OPENAI_BASE_URL": fake.url,
            "GEMMACODE_BACKEND_OPENAI_API_KEY_ENV": "TEAM_KEY",
            "GEMMACODE_BACKEND_MODEL": "smollm2",
            "TEAM_KEY": "sk-team",
        }
        settings = load_settings(None, env)
        backend = make_backend(settings, env)
        assert isinstance(backend, OpenAIBackend) and backend.api_key == "sk-team"

        async def go() -> list[str]:
            try:
                return [m.name for m in await backend.list_models()]
            finally:
                await backend.aclose()

        assert asyncio.run(go()) == ["smollm2"]
        no_key = make_backend(settings, {})
        assert isinstance(no_key, OpenAIBackend) and no_key.api_key is None


def test_unknown_kind_is_a_config_error() -> None:
    settings = Settings()
    settings.backend.kind = "vllm"
    with pytest.raises(ConfigError) as err:
        make_backend(settings)
    assert "backend.kind" in str(err.value)


def test_choosing_a_backend_imports_only_that_one() -> None:
    code = (
        "import sys\n"
        "from gemmacode.config import Settings\n"
        "from gemmacode.backends.factory import make_backend\n"
        "s = Settings(); s.backend.kind = 'openai'\n"
        "make_backend(s, {})\n"
        "print(sorted(m for m in ('llama_cpp', 'ollama') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
