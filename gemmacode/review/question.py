"""``ask``: answer a free question with the repo map and the code chunks most related to it.

Candidate files are the ones the user focuses on, the ones defining identifiers the question
names, and the best-ranked files of the map. They are cut into syntax-aware chunks and each
chunk is scored by the identifiers it shares with the question (an identifier named exactly
counts more than a shared word of one, ``query set`` naming ``QuerySet``). The best chunks fill
what the budget leaves after the system prompt, the map and the question; the parts keep the
cache-friendly order system, map, code, question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gemmacode.backends.base import Delta, Final
from gemmacode.context.budget import MESSAGE_OVERHEAD, Part
from gemmacode.index.model import Chunk, Symbol
from gemmacode.index.pathquote import quote_path
from gemmacode.review import prompts
from gemmacode.review.engine import Session
from gemmacode.review.sections import JOIN, numbered
from gemmacode.tokens.encoding import Counter

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
MAX_FILES = 24  # candidate files chunked per question


class QuestionIndex(Protocol):
    @property
    def files(self) -> Any: ...

    def read_text(self, path: str) -> str: ...

    def definitions(self, name: str) -> list[Symbol]: ...


def score_chunk(text: str, idents: set[str], words: set[str]) -> float:
    """3 per question identifier the chunk names exactly, 1 per shared identifier word."""
    from gemmacode.repomap.graph import split_identifier

    found = set(_IDENT.findall(text))
    exact = len(idents & found)
    chunk_words = {w for ident in found for w in split_identifier(ident)}
    return 3.0 * exact + len(words & chunk_words)


def candidate_files(
    index: QuestionIndex, question: str, focus: Sequence[str], map_files: Sequence[str]
) -> list[str]:
    from gemmacode.repomap.build import light_records
    from gemmacode.repomap.graph import question_terms

    idents, _ = question_terms(question)
    named = [d.file for ident in sorted(idents) for d in index.definitions(ident)[:4]]
    files = light_records(index)  # the paths, without decoding every symbol
    ordered = [p for p in (*focus, *named, *map_files) if p in files]
    return list(dict.fromkeys(ordered))[:MAX_FILES]


def rank_chunks(chunks: Sequence[Chunk], question: str, focus: Sequence[str]) -> list[Chunk]:
    """Chunks best first: by score, focused files first among equals, then file order."""
    from gemmacode.repomap.graph import question_terms

    idents, words = question_terms(question)
    scored = [
        (score_chunk(c.text, idents, words) + (0.5 if c.file in focus else 0.0), -i, c)
        for i, c in enumerate(chunks)
    ]
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [c for s, _, c in scored if s > 0]


def render_chunk(c: Chunk) -> str:
    body = c.text[:-1] if c.text.endswith("\n") else c.text
    where = f" in {c.scope}" if c.scope else ""
    header = f"### {quote_path(c.file)} lines {c.start_line}-{c.end_line}{where}"
    width = len(str(c.end_line))
    return header + "\n" + "\n".join(numbered(body.split("\n"), c.start_line, width))


def question_parts(
    session: Session,
    question: str,
    *,
    index: QuestionIndex,
    focus: Sequence[str] = (),
    map_tokens: int = 2048,
    chunk_tokens: int = 1024,
    chunker: Callable[..., list[Chunk]] | None = None,
    map_builder: Callable[..., Any] | None = None,
) -> tuple[list[Part], list[Chunk]]:
    """The parts to send for ``question`` and the chunks chosen, within the session's budget."""
    from gemmacode.index.chunker import chunk_text
    from gemmacode.index.languages import language_for
    from gemmacode.repomap.build import build_map

    chunk_fn: Callable[..., list[Chunk]] = chunker or chunk_text
    map_fn: Callable[..., Any] = map_builder or build_map
    counter: Counter = session.counter
    budget = session.budget()
    system = Part("system", prompts.render("system"), role="system")
    ask = Part("question", prompts.render("question", question=question))
    fixed = counter.count(system.text) + counter.count(ask.text) + 4 * MESSAGE_OVERHEAD
    map_budget = min(map_tokens, (budget.prompt_tokens - fixed) // 4)
    repo_map = map_fn(index, counter, max(map_budget, 0), focus=focus, question=question)
    map_text = "Repository outline:\n" + repo_map.text if repo_map.text else ""
    room = budget.prompt_tokens - fixed - (counter.count(map_text) if map_text else 0)
    chunks: list[Chunk] = []
    for path in candidate_files(index, question, focus, repo_map.files):
        text = index.read_text(path)
        chunks += chunk_fn(
            text, path=path, language=language_for(path), budget=chunk_tokens, counter=counter
        )
    chosen: list[tuple[int, Chunk, str]] = []
    used = 0
    for c in rank_chunks(chunks, question, focus):
        rendered = render_chunk(c)
        cost = counter.count(rendered) + 2
        if used + cost <= room:
            chosen.append((chunks.index(c), c, rendered))
            used += cost
    chosen.sort(key=lambda t: t[0])  # file order reads better than score order
    parts = [system]
    if map_text:
        parts.append(Part("map", map_text, required=False, priority=1))
    if chosen:
        code = JOIN.join(r for _, _, r in chosen)
        parts.append(Part("code", code, shrinkable=True, priority=5, min_tokens=32))
    parts.append(ask)
    return parts, [c for _, c, _ in chosen]


async def answer(
    session: Session, parts: list[Part], on_text: Callable[[str], None] | None = None
) -> tuple[str, list[Final]]:
    """Stream the answer to ``on_text``; return its text and the request's metrics."""
    pieces: list[str] = []
    finals: list[Final] = []
    async for event in session.stream(parts):
        if isinstance(event, Delta):
            pieces.append(event.text)
            if on_text is not None:
                on_text(event.text)
        elif isinstance(event, Final):
            finals.append(event)
    return "".join(pieces), finals
