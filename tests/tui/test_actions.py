"""Pilot tests: every action through its key, its slash command or the palette, asserting on
what the widgets show and on what the (fake) core received."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gemmacode.config import Settings
from gemmacode.review.findings.model import Finding
from gemmacode.session.api import ReviewSpec
from gemmacode.tui.app import GemmacodeApp
from gemmacode.tui.keys import KEYS
from gemmacode.tui.slash import COMMANDS
from gemmacode.tui.widgets.code_view import CodeView
from gemmacode.tui.widgets.conversation import ConversationView, TurnView
from gemmacode.tui.widgets.findings import FindingsList
from gemmacode.tui.widgets.prompt import PromptInput
from gemmacode.tui.widgets.repo_tree import RepoTree
from tests.fakes.core import FakeCore, ScriptedTask
from tests.tui.conftest import Copies, notices, screen_text, wait_for

pytestmark = pytest.mark.anyio

FINDINGS = (
    Finding("src/app.py", 9, 10, "high", "bug", "division by zero when b is 0", "check b"),
    Finding("src/app.py", 4, 4, "low", "style", "no type hints", ""),
)


def turns(app: GemmacodeApp) -> list[TurnView]:
    return list(app.screen.query_one(ConversationView).turns)


async def submit(pilot, line: str) -> None:  # type: ignore[no-untyped-def]
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.focus()
    prompt.value = line
    await pilot.press("enter")


async def ready(pilot, core: FakeCore) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: pilot.app.core is core and core.subscribers == 1)
    await wait_for(pilot, lambda: len(pilot.app.screen.query_one(RepoTree).snapshot.files) > 0)


async def test_review_path_streams_markdown_and_lists_findings(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    core.script = lambda label, spec: ScriptedTask(
        label, prose="## Review\n\n```python\nreturn a / b\n```\n", findings=FINDINGS
    )
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/review src/app.py:8-10")
        await wait_for(pilot, lambda: bool(turns(app)) and "finding" in screen_text(app))
        assert core.reviews == [ReviewSpec(kind="path", target="src/app.py:8-10")]
        text = screen_text(app)
        assert "› /review src/app.py:8-10" in text
        assert "Review" in text and "return a / b" in text  # heading and code block
        assert "HIGH" in text and "src/app.py:9-10" in text and "[bug]" in text
        assert "fix: check b" in text
        assert "2 findings" in text


async def test_review_key_uses_the_tree_selection(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        tree = app.screen.query_one(RepoTree)
        tree.focus()
        node = next(n for n in _nodes(tree) if n.data == "src/app.py")
        tree.move_cursor(node)
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(core.reviews))
        assert core.reviews[0].target == "src/app.py"
        await pilot.press("s", "w")  # a second review is refused while one runs, or runs after
        await wait_for(pilot, lambda: all(t.done for t in core.tasks))
        kinds = [r.kind for r in core.reviews]
        assert kinds[0] == "path" and set(kinds[1:]) <= {"staged", "working"}


def _nodes(tree: RepoTree) -> list:  # type: ignore[type-arg]
    out, todo = [], [tree.root]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(node.children)
    return out


async def test_a_large_tree_builds_a_folder_s_nodes_when_it_is_first_opened() -> None:
    from textual.app import App, ComposeResult

    from gemmacode.tui.repo_status import RepoSnapshot

    files = tuple(
        f"pkg{i}/mod{j}/file{k}.py" for i in range(10) for j in range(20) for k in range(50)
    )
    files += ("top.py",)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield RepoTree("repository")

    app = One()
    async with app.run_test(size=(80, 30)) as pilot:
        tree = app.query_one(RepoTree)
        tree.load(RepoSnapshot(files=files, skipped={"pkg0/mod0/blob.bin": "binary"}))
        await pilot.pause()
        assert len(_nodes(tree)) < 300  # not 10,000 leaves: only the open top-level folders
        assert tree.border_title == "files (10001)"
        pkg = next(n for n in tree.root.children if str(n.label) == "pkg0/")
        assert pkg.is_expanded and [str(n.label) for n in pkg.children][:2] == ["mod0/", "mod1/"]
        mod = pkg.children[0]
        assert not mod.is_expanded and not mod.children  # built when first opened
        tree.move_cursor(mod)
        tree.focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: len(mod.children) == 51)
        labels = [str(n.label) for n in mod.children]
        assert labels[0] == "blob.bin" and "file49.py" in labels
        assert [n.data for n in mod.children if str(n.label) == "file7.py"] == [
            "pkg0/mod0/file7.py"
        ]
        assert str(tree.root.children[-1].label) == "top.py"  # root files after the folders


async def test_staged_working_and_diff_commands(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        for n, line in enumerate(("/staged", "/working", "/diff main...HEAD"), 1):
            await submit(pilot, line)
            await wait_for(pilot, lambda n=n: len(core.tasks) == n and core.tasks[-1].done)  # type: ignore[misc]
            await pilot.pause(0.05)
        assert [(r.kind, r.target) for r in core.reviews] == [
            ("staged", ""),
            ("working", ""),
            ("diff", "main...HEAD"),
        ]


async def test_follow_up_questions_send_the_conversation_history(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await submit(pilot, "where is add defined?")
        await wait_for(pilot, lambda: len(core.tasks) == 1 and core.tasks[0].done)
        await pilot.pause(0.05)
        await submit(pilot, "/ask and div?")
        await wait_for(pilot, lambda: len(core.tasks) == 2 and core.tasks[1].done)
        assert core.questions[0] == ("where is add defined?", (), ())
        assert core.questions[1][0] == "and div?"
        assert core.questions[1][2] == (
            ("where is add defined?", "Answer about where is add defined?."),
        )
        # a new conversation starts without history
        await submit(pilot, "/new")
        await submit(pilot, "fresh question")
        await wait_for(pilot, lambda: len(core.tasks) == 3 and core.tasks[2].done)
        assert core.questions[2][2] == ()


async def test_escape_cancels_keeps_the_text_and_the_next_request_works(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    slow = ScriptedTask("slow", prose="word " * 400, delay_s=0.01, piece=5)
    scripts = [slow]
    core.script = lambda label, spec: scripts.pop(0) if scripts else ScriptedTask(label)
    app = build()
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/review src/app.py")
        await wait_for(pilot, lambda: "word word" in turns(app)[-1].text)
        await pilot.press("escape")
        await wait_for(pilot, lambda: slow.done)
        await pilot.pause(0.05)
        first = turns(app)[0]
        kept = first.text
        assert kept.startswith("word word") and len(kept) < len("word " * 400)
        assert "incomplete: cancelled" in screen_text(app)
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: len(core.tasks) == 2 and core.tasks[1].done)
        await pilot.pause(0.05)
        assert turns(app)[1].text == "The code looks fine."
        assert first.text == kept


async def test_typing_stays_possible_while_an_answer_streams(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    # Keys are posted as the terminal driver posts them: Pilot.press waits for the app to be
    # idle, which it never is while tokens arrive.
    from textual import events

    core.script = lambda label, spec: ScriptedTask(label, prose="x" * 3000, delay_s=0.01, piece=3)
    app = build()
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: len(turns(app)[-1].text) > 10)
        prompt = app.screen.query_one(PromptInput)
        for char in "hello":
            app.post_message(events.Key(char, char))
        await wait_for(pilot, lambda: prompt.value == "hello")
        assert not core.tasks[0].done  # typed while it streamed
        app.post_message(events.Key("escape", None))
        await wait_for(pilot, lambda: core.tasks[0].done)


async def test_enter_on_a_finding_opens_its_lines_in_the_code_view(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    core.script = lambda label, spec: ScriptedTask(label, prose="ok", findings=FINDINGS)
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: bool(app.screen.query_one(FindingsList).findings))
        await pilot.press("tab")  # leave the input
        await pilot.press("3")
        findings = app.screen.query_one(FindingsList)
        assert findings.has_focus
        await pilot.press("down", "enter")  # sorted by line: the second is the line-9 bug
        code = app.screen.query_one(CodeView)
        await wait_for(pilot, lambda: code.path == "src/app.py")
        assert code.selected_text.strip() == "return a / b"  # lines 9-10 of src/app.py
        assert "src/app.py:9-10" in screen_text(app)
        await pilot.press("escape")  # no task running: Esc closes the code view
        assert not app.screen.has_class("-code-open")


async def test_on_a_wide_terminal_findings_sit_beside_the_prose_and_below_it_with_code_open(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    core.script = lambda label, spec: ScriptedTask(label, prose="ok", findings=FINDINGS)
    app = build()
    async with app.run_test(notifications=True, size=(180, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/staged")
        findings = app.screen.query_one(FindingsList)
        await wait_for(pilot, lambda: bool(findings.findings))
        await pilot.pause(0.05)
        prose = app.screen.query_one(ConversationView).region
        assert findings.region.x >= prose.right and findings.region.y == prose.y  # beside
        await pilot.press("tab", "3", "enter")
        code = app.screen.query_one(CodeView)
        await wait_for(pilot, lambda: code.path == "src/app.py")
        await pilot.pause(0.05)
        prose = app.screen.query_one(ConversationView).region
        assert code.region.width > 0 and code.region.x >= prose.right  # the code on the right
        assert findings.region.y >= prose.bottom  # and the findings below the prose again


async def test_model_picker_lists_fit_and_switches(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(120, 30)) as pilot:
        await ready(pilot, core)
        await pilot.press("tab", "m")
        await wait_for(pilot, lambda: "fits the GPU now" in screen_text(app))
        text = screen_text(app)
        assert "yes, up to 65536" in text and "no: needs 19.4 GB at 8K" in text
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: core.model_changes == ["gemma4:e2b"])
        await wait_for(pilot, lambda: "gemma4:e2b" in screen_text(app).splitlines()[0])
        await submit(pilot, "/model gemma4:31b")
        await wait_for(pilot, lambda: core.model_changes[-1] == "gemma4:31b")


async def test_ctx_pins_and_returns_to_auto(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/ctx 4096")
        await wait_for(pilot, lambda: "ctx 4096 pinned" in screen_text(app))
        await submit(pilot, "/ctx auto")
        await wait_for(pilot, lambda: core.ctx_pins == [4096, None])
        assert "pinned" not in screen_text(app).splitlines()[0]
        await submit(pilot, "/ctx 12")
        await pilot.pause(0.05)
        assert core.ctx_pins == [4096, None]  # refused with a message
        assert "at least 512" in notices(app)


async def test_copy_answer_code_and_finding(
    build: Callable[..., GemmacodeApp], core: FakeCore, copies: Copies
) -> None:
    prose = "Look:\n\n```python\nx = 1\n```\n\nand\n\n```python\ny = 2\n```\n"
    core.script = lambda label, spec: ScriptedTask(label, prose=prose, findings=FINDINGS)
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/copy")
        assert copies.texts == []  # nothing yet: said so
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        await pilot.pause(0.05)
        await submit(pilot, "/copy")
        await submit(pilot, "/copy code")
        await submit(pilot, "/copy finding")
        assert copies.texts[0] == prose
        assert copies.texts[1] == "y = 2\n"
        assert copies.texts[2].startswith("src/app.py:4 [low, style] no type hints")
        assert copies.osc52 == copies.texts
        assert "Nothing to copy" in notices(app) and "OSC 52" in notices(app)


async def test_export_json_and_sarif(
    build: Callable[..., GemmacodeApp], core: FakeCore, repo: Path
) -> None:
    core.script = lambda label, spec: ScriptedTask(label, prose="ok", findings=FINDINGS)
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        await pilot.pause(0.05)
        await submit(pilot, "/export json")
        await submit(pilot, "/export sarif out/review.sarif")
    doc = json.loads((repo / "gemmacode-findings.json").read_text())
    assert doc["schema_version"] == 1
    assert [f["line"] for f in doc["findings"]] == [4, 9]
    sarif = json.loads((repo / "out" / "review.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"][0]["results"]) == 2
    assert (repo / "gemmacode-findings.json").stat().st_mode & 0o777 == 0o600


async def test_sessions_resume_a_past_conversation(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "first question")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        await pilot.pause(0.05)
        await submit(pilot, "/new")
        await wait_for(pilot, lambda: not turns(app))
        await submit(pilot, "/sessions")
        await wait_for(pilot, lambda: "conversations (enter resumes" in screen_text(app))
        assert "first question" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(turns(app)) == 1)
        assert turns(app)[0].text == "Answer about first question."
        await submit(pilot, "and a follow-up")
        await wait_for(pilot, lambda: len(core.tasks) == 2 and core.tasks[1].done)
        assert core.questions[1][2] == (("first question", "Answer about first question."),)


async def test_help_screen_lists_every_key_and_command(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    settings = Settings()
    settings.tui.keys = {"review": "f5"}
    app = build(settings=settings)
    async with app.run_test(notifications=True, size=(120, 150)) as pilot:
        await ready(pilot, core)
        await pilot.press("f1")
        await wait_for(pilot, lambda: "help (esc closes)" in screen_text(app))
        await pilot.pause(0.1)
        text = screen_text(app)
        for key in KEYS:
            assert f"({key.id})" in text, key.id
        for command in COMMANDS:
            assert f"/{command.name}" in text, command.name
        assert "f5" in text  # as remapped
        await pilot.press("escape")
        await wait_for(pilot, lambda: "help (esc closes)" not in screen_text(app))


async def test_palette_runs_actions(build: Callable[..., GemmacodeApp], core: FakeCore) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await pilot.press("ctrl+p")
        await pilot.press(*"staged")
        await wait_for(pilot, lambda: "review the staged changes" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: [r.kind for r in core.reviews] == ["staged"])


async def test_reindex_shows_progress_and_the_ui_stays_usable(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    import threading

    gate = threading.Event()
    core.workspace.gate = gate
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "indexing 25/100" in screen_text(app))
        await submit(pilot, "a question while indexing")  # usable meanwhile
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        gate.set()
        await wait_for(pilot, lambda: "100 files, 400 symbols" in screen_text(app))
        core.workspace.gate = None
        await submit(pilot, "/index")
        await wait_for(pilot, lambda: core.workspace.refreshes == 2)


async def test_bad_commands_say_what_to_type(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "/revew x.py")
        await wait_for(pilot, lambda: "did you mean /review" in notices(app))
        assert core.reviews == []


async def test_slash_completion_accepts_with_tab(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        prompt = app.screen.query_one(PromptInput)
        prompt.focus()
        await pilot.press(*"/rev")
        await pilot.pause(0.05)
        await pilot.press("tab")
        assert prompt.value == "/review "
        await pilot.press(*"src/a")
        await pilot.pause(0.05)
        await pilot.press("tab")
        assert prompt.value == "/review src/app.py"


async def test_quit_key(build: Callable[..., GemmacodeApp], core: FakeCore) -> None:
    app = build()
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await pilot.press("tab", "q")
        await asyncio.sleep(0.05)
    assert app.return_code == 0 or app.return_code is None
    assert core.subscribers == 0  # the session's subscription was released


async def test_remapped_key_runs_its_action(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    settings = Settings()
    settings.tui.keys = {"staged": "f6"}
    app = build(settings=settings)
    async with app.run_test(notifications=True) as pilot:
        await ready(pilot, core)
        await pilot.press("f6")  # works even from the input line: not a text key
        await wait_for(pilot, lambda: [r.kind for r in core.reviews] == ["staged"])


async def test_the_pane_follows_the_bottom_only_while_the_user_is_there(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    from gemmacode.tui.widgets.conversation import ConversationView

    prose = "".join(f"Paragraph {i}: some words about the code.\n\n" for i in range(60))
    first = ScriptedTask("one", prose=prose, hold_at=len(prose) // 2, piece=40)
    second = ScriptedTask("two", prose=prose, piece=40)
    scripts = [first, second]
    core.script = lambda label, spec: scripts.pop(0)
    app = build()
    async with app.run_test(notifications=True, size=(100, 30)) as pilot:
        await ready(pilot, core)
        pane = app.screen.query_one(ConversationView)
        await submit(pilot, "/staged")
        await wait_for(pilot, lambda: first.streamed and pane.max_scroll_y > 5)
        await pilot.pause(0.1)
        assert pane.scroll_y == pane.max_scroll_y  # following while at the bottom
        pane.focus()
        await pilot.press("home")  # the user scrolls up to read
        await pilot.pause(0.1)
        first.release.set()
        await wait_for(pilot, lambda: first.done)
        await pilot.pause(0.2)
        assert pane.scroll_y == 0  # left where the user put it
        assert pane.max_scroll_y > 20
        await pilot.press("end")  # back at the bottom: following again
        await submit(pilot, "/working")
        await wait_for(pilot, lambda: second.done)
        await pilot.pause(0.2)
        assert pane.scroll_y == pane.max_scroll_y
