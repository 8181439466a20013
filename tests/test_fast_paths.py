"""The fast paths of the loader give the answers of the plain ones.

A big load runs its column tasks on two threads, finds repeated records by
hashing the ids, takes a few rows by slicing, counts newlines with numpy and
parses the variables cells on first access. Each is checked here against the
plain computation, on inputs that exercise it.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from connectly_nb import _merge, _parse, load, read_export, tidy
from connectly_nb.datasets import sample_path

TABLES = ("messages", "clicks", "variables", "problems", "accounting")


def assert_same_export(a, b) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


@pytest.fixture(scope="module")
def daily(tmp_path_factory) -> list:
    """The sample plus a later report repeating 2,500 of its records with news.

    2,500 merges (more than the few-rows paths handle), changed timestamps,
    error codes and variables, and a bad variables cell.
    """
    folder = tmp_path_factory.mktemp("daily")
    text = sample_path().read_text(encoding="utf-8")
    records = list(csv.DictReader(io.StringIO(text)))
    later = []
    for i, r in enumerate(records[:2500]):
        r = dict(r)
        if i % 3 == 0 and r["sent_at"]:
            r["read_at"] = "2024-06-01 10:00:00"
        if i % 7 == 0:
            r["error_code"], r["error_msg"] = "131049", "healthy ecosystem"
        if i % 5 == 0:
            r["input_variables"] = '{"city": "Recife", "tier": "gold"}'
        later.append(r)
    later[10]["output_variables"] = '{"broken": '
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(later)
    day2 = folder / "day2.csv"
    day2.write_text(out.getvalue(), encoding="utf-8")
    return [sample_path(), day2]


def test_threaded_load_equals_the_sequential_one(daily, monkeypatch):
    monkeypatch.setattr(tidy, "_THREADED_ROWS", 10**12)
    sequential = read_export(daily, progress=False)
    monkeypatch.setattr(tidy, "_THREADED_ROWS", 0)
    used = []
    real_run = tidy._run

    def run(tasks, *, threads):
        used.append(threads)
        return real_run(tasks, threads=threads)

    monkeypatch.setattr(tidy, "_run", run)
    threaded = read_export(daily, progress=False)
    assert used == [2]
    assert_same_export(threaded, sequential)
    own = read_export(sample_path(), progress=False).accounting["duplicates_merged"].sum()
    assert threaded.accounting["duplicates_merged"].sum() == own + 2500
    assert "bad_json" in set(threaded.problems["problem"])


def test_hash_collisions_never_merge_different_records(daily, monkeypatch):
    honest = read_export(daily, progress=False)

    def colliding(arr):  # every id hashes alike: every keyed record is a candidate
        _, null = real(arr)
        return np.zeros(len(null), dtype=np.uint64), null

    real = _merge.text_hash
    monkeypatch.setattr(_merge, "text_hash", colliding)
    assert_same_export(read_export(daily, progress=False), honest)


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string()])
def test_equal_texts_hash_alike_whatever_their_neighbours(typ):
    words = [
        "",
        "a",
        "+5511987",  # 8 bytes
        "+55119876",  # 9
        "+551198765432100",  # 16
        "+5511987654321000",  # 17
        "ação ☃ 日本",
        "x" * 40,
        "customer-0001-with-a-long-suffix",
        "customer-0002-with-a-long-suffix",
    ]
    rng = np.random.default_rng(5)
    values = [words[i] for i in rng.integers(0, len(words), 400)] + [None, None]
    chunked = pa.chunked_array([values[:123], values[123:]], type=typ)
    sliced = pa.array(["pad", *values, "pad"], type=typ).slice(1, len(values))
    for arr in (chunked, sliced):
        h, null = _merge.text_hash(arr)
        assert null.tolist() == [v is None for v in values]
        by_text: dict[str, set[int]] = {}
        for v, x in zip(values, h.tolist(), strict=True):
            if v is not None:
                by_text.setdefault(v, set()).add(x)
        assert all(len(hashes) == 1 for hashes in by_text.values())
        # and, for these words, different texts hash apart
        assert len({next(iter(s)) for s in by_text.values()}) == len(by_text)


def test_variables_are_parsed_on_first_access_and_complete_the_problems(daily, monkeypatch):
    complete = read_export(daily, progress=False)
    complete_variables = complete.variables  # parsed before counting starts
    calls = []
    real = _parse.parse_variables

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_parse, "parse_variables", counting)
    ex = read_export(daily, progress=False)
    assert calls == []  # messages and clicks are ready without them
    assert len(ex.messages) == len(complete.messages)
    promo = ex.filter(campaigns=ex.messages["campaign_name"].iloc[0])  # still deferred
    assert calls == []
    pd.testing.assert_frame_equal(ex.problems, complete.problems)
    assert len(calls) == 2  # one per variables column, once
    pd.testing.assert_frame_equal(ex.variables, complete_variables)
    assert len(calls) == 2
    ids = promo.messages.index
    expected = complete.problems[
        complete.problems["message_id"].isna() | complete.problems["message_id"].isin(ids)
    ]
    pd.testing.assert_frame_equal(promo.problems, expected)
    assert "bad_json" in repr(ex)


def test_take_rows_matches_take_for_few_and_many_rows():
    col = pa.chunked_array([[str(i) for i in range(k, k + 10)] for k in range(0, 3000, 10)])
    table = pa.table(
        {"a": col, "b": pa.chunked_array([c.cast(pa.large_string()) for c in col.chunks])}
    )
    for rows in (np.array([], dtype=np.int64), np.array([0, 9, 10, 2999]), np.arange(0, 3000, 2)):
        assert _parse.take_rows(col, rows).to_pylist() == col.take(pa.array(rows)).to_pylist()
        assert _parse.take_rows(table, rows).to_pylist() == table.take(pa.array(rows)).to_pylist()


@pytest.mark.parametrize("body", [b"", b"a\n", b"a\nb", b"a\r\nb\r\n\n", b"x" * 20 + b"\n" * 9])
def test_newline_count_over_chunk_boundaries(body, tmp_path, monkeypatch):
    monkeypatch.setattr(load, "_COUNT_CHUNK", 4)
    path = tmp_path / "f.csv"
    path.write_bytes(body)
    expected = (body.count(b"\n"), body.endswith(b"\n"))
    (inp,) = load.resolve_sources(path)
    assert load._count_newlines(inp) == expected
    assert load._count_newlines(inp, body) == expected


def nonempty_rows(arr: pa.ChunkedArray, empty: str) -> np.ndarray:
    """The rows the loader hands to a JSON parser (blank, null and empty ones are skipped)."""
    return np.flatnonzero(_parse.to_numpy_bool(_parse._nonempty_mask(arr, empty)))


def _click_cells(rng: np.random.Generator, n: int) -> list[str | None]:
    shapes = [
        '[{"id": "btn_1", "name": "Sim", "ts": "2024-05-10 20:30:00"}]',
        '[{"id": "btn_2", "name": "Não", "ts": "2024-05-10 20:31:00"}, '
        '{"id": "btn_1", "name": "Sim", "ts": "2024-05-10 20:32:00"}]',
        '{"id": "btn_1", "name": "bare", "ts": "2024-05-10 20:33:00"}',  # the vendor's example
        "[]",
        "",
        None,
        "null",
        " [] ",
        '[{"id": "btn_1", "name": "cut"',  # truncated
        '[{"id": 7, "name": "number id", "ts": "2024-05-10 20:34:00"}]',
        '[{"id": "b", "name": "x", "ts": "2024-05-10 20:35:00"} oops]',  # shaped, invalid inside
        '  [{"id": "b", "name": "spaced", "ts": "2024-05-10 20:36:00"}]',
        "[null]",
        '"just text"',
    ]
    weights = np.array([30, 10, 5, 30, 10, 5, 2, 2, 1, 1, 1, 1, 1, 1], dtype=float)
    picks = rng.choice(len(shapes), size=n, p=weights / weights.sum())
    return [shapes[i] for i in picks]


def test_bulk_click_parse_equals_the_cell_by_cell_parse():
    cells = _click_cells(np.random.default_rng(11), 5000)
    arr = pa.chunked_array([cells[:1700], cells[1700:]], type=pa.string())
    bulk = _parse.parse_clicks(arr)
    reference = _parse.ParsedClicks()
    rows = nonempty_rows(arr, "[]")  # blank, null and [] are no clicks, not problems
    _parse._slow_clicks([cells[r] for r in rows], rows, reference)
    for got, want in zip(bulk.arrays(), reference.arrays(), strict=True):
        got_list = got.tolist() if isinstance(got, np.ndarray) else got.to_pylist()
        want_list = want.tolist() if isinstance(want, np.ndarray) else want.to_pylist()
        assert got_list == want_list
    for name in ("bad_json", "bad_click", "too_large"):
        assert sorted(r for r, _ in getattr(bulk, name)) == sorted(
            r for r, _ in getattr(reference, name)
        ), name
    assert bulk.bad_json  # the truncated and the invalid cells


def test_bulk_variables_parse_equals_the_cell_by_cell_parse():
    shapes = [
        '{"city": "Recife", "tier": "gold"}',
        '{"city": "São Paulo", "visits": 3, "vip": true}',
        "{}",
        "",
        None,
        '{"broken": ',
        '["not", "an", "object"]',
        ' {"spaced": "x"}',
        '{"nested": {"a": 1}}',
        '{"f": 1.5}',
    ]
    rng = np.random.default_rng(3)
    cells = [shapes[i] for i in rng.integers(0, len(shapes), 4000)]
    arr = pa.chunked_array([cells[:999], cells[999:]], type=pa.string())
    bulk = _parse.parse_variables(arr)
    reference = _parse.ParsedVariables()
    rows = nonempty_rows(arr, "{}")
    _parse._slow_variables([cells[r] for r in rows], rows, reference)

    def triples(p: _parse.ParsedVariables) -> list[tuple[int, str, str]]:
        r, k, v = p.arrays()
        names = list(p.keys)
        return sorted(zip(r.tolist(), [names[i] for i in k], v.to_pylist(), strict=True))

    assert triples(bulk) == triples(reference)
    assert sorted(r for r, _ in bulk.bad_json) == sorted(r for r, _ in reference.bad_json)
