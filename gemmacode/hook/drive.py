"""From a change to a finished review: the request sized to the time left, the core run, the
speeds learnt. Imported only when a review is really needed (it brings in asyncio and, through
the opener, the core).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gemmacode.config import user_cache_dir
from gemmacode.hook.probe import Probe
from gemmacode.hook.review import Outcome, core_opener, review_once
from gemmacode.hook.speeds import SpeedStore, size_request
from gemmacode.session.api import ReviewSpec
from gemmacode.session.events import Reloading, StatusEvent

if TYPE_CHECKING:
    from gemmacode.hook.run import Change, HookRun
    from gemmacode.session.startup import Prewarm


def drive_review(
    run: HookRun, change: Change, server: Probe | None, warm: Prewarm | None = None
) -> Outcome:
    """Review ``change`` within what is left of ``run``'s deadline. ``warm``: the real
    core's start-up prewarm, begun by the caller (the diff already resolved and its related
    code being searched); closed by the caller."""
    from gemmacode.hook.run import FINISH_RESERVE_S

    settings = run.settings
    model = settings.backend.model
    host = server.host if server is not None else "local"
    store = SpeedStore(user_cache_dir(run.io.env) / "speeds.json")
    key = SpeedStore.key(settings.backend.kind, host, model)
    in_memory = server.is_loaded(model) if server is not None else False
    said = False
    if server is not None and in_memory is False:
        run.out.say(f"loading {model} on {host} (it is not in memory): this review waits for it")
        said = True
    seconds = run.left() - FINISH_RESERVE_S
    sizing = size_request(store.get(key), seconds_left=seconds, loading=in_memory is not True)
    if sizing.too_slow:
        return Outcome(
            model=model,
            failure=f"{sizing.too_slow}; raise hook.timeout_s or use a faster model server",
        )
    kind, target, index_file = run.core_target(change)
    spec = ReviewSpec(
        kind="staged" if kind == "staged" else "diff",
        target=target,
        index_file=index_file,
        focus=tuple(settings.review.focus),
        prose=False,
        max_prompt_tokens=sizing.max_prompt_tokens,
    )

    def on_status(event: StatusEvent) -> None:
        nonlocal said
        if isinstance(event, Reloading) and not said:
            said = True
            run.out.say(f"the server is loading {event.model} (num_ctx {event.num_ctx})")

    session_settings = run.session_settings()
    extra: dict[str, Any] = {}
    if run.io.opener is None:
        extra = {"warm": warm, "git_root": True}
    opener = run.io.opener or core_opener()
    outcome = asyncio.run(
        review_once(
            opener,
            session_settings,
            run.git.root,
            spec,
            seconds=seconds,
            on_status=on_status,
            clock=run.io.clock,
            open_kwargs=extra,
        )
    )
    store.observe(key, outcome.finals)
    if outcome.timed_out and not outcome.finals and outcome.request_started_at is not None:
        sent = sizing.max_prompt_tokens or max(outcome.num_ctx - settings.hook.num_predict, 0)
        store.timed_out(key, sent, run.io.clock() - outcome.request_started_at)
    store.save()
    return outcome
