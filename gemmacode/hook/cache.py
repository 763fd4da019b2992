"""Reviews already done, by content: the same staged change, model and prompts cost nothing.

A commit is often run twice (the message was wrong, a chained hook failed, a finding was
fixed in another file): the review of content already reviewed is read back instead of
asked again. The key is a hash of everything the model's answer depends on: every changed
file's paths, modes and old and new blobs, the backend and model, the prompt templates in
force (user overrides included), the sampling settings and focus, and gemmacode's version.

The cache lives in the repository's git folder (``git rev-parse --git-path gemmacode/hook``,
which gives each worktree its own), never in the work tree, so it is never committed.
Folders are 0700 and files 0600 (they hold findings about private code); each entry is
written to a temporary file and renamed into place, so a reader (the terminal UI, a second
commit) never sees half an entry. Only complete reviews are stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmacode import __version__
from gemmacode.config import Settings, private_dir, user_config_dir
from gemmacode.review.findings.model import Finding

FORMAT = 1
KEEP = 200  # entries kept; older ones are removed when a new one is written


@dataclass(frozen=True)
class CachedReview:
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    model: str


def prompt_digest(env: Mapping[str, str] | None = None) -> str:
    """A hash of the prompt templates in force: every shipped one and every override in the
    user's ``prompts`` folder (read as files: importing the prompt loader and
    ``importlib.resources`` would cost the cache hit a good part of its budget)."""
    h = hashlib.sha256()
    spec = importlib.util.find_spec("gemmacode.prompts")
    shipped = list(spec.submodule_search_locations or []) if spec is not None else []
    overrides = user_config_dir(env) / "prompts"
    for folder in [*map(Path, shipped), overrides]:
        try:
            names = sorted(p for p in folder.iterdir() if p.suffix == ".md")
        except OSError:
            continue
        for path in names:
            h.update(f"{folder == overrides}:{path.name}\0".encode())
            try:
                h.update(path.read_bytes())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()


def review_key(
    change_keys: Sequence[str], settings: Settings, env: Mapping[str, str] | None = None
) -> str:
    """The cache key of one review: the change, the model, the prompts and the sampling."""
    b, s = settings.backend, settings.hook
    parts = {
        "format": FORMAT,
        "version": __version__,
        "change": sorted(change_keys),
        "backend": b.kind,
        "model": b.gguf_path or b.model,
        "think": b.think,
        "prompts": prompt_digest(env),
        "sampling": [s.temperature, s.seed, s.num_predict, settings.sampling.top_p],
        "top_k": settings.sampling.top_k,
        "focus": sorted(settings.review.focus),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class ReviewCache:
    """Entries in one folder, one JSON file per key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> CachedReview | None:
        try:
            doc = json.loads((self.folder / f"{key}.json").read_text("utf-8"))
            if doc.get("format") != FORMAT:
                return None
            findings = tuple(Finding(**f) for f in doc["findings"])
            return CachedReview(findings, tuple(doc["notes"]), str(doc["model"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, damaged or from another version: review again

    def put(self, key: str, review: CachedReview) -> None:
        """Store an entry atomically; a cache that cannot be written is not an error."""
        doc: dict[str, Any] = {
            "format": FORMAT,
            "model": review.model,
            "findings": [f.to_dict() for f in review.findings],
            "notes": list(review.notes),
        }
        try:
            private_dir(self.folder)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(doc, fh, ensure_ascii=False)
                os.replace(tmp, self.folder / f"{key}.json")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._prune()
        except OSError:
            return

    def _prune(self) -> None:
        entries = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            with contextlib.suppress(OSError):
                old.unlink()
