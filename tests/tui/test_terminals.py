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
