"""Terminal conditions the UI must respect: NO_COLOR, a light or 16-colour theme."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.filter import Monochrome

from gemmacode.config import Settings
from gemmacode.tui.app import GemmacodeApp
from tests.fakes.core import FakeCore
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio


async def test_no_color_renders_monochrome(
    build: Callable[..., GemmacodeApp], core: FakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = build()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: core.subscribers == 1)
        assert app.no_color
        assert any(isinstance(f, Monochrome) for f in app._filters)


@pytest.mark.parametrize("theme", ["textual-light", "ansi-dark", "ansi-light"])
async def test_theme_setting_is_applied(
    build: Callable[..., GemmacodeApp], core: FakeCore, theme: str
) -> None:
    settings = Settings()
    settings.tui.theme = theme
    app = build(settings=settings)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: core.subscribers == 1)
        assert app.theme == theme


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_answers_take_their_colours_from_the_theme(
    build: Callable[..., GemmacodeApp], core: FakeCore, theme: str
) -> None:
    """Inline code in the theme's accent (Rich's own is cyan on black, whatever the theme),
    and the muted meta line a colour of its own that is not the background's."""
    from rich.color import Color

    from gemmacode.tui.widgets.conversation import ConversationView
    from tests.fakes.core import ScriptedTask
    from tests.tui.test_actions import ready, submit

    core.script = lambda label, spec: ScriptedTask(label, prose="Call `div` first.")
    settings = Settings()
    settings.tui.theme = theme
    app = build(settings=settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, core)
        await submit(pilot, "question")
        await wait_for(pilot, lambda: bool(core.tasks) and core.tasks[0].done)
        await pilot.pause(0.2)
        view = app.screen.query_one(ConversationView)
        lines = view.turns[0].lines(view._width)
        segments = [seg for line in lines for seg in line]
        code = next(seg for seg in segments if seg.text == "div")
        accent = Color.parse(app.current_theme.to_color_system().generate()["text-accent"])
        assert code.style is not None and code.style.bold
        assert code.style.color is not None
        assert code.style.color.get_truecolor() == accent.get_truecolor()
        assert code.style.bgcolor != Color.parse("black")
        meta = next(seg for seg in segments if "finding" in seg.text or " s" in seg.text)
        background = view.rich_style.bgcolor
        assert meta.style is not None and meta.style.color is not None
        assert background is not None and meta.style.color != background
        assert meta.style.color != view.rich_style.color  # muted, not the plain text colour
