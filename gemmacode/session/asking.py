"""A question about the code as a task: the repo map and the chunks most related to the
question (:mod:`gemmacode.review.question`), then one streamed answer.

Earlier turns of the same conversation (``history``) go after the stable prefix (system,
map, code) and before the new question, so the server's prompt cache keeps serving the
prefix; when the budget is tight they are cut first, oldest lines first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from gemmacode.context.budget import Part
from gemmacode.errors import UsageError
from gemmacode.review.engine import Request, Session
from gemmacode.review.packing import Unit
from gemmacode.review.plan import explain_requests
from gemmacode.review.question import answer, question_parts
from gemmacode.session.events import Finished, PlanReady, RequestStarted
from gemmacode.session.reviewing import Explanation
from gemmacode.session.startup import gc_ready
from gemmacode.session.task import TaskLog

if TYPE_CHECKING:
    from gemmacode.index.model import Chunk
    from gemmacode.session.core import CoreSession


def _check(question: str) -> None:
    if not question.strip():
        raise UsageError(
            "the question is empty", 'ask something, e.g. gemmacode ask "what does X do?"'
        )


def _index(core: CoreSession, note: Callable[[str], None]) -> Any:
    index = core.workspace.index()
    if index is None and core.workspace.in_git and core.workspace.index_error:
        note(f"continuing without the index: {core.workspace.index_error}")
    if index is None:
        root = core.workspace.root
        raise UsageError(f"{root} has no index to answer from", "run ask inside a git repository")
    return index


def history_part(history: Sequence[tuple[str, str]]) -> Part | None:
    """Earlier (question, answer) turns as one part, cut before anything else but the map."""
    if not history:
        return None
    turns = [f"Question: {q.strip()}\nAnswer: {a.strip()}" for q, a in history]
    text = "Earlier in this conversation:\n\n" + "\n\n".join(turns)
    return Part("history", text, shrinkable=True, priority=3, min_tokens=0, required=False)


def _parts(
    core: CoreSession,
    session: Session,
    question: str,
    index: Any,
    focus: Sequence[str],
    history: Sequence[tuple[str, str]],
) -> tuple[list[Part], list[Chunk]]:
    from gemmacode.repomap.build import build_map

    settings = core.settings
    parts, chunks = question_parts(
        session,
        question,
        index=index,
        focus=list(focus),
        map_tokens=settings.map.tokens,
        chunk_tokens=settings.chunks.tokens,
        map_builder=partial(build_map, cache_dir=core.workspace.map_cache_dir),
    )
    earlier = history_part(history)
    if earlier is not None:
        parts.insert(len(parts) - 1, earlier)  # after the prefix, before the question
    return parts, chunks


async def ask_job(
    core: CoreSession,
    question: str,
    focus: Sequence[str],
    history: Sequence[tuple[str, str]],
    log: TaskLog,
) -> Finished:
    """The task behind :meth:`CoreSession.ask`."""
    _check(question)
    index = _index(core, lambda text: log.note(text, "info"))
    session = await core.model_session()
    parts, chunks = _parts(core, session, question, index, focus, history)
    gc_ready()  # packed: the collector back on for what the answer allocates
    files = len({c.file for c in chunks})
    log.emit(PlanReady(f"question ({len(chunks)} chunks from {files} files)", 1, session.num_ctx))
    log.emit(RequestStarted(1, 1, "answer"))
    text, finals = await answer(session, parts, on_text=log.delta)
    log.finals = list(finals)
    for final in finals:
        if final.truncated:
            log.note("the server cut the prompt (fewer prompt tokens than sent)")
        if final.done_reason == "length":
            log.note("the answer hit the num_predict limit and may be cut short")
    return log.finished("done", prose=text)


async def explain_ask(
    core: CoreSession,
    question: str,
    focus: Sequence[str],
    history: Sequence[tuple[str, str]],
    note: Callable[[str], None],
) -> Explanation:
    """Exactly what :meth:`CoreSession.ask` would send, without sending it."""
    _check(question)
    index = _index(core, note)
    session, how = await core.planning_session(offline_ok=True)
    parts, chunks = _parts(core, session, question, index, focus, history)
    ranges: dict[str, list[tuple[int, int]]] = {}
    for c in chunks:
        ranges.setdefault(c.file, []).append((c.start_line, c.end_line))
    request = Request(Unit("question", "", 0, ranges, ""), "question", parts)
    doc = explain_requests(session, [request], "one streamed answer")
    doc["num_ctx_source"] = how
    return Explanation(doc, how)
