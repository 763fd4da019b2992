"""What the repository tree shows: the files, those the index skips (and why), and which are
changed or staged.

The app receives a :class:`RepoStatusProvider`; :class:`GitCliStatus` is the simple version
(the index's own file listing plus one ``git status --porcelain -z``), so the tree shows
exactly what the index covers. Another provider (GitPython, a watcher) has the same method.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from gemmacode.config import Settings

Marker = Literal["staged", "changed", "untracked", "both"]


@dataclass(frozen=True)
class RepoSnapshot:
    files: tuple[str, ...]  # indexed candidates, POSIX, relative to the root
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    markers: dict[str, Marker] = field(default_factory=dict)


class RepoStatusProvider(Protocol):
    def snapshot(self) -> RepoSnapshot:
        """Called on a worker thread; may take a moment on a large repository."""
        ...


def parse_porcelain(out: str) -> dict[str, Marker]:
    """``git status --porcelain=v1 -z`` as path -> marker (renames keep the new path)."""
    markers: dict[str, Marker] = {}
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        x, y, path = entry[0], entry[1], entry[3:]
        if x in "RC":
            i += 1  # the original path follows
        if x == "?":
            markers[path] = "untracked"
        elif x not in " ?" and y not in " ?":
            markers[path] = "both"
        elif x not in " ?":
            markers[path] = "staged"
        else:
            markers[path] = "changed"
    return markers


class GitCliStatus:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings

    def snapshot(self) -> RepoSnapshot:
        from gemmacode.index.files import list_files

        listing = list_files(
            self.root,
            max_file_bytes=self.settings.index.max_file_bytes,
            exclude=self.settings.index.exclude,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        try:
            out = subprocess.run(
                ["git", "-C", str(self.root), "status", "--porcelain=v1", "-z"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            markers = parse_porcelain(out.stdout) if out.returncode == 0 else {}
        except OSError:
            markers = {}
        return RepoSnapshot(
            files=tuple(sorted(c.path for c in listing.candidates)),
            skipped={s.path: s.reason for s in listing.skipped},
            markers=markers,
        )
