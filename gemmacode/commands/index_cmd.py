"""``gemmacode index``: build or refresh the repository index and summarise it.

``--json`` prints one object whose shape is documented in the README ("Index") and kept
stable: new keys may be added, existing ones keep their meaning.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from gemmacode.commands.common import add_root_flag, settings_for
from gemmacode.index.pathquote import quote_path

HELP = "build or refresh the repository index"
JSON_VERSION = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_root_flag(p)
    p.add_argument("--rebuild", action="store_true", help="forget the cache and index afresh")
    p.add_argument("--verbose", action="store_true", help="list every skipped file with why")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")


def summary(index: Any) -> dict[str, Any]:
    """The ``--json`` object (see the README for each key)."""
    languages: dict[str, dict[str, int]] = {}
    symbols = references = 0
    counts = index.counts()
    records = index.records()
    for path, rec in records.items():
        nsyms, nrefs = counts.get(path, (0, 0))
        entry = languages.setdefault(rec.language, {"files": 0, "symbols": 0})
        entry["files"] += 1
        entry["symbols"] += nsyms
        symbols += nsyms
        references += nrefs
    flagged = Counter(flag for rec in records.values() for flag in rec.flags)
    stats = index.stats
    return {
        "version": JSON_VERSION,
        "root": str(index.root),
        "cache": stats.cache_path,
        "source": "git" if stats.from_git else "walk",
        "files": len(records),
        "symbols": symbols,
        "references": references,
        "languages": dict(sorted(languages.items())),
        "flags": dict(sorted(flagged.items())),
        "skipped": dict(sorted(Counter(s.reason for s in index.skipped).items())),
        "skipped_files": [{"path": s.path, "reason": s.reason} for s in index.skipped],
        "hashed": stats.hashed,
        "parsed": stats.parsed,
        "workers": stats.workers,
        "seconds": round(stats.seconds, 3),
    }


def _text(data: dict[str, Any], verbose: bool) -> str:
    lines = [
        f"indexed {data['files']:,} files in {data['seconds']:.2f} s "
        f"({data['parsed']:,} parsed, {data['hashed']:,} read; the rest unchanged)",
    ]
    width = max((len(k) for k in data["languages"]), default=4)
    for language, entry in sorted(data["languages"].items(), key=lambda kv: -kv[1]["files"]):
        syms = f"{entry['symbols']:>9,} symbols" if entry["symbols"] else ""
        files = f"{entry['files']:>7,} {'file ' if entry['files'] == 1 else 'files'}"
        lines.append(f"  {language:<{width}} {files} {syms}".rstrip())
    lines.append(f"  {data['symbols']:,} symbols, {data['references']:,} references in all")
    if data["flags"]:
        lines.append("flagged: " + ", ".join(f"{k} {v:,}" for k, v in data["flags"].items()))
    skipped = data["skipped"]
    if skipped:
        counts = ", ".join(f"{reason} {n:,}" for reason, n in skipped.items())
        hint = "" if verbose else " (--verbose lists them)"
        lines.append(f"skipped {sum(skipped.values()):,}: {counts}{hint}")
        if verbose:
            lines += [f"  {s['reason']:<16} {quote_path(s['path'])}" for s in data["skipped_files"]]
    lines.append(f"cache: {data['cache']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from gemmacode.index.indexer import open_index

    root, settings = settings_for(args)
    index = open_index(
        root, settings.index, progress=not args.json and sys.stderr.isatty(), rebuild=args.rebuild
    )
    data = summary(index)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(_text(data, args.verbose))
    return 0
