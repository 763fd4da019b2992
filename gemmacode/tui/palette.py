"""The command palette (ctrl+p): every action by name, the same ids as keys and slash
commands. An action that needs an argument puts its slash command in the input line."""

from __future__ import annotations

from textual.command import Hit, Hits, Provider

from gemmacode.tui.keys import KEYS
from gemmacode.tui.slash import BY_NAME


def entries() -> list[tuple[str, str, str]]:
    """(action id, title, help) for every action."""
    out = []
    for key in KEYS:
        command = BY_NAME.get(key.id)
        title = f"/{command.name} {command.usage}".strip() if command else key.label
        out.append((key.id, title, command.help if command else f"{key.label} ({key.keys})"))
    return out


class ActionsProvider(Provider):
    async def search(self, query: str) -> Hits:
        from gemmacode.tui.screens.main import MainScreen

        screen = self.screen  # the screen the palette was opened from
        if not isinstance(screen, MainScreen):
            return
        matcher = self.matcher(query)
        for action, title, help_text in entries():
            score = matcher.match(f"{title} {help_text}")
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    lambda a=action: screen.perform(a),
                    help=help_text,
                )
