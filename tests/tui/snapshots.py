"""Snapshot comparison for the UI's main states, without pytest-textual-snapshot.

pytest-textual-snapshot 1.1.0 pins syrupy 4.8.0, which needs pytest below 9, and this project
runs pytest 9; rather than hold the whole suite back, this module does the plugin's job with
Textual's own public pieces: run the app with ``run_test`` at a fixed size, let a callback
bring it to a state, freeze the cursor, then compare what the screen shows with the stored
files under ``__snapshots__/``: ``NAME.txt`` (the characters, for a readable diff) and
``NAME.svg`` (``App.export_screenshot``, which also holds the colours). Set
``UPDATE_SNAPSHOTS=1`` to (re)write them after checking the new look by eye.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.widgets import Input

from gemmacode.tui.app import GemmacodeApp
from tests.tui.conftest import screen_text, wait_for

SNAPSHOTS = Path(__file__).parent / "__snapshots__"


def _normalize_svg(svg: str) -> str:
    # Rich names the SVG's classes after a hash of the content and a random id.
    return re.sub(r"terminal-\d+-", "terminal-", svg)


async def compare(
    name: str,
    app: GemmacodeApp,
    run_before: Callable[[Any], Awaitable[None]],
    size: tuple[int, int] = (80, 24),
) -> None:
    """Bring ``app`` to a state with ``run_before(pilot)`` and compare it with snapshot
    ``name``; raises AssertionError with a diff of the text when it differs."""
    async with app.run_test(size=size, notifications=True) as pilot:
        for widget in app.query(Input):
            widget.cursor_blink = False
        await run_before(pilot)
        for widget in app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.pause(0.1)
        # the footer fills in after the first paint: wait for the last line on a busy machine
        await wait_for(pilot, lambda: screen_text(app).splitlines()[-1].strip() != "")
        await pilot.pause(0.05)
        text = screen_text(app)
        svg = _normalize_svg(app.export_screenshot(title=name))
    text_path, svg_path = SNAPSHOTS / f"{name}.txt", SNAPSHOTS / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        text_path.write_text(text)
        svg_path.write_text(svg)
        return
    if not text_path.exists():
        raise AssertionError(f"no snapshot {name}: run with UPDATE_SNAPSHOTS=1")
    expected = text_path.read_text()
    if text != expected:
        diff = "\n".join(
            difflib.unified_diff(expected.splitlines(), text.splitlines(), "stored", "now")
        )
        raise AssertionError(f"snapshot {name} differs:\n{diff}")
    assert svg == _normalize_svg(svg_path.read_text()), f"snapshot {name}: colours differ"
