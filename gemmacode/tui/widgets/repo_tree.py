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
        self._children: dict[str, list[tuple[str, str | None]]] = {}
        self._pending: dict[int, str] = {}  # node id -> the folder it shows once expanded
        self.show_root = False
        self.guide_depth = 2

    def load(self, snapshot: RepoSnapshot) -> None:
        """Show ``snapshot``. Folders get their nodes when first expanded: a large repository
        (18,000 files) took the event loop 0.6 s to build them all, and few are ever opened."""
        self.snapshot = snapshot
        self.clear()
        entries: list[tuple[str, str | None]] = [(p, None) for p in snapshot.files]
        entries += [(p, reason) for p, reason in snapshot.skipped.items()]
        children: dict[str, list[tuple[str, str | None]]] = {}  # folder -> its entries
        seen: set[str] = set()
        for path, reason in entries:
            folder = path.rpartition("/")[0]
            children.setdefault(folder, []).append((path, reason))
            while folder and folder not in seen:  # each folder once in its parent ("x/")
                seen.add(folder)
                parent = folder.rpartition("/")[0]
                children.setdefault(parent, []).append((folder + "/", None))
                folder = parent
        self._children = children
        self._pending = {}
        self._fill(self.root, "")
        self.root.expand()
        self.border_title = f"files ({len(snapshot.files)})"

    def _fill(self, node: TreeNode[str], folder: str) -> None:
        """Add ``folder``'s entries under ``node``: its subfolders (empty until expanded) first
        at the top level, as before, files and folders by name below it."""
        snapshot = self.snapshot
        entries = self._children.get(folder, [])
        if folder:
            entries = sorted(entries)
        else:  # the top level: folders first, then the files at the root
            entries = sorted(entries, key=lambda e: (e[0].count("/") == 0, e[0]))
        opened = 0
        for path, reason in entries:
            if path.endswith("/"):
                name = path[:-1].rpartition("/")[2]
                child = node.add(Text(name + "/", style="bold"), data="")
                self._pending[child.id] = path[:-1]
                if not folder and opened < 7:  # the first few top-level folders open
                    opened += 1
                    self._fill_pending(child)
                    child.expand()
                continue
            name = path.rpartition("/")[2]
            label = Text(name)
            marker = snapshot.markers.get(path)
            if reason is not None:
                label.stylize("dim")
            elif marker is not None:
                mark, style = MARKS[marker]
                label = Text.assemble((f"{mark} ", style), (name, style))
            node.add_leaf(label, data=path)

    def _fill_pending(self, node: TreeNode[str]) -> None:
        folder = self._pending.pop(node.id, None)
        if folder is not None:
            self._fill(node, folder)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        self._fill_pending(event.node)

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
