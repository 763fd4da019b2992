"""Parse results as named records: stored and loaded back unchanged, and sent back from a real
worker process as an ``Outcome`` whose fields are read by name."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from gemmacode.index import workers
from gemmacode.index.parsed import (
    SymbolTuple,
    count_tags,
    dump_tags,
    load_records,
    load_tags,
    symbols_from,
)
from gemmacode.index.tags import parse_tags

CODE = b"""\
class Store:
    def get(self, key):
        return decode(read(key))


def read(key):
    return open(key).read()
"""


def test_stored_tags_load_back_as_named_tuples_equal_to_the_parse() -> None:
    result = parse_tags(CODE, "python")
    blob = dump_tags(result)
    loaded = load_tags(blob, has_error=result.has_error)
    assert loaded == result
    assert all(type(s) is SymbolTuple for s in loaded.symbols)
    get = next(s for s in loaded.symbols if s.name == "get")
    assert (get.kind, get.scope, get.start_line, get.end_line) == ("method", "Store.get", 2, 3)
    assert CODE[get.start_byte : get.end_byte].startswith(b"def get")
    assert count_tags(blob) == (len(result.symbols), len(result.ref_names))
    assert count_tags(blob).references == len(result.ref_lines)


def test_records_from_the_stored_form_equal_records_from_the_parse() -> None:
    result = parse_tags(CODE, "python")
    assert load_records(dump_tags(result), "app/store.py") == symbols_from(result, "app/store.py")
    symbols, _refs = symbols_from(result, "app/store.py")
    assert [SymbolTuple.of(s) for s in symbols] == result.symbols
    assert symbols[0].file == "app/store.py"


def test_the_stored_form_holds_plain_tuples_for_marshal() -> None:
    """marshal refuses tuple subclasses; the cache must hold what it can load anywhere."""
    result = parse_tags(CODE, "python")
    with pytest.raises(ValueError):
        marshal.dumps(result.symbols)
    stored = marshal.loads(dump_tags(result))
    assert all(type(s) is tuple for s in stored[0])


@pytest.mark.parametrize("blob", [b"", b"\x00garbage", marshal.dumps(("only", "two"))])
def test_a_damaged_blob_raises_what_the_callers_catch(blob: bytes) -> None:
    with pytest.raises((ValueError, EOFError, TypeError)):
        load_tags(blob)
    with pytest.raises((ValueError, EOFError, TypeError)):
        load_records(blob, "x.py")


def test_worker_processes_send_back_outcomes(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_bytes(CODE)
    (tmp_path / "b.bin").write_bytes(b"\x00\x01binary")
    (tmp_path / "c.txt").write_text("plain text\n")
    batch = [(name, str(tmp_path / name)) for name in ("a.py", "b.bin", "c.txt")]
    pool = workers.Pool(2, 1 << 20, known=set(), languages={"python"})
    pool.submit(batch)
    (outcomes,) = list(pool.results(lambda: None))
    assert all(type(o) is workers.Outcome for o in outcomes)
    by_path = {o.path: o for o in outcomes}
    parsed = by_path["a.py"]
    assert parsed.language == "python" and parsed.reason == "" and parsed.blob is not None
    assert parsed.digest == workers.digest(CODE)
    assert load_tags(parsed.blob) == parse_tags(CODE, "python")._replace(has_error=False)
    assert by_path["b.bin"].reason == "binary" and by_path["b.bin"].blob is None
    assert by_path["c.txt"].language == "text" and by_path["c.txt"].blob is None
