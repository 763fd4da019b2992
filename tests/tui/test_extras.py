"""The app with its real helpers: conversations stored on disk (and resumed after a restart),
/copy through the clipboard module, the tree's git markers and /diff completion from
RepoState, and GitPython's child stopped when the app exits."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gemmacode.config import Settings
from gemmacode.session.conversations import ConversationStore, Sampling
from gemmacode.tui.app import GemmacodeApp
from gemmacode.tui.clipboard import FILE_NAME, osc52, terminal_copy
from gemmacode.tui.stored import PersistentStore
from gemmacode.tui.widgets.conversation import ConversationView, TurnView
from gemmacode.tui.widgets.prompt import PromptInput
from gemmacode.tui.widgets.repo_tree import RepoTree
from tests.conftest import git
from tests.fakes.core import FakeCore, ScriptedTask
from tests.tui.conftest import notices, screen_text, wait_for
from tests.tui.test_actions import ready, submit

pytestmark = pytest.mark.anyio


def _turns(app: GemmacodeApp) -> list[TurnView]:
    return list(app.screen.query_one(ConversationView).turns)


def _git_children() -> list[str]:
    me, out = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me and "cat-file" in cmd:
                out.append(cmd)
    return out


async def test_answers_are_stored_with_what_reproduces_them_and_resume_after_restart(
    build: Callable[..., GemmacodeApp], core: FakeCore, repo: Path
) -> None:
    settings = Settings()
    settings.sampling.temperature, settings.sampling.seed = 0.1, 42
    core.script = lambda label, spec: ScriptedTask(label, prose="Looks **fine**.", num_ctx=4096)
    app = build(settings=settings)
    assert isinstance(app.store, PersistentStore)  # the default: on disk
    app.store.digests["gemma4:e4b"] = "sha256:feed"
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        await submit(pilot, "where is add?")
        await wait_for(pilot, lambda: len(core.tasks) == 2 and core.tasks[1].done)
        await pilot.pause(0.05)
    with ConversationStore.open(repo, settings) as store:
        (summary,) = store.conversations()
        stored = store.turns(summary.id)
    assert [(t.kind, t.prompt, t.outcome) for t in stored] == [
        ("review", "/staged", "done"),
        ("ask", "where is add?", "done"),
    ]
    first = stored[0]
    assert first.answer == "Looks **fine**." and first.model == "gemma4:e4b"
    assert (first.num_ctx, first.model_digest) == (4096, "sha256:feed")
    assert first.sampling == Sampling(0.1, 0.9, 40, 42, 1024)

    # A new process: --resume opens it, and a follow-up carries its history.
    app = build(settings=settings, resume=True)
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await wait_for(pilot, lambda: [t.text for t in _turns(app)][1:] == ["Looks **fine**."])
        await submit(pilot, "and div?")
        await wait_for(pilot, lambda: len(core.tasks) == 3 and core.tasks[2].done)
        assert core.questions[-1][2] == (("where is add?", "Looks **fine**."),)
        await pilot.pause(0.05)
    with ConversationStore.open(repo, settings) as store:
        assert len(store.conversations()) == 1
        assert [t.prompt for t in store.turns(summary.id)][-1] == "and div?"


async def test_new_leaves_the_old_conversation_on_disk_and_empty_ones_are_not_written(
    build: Callable[..., GemmacodeApp], core: FakeCore, repo: Path
) -> None:
    app = build()
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/new")
        await submit(pilot, "one")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        await pilot.pause(0.05)
        await submit(pilot, "/new")
        await submit(pilot, "/new")
    with ConversationStore.open(repo, Settings()) as store:
        assert [s.title for s in store.conversations()] == ["one"]


async def test_resume_with_nothing_stored_says_so(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build(resume=True)
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        assert "No past conversation" in notices(app)


async def test_copy_goes_through_the_terminal_writer_and_the_file(
    build: Callable[..., GemmacodeApp], core: FakeCore, tmp_path: Path
) -> None:
    core.script = lambda label, spec: ScriptedTask(label, prose="Use:\n```py\nx = 1\n```\n")
    app = build(copy=terminal_copy(tmp_path / "clip", env={}))
    written: list[str] = []
    app.write_terminal = written.append  # type: ignore[method-assign]
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        await pilot.pause(0.05)
        await submit(pilot, "/copy code")
        await wait_for(pilot, lambda: "Copied code" in notices(app))
    assert written == [osc52("x = 1\n")]
    assert (tmp_path / "clip" / FILE_NAME).read_text() == "x = 1\n"
    assert "OSC 52" in notices(app) and str(tmp_path / "clip" / FILE_NAME) in notices(app)


async def test_tree_markers_diff_completion_and_gitpython_closed_on_exit(
    build: Callable[..., GemmacodeApp], core: FakeCore, repo: Path
) -> None:
    git(repo, "branch", "feature")
    git(repo, "tag", "v0.1")
    (repo / "notes.txt").write_text("untracked")
    before = _git_children()
    app = build()
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        snapshot = app.screen.query_one(RepoTree).snapshot
        assert snapshot.markers == {
            "README.md": "staged",
            "src/app.py": "changed",
            "notes.txt": "untracked",
        }
        assert {"HEAD", "main", "feature", "v0.1"} <= set(snapshot.revisions)
        prompt = app.screen.query_one(PromptInput)
        prompt.focus()
        for line, expected in (
            ("/diff fe", "/diff feature"),
            ("/diff main..v", "/diff main..v0.1"),
        ):
            prompt.value = ""
            await pilot.press(*line)
            await wait_for(pilot, lambda: prompt._suggestion == expected)  # noqa: B023
            await pilot.press("tab")
            assert prompt.value == expected
        assert _git_children() != before  # GitPython's cat-file child runs while the app does
    assert _git_children() == before


async def test_the_core_is_opened_once_after_the_first_paint(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    import contextlib

    opened: list[float] = []

    @contextlib.asynccontextmanager
    async def counting():  # type: ignore[no-untyped-def]
        opened.append(1)
        yield core

    app = build(opener=counting)
    async with app.run_test() as pilot:
        await ready(pilot, core)
        await pilot.pause(0.2)
        assert opened == [1]


async def test_a_long_streamed_answer_is_kept_whole_in_segments_that_never_split_code(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    from gemmacode.tui.widgets.conversation import _fences

    section = "## Part {n}\n\nSome words about it.\n\n```py\nx = {n}\n\ny = x * 2\n```\n\n"
    prose = "".join(section.format(n=n) for n in range(150)) + "END"
    core.script = lambda label, spec: ScriptedTask(label, prose=prose, piece=37, delay_s=0.005)
    app = build()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "long one")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done, timeout=30)
        await pilot.pause(0.3)
        answer = _turns(app)[0].answer
        assert len(answer.segments) >= 2  # finished parts drawn once, not on every batch
        assert "".join(answer.segments) + answer.tail == prose == _turns(app)[0].text
        assert all(_fences(part) % 2 == 0 for part in answer.segments)  # never inside code
        assert all(part.count("x = ") == part.count("y = x * 2") for part in answer.segments)
        shown = screen_text(app)
        assert "END" in shown and "x = 149" in shown  # the pane followed to the end
        assert "```" not in shown  # every code block drawn as code, none left open


async def ask_in_turn(pilot: Any, core: FakeCore, count: int) -> None:
    """Ask ``count`` questions, each once the one before has been answered."""
    for n in range(count):
        await submit(pilot, f"question {n}")
        await wait_for(pilot, lambda n=n: len(core.tasks) == n + 1 and core.tasks[n].done)


async def test_turns_far_out_of_view_drop_their_drawn_lines_and_draw_again_when_scrolled_to(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    long = "".join(f"Line {n} of a long answer.\n\n" for n in range(60))
    core.script = lambda label, spec: ScriptedTask(label, prose=f"START {label}\n\n" + long)
    app = build()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, core)
        await ask_in_turn(pilot, core, 6)
        await pilot.pause(0.3)
        view = app.screen.query_one(ConversationView)
        height = view.virtual_size.height
        assert not view.turns[0].drawn and view.turns[-1].drawn  # only what is near the view
        view.scroll_home(animate=False, immediate=True)
        await pilot.pause(0.2)
        assert "START" in screen_text(app) and "question 0" in screen_text(app)
        assert view.turns[0].drawn and not view.turns[-2].drawn  # the last one stays drawn
        assert view.virtual_size.height == height  # heights were kept, nothing jumps


async def test_a_resize_keeps_the_bottom_in_view_or_the_same_text_at_the_top(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    lines = "".join(
        f"Sentence {n} is long enough to wrap at a narrower width.\n\n" for n in range(40)
    )
    core.script = lambda label, spec: ScriptedTask(label, prose=lines + f"END of {label}")
    app = build()
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot, core)
        await ask_in_turn(pilot, core, 2)
        await pilot.pause(0.2)
        assert "END of" in screen_text(app)
        await pilot.resize_terminal(70, 30)  # every line wraps again: the pane grows taller
        await pilot.pause(0.2)
        assert "END of" in screen_text(app)  # still following the bottom
        view = app.screen.query_one(ConversationView)
        view.scroll_to(y=view._starts[1] + 20, animate=False, immediate=True)  # reading
        await pilot.pause(0.1)
        top = view_lines(app)[0]
        await pilot.resize_terminal(120, 30)
        await pilot.pause(0.2)
        shown = "\n".join(view_lines(app))
        assert top.split()[1] in shown.split()  # the sentence read before is still in view
        assert "END of" not in shown


def view_lines(app: GemmacodeApp) -> list[str]:
    """The conversation pane's lines that show a sentence, from the sentence on."""
    rows = screen_text(app).splitlines()
    return [row[row.index("Sentence") :].rstrip("│ ") for row in rows if "Sentence" in row]


async def test_one_blank_line_after_the_request_and_a_code_block_keeps_its_padding(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    """Rich starts a list with a blank line of its own and ends a code block with a padding
    line the colour of the block: the first is dropped, the second kept."""
    prose = "1. First\n2. Second\n\n```py\nx = 1\n```"
    core.script = lambda label, spec: ScriptedTask(label, prose=prose)
    app = build()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, core)
        await ask_in_turn(pilot, core, 1)
        await pilot.pause(0.2)
        view = app.screen.query_one(ConversationView)
        text = [line.text.strip() for line in view.turns[0].lines(view._width)]
        assert text[:3] == ["› question 0", "", "1 First"]
        code = text.index("x = 1")
        assert text[code + 1] == ""  # the padding line under the code
        padding = view.turns[0].lines(view._width)[code + 1]
        assert any(seg.style and seg.style.bgcolor != view.rich_style.bgcolor for seg in padding)


def test_an_answer_splits_only_where_markdown_means_the_same_in_parts() -> None:
    from gemmacode.tui.widgets.conversation import Answer

    answer = Answer()
    text = "1. First item\n\n   More about it, indented under the item.\n\n2. Second\n\n"
    for piece in (text[i : i + 5] for i in range(0, len(text), 5)):
        answer.extend(piece)
    # the continuation stays with its item; the next item starts a new part
    assert answer.segments == ["1. First item\n\n   More about it, indented under the item.\n\n"]
    assert answer.tail == "2. Second\n\n"
    answer.extend("```py\na = 1\n\nb = 2\n")  # inside an open code block: no cut
    assert len(answer.segments) == 2 and answer.tail.startswith("```py")
    answer.extend("```\n\nDone.")
    assert answer.tail == "Done." and answer.source == text + "```py\na = 1\n\nb = 2\n```\n\nDone."
