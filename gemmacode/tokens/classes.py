"""Token-class features of a text from one tiktoken pass, and the ridge fit that weighs them.

One factor cannot turn tiktoken counts into Gemma counts within a few percent: the ratio per
chunk of code ranges from about 1.0 to 1.6. The differences are systematic, though. Gemma
splits numbers into digits, keeps a newline apart from the punctuation before it (``):\\n``)
and an opening bracket apart from the word after it (``(self``), and merges word pieces that
tiktoken keeps apart (``al`` + ``gorithms``). So every ``cl100k_base`` token gets a class from
its own bytes (whitespace shape, digits, word case, leading space, punctuation, non-ASCII or a
partial UTF-8 byte sequence), and every pair of neighbours a transition from the kind of the
last character of one to the kind of the first character of the next. A text becomes a vector
of counts, and a model's tokens are a linear function of that vector, fitted per model from
real requests (:class:`gemmacode.tokens.calibration.CalibrationStore`).

Vector layout: index 0 is the raw tiktoken count (for the single-factor fallback), then the
token classes (:data:`CLASSES`), then the transitions, then :data:`MESSAGE` (one per chat
message: the server's template tokens, which a count of one text never includes).

Speed: ids become one byte per token through a lazily filled table (each id is classified
once per process, the first time it is seen), and the counting runs in C (``bytes(map(...))``,
``Counter`` over bytes, ``bytes.translate``), so a text costs about one tiktoken pass plus a
fraction.
"""

from __future__ import annotations

import threading
from collections import Counter as _Counter
from collections.abc import Iterable, Sequence

FEATURES_VERSION = "cl100k-classes-1"

KINDS = " \tnludp_x"  # first/last character kinds: space, tab, newline, lower, upper, digit...
_N_KINDS = len(KINDS)

CLASSES = (
    "partial",  # bytes that are not whole UTF-8 characters
    "newline",  # only newlines
    "newline_ws",  # newlines and spaces or tabs
    "tab",  # tabs, maybe with spaces
    "space1",  # one space
    "spaces",  # several spaces
    "nonascii",
    "newline_tail",  # text then a newline, such as "):\n"
    "ws_head",  # starts with a tab, a newline or two spaces, then text
    "digit",  # counted per digit: Gemma splits numbers into digits
    "digit_mixed",  # digits together with other characters
    "w_lower_short",  # " abc": leading space, lower case, at most 3 letters
    "w_lower",
    "lower_short",  # "abc" without a leading space
    "lower",
    "w_capital",
    "capital",
    "w_upper",
    "upper",
    "w_mixed_case",
    "mixed_case",
    "punct1",
    "punct_run",
    "lead_punct",  # punctuation after a leading space
    "mixed",  # letters and punctuation in one token, such as "(self" or "_bar"
    "underscore",
)
# Marks a token carries on top of its own class: their prior weight is 0, not the factor.
FLAGS = ("newline_tail", "ws_head", "digit_mixed", "lead_punct", "underscore")
_CLASS_INDEX = {name: 1 + i for i, name in enumerate(CLASSES)}
_FLAG_INDEXES = frozenset(_CLASS_INDEX[name] for name in FLAGS)
TRANSITIONS_AT = 1 + len(CLASSES)
MESSAGE = TRANSITIONS_AT + _N_KINDS * _N_KINDS
SIZE = MESSAGE + 1
RAW = 0


def feature_names() -> list[str]:
    """Human-readable names of the vector positions (for reports and tests)."""
    names = ["raw", *CLASSES]
    names += [f"{a!r}>{b!r}" for a in KINDS for b in KINDS]
    return [*names, "message"]


def _kind(ch: str) -> int:
    if ch == " ":
        return 0
    if ch == "\t":
        return 1
    if ch in "\r\n":
        return 2
    if ch.isascii():
        if ch.islower():
            return 3
        if ch.isupper():
            return 4
        if ch.isdigit():
            return 5
        return 7 if ch == "_" else 6
    return 8


def classify(token: bytes) -> tuple[tuple[tuple[int, int], ...], int, int]:
    """(class features with multiplicities, first-character kind, last-character kind)."""
    try:
        s = token.decode("utf-8")
    except UnicodeDecodeError:
        return ((_CLASS_INDEX["partial"], 1),), 8, 8
    first, last = _kind(s[0]), _kind(s[-1])
    body = s.strip()
    if not body:
        if "\n" in s or "\r" in s:
            name = "newline_ws" if s.strip("\r\n") else "newline"
        else:
            name = "tab" if "\t" in s else ("space1" if s == " " else "spaces")
        return ((_CLASS_INDEX[name], 1),), first, last
    if not s.isascii():
        return ((_CLASS_INDEX["nonascii"], 1),), first, last
    out: list[tuple[int, int]] = []
    if "\n" in s:
        out.append((_CLASS_INDEX["newline_tail"], 1))
    if s[0] in "\n\t\r" or s[:2] == "  ":
        out.append((_CLASS_INDEX["ws_head"], 1))
    lead = "w_" if s[0] == " " else ""
    digits = sum(ch.isdigit() for ch in s)
    if digits:
        out.append((_CLASS_INDEX["digit"], digits))
        if digits != len(body):
            out.append((_CLASS_INDEX["digit_mixed"], 1))
    elif body.isalpha():
        if body.islower():
            name = "lower_short" if len(body) <= 3 else "lower"
        elif body[0].isupper() and body[1:].islower():
            name = "capital"
        elif body.isupper():
            name = "upper"
        else:
            name = "mixed_case"
        out.append((_CLASS_INDEX[lead + name], 1))
    elif not any(ch.isalnum() for ch in body):
        out.append((_CLASS_INDEX["punct1" if len(body) == 1 else "punct_run"], 1))
        if lead:
            out.append((_CLASS_INDEX["lead_punct"], 1))
    else:
        out.append((_CLASS_INDEX["mixed"], 1))
        if "_" in body:
            out.append((_CLASS_INDEX["underscore"], 1))
    return tuple(out), first, last


class _Table:
    """Token id -> one-byte code of (classes, first kind, last kind), filled lazily."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[int, int] = {}
        self.info: list[tuple[tuple[int, int], ...]] = []
        self.by_combo: dict[tuple[tuple[tuple[int, int], ...], int, int], int] = {}
        self.last = bytearray(256)  # code -> last kind * 16
        self.first = bytearray(256)  # code -> first kind

    def fill(self, ids: Iterable[int], decode: object) -> None:
        with self.lock:
            for tid in set(ids).difference(self.codes):
                combo = classify(decode(tid))  # type: ignore[operator]
                code = self.by_combo.get(combo)
                if code is None:
                    code = len(self.info)
                    if code > 255:  # cl100k has under 100 combinations; stay safe anyway
                        code = self.by_combo[next(iter(self.by_combo))]
                    else:
                        self.by_combo[combo] = code
                        self.info.append(combo[0])
                        self.last[code] = combo[2] * 16
                        self.first[code] = combo[1]
                self.codes[tid] = code


_table = _Table()


def counts(ids: Sequence[int], decode: object) -> dict[int, int]:
    """The non-zero entries of a text's count vector, from its token ids (``decode``: id ->
    token bytes). Sparse, because a short text touches a few of the positions."""
    if not ids:
        return {}
    getter = _table.codes.__getitem__
    try:
        codes = bytes(map(getter, ids))
    except KeyError:
        _table.fill(ids, decode)
        codes = bytes(map(getter, ids))
    out = {RAW: len(ids)}
    info = _table.info
    for code, n in _Counter(codes).items():
        for index, mult in info[code]:
            out[index] = out.get(index, 0) + n * mult
    if len(codes) > 1:
        lasts = int.from_bytes(codes[:-1].translate(_table.last), "big")
        firsts = int.from_bytes(codes[1:].translate(_table.first), "big")
        pairs = (lasts | firsts).to_bytes(len(codes) - 1, "big")
        for pair, n in _Counter(pairs).items():
            index = TRANSITIONS_AT + (pair >> 4) * _N_KINDS + (pair & 15)
            out[index] = n  # each pair code maps to its own position
    return out


def dense(sparse: dict[int, int] | Iterable[tuple[int, int]]) -> list[int]:
    """The full count vector (length :data:`SIZE`) from its non-zero entries."""
    vec = [0] * SIZE
    for index, n in sparse.items() if isinstance(sparse, dict) else sparse:
        vec[index] += n
    return vec


# --- the fit ----------------------------------------------------------------------------------


def solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Solve a small symmetric positive definite system (Gaussian elimination, pivoting)."""
    n = len(rhs)
    a = [row[:] + [rhs[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-300:
            raise ValueError("singular system")
        a[col], a[pivot] = a[pivot], a[col]
        head = a[col]
        inv = 1.0 / head[col]
        for r in range(col + 1, n):
            row = a[r]
            f = row[col] * inv
            if f:
                row[col:] = [x - f * h for x, h in zip(row[col:], head[col:], strict=True)]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        row = a[r]
        s = row[n] - sum(row[k] * out[k] for k in range(r + 1, n))
        out[r] = s / row[r]
    return out


def fit(xtx: list[list[float]], xty: list[float], ridge: float) -> tuple[float, list[float]]:
    """Weights from the sufficient statistics of relative rows (``x / actual``, target 1).

    Minimises the sum of squared relative errors plus ``ridge`` times the squared distance
    from a prior: every token class at the best single factor (least squares on the raw
    column alone); every flag (:data:`FLAGS`), transition and the message feature at 0.
    Classes the data have not shown yet therefore behave like the single factor. Returns
    (that factor, the weights over the whole vector, 0 at :data:`RAW`).
    """
    factor = xty[RAW] / xtx[RAW][RAW] if xtx[RAW][RAW] > 0 else 1.0
    weights = [0.0] * SIZE
    for i in range(1, TRANSITIONS_AT):
        weights[i] = 0.0 if i in _FLAG_INDEXES else factor
    # A feature never seen has an all-zero row and column: its weight stays at the prior.
    idx = [i for i in range(1, SIZE) if xtx[i][i] > 0]
    matrix = [[xtx[i][j] + (ridge if i == j else 0.0) for j in idx] for i in idx]
    rhs = [xty[i] + ridge * weights[i] for i in idx]
    for i, w in zip(idx, solve(matrix, rhs), strict=True):
        weights[i] = w
    return factor, weights
