"""How much of what a change needs the repo map shows, beside aider's map of the same length.

Run: python bench/bench_map_recall.py [--tokens N] [--projects django,rxjs,tokenizers]
     [--repo DIR ...] [--max-changes N] [--code DIR] [--no-aider]

Real changes come from :mod:`bench.corpus`: consecutive releases of real projects (Django
from PyPI, rxjs's TypeScript sources from npm, tokenizers' Rust crate and Python bindings
from PyPI) unpacked one commit per release; ``--repo DIR`` adds any local clone with history
(its last ``--commits`` commits). Every changed source file F of a release is one change:

- its *needs* are the identifiers its added lines use that are defined only outside F, in at
  most :data:`HANDFUL` files (a name defined in more says little: ``get``, ``T``);
- the *focused* map is built on the new release with F as its focus, ``--tokens`` long
  (gemmacode's own tokenizer); aider's ``RepoMap`` (from PyPI, in ``bench/_venv-aider``, see
  ``bench/_aider_map.py``) gets F as its chat file and the same length in characters;
- a need counts as shown when the map's section for one of the files defining it has the
  definition's own line (its signature, or the source line itself as aider renders it; a
  line that merely mentions the name does not count). Recall is shown needs over all needs
  (micro-averaged).

The *unfocused* row judges the map of the old release, with no focus, against the needs of
all the changes to the next release. The ratio is gemmacode's recall over aider's.

Set-up for the aider side (once; git-ignored):
  python -m venv bench/_venv-aider
  bench/_venv-aider/bin/pip install --no-deps aider-chat==0.86.2 diskcache==5.6.3 \\
      grep-ast==0.9.0 networkx==3.4.2 numpy==1.26.4 scipy==1.15.3 pygments==2.19.2 \\
      tqdm==4.67.3 tree-sitter==0.25.2 tree-sitter-language-pack==0.13.0 \\
      tree-sitter-c-sharp==0.23.1 tree-sitter-embedded-template==0.25.0 \\
      tree-sitter-yaml==0.7.2 pathspec packaging rich
(``--no-deps``: aider's full dependency list pulls litellm, a browser and more; its repo map
needs only these, and nothing in them reaches the network.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
AIDER_PY = HERE / "_venv-aider" / "bin" / "python"
HANDFUL = 3  # a name defined in more files than this is not a need
SOURCE_LANGUAGES = {"python", "javascript", "typescript", "tsx", "rust", "go", "java", "c", "cpp"}


@dataclass
class Change:
    path: str
    needs: dict[str, tuple[str, ...]]  # name -> files defining it


@dataclass
class Tally:
    shown: int = 0
    needs: int = 0
    chars: list[int] = field(default_factory=list)

    def add(self, shown: int, needs: int, chars: int) -> None:
        self.shown += shown
        self.needs += needs
        self.chars.append(chars)

    @property
    def recall(self) -> float:
        return self.shown / self.needs if self.needs else 0.0


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _index(root: Path) -> object:
    from gemmacode.config import load_settings
    from gemmacode.index.indexer import open_index

    return open_index(root, load_settings(root, {}, {}).index)


def _definers(index: object) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path, rec in index.files.items():  # type: ignore[attr-defined]
        for s in rec.symbols:
            out.setdefault(s.name, set()).add(path)
    return out


def _changes(
    repo: Path, old: str, new: str, index: object, definers: dict[str, set[str]]
) -> list[Change]:
    """Each changed source file between ``old`` and ``new`` with its needs (in ``new``)."""
    from gemmacode.review.diff import parse_diff

    diff = _git(repo, "diff", "--no-color", "--no-ext-diff", "-U0", old, new)
    out: list[Change] = []
    files = index.files  # type: ignore[attr-defined]
    for fd in parse_diff(diff):
        rec = files.get(fd.new_path or "")
        if rec is None or rec.language not in SOURCE_LANGUAGES:
            continue
        added = {n for h in fd.hunks for n in h.added_lines()}
        own = {s.name for s in rec.symbols}
        needs: dict[str, tuple[str, ...]] = {}
        for ref in rec.references:
            if ref.line not in added or ref.name in own or ref.name in needs:
                continue
            where = definers.get(ref.name, set()) - {rec.path}
            if 0 < len(where) <= HANDFUL:
                needs[ref.name] = tuple(sorted(where))
        if needs:
            out.append(Change(rec.path, needs))
    return out


def _sections(text: str, paths: set[str]) -> dict[str, list[str]]:
    """The map's lines by the file whose section they are in (a line ``path:`` opens one)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        head = line[:-1] if line.endswith(":") else None
        if head is not None and head in paths:
            current = out.setdefault(head, [])
        elif line.strip() in paths:  # aider lists a file with nothing to show by name
            current = out.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line)
    return out


_MAP_PREFIX = re.compile(r"^[\s│⋮|]*(?:\d+: )?")


def _norm(line: str) -> str:
    return " ".join(_MAP_PREFIX.sub("", line).split()).removesuffix("...").removesuffix("…")


def definition_lines(index: object, needs: dict[str, tuple[str, ...]]) -> dict[str, set[str]]:
    """For each need, the lines that show its definition: the first lines (up to four:
    decorators, a header over several lines) of each definition of it in its files,
    normalised, that hold the name, keyed by ``path\0name``."""
    files = index.files  # type: ignore[attr-defined]
    out: dict[str, set[str]] = {}
    texts: dict[str, list[str]] = {}
    for name, where in needs.items():
        word = re.compile(rf"(?<![A-Za-z0-9_$]){re.escape(name)}(?![A-Za-z0-9_$])")
        for path in where:
            if path not in texts:
                texts[path] = index.read_text(path).splitlines()  # type: ignore[attr-defined]
            lines = texts[path]
            got = out.setdefault(f"{path}\0{name}", set())
            for sym in files[path].symbols:
                if sym.name != name:
                    continue
                for row in lines[sym.start_line - 1 : min(sym.end_line, sym.start_line + 3)]:
                    if word.search(row):
                        got.add(_norm(row))
    return out


def _shows(line: str, wanted: set[str]) -> bool:
    got = _norm(line)
    for want in wanted:
        short = min(len(got), len(want))
        if short >= 6 and (got.startswith(want) or want.startswith(got)):
            return True
    return False


def shown_needs(
    text: str, needs: dict[str, tuple[str, ...]], paths: set[str], defs: dict[str, set[str]]
) -> int:
    """How many needs the map shows: a line of a defining file's section that is the
    definition's own line (its header as the map renders it: a signature, or the source
    line itself), not merely a line that mentions the name."""
    sections = _sections(text, paths)
    shown = 0
    for name, where in needs.items():
        if any(
            any(_shows(line, defs.get(f"{p}\0{name}", set())) for line in sections.get(p, ()))
            for p in where
        ):
            shown += 1
    return shown


class Aider:
    """aider's map through ``bench/_aider_map.py`` in its own environment."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TQDM_DISABLE"] = "1"  # aider scans with a progress bar
        self.proc = subprocess.Popen(
            [str(AIDER_PY), str(HERE / "_aider_map.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def map(self, root: Path, files: Iterable[str], chat: list[str], chars: int) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        rev = _git(root, "rev-parse", "HEAD").strip()
        job = {"root": str(root), "rev": rev, "files": sorted(files), "chat": chat, "chars": chars}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return str(json.loads(self.proc.stdout.readline())["text"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _pick(changes: list[Change], limit: int) -> list[Change]:
    """At most ``limit`` changes spread evenly over the (path-sorted) list."""
    changes = sorted(changes, key=lambda c: c.path)
    if len(changes) <= limit:
        return changes
    step = len(changes) / limit
    return [changes[int(i * step)] for i in range(limit)]


def measure(
    name: str,
    repo: Path,
    revs: list[str],
    tokens: int,
    limit: int,
    aider: Aider | None,
    scale: float = 1.0,
) -> dict[str, Tally]:
    from gemmacode.repomap.build import build_map
    from gemmacode.tokens.counter import TokenCounter

    counter = TokenCounter()
    rows = {k: Tally() for k in ("focused", "focused-aider", "unfocused", "unfocused-aider")}
    exclude = repo / ".git" / "info" / "exclude"
    if ".aider.tags.cache" not in (exclude.read_text() if exclude.exists() else ""):
        with exclude.open("a") as fh:
            fh.write(".aider.tags.cache.v4/\n")
    cache = Path(tempfile.mkdtemp(prefix="recall-map-"))
    for old, new in zip(revs, revs[1:], strict=False):
        _git(repo, "checkout", "-q", "-f", old)
        index = _index(repo)
        old_defs = _definers(index)
        paths = set(index.files)  # type: ignore[attr-defined]
        _git(repo, "checkout", "-q", "-f", new)
        new_index = _index(repo)
        new_defs = _definers(new_index)
        new_paths = set(new_index.files)  # type: ignore[attr-defined]
        changes = _changes(repo, old, new, new_index, new_defs)
        picked = _pick(changes, limit)
        t0 = time.perf_counter()
        defs = definition_lines(new_index, {n: w for c in picked for n, w in c.needs.items()})
        for ch in picked:
            m = build_map(new_index, counter, tokens, focus=[ch.path], cache_dir=cache)  # type: ignore[arg-type]
            rows["focused"].add(
                shown_needs(m.text, ch.needs, new_paths, defs), len(ch.needs), len(m.text)
            )
            if aider is not None:
                text = aider.map(repo, new_paths, [ch.path], int(len(m.text) * scale))
                rows["focused-aider"].add(
                    shown_needs(text, ch.needs, new_paths, defs), len(ch.needs), len(text)
                )
        # Unfocused: the old release's map against what all its next changes need (as
        # defined in the old release, outside the changed file, in a handful of files).
        _git(repo, "checkout", "-q", "-f", old)
        index = _index(repo)
        needs: dict[str, tuple[str, ...]] = {}
        for ch in changes:
            for n in ch.needs:
                where = old_defs.get(n, set()) - {ch.path}
                if 0 < len(where) <= HANDFUL:
                    needs.setdefault(n, tuple(sorted(where)))
        old_lines = definition_lines(index, needs)
        m = build_map(index, counter, tokens, cache_dir=cache)  # type: ignore[arg-type]
        rows["unfocused"].add(shown_needs(m.text, needs, paths, old_lines), len(needs), len(m.text))
        if aider is not None:
            text = aider.map(repo, paths, [], int(len(m.text) * scale))
            rows["unfocused-aider"].add(
                shown_needs(text, needs, paths, old_lines), len(needs), len(text)
            )
        print(
            f"  {name} {old}..{new}: {len(changes)} changes with needs, {len(picked)} measured "
            f"({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
        )
    _git(repo, "checkout", "-q", "-f", revs[-1])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--projects", default="django,rxjs,tokenizers")
    ap.add_argument("--repo", action="append", default=[], help="a local clone with history")
    ap.add_argument("--commits", type=int, default=3, help="last N commits of each --repo")
    ap.add_argument("--max-changes", type=int, default=25, help="per release pair")
    ap.add_argument("--code", help="import gemmacode from this source tree")
    ap.add_argument("--no-aider", action="store_true")
    ap.add_argument(
        "--aider-scale",
        type=float,
        default=1.0,
        help="aider's length as a multiple of gemmacode's (1.1: a sensitivity check)",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(HERE.parent))
    if args.code:  # gemmacode from there, the bench from here
        sys.path.insert(0, str(Path(args.code).resolve()))
    os.environ.setdefault("GEMMACODE_CACHE_DIR", tempfile.mkdtemp(prefix="recall-cache-"))
    from bench.corpus import PROJECTS, project_repo

    targets: list[tuple[str, Path, list[str]]] = []
    for name in filter(None, args.projects.split(",")):
        repo = project_repo(name)
        targets.append((name, repo, [f"v{v}" for v in PROJECTS[name].versions]))
    for raw in args.repo:
        repo = Path(raw).resolve()
        revs = _git(repo, "rev-list", f"--max-count={args.commits}", "HEAD").split()[::-1]
        targets.append((repo.name, repo, revs))
    if not args.no_aider and not AIDER_PY.exists():
        print(
            "no bench/_venv-aider: see this script's docstring, or pass --no-aider", file=sys.stderr
        )
        return 2
    aider = None if args.no_aider else Aider()
    same = "same length" if args.aider_scale == 1.0 else f"{args.aider_scale:g}x the length"
    print(f"map recall at {args.tokens} tokens (aider: {same} in characters)")
    head = ("project", "map", "gemmacode", "aider", "ratio", "needs", "chars")
    print("{:<14} {:<10} {:>10} {:>8} {:>6} {:>6} {:>12}".format(*head))
    worst = float("inf")
    try:
        for name, repo, revs in targets:
            rows = measure(name, repo, revs, args.tokens, args.max_changes, aider, args.aider_scale)
            for kind in ("focused", "unfocused"):
                ours, theirs = rows[kind], rows[f"{kind}-aider"]
                ratio = ours.recall / theirs.recall if theirs.recall else float("inf")
                if aider is not None:
                    worst = min(worst, ratio)
                chars = f"{sum(ours.chars) // max(1, len(ours.chars))}/"
                chars += (
                    f"{sum(theirs.chars) // max(1, len(theirs.chars))}" if theirs.chars else "-"
                )
                their = f"{theirs.recall:.3f}" if aider is not None else "-"
                print(
                    f"{name:<14} {kind:<10} {ours.recall:>10.3f} {their:>8} {ratio:>6.2f} "
                    f"{ours.needs:>6} {chars:>12}",
                    flush=True,
                )
    finally:
        if aider is not None:
            aider.close()
    if aider is not None:
        print(f"lowest ratio: {worst:.2f} (goal: at least 1.5 on every row)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
