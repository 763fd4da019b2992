"""Aider's repo map for :mod:`bench.bench_map_recall`, run in the bench's own environment.

Not part of gemmacode: this file runs under ``bench/_venv-aider/bin/python`` (aider-chat from
PyPI with only what ``aider/repomap.py`` imports) and talks JSON over stdin/stdout. Input: one
JSON object per line, ``{"root": DIR, "files": [rel paths], "chat": [rel paths],
"chars": N}``; output: one line ``{"text": MAP}`` per input line.

Aider's own ranking is used unchanged (``RepoMap.get_ranked_tags``, its important-files list
first, as ``get_ranked_tags_map_uncached`` does). Only the fitting is made exact: aider's
binary search accepts any map within 15% of its budget, above or below, so here the longest
prefix of aider's ranking whose rendered map has at most ``chars`` characters is kept, the
same length gemmacode's map has. Its token counter is the length in characters. Nothing is
downloaded: the grammars come from the tree-sitter-language-pack wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent / "_data" / "aider-rank"


class _Model:
    def token_count(self, text: str) -> int:
        return len(text)


class _IO:
    def read_text(self, fname: str) -> str | None:
        try:
            return Path(fname).read_text("utf-8", "replace")
        except OSError:
            return None

    def tool_output(self, *args: Any, **kwargs: Any) -> None:
        pass

    tool_warning = tool_error = tool_output


def _ranked(rm: Any, root: str, files: list[str], chat: list[str], key: str) -> list[Any]:
    """aider's ranking, kept on disk under ``key`` (the commit and the chat files): aider
    takes seconds per ranking of a large repository, and the bench asks again each run."""
    folder = CACHE / hashlib.sha256(key.encode()).hexdigest()[:2]
    path = folder / hashlib.sha256(key.encode()).hexdigest()
    if key and path.exists():
        return list(json.loads(path.read_text()))
    chat_abs = [os.path.join(root, f) for f in chat]
    other_abs = [os.path.join(root, f) for f in files if f not in set(chat)]
    ranked = [list(t) for t in rm.get_ranked_tags(chat_abs, other_abs, set(), set())]
    if key:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ranked))
    return ranked


def _map(rm: Any, root: str, files: list[str], chat: list[str], chars: int, key: str) -> str:
    from aider.repomap import Tag
    from aider.special import filter_important_files

    ranked = [
        Tag(*t) if len(t) == len(Tag._fields) else tuple(t)
        for t in _ranked(rm, root, files, chat, key)
    ]
    special = [f for f in filter_important_files(sorted(files)) if f not in set(chat)]
    ranked_names = {t[0] for t in ranked}
    ranked = [(f,) for f in special if f not in ranked_names] + ranked
    chat_rel = set(chat)
    rm.tree_cache = {}
    lo, hi, best = 0, len(ranked), ""
    while lo <= hi:
        mid = (lo + hi) // 2
        tree = rm.to_tree(ranked[:mid], chat_rel) if mid else ""
        if len(tree) <= chars:
            best, lo = tree, mid + 1
        else:
            hi = mid - 1
    return best


def main() -> None:
    from aider.repomap import RepoMap

    maps: dict[str, Any] = {}
    for line in sys.stdin:
        job = json.loads(line)
        root = job["root"]
        rm = maps.get(root)
        if rm is None:
            rm = maps[root] = RepoMap(map_tokens=1024, root=root, main_model=_Model(), io=_IO())
        key = json.dumps([root, job.get("rev", ""), sorted(job["chat"])]) if job.get("rev") else ""
        text = _map(rm, root, job["files"], job["chat"], int(job["chars"]), key)
        sys.stdout.write(json.dumps({"text": text}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
