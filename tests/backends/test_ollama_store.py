"""Resolving Ollama model names to the GGUF blobs in Ollama's on-disk store.

The store is built in a temporary folder with Ollama's layout (manifests per registry,
namespace, model and tag; blobs named ``sha256-<hex>``) and a real GGUF blob: a link to the
SmolLM2 file, so the embedded engine can load what the store resolves to.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gemmacode.backends import ollama_store
from gemmacode.backends.embedded import smollm2_path
from gemmacode.errors import ModelNotFoundError


def add_model(root: Path, repo: str, tag: str, blob_source: Path | None) -> Path:
    """Write a manifest like ``ollama pull`` does; returns the weights blob path."""
    digest = hashlib.sha256(f"{repo}:{tag}".encode()).hexdigest()
    blob = root / "blobs" / f"sha256-{digest}"
    blob.parent.mkdir(parents=True, exist_ok=True)
    if blob_source is not None:
        blob.symlink_to(blob_source)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "0" * 64, "size": 10},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64,
             "size": 5},
            {"mediaType": ollama_store.MODEL_MEDIA_TYPE, "digest": f"sha256:{digest}",
             "size": 98362432},
            {"mediaType": "application/vnd.ollama.image.params", "digest": "sha256:" + "2" * 64,
             "size": 5},
        ],
    }  # fmt: skip
    path = root / "manifests" / Path(*repo.split("/")) / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest), "utf-8")
    return blob


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    gguf = smollm2_path()
    add_model(root, "registry.ollama.ai/library/gemma4", "e4b", gguf)
    add_model(root, "registry.ollama.ai/library/gemma4", "latest", gguf)
    add_model(root, "registry.ollama.ai/someone/reviewer", "q4", gguf)
    add_model(root, "example.com:5000/team/coder", "v1", gguf)
    add_model(root, "registry.ollama.ai/library/halfpulled", "latest", None)
    return root


def test_short_name_resolves_to_a_real_gguf_blob(store: Path) -> None:
    blob = ollama_store.find_gguf("gemma4:e4b", store)
    assert blob is not None and blob.name.startswith("sha256-")
    assert blob.read_bytes()[:4] == b"GGUF"


def test_name_forms_map_to_ollama_manifest_paths(store: Path) -> None:
    m = store / "manifests"
    assert ollama_store.manifest_path("gemma4", store) == (
        m / "registry.ollama.ai" / "library" / "gemma4" / "latest"
    )
    assert ollama_store.manifest_path("someone/reviewer:q4", store) == (
        m / "registry.ollama.ai" / "someone" / "reviewer" / "q4"
    )
    assert ollama_store.manifest_path("example.com:5000/team/coder:v1", store) == (
        m / "example.com:5000" / "team" / "coder" / "v1"
    )
    assert ollama_store.find_gguf("gemma4", store) is not None
    assert ollama_store.find_gguf("someone/reviewer:q4", store) is not None
    assert ollama_store.find_gguf("example.com:5000/team/coder:v1", store) is not None


def test_missing_model_tag_or_blob_is_not_found(store: Path) -> None:
    assert ollama_store.find_gguf("gemma4:31b", store) is None
    assert ollama_store.find_gguf("llama3", store) is None
    assert ollama_store.find_gguf("halfpulled", store) is None  # manifest without its blob
    with pytest.raises(ModelNotFoundError) as err:
        ollama_store.resolve_gguf("gemma4:31b", store)
    assert "ollama pull gemma4:31b" in str(err.value)
    assert str(store) in str(err.value)


def test_broken_manifests_are_skipped_not_fatal(store: Path) -> None:
    bad = store / "manifests" / "registry.ollama.ai" / "library" / "broken" / "latest"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json", "utf-8")
    nolayer = bad.parent.parent / "nolayer" / "latest"
    nolayer.parent.mkdir(parents=True)
    nolayer.write_text(json.dumps({"layers": [{"mediaType": "x", "digest": "sha256:ab"}]}))
    assert ollama_store.find_gguf("broken", store) is None
    assert ollama_store.find_gguf("nolayer", store) is None
    names = [m.name for m in ollama_store.list_stored(store)]
    assert "broken:latest" not in names and "nolayer:latest" not in names


def test_list_uses_ollama_short_names(store: Path) -> None:
    listed = {m.name: m for m in ollama_store.list_stored(store)}
    assert set(listed) == {
        "gemma4:e4b",
        "gemma4:latest",
        "someone/reviewer:q4",
        "example.com:5000/team/coder:v1",
    }
    assert listed["gemma4:e4b"].size_bytes == smollm2_path().stat().st_size


def test_path_tricks_in_names_are_rejected(store: Path) -> None:
    for name in ("../gemma4:e4b", "gemma4:..", "", ":tag"):
        with pytest.raises(ModelNotFoundError):
            ollama_store.manifest_path(name, store)


def test_models_dir_follows_ollama_models(tmp_path: Path) -> None:
    assert ollama_store.models_dir({"OLLAMA_MODELS": str(tmp_path)}) == tmp_path
    assert ollama_store.models_dir({}) == Path.home() / ".ollama" / "models"
    assert ollama_store.list_stored(tmp_path / "absent") == []
