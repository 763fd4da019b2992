"""The ranges a push sends: what the pre-push review looks at, never the whole repository.

Git gives a pre-push hook one line per ref on stdin: ``<local ref> <local sha> <remote ref>
<remote sha>``. The pre-commit framework gives the same range as ``PRE_COMMIT_FROM_REF`` and
``PRE_COMMIT_TO_REF``. For each ref:

- a deletion (local sha all zeros) sends no code: nothing to review;
- an update of a ref the remote has, whose commit is here: ``remote..local``;
- a new ref (remote sha all zeros), or a remote commit not here (a force push over work
  never fetched): from the parent of the oldest commit no remote-tracking ref contains;
  nothing when every commit is already on a remote. When that oldest commit is a root
  commit, the range starts at it and its own content is left out, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gemmacode.hook.gitio import NULL_SHA, HookGit


@dataclass(frozen=True)
class PushRange:
    ref: str
    base: str
    tip: str
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.ref} {self.base[:12]}..{self.tip[:12]}"


def _has_commit(git: HookGit, sha: str) -> bool:
    return git.verify(sha) is not None


def _new_range(git: HookGit, ref: str, tip: str) -> PushRange | None:
    out = git.text("rev-list", "--topo-order", "--reverse", tip, "--not", "--remotes")
    commits = out.split()
    if not commits:
        return None
    oldest = commits[0]
    parent = git.verify(f"{oldest}^")
    if parent is not None:
        return PushRange(ref, parent, tip)
    if len(commits) == 1:
        return PushRange(ref, oldest, tip, f"not reviewed: the root commit {oldest[:12]} of {ref}")
    return PushRange(
        ref, oldest, tip, f"not reviewed: the content of the root commit {oldest[:12]}"
    )


def push_ranges(git: HookGit, stdin: str, env: Mapping[str, str]) -> list[PushRange]:
    """The ranges of one push (see the module docstring)."""
    ranges: list[PushRange] = []
    from_ref, to_ref = env.get("PRE_COMMIT_FROM_REF", ""), env.get("PRE_COMMIT_TO_REF", "")
    lines = [line.split() for line in stdin.splitlines() if line.strip()]
    if not lines and to_ref:
        lines = [[to_ref, to_ref, to_ref, from_ref or NULL_SHA]]
    for fields in lines:
        if len(fields) < 4:
            continue
        local_ref, local_sha, _remote_ref, remote_sha = fields[:4]
        tip = git.verify(local_sha)
        if local_sha == NULL_SHA or tip is None:
            continue
        if remote_sha != NULL_SHA and _has_commit(git, remote_sha):
            base = git.verify(remote_sha)
            assert base is not None
            if base != tip:
                ranges.append(PushRange(local_ref, base, tip))
            continue
        found = _new_range(git, local_ref, tip)
        if found is not None:
            ranges.append(found)
    return ranges
