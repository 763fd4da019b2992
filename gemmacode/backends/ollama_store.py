"""Find the GGUF weights that a local Ollama already stores, so one download serves both.

Ollama keeps models under ``OLLAMA_MODELS`` (default ``~/.ollama/models``): a manifest per
name at ``manifests/<registry>/<namespace>/<model>/<tag>`` (JSON, Docker-style) whose layer
with media type ``application/vnd.ollama.image.model`` names the weights blob by digest, and
the blob itself at ``blobs/sha256-<hex>``. That blob is a plain GGUF file that llama.cpp
loads directly. Nothing here talks to the Ollama server: it reads files only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gemmacode.errors import ModelNotFoundError

MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class StoredModel:
    """One model in the store: its short name (as ``ollama list`` shows it) and its GGUF blob."""

    name: str
    gguf: Path
    size_bytes: int


def models_dir(env: Mapping[str, str] | None = None) -> Path:
    """The store folder: ``OLLAMA_MODELS`` when set, else ``~/.ollama/models``."""
    env = os.environ if env is None else env
    if env.get("OLLAMA_MODELS"):
        return Path(env["OLLAMA_MODELS"]).expanduser()
    return Path.home() / ".ollama" / "models"


def manifest_path(name: str, root: Path) -> Path:
    """Where the manifest for ``name`` lives; accepts ``model``, ``model:tag``,
    ``namespace/model:tag`` and ``host/namespace/model:tag`` like Ollama does."""
    base, tag = name, DEFAULT_TAG
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        base, tag = name.rsplit(":", 1)
    parts = [p for p in base.split("/") if p]
    if not parts or not tag or any(p in (".", "..") for p in [*parts, tag]):
        raise ModelNotFoundError(
            f"'{name}' is not a valid Ollama model name", "use a name like gemma4:e4b"
        )
    if len(parts) == 1:
        parts = [DEFAULT_REGISTRY, DEFAULT_NAMESPACE, *parts]
    elif len(parts) == 2:
        parts = [DEFAULT_REGISTRY, *parts]
    return root.joinpath("manifests", *parts, tag)


def _blob_for(manifest: Path, root: Path) -> Path | None:
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return None
    for layer in layers:
        if isinstance(layer, dict) and layer.get("mediaType") == MODEL_MEDIA_TYPE:
            digest = layer.get("digest")
            if isinstance(digest, str) and digest.startswith("sha256:"):
                hexpart = digest.split(":", 1)[1]
                if hexpart.isalnum():
                    return root / "blobs" / f"sha256-{hexpart}"
    return None


def find_gguf(name: str, root: Path | None = None) -> Path | None:
    """The GGUF blob for ``name``, or None when the store has no such model (or it is broken)."""
    root = models_dir() if root is None else root
    manifest = manifest_path(name, root)
    if not manifest.is_file():
        return None
    blob = _blob_for(manifest, root)
    if blob is None or not blob.is_file():
        return None
    return blob


def resolve_gguf(name: str, root: Path | None = None) -> Path:
    """Like :func:`find_gguf` but raises a one-line error that says where it looked."""
    root = models_dir() if root is None else root
    blob = find_gguf(name, root)
    if blob is None:
        raise ModelNotFoundError(
            f"model '{name}' is not in the Ollama store at {root}",
            f"run: ollama pull {name} (or set OLLAMA_MODELS, or backend.gguf_path to a GGUF file)",
        )
    return blob


def list_stored(root: Path | None = None) -> list[StoredModel]:
    """Every model in the store whose weights blob is present, with Ollama-style short names."""
    root = models_dir() if root is None else root
    manifests = root / "manifests"
    if not manifests.is_dir():
        return []
    out: list[StoredModel] = []
    for path in sorted(p for p in manifests.rglob("*") if p.is_file()):
        rel = path.relative_to(manifests).parts
        if len(rel) < 3:
            continue
        *repo, tag = rel
        if repo[0] == DEFAULT_REGISTRY:
            repo = repo[1:]
            if repo and repo[0] == DEFAULT_NAMESPACE:
                repo = repo[1:]
        blob = _blob_for(path, root)
        if not repo or blob is None or not blob.is_file():
            continue
        out.append(StoredModel(f"{'/'.join(repo)}:{tag}", blob, blob.stat().st_size))
    return out
