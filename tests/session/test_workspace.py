"""The workspace: one repository's index and map cache, private to the user."""

from __future__ import annotations

import stat
from pathlib import Path

from gemmacode.config import Settings
from gemmacode.repomap.build import build_map
from gemmacode.session.api import IndexProgress
from gemmacode.session.workspace import Workspace
from gemmacode.tokens.counter import TokenCounter


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_index_and_map_caches_are_private(git_repo: Path) -> None:
    (git_repo / "a.py").write_text("def f(x):\n    return g(x)\n\n\ndef g(y):\n    return y\n")
    ws = Workspace(git_repo, Settings())
    index = ws.index()
    assert index is not None and "a.py" in index.files
    cache = ws.cache_dir
    assert _mode(cache) == 0o700
    files = [p for p in cache.iterdir() if p.is_file()]
    assert files and all(_mode(p) == 0o600 for p in files), [(p, _mode(p)) for p in files]
    build_map(index, TokenCounter(), 256, cache_dir=ws.map_cache_dir)
    assert _mode(ws.map_cache_dir) == 0o700
    entries = list(ws.map_cache_dir.iterdir())
    assert entries and all(_mode(p) == 0o600 for p in entries)


def test_an_open_cache_left_by_an_older_version_is_tightened(git_repo: Path) -> None:
    (git_repo / "a.py").write_text("x = 1\n")
    ws = Workspace(git_repo, Settings())
    ws.cache_dir.mkdir(parents=True, mode=0o755)
    ws.cache_dir.chmod(0o755)
    (ws.cache_dir / "index.sqlite").touch(mode=0o644)
    (ws.cache_dir / "index.sqlite").chmod(0o644)
    assert ws.index() is not None
    assert _mode(ws.cache_dir) == 0o700
    assert _mode(ws.cache_dir / "index.sqlite") == 0o600


def test_refresh_reports_progress_and_what_the_index_holds(git_repo: Path) -> None:
    for i in range(3):
        (git_repo / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    ws = Workspace(git_repo, Settings())
    steps: list[IndexProgress] = []
    summary = ws.refresh(steps.append)
    assert summary.files == 3 and summary.symbols == 3
    assert steps[0].phase == "listing" and steps[-1] == IndexProgress(3, 3, "done")
    (git_repo / "m3.py").write_text("def f3():\n    return 3\n")
    assert ws.refresh().files == 3 + 1  # refresh sees the new file
    assert ws.index() is not None and "m3.py" in ws.index().files  # type: ignore[union-attr]


def test_outside_git_there_is_no_index(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, Settings())
    assert ws.index() is None and "not a git repository" in ws.index_error
    assert ws.refresh().files == 0
