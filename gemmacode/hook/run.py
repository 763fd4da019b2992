"""The hook itself: one run of ``gemmacode hook run pre-commit`` (or ``pre-push``).

In order, cheapest first, so most commits finish before anything heavy is imported:

1. ``GEMMACODE_SKIP=1``, or ``hook.mode = "off"``: done.
2. The change: one ``git diff --raw --numstat`` of the index git named (``GIT_INDEX_FILE``,
   made absolute) against HEAD, or of the pushed range. Nothing reviewable (only docs, lock
   files, binaries, deletions): done, with one line saying so.
3. The cache: the same change, model and prompts were reviewed before: decide from that.
4. The server: a TCP connection and ``/api/ps`` within ``hook.connect_timeout_s``. Nothing
   answers: fail open with one warning line (``hook.strict``: exit 3).
5. The review, through the core, sized to the time left and cut off at the deadline.
6. The verdict (:mod:`gemmacode.hook.decide`), printed; the exit code.

Nothing here writes to the index or the work tree, and no prompt is ever shown: stdin is
not read except for pre-push's ref lines.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gemmacode.config import Settings, load_settings
from gemmacode.errors import GemmacodeError
from gemmacode.hook.changes import (
    ChangedFile,
    Selection,
    range_files,
    select,
    staged_files,
    start_staged_listing,
)
from gemmacode.hook.exits import (
    EXIT_BLOCKED,
    EXIT_NOT_REVIEWED,
    EXIT_OK,
    EXIT_USAGE,
    skip_requested,
)
from gemmacode.hook.gitio import HookGit, hook_context
from gemmacode.hook.output import Printer, bypass

# Imported where they are needed, so the fast paths (a bypass, nothing to review) load
# only the listing: the cache, the verdict and the review come later.
if TYPE_CHECKING:
    from gemmacode.hook.probe import Probe
    from gemmacode.hook.review import OpenSession
    from gemmacode.review.findings.model import Finding

FINISH_RESERVE_S = 0.5  # kept back from the deadline for the verdict, cache and output


@dataclass
class HookIO:
    """Everything a run touches outside itself, passed in (tests give their own)."""

    cwd: Path
    env: Mapping[str, str]
    out: Printer
    stdin: str = ""
    opener: OpenSession | None = None  # None: the real core
    clock: Callable[[], float] = time.monotonic


@dataclass
class Change:
    """One thing to review: the staged change, or one pushed range."""

    label: str
    files: list[ChangedFile]
    kind: str  # staged, diff
    target: str = ""
    base: str = ""
    tip: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Reviewed:
    findings: list[Finding]
    notes: list[str]
    complete: bool
    failure: str = ""
    cached: bool = False


class HookRun:
    """One run; see the module docstring."""

    def __init__(
        self,
        stage: str,
        io: HookIO,
        git: HookGit,
        settings: Settings,
        staged: Callable[[], list[ChangedFile]] | None = None,
    ) -> None:
        self.stage = stage
        self.staged = staged or (lambda: staged_files(git))
        self.io = io
        self.out = io.out
        self.git = git
        self.settings = settings
        self.started = io.clock()
        self.deadline = self.started + settings.hook.timeout_s
        self.what = "push" if stage == "pre-push" else "commit"
        self.probed: Probe | None = None
        self.probe_done = False

    # --- the run --------------------------------------------------------------------------

    def changes(self) -> list[Change]:
        if self.stage == "pre-push":
            from gemmacode.hook.push import push_ranges

            out = []
            for r in push_ranges(self.git, self.io.stdin, self.io.env):
                files = range_files(self.git, r.base, r.tip)
                notes = [r.note] if r.note else []
                out.append(
                    Change(r.label, files, "diff", f"{r.base}..{r.tip}", r.base, r.tip, notes)
                )
            return out
        return [Change("staged changes", self.staged(), "staged")]

    def go(self) -> int:
        codes = [self.review_change(change) for change in self.changes()]
        if not codes:
            self.out.say("nothing to review: no commits to push")
            return EXIT_OK
        if EXIT_BLOCKED in codes:
            return EXIT_BLOCKED
        return EXIT_NOT_REVIEWED if EXIT_NOT_REVIEWED in codes else EXIT_OK

    def review_change(self, change: Change) -> int:
        got = self.obtain(change)
        if got is None:
            return EXIT_OK
        if got.failure and not got.findings:
            return self.not_reviewed(got.failure)
        code = self.verdict(change, got)
        if not got.complete and code != EXIT_BLOCKED:
            why = got.failure or "the deadline passed before the whole change was reviewed"
            return self.not_reviewed(f"only part of the change was reviewed: {why}")
        return code

    def obtain(self, change: Change) -> Reviewed | None:
        """The review of ``change``: from the cache, else from the model (then cached when
        complete); None when nothing in it is worth a review (said on the way)."""
        selection = select(self.git, change.files, self.settings)
        if not selection.review:
            self.out.say(f"nothing to review in the {change.label}{_skipped_summary(selection)}")
            return None
        from gemmacode.hook.cache import CachedReview, ReviewCache, review_key

        key = review_key(
            [f.key() for f in change.files] + [change.kind], self.settings, self.io.env
        )
        cache = ReviewCache(self.git.git_path("gemmacode/hook"))
        hit = cache.get(key)
        if hit is not None:
            return Reviewed(list(hit.findings), list(hit.notes), True, cached=True)
        got = self.review(change)
        if got.complete:
            model = self.settings.backend.model
            cache.put(key, CachedReview(tuple(got.findings), tuple(got.notes), model))
        return got

    # --- pieces ---------------------------------------------------------------------------

    def left(self) -> float:
        return self.deadline - self.io.clock()

    def probe_server(self) -> Probe | None:
        from gemmacode.hook.probe import probe

        if not self.probe_done:
            budget = min(self.settings.hook.connect_timeout_s, max(self.left(), 0.05))
            self.probed = probe(self.settings, self.io.env, budget)
            self.probe_done = True
        return self.probed

    def review(self, change: Change) -> Reviewed:
        server = self.probe_server()
        if server is not None and not server.reachable:
            fix = (
                "start it, or point backend.openai_base_url at it"
                if self.settings.backend.kind == "openai"
                else "start it with `ollama serve` or set OLLAMA_HOST / backend.host"
            )
            return Reviewed(
                [], [], False, f"no model server at {server.host} ({server.error}); {fix}"
            )
        # The real core counts through the tokenizer helper the entry point started first
        # thing (hook/entry.py). Its other start-up tricks begin before the core itself is
        # imported: the client and the GPU monitor loaded in threads, the collector paused,
        # and the diff read with its related-code search running (session/early.py).
        warm = None
        if self.io.opener is None:
            from gemmacode.session.startup import prewarm

            warm = prewarm(self.session_settings(), pause_gc=True)
            kind, target, index_file = self.core_target(change)
            warm.begin_diff(
                kind, target, root=self.git.root, settings=self.settings, index_file=index_file
            )
        try:
            from gemmacode.hook.drive import drive_review  # asyncio and the core from here on

            outcome = drive_review(self, change, server, warm)
        finally:
            if warm is not None:
                warm.close()
        return Reviewed(outcome.findings, outcome.notes, outcome.complete, outcome.failure)

    def core_target(self, change: Change) -> tuple[str, str, Path | None]:
        """What the core reviews for ``change``: (spec kind, target, index file)."""
        if change.kind == "staged":
            return "staged", "", self.git.index_file
        return "diff", change.target, None

    def texts(self, change: Change, findings: Sequence[Finding]) -> dict[str, str | None]:
        """The committed content of every changed file a finding names."""
        by_path = {f.new_path: f for f in change.files if f.new_path}
        named = sorted({f.file for f in findings if f.file in by_path})
        blobs = self.git.read_blobs([by_path[p].new_sha for p in named])
        texts: dict[str, str | None] = {}
        for path in named:
            data = blobs.get(by_path[path].new_sha)
            texts[path] = None if data is None else data.decode("utf-8", "replace")
        return texts

    def verdict(self, change: Change, got: Reviewed) -> int:
        from gemmacode.hook.accept import load_baseline
        from gemmacode.hook.decide import decide
        from gemmacode.hook.lines import Lines, range_changed_lines, staged_changed_lines
        from gemmacode.hook.output import report

        texts = self.texts(change, got.findings)
        named = sorted(texts)
        changed: Lines = {}
        if named:
            if change.kind == "staged":
                changed = staged_changed_lines(self.git, named)
            else:
                changed = range_changed_lines(self.git, change.base, change.tip, named)
        baseline = load_baseline(self.git.root / self.settings.hook.baseline)
        hook = self.settings.hook
        verdict = decide(
            got.findings,
            texts=texts,
            changed=changed,
            fail_on=hook.fail_on,
            baseline=baseline,
            mode=hook.mode,
        )
        notes = [n for n in [*change.notes, *got.notes] if _worth_showing(n)]
        report(
            self.out, verdict, fail_on=hook.fail_on, notes=notes, cached=got.cached, what=self.what
        )
        return verdict.exit_code

    def not_reviewed(self, why: str) -> int:
        """Fail open with one warning line, or (``hook.strict``) block with exit 3."""
        if self.settings.hook.strict:
            self.out.say(f"{self.what} blocked: not reviewed: {why}")
            self.out.say(f"hook.strict is on; {bypass(self.what)}")
            return EXIT_NOT_REVIEWED
        self.out.warn(f"{self.what} not reviewed: {why}")
        return EXIT_OK

    def session_settings(self) -> Settings:
        """The settings the core gets: the hook's sampling (low temperature, fixed seed, a
        short answer reserve) and the backend's waits bounded by the time left."""
        s = copy.deepcopy(self.settings)
        s.sampling.temperature = s.hook.temperature
        s.sampling.seed = s.hook.seed
        s.sampling.num_predict = s.hook.num_predict
        s.backend.timeout_s = max(1.0, min(s.backend.timeout_s, self.left()))
        return s


def _worth_showing(note: str) -> bool:
    """Notes a committer acts on: what was not reviewed or was cut."""
    low = note.lower()
    return low.startswith("not reviewed") or "cut the prompt" in low or "left out" in low


def _skipped_summary(selection: Selection) -> str:
    if not selection.skipped:
        return ""
    shown = ", ".join(f"{p} ({why})" for p, why in selection.skipped[:3])
    more = len(selection.skipped) - 3
    return f": {shown}" + (f" and {more} more" if more > 0 else "")


def run_hook(stage: str, io: HookIO) -> int:
    """Run the hook for ``stage`` (``pre-commit`` or ``pre-push``); the exit code."""
    if skip_requested(io.env):
        io.out.say("review skipped (GEMMACODE_SKIP is set)")
        return EXIT_OK
    try:
        git = hook_context(io.cwd, io.env)
        # git lists the staged change while Python reads the settings
        staged = start_staged_listing(git) if stage == "pre-commit" else None
        try:
            settings = load_settings(git.root, io.env)
        except GemmacodeError:
            if staged is not None:
                staged()  # reap the listing's process
            raise
        if settings.hook.mode == "off":
            if staged is not None:
                staged()
            return EXIT_OK
        return HookRun(stage, io, git, settings, staged).go()
    except GemmacodeError as err:
        io.out.say(f"error: {err}")
        what = "push" if stage == "pre-push" else "commit"
        io.out.say(f"the {what} was not reviewed; {bypass(what)}")
        return EXIT_USAGE
