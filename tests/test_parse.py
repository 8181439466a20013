"""Cell parsers: timestamps, click arrays, variable objects, JSON limits, Arrow helpers.

The end-to-end checks write one cell into an export and read it back; the
bulk parsers (Arrow's JSON reader, block by block) are checked against the
cell-by-cell parser on thousands of mixed cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from connectly_nb import _parse, read_export
from tests.conftest import problems_of, row

CLICK = '{"id": "btn_1", "name": "Ver ofertas", "ts": "2024-05-10 20:20:00"}'


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-10 20:13:50.682000", "2024-05-10 20:13:50.682000+00:00"),
        ("2024-05-10 20:13:50", "2024-05-10 20:13:50+00:00"),
        ("2024-05-10T20:13:50Z", "2024-05-10 20:13:50+00:00"),
        ("2024-05-10T20:13:50.5+00:00", "2024-05-10 20:13:50.500000+00:00"),
        ("2024-05-10T22:13:50+02:00", "2024-05-10 20:13:50+00:00"),
        (" 2024-05-10 20:13:50 ", "2024-05-10 20:13:50+00:00"),
    ],
)
def test_timestamp_formats_become_utc(write_export, text, expected):
    ex = read_export(write_export([row(delivered_at=text), row(customer_external_id="+2")]))
    assert ex.messages["delivered_at"].iloc[0] == pd.Timestamp(expected)
    assert ex.problems.empty


@pytest.mark.parametrize(
    "bad", ["N/A", "2024-02-31 10:00:00", "yesterday", "10/05/2024 20:13", "0"]
)
def test_unparseable_timestamps_are_nat_and_reported_never_silent(write_export, bad):
    ex = read_export(
        write_export(
            [row(read_at=bad), row(customer_external_id="+2", read_at="2024-05-10 21:00:00")]
        )
    )
    assert ex.messages["read_at"].iloc[0] is pd.NaT
    assert ex.messages["read_at"].iloc[1] == pd.Timestamp("2024-05-10 21:00:00", tz="UTC")
    rep = problems_of(ex, "bad_timestamp")
    assert rep[["line", "column", "value"]].values.tolist() == [[2, "read_at", bad]]


def test_parse_timestamps_reads_every_slice_and_marks_only_non_blank_failures(monkeypatch):
    monkeypatch.setattr(_parse, "_TS_SLICE", 4)  # slices of vendor format and messy ones
    cells = [
        "2024-05-10 20:13:50.682000",
        None,
        "",
        "  ",
        "2024-05-10T22:13:50+02:00",
        "N/A",
        "2024-02-31 10:00:00",
        "2024-05-10 20:13:50",
        "2024-05-10 20:13:50",
    ]
    values, bad = _parse.parse_timestamps(pa.chunked_array([cells[:5], cells[5:]]))
    assert values.dtype == np.dtype("datetime64[us]")
    assert bad.tolist() == [False, False, False, False, False, True, True, False, False]
    assert np.isnat(values).tolist() == [False, True, True, True, False, True, True, False, False]
    assert values[4] == np.datetime64("2024-05-10T20:13:50")  # the offset applied
    assert values[0] == np.datetime64("2024-05-10T20:13:50.682")


# --------------------------------------------------------------------------- clicks


@pytest.mark.parametrize(
    ("cell", "n"),
    [
        (f"[{CLICK}]", 1),
        (f"[{CLICK}, {CLICK.replace('btn_1', 'btn_2')}]", 2),
        (CLICK, 1),  # the vendor's example: a bare object
        ("[]", 0),
        ("", 0),
        ("null", 0),
        ("  [ ]  ", 0),
    ],
)
def test_click_cell_shapes(write_export, cell, n):
    ex = read_export(write_export([row(button_clicks=cell)]))
    assert ex.messages["n_button_clicks"].tolist() == [n]
    assert len(ex.clicks) == n
    assert ex.problems.empty
    if n:
        first = ex.clicks.iloc[0]
        assert (first["kind"], first["id"], first["name"]) == ("button", "btn_1", "Ver ofertas")
        assert first["ts"] == pd.Timestamp("2024-05-10 20:20:00", tz="UTC")
        assert first["line"] == 2


@pytest.mark.parametrize("cell", ['[{"id": "btn_1"', "{oops}", "[1, 2]", '"clicked"', "42"])
def test_bad_click_cells_are_reported_and_the_row_stays(write_export, cell):
    ex = read_export(write_export([row(link_clicks=cell, read_at="2024-05-10 21:00:00")]))
    assert len(ex.messages) == 1
    assert ex.messages["n_link_clicks"].tolist() == [0]
    assert ex.messages["is_read"].tolist() == [True]
    assert len(ex.problems) >= 1
    assert set(ex.problems["problem"]) <= {"bad_json", "bad_click"}
    assert ex.problems["column"].unique().tolist() == ["link_clicks"]


def test_click_ids_that_are_numbers_are_read_as_text(write_export):
    ex = read_export(write_export([row(button_clicks='[{"id": 7, "name": "Sim", "ts": null}]')]))
    assert ex.clicks[["id", "name"]].values.tolist() == [["7", "Sim"]]
    assert ex.clicks["ts"].isna().all()


def test_many_click_cells_with_one_bad_cell_lose_only_that_cell(write_export):
    rows = [row(customer_external_id=f"+{i}", button_clicks=f"[{CLICK}]") for i in range(5000)]
    rows[1234]["button_clicks"] = "[{broken"
    ex = read_export(write_export(rows))
    assert ex.messages["n_button_clicks"].sum() == 4999
    assert problems_of(ex, "bad_json")["line"].tolist() == [1236]


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


# --------------------------------------------------------------------------- variables


def test_variables_become_one_row_per_key(write_export):
    ex = read_export(
        write_export(
            [
                row(
                    input_variables='{"city": "São Paulo", "age": 31, "vip": true, "score": 1.5, '
                    '"tags": ["a"], "nothing": null}',
                    output_variables='{"replied": true}',
                ),
            ]
        )
    )
    v = ex.variables
    got = dict(zip(zip(v["direction"], v["key"], strict=True), v["value"], strict=True))
    assert got == {
        ("input", "city"): "São Paulo",
        ("input", "age"): "31",
        ("input", "vip"): "true",
        ("input", "score"): "1.5",
        ("input", "tags"): '["a"]',
        ("output", "replied"): "true",
    }
    assert ex.problems.empty


def test_bad_variables_json_is_reported(write_export):
    ex = read_export(
        write_export(
            [
                row(input_variables="{'single': 'quotes'}"),
                row(customer_external_id="+2", output_variables="[1]"),
            ]
        )
    )
    bad = problems_of(ex, "bad_json")
    assert bad[["line", "column"]].values.tolist() == [
        [2, "input_variables"],
        [3, "output_variables"],
    ]
    assert len(ex.variables) == 0


def test_bulk_and_cell_by_cell_variables_parsers_agree(write_export):
    rows = [
        row(customer_external_id=f"+{i}", input_variables=f'{{"n": {i}, "s": "v{i}"}}')
        for i in range(3000)
    ]
    rows[10]["input_variables"] = '{"n": 1.25, "s": "float forces the careful path"}'
    ex = read_export(write_export(rows))
    v = ex.variables
    assert len(v) == 6000
    n = v[v["key"] == "n"].set_index("message_id")["value"]
    assert n.loc[10] == "1.25"
    assert n.loc[2999] == "2999"
    assert v["message_id"].is_monotonic_increasing


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


def test_variables_columns_share_their_key_codes():
    keys: dict[str, int] = {}
    a = _parse.parse_variables(pa.chunked_array([['{"city": "Rio"}', '{"tier": "gold"}']]), keys)
    b = _parse.parse_variables(pa.chunked_array([['{"tier": "x", "city": "y"}']]), keys)
    assert keys == {"city": 0, "tier": 1}
    assert a.keys is b.keys is keys
    rows, codes, values = b.arrays()
    assert rows.tolist() == [0, 0]
    assert sorted(zip(codes.tolist(), values.to_pylist(), strict=True)) == [(0, "y"), (1, "x")]


# --------------------------------------------------------------------------- JSON limits


def test_json_nested_deeper_than_the_limit_is_too_large_not_parsed():
    deep = "[" * (_parse.MAX_JSON_DEPTH + 1) + "]" * (_parse.MAX_JSON_DEPTH + 1)
    ok = "[" * _parse.MAX_JSON_DEPTH + "]" * _parse.MAX_JSON_DEPTH
    out = _parse.parse_clicks(pa.chunked_array([[deep, ok, '["[[[[", "{{{{"]']]))
    assert [r for r, _ in out.too_large] == [0]
    assert "nested deeper than 64 levels" in out.too_large[0][1]
    assert out.bad_json == []
    assert sorted(r for r, _ in out.bad_click) == [1, 2, 2]  # brackets inside strings count not


def test_a_json_cell_over_the_size_limit_is_too_large_not_parsed():
    huge = '{"k": "' + "x" * _parse.MAX_JSON_CHARS + '"}'
    out = _parse.parse_variables(pa.chunked_array([["{}", huge, '{"k": "v"}']]))
    assert [r for r, _ in out.too_large] == [1]
    assert "exceeds 1,048,576" in out.too_large[0][1]
    rows, _, values = out.arrays()
    assert (rows.tolist(), values.to_pylist()) == ([2], ["v"])


def test_too_large_cells_are_problems_of_the_export(write_export):
    deep = "[" * 70 + "]" * 70
    ex = read_export(write_export([row(button_clicks=deep)]))
    big = problems_of(ex, "too_large")
    assert big[["line", "column"]].values.tolist() == [[2, "button_clicks"]]
    assert ex.messages["n_button_clicks"].tolist() == [0]


# --------------------------------------------------------------------------- Arrow helpers


def test_take_rows_matches_take_for_few_and_many_rows():
    col = pa.chunked_array([[str(i) for i in range(k, k + 10)] for k in range(0, 3000, 10)])
    table = pa.table(
        {"a": col, "b": pa.chunked_array([c.cast(pa.large_string()) for c in col.chunks])}
    )
    for rows in (np.array([], dtype=np.int64), np.array([0, 9, 10, 2999]), np.arange(0, 3000, 2)):
        assert _parse.take_rows(col, rows).to_pylist() == col.take(pa.array(rows)).to_pylist()
        assert _parse.take_rows(table, rows).to_pylist() == table.take(pa.array(rows)).to_pylist()


def test_take_rows_of_a_plain_array_and_of_no_rows():
    arr = pa.array(["a", "b", "c"])
    assert _parse.take_rows(arr, np.array([2, 0])).to_pylist() == ["c", "a"]
    col = pa.chunked_array([["a"], ["b", "c"]])
    none = _parse.take_rows(col, np.array([], dtype=np.int64))
    assert (len(none), none.type) == (0, pa.string())


def test_encode_categories_sorts_and_codes_blank_as_minus_one():
    one = pa.chunked_array([["b", None, "a", "b"], ["c", "a"], []])
    codes, categories = _parse.encode_categories(one)
    assert categories == ["a", "b", "c"]
    assert codes.dtype == np.int32
    assert codes.tolist() == [1, -1, 0, 1, 2, 0]
    other = pa.chunked_array([["c", "a", "b", "b", None, "a"]])  # same texts, other order
    codes2, categories2 = _parse.encode_categories(other)
    assert categories2 == categories
    assert codes2.tolist() == [2, 0, 1, 1, -1, 0]
    empty_codes, empty = _parse.encode_categories(pa.chunked_array([[None, None]], pa.string()))
    assert (empty_codes.tolist(), empty) == ([-1, -1], [])


def test_encode_categories_equals_pandas_categoricals_on_many_chunks():
    rng = np.random.default_rng(4)
    words = ["Promo", "Ação", "Black Friday 🎉", "", "z", "A"]
    values = [None if i == 6 else words[i] for i in rng.integers(0, 7, 3000)]
    arr = pa.chunked_array([values[k : k + 250] for k in range(0, 3000, 250)])
    codes, categories = _parse.encode_categories(arr)
    want = pd.Categorical(values, categories=sorted({v for v in values if v is not None}))
    assert categories == list(want.categories)
    assert codes.tolist() == want.codes.tolist()
