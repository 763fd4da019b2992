"""The repository tree: the files the index covers, changed and staged ones marked, skipped
ones dimmed with their reason in the detail line under the tree.

Filled from a :class:`~gemmacode.tui.repo_status.RepoSnapshot`; the highlighted file is what
``r`` (``/review`` without a path) reviews.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from gemmacode.tui.repo_status import Marker, RepoSnapshot

MARKS: dict[Marker, tuple[str, str]] = {
    "staged": ("+", "green"),
    "changed": ("~", "yellow"),
    "both": ("±", "yellow"),
    "untracked": ("?", "cyan"),
}
WORDS: dict[Marker, str] = {
    "staged": "staged",
    "changed": "changed, not staged",
    "both": "staged, and changed since",
    "untracked": "untracked",
}


class RepoTree(Tree[str]):
    """Node data is the file's path relative to the root ("" for folders)."""

    DEFAULT_CSS = """
    RepoTree { border: round $panel-lighten-2; border-subtitle-color: $text-muted; }
    RepoTree:focus { border: round $accent; }
    """

    def __init__(self, label: str, **kwargs: object) -> None:
        super().__init__(label, data="", **kwargs)  # type: ignore[arg-type]
        self.snapshot = RepoSnapshot(files=())
        self.border_title = "files"
        self.show_root = False
        self.guide_depth = 2

    def load(self, snapshot: RepoSnapshot) -> None:
        self.snapshot = snapshot
        self.clear()
        folders: dict[str, TreeNode[str]] = {"": self.root}
        entries: list[tuple[str, str | None]] = [(p, None) for p in snapshot.files]
        entries += [(p, reason) for p, reason in snapshot.skipped.items()]
        for path, reason in sorted(entries, key=lambda e: (e[0].count("/") == 0, e[0])):
            parent = self._folder(folders, path.rpartition("/")[0])
            name = path.rpartition("/")[2]
            label = Text(name)
            marker = snapshot.markers.get(path)
            if reason is not None:
                label.stylize("dim")
            elif marker is not None:
                mark, style = MARKS[marker]
                label = Text.assemble((f"{mark} ", style), (name, style))
            parent.add_leaf(label, data=path)
        self.root.expand()
        self.border_title = f"files ({len(snapshot.files)})"

    def _folder(self, folders: dict[str, TreeNode[str]], path: str) -> TreeNode[str]:
        if path in folders:
            return folders[path]
        parent = self._folder(folders, path.rpartition("/")[0])
        node = parent.add(Text(path.rpartition("/")[2] + "/", style="bold"), data="")
        if path.count("/") == 0 and len(folders) < 8:
            node.expand()
        folders[path] = node
        return node

    @property
    def selected_path(self) -> str | None:
        """The highlighted file (None on a folder, or when nothing is highlighted)."""
        node = self.cursor_node
        return node.data if node is not None and node.data else None

    def detail(self, path: str | None) -> str:
        """The detail line for ``path``: why it is skipped, or its git state."""
        if not path:
            return ""
        if path in self.snapshot.skipped:
            return f"skipped: {self.snapshot.skipped[path]}"
        marker = self.snapshot.markers.get(path)
        return WORDS[marker] if marker else ""

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        self.border_subtitle = self.detail(event.node.data)
