"""One place that turns settings into a backend, so no command picks a backend by hand.

Each backend module is imported only when chosen, so ``--help`` and the pre-commit hook stay
fast and the Ollama-only user never loads llama.cpp.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gemmacode.backends.base import Backend
from gemmacode.config import Settings
from gemmacode.errors import ConfigError


def make_backend(settings: Settings, env: Mapping[str, str] | None = None) -> Backend:
    """The backend named by ``backend.kind``; the OpenAI key comes from the environment
    variable named in ``backend.openai_api_key_env`` (``env`` replaces ``os.environ`` in tests)."""
    env = os.environ if env is None else env
    b = settings.backend
    if b.kind == "ollama":
        from gemmacode.backends.ollama import OllamaBackend

        return OllamaBackend(b.host or None, timeout_s=b.timeout_s)
    if b.kind == "embedded":
        from gemmacode.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(gguf_path=b.gguf_path, threads=b.threads)
    if b.kind == "openai":
        from gemmacode.backends.openai_compat import OpenAIBackend

        key = env.get(b.openai_api_key_env) if b.openai_api_key_env else None
        return OpenAIBackend(
            b.openai_base_url,
            key or None,
            timeout_s=b.timeout_s,
            api_key_env=b.openai_api_key_env or "OPENAI_API_KEY",
        )
    raise ConfigError(
        f"setting 'backend.kind' has a bad value {b.kind!r}", "use ollama, embedded or openai"
    )
