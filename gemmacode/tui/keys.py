"""Key bindings: one table, with an id per action so users can remap them.

Every action id here is also a slash command (``gemmacode.tui.slash``) and a palette entry,
except the few that only move focus. Defaults avoid keys terminals commonly swallow or
repurpose: no shift+enter, no ctrl+tab, no ctrl+s/ctrl+q flow control (ctrl+q is Textual's
own quit and is kept as a second way out), no ctrl+h/ctrl+i/ctrl+m (backspace, tab, enter).

Letter keys act when the focus is not in the input line (the input takes text first); Esc,
F1 and ctrl+p work everywhere. ``tui.keys`` in the config maps ids to other keys, in
Textual's key names (``"review" = "f5"``, ``"help" = "f1,question_mark"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gemmacode.errors import ConfigError


@dataclass(frozen=True)
class Key:
    id: str  # the action id, and the keymap id
    keys: str  # Textual key names, comma-separated
    label: str  # the footer's word
    show: bool = False  # in the footer
    priority: bool = False  # before the focused widget (Esc must beat the input)


KEYS: tuple[Key, ...] = (
    Key("cancel", "escape", "cancel", show=True, priority=True),
    Key("help", "f1,question_mark", "help", show=True),
    Key("review", "r", "review file", show=True),
    Key("staged", "s", "staged", show=True),
    Key("working", "w", "working"),
    Key("diff", "d", "diff…"),
    Key("ask", "a", "ask", show=True),
    Key("slash", "slash", "command"),
    Key("model", "m", "model", show=True),
    Key("ctx", "t", "context size"),
    Key("copy", "y", "copy", show=True),
    Key("export", "e", "export"),
    Key("index", "i", "re-index"),
    Key("new", "n", "new"),
    Key("sessions", "o", "sessions"),
    Key("code", "v", "code view"),
    Key("focus_tree", "1", "tree"),
    Key("focus_conversation", "2", "conversation"),
    Key("focus_findings", "3", "findings"),
    Key("focus_input", "4", "input"),
    Key("quit", "q", "quit", show=True),
)
IDS = frozenset(k.id for k in KEYS)


def keymap(user: Mapping[str, str]) -> dict[str, str]:
    """The user's ``tui.keys`` checked against the known ids (a typo is an error with the
    list, not a silently dead key)."""
    for key_id, keys in user.items():
        if key_id not in IDS:
            raise ConfigError(
                f"tui.keys: unknown action '{key_id}'",
                f"use one of {', '.join(sorted(IDS))}",
            )
        if not keys.strip():
            raise ConfigError(f"tui.keys: '{key_id}' has no key", 'give a key, e.g. "f5"')
    return dict(user)
