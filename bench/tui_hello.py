"""The floor for start-up benches: Textual's hello world with one input, nothing else.

python bench/tui_hello.py
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, Static


class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("hello, world")
        yield Input(placeholder="type here")


if __name__ == "__main__":
    Hello().run()
