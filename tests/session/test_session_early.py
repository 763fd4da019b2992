"""A diff begun at start-up (session/early.py): the review takes the same target and the
running search instead of doing them again, sends exactly what it would have sent, and a
search nobody takes is stopped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmacode.config import Settings, load_settings
from gemmacode.review import related as related_mod
from gemmacode.session.api import ReviewSpec
from gemmacode.session.core import open_session
from gemmacode.session.early import begin_diff
from gemmacode.session.startup import Prewarm, prewarm
from tests.conftest import git

UTIL = "def helper(x, n):\n    return x + n\n\n\ndef other(y):\n    return helper(y, 2)\n"
APP = "".join(f"def step_{i}(x):\n    return helper(x, {i})\n" for i in range(40))


@pytest.fixture
def repo(git_repo: Path) -> Iterator[Path]:
    (git_repo / "util.py").write_text(UTIL)
    (git_repo / "app.py").write_text(APP)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base")
    (git_repo / "app.py").write_text(APP.replace("helper(x, 7)", "helper(x, 70)"))
    git(git_repo, "add", "app.py")
    yield git_repo


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every GrepRelated whose search was started (once each; prime() asks again)."""
    started: list[Any] = []
    real = related_mod.GrepRelated.start

    def start(self: Any, names: Any, languages: Any = ()) -> None:
        if not any(s is self for s in started):
            started.append(self)
        real(self, names, languages)

    monkeypatch.setattr(related_mod.GrepRelated, "start", start)
    return started


def pinned(repo: Path) -> Settings:
    return load_settings(repo, {}, {"context.num_ctx": 8192})


def explain(repo: Path, spec: ReviewSpec, warm: Prewarm | None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with open_session(pinned(repo), root=repo, warm=warm, git_root=True) as core:
            found = await core.explain_review(spec)
            assert found.doc is not None
            return found.doc

    return asyncio.run(go())


def test_a_review_takes_the_diff_begun_early_and_sends_the_same(
    repo: Path, searches: list[Any]
) -> None:
    plain = explain(repo, ReviewSpec("staged", prose=False), None)
    assert len(searches) == 1
    warm = prewarm(pinned(repo), client=False)
    try:
        warm.begin_diff("staged", "", root=repo, settings=pinned(repo))
        assert warm.diff is not None and len(searches) == 2  # running before the core loads
        early = explain(repo, ReviewSpec("staged", prose=False), warm)
        assert warm.diff.taken and len(searches) == 2  # taken, not searched again
    finally:
        warm.close()
    assert json.dumps(early, sort_keys=True) == json.dumps(plain, sort_keys=True)
    assert "helper(x, 70)" in json.dumps(early) and "util.py" in json.dumps(early)


def test_another_spec_reads_its_own_diff_and_the_early_search_is_stopped(
    repo: Path, tmp_path: Path, searches: list[Any]
) -> None:
    other_index = tmp_path / "index"  # a commit hook's temporary index: nothing staged in it
    git(repo, "read-tree", f"--index-output={other_index}", "HEAD")
    warm = prewarm(pinned(repo), client=False)
    warm.begin_diff("staged", "", root=repo, settings=pinned(repo), index_file=other_index)
    assert warm.diff is None  # nothing staged in that index: nothing begun
    warm.begin_diff("staged", "", root=repo, settings=pinned(repo))
    early = warm.diff
    assert early is not None
    (repo / "util.py").write_text(UTIL.replace("x + n", "x - n"))  # not staged
    try:
        doc = explain(repo, ReviewSpec("working", prose=False), warm)  # not the staged diff
        assert not early.taken and len(searches) == 2
    except Exception:
        warm.close()
        raise
    warm.close()
    assert early.taken and early.related._proc is None and early.related._out is None
    assert {f for r in doc["requests"] for f in r["files"]} == {"util.py"}
    assert "x - n" in json.dumps(doc)


def test_begin_diff_outside_a_repository_or_with_nothing_changed(
    repo: Path, tmp_path: Path
) -> None:
    index = Settings().index
    assert begin_diff("staged", "", root=tmp_path, index_settings=index) is None
    git(repo, "commit", "-qm", "all in")
    assert begin_diff("staged", "", root=repo, index_settings=index) is None
    began = begin_diff("diff", "HEAD~1..HEAD", root=repo, index_settings=index)
    assert began is not None and [f.path for f in began.target.files] == ["app.py"]
    began.close()


@pytest.mark.parametrize("where", ["root", "subfolder"])
def test_review_staged_reads_its_diff_early_from_any_folder_of_the_work_tree(
    repo: Path,
    searches: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    from gemmacode.cli import main
    from gemmacode.session import startup

    began: list[Any] = []
    real = startup.Prewarm.begin_diff

    def recording(self: startup.Prewarm, *args: Any, **kw: Any) -> None:
        real(self, *args, **kw)
        began.append(self.diff)

    monkeypatch.setattr(startup.Prewarm, "begin_diff", recording)
    folder = repo / "sub"
    folder.mkdir()
    monkeypatch.chdir(repo if where == "root" else folder)
    args = ["review", "--staged", "--explain-context", "--num-ctx", "8192", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "helper(x, 70)" in json.dumps(doc)
    # begun before the core loaded, taken by the review: one search in all
    (early,) = began
    assert early is not None and early.taken and len(searches) == 1
