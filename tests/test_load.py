"""Bytes -> raw table: encodings, delimiters, headers, line numbers and the two parsers.

Most checks read a file end to end with ``read_export`` (what a user sees);
the raw table itself is checked through :func:`connectly_nb.load.read_raw`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from connectly_nb import ExportFormatError, load, read_export
from connectly_nb.schema import EXPORT_COLUMNS
from tests.conftest import csv_text, problems_of, row

# --------------------------------------------------------------------------- encodings


def test_utf8_with_bom_reads_first_column_name(write_export):
    path = write_export(text="\ufeff" + csv_text([row(campaign_name="Promoção")]))
    ex = read_export(path)
    assert list(ex.messages.columns[:15]) == list(EXPORT_COLUMNS)
    assert ex.messages["campaign_name"].tolist() == ["Promoção"]
    assert ex.problems.empty


def test_windows_1252_decodes_curly_quotes_and_euro_with_a_warning(write_export):
    name = "“Oferta” de 5€ – já"
    path = write_export([row(campaign_name=name)], encoding="cp1252")
    ex = read_export(path)
    assert ex.messages["campaign_name"].tolist() == [name]
    warn = problems_of(ex, "not_utf8")
    assert len(warn) == 1
    assert warn["severity"].iloc[0] == "warning"
    assert "Windows-1252" in warn["message"].iloc[0]


def test_windows_1252_detected_even_when_the_first_64k_are_ascii(write_export):
    rows = [row(customer_external_id=f"+55119{i:08d}") for i in range(3000)]
    rows.append(row(customer_external_id="+5511000000001", campaign_name="Preço €9"))
    path = write_export(rows, encoding="cp1252")
    ex = read_export(path)
    assert len(ex.messages) == 3001
    assert ex.messages["campaign_name"].iloc[-1] == "Preço €9"
    assert len(problems_of(ex, "not_utf8")) == 1


def test_utf16_excel_unicode_text_is_read(write_export):
    path = write_export([row(campaign_name="Olá")], encoding="utf-16", delimiter="\t")
    ex = read_export(path)
    assert ex.messages["campaign_name"].tolist() == ["Olá"]


# --------------------------------------------------------------------------- delimiters and lines


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("lineterminator", ["\n", "\r\n"])
def test_delimiter_and_line_endings_are_detected(write_export, delimiter, lineterminator):
    rows = [row(campaign_name="A, B; C | D"), row(customer_external_id="+5511900000002")]
    path = write_export(rows, delimiter=delimiter, lineterminator=lineterminator)
    ex = read_export(path)
    assert ex.messages["campaign_name"].tolist() == ["A, B; C | D", "Promo"]
    assert ex.messages["line"].tolist() == [2, 3]
    assert ex.accounting["delimiter"].iloc[0] == delimiter
    assert ex.messages["sent_at"].notna().all()


def test_quoted_newlines_keep_line_numbers_of_the_first_physical_line(write_export):
    rows = [
        row(customer_external_id="+1", campaign_name="one\nline two\nline three"),
        row(customer_external_id="+2", error_msg='he said "no"\r\nthen left'),
        row(customer_external_id="+3"),
    ]
    path = write_export(rows, lineterminator="\r\n")
    ex = read_export(path)
    assert ex.messages["customer_external_id"].tolist() == ["+1", "+2", "+3"]
    assert ex.messages["line"].tolist() == [2, 5, 7]
    assert ex.messages["campaign_name"].iloc[0] == "one\nline two\nline three"
    assert ex.messages["error_msg"].iloc[1] == 'he said "no"\r\nthen left'


def test_blank_lines_are_skipped_counted_and_line_numbers_stay_true(write_export):
    text = (
        csv_text([row(customer_external_id="+1")])
        + "\n\n"
        + csv_text([row(customer_external_id="+2")]).split("\n", 1)[1]
    )
    path = write_export(text=text)
    ex = read_export(path)
    assert ex.messages["line"].tolist() == [2, 5]
    assert ex.accounting["blank_lines"].iloc[0] == 2
    assert len(problems_of(ex, "blank_lines")) == 1


def test_repeated_header_from_concatenated_reports_is_skipped(write_export):
    a = csv_text([row(customer_external_id="+1")])
    b = csv_text([row(customer_external_id="+2")])
    ex = read_export(write_export(text=a + b))
    assert ex.messages["customer_external_id"].tolist() == ["+1", "+2"]
    assert ex.messages["line"].tolist() == [2, 4]
    rep = problems_of(ex, "repeated_header")
    assert rep["line"].tolist() == [3]
    assert ex.accounting["repeated_headers"].iloc[0] == 1


def test_wrong_field_count_rows_are_kept_padded_and_reported(write_export):
    good = csv_text([row(customer_external_id="+1")])
    short = "+2,biz,Promo,sendout-x\n"
    long = (
        ",".join(["+3", "biz", "Promo", "sendout-x", "s", "2024-05-10 10:00:00"] + ["x"] * 12)
        + "\n"
    )
    ex = read_export(write_export(text=good + short + long))
    assert ex.messages["customer_external_id"].tolist() == ["+1", "+2", "+3"]
    assert ex.messages["line"].tolist() == [2, 3, 4]
    bad = problems_of(ex, "wrong_field_count")
    assert bad["line"].tolist() == [3, 4]
    assert (bad["severity"] == "error").all()
    assert ex.messages["sent_at"].iloc[1] is pd.NaT
    assert ex.accounting["parser"].iloc[0] == "python"


def test_unterminated_quote_keeps_the_record(write_export):
    text = csv_text([row(customer_external_id="+1")]) + '+2,b,"Promo,s\n+3,b,Promo,s\n'
    ex = read_export(write_export(text=text))
    assert ex.messages["customer_external_id"].tolist()[:2] == ["+1", "+2"]
    assert ex.accounting["records_read"].iloc[0] == len(ex.messages)


def test_line_numbers_are_exact_in_a_large_file_with_multiline_cells(write_export):
    rows = []
    expected = []
    line = 2
    rng = np.random.default_rng(3)
    for i in range(20_000):
        breaks = int(rng.integers(0, 3)) if i % 97 == 0 else 0
        rows.append(row(customer_external_id=f"+{i}", error_msg="x" + "\n" * breaks))
        expected.append(line)
        line += 1 + breaks
    ex = read_export(write_export(rows))
    assert ex.accounting["parser"].iloc[0] == "pyarrow"
    assert ex.messages["line"].tolist() == expected


@pytest.mark.parametrize("body", [b"", b"a\n", b"a\nb", b"a\r\nb\r\n\n", b"x" * 20 + b"\n" * 9])
def test_newline_count_over_chunk_boundaries(body, tmp_path, monkeypatch):
    monkeypatch.setattr(load, "_COUNT_CHUNK", 4)
    path = tmp_path / "f.csv"
    path.write_bytes(body)
    expected = (body.count(b"\n"), body.endswith(b"\n"))
    (inp,) = load.resolve_sources(path)
    assert load._count_newlines(inp) == expected
    assert load._count_newlines(inp, body) == expected


# --------------------------------------------------------------------------- header


def test_columns_in_another_order_are_matched_by_name(write_export):
    cols = list(reversed(EXPORT_COLUMNS))
    ex = read_export(write_export([row(campaign_name="X", error_code="131026")], columns=cols))
    assert list(ex.messages.columns[:15]) == list(EXPORT_COLUMNS)
    assert ex.messages["campaign_name"].tolist() == ["X"]
    assert ex.messages["error_code"].tolist() == ["131026"]


def test_extra_columns_are_kept_after_the_known_ones_with_an_info(write_export):
    cols = [*EXPORT_COLUMNS[:3], "store", *EXPORT_COLUMNS[3:]]
    ex = read_export(write_export([row(store="Loja 7")], columns=cols))
    assert list(ex.messages.columns[:16]) == [*EXPORT_COLUMNS, "store"]
    assert ex.messages["store"].tolist() == ["Loja 7"]
    info = problems_of(ex, "extra_column")
    assert info["column"].tolist() == ["store"]
    assert info["severity"].tolist() == ["info"]


def test_header_with_spaces_and_capitals_is_matched(write_export):
    cols = [" CAMPAIGN_NAME " if c == "campaign_name" else c for c in EXPORT_COLUMNS]
    ex = read_export(write_export([row(**{" CAMPAIGN_NAME ": "X"})], columns=cols))
    assert ex.messages["campaign_name"].tolist() == ["X"]
    assert problems_of(ex, "renamed_column")["column"].tolist() == ["campaign_name"]


def test_duplicate_header_keeps_the_first_and_the_copy_as_extra(write_export):
    cols = [*EXPORT_COLUMNS, "error_code"]
    text = csv_text([row(error_code="131026")], columns=cols)
    ex = read_export(write_export(text=text))
    assert ex.messages["error_code"].tolist() == ["131026"]
    assert "error_code.1" in ex.messages.columns
    assert len(problems_of(ex, "duplicate_column")) == 1


def test_missing_optional_columns_are_added_empty_with_warnings(write_export):
    cols = ["customer_external_id", "campaign_name", "sendout_id", "sent_at", "read_at"]
    ex = read_export(write_export([row(read_at="2024-05-10 21:00:00")], columns=cols))
    assert list(ex.messages.columns[:15]) == list(EXPORT_COLUMNS)
    assert ex.messages["input_variables"].isna().all()
    assert ex.messages["is_read"].tolist() == [True]
    missing = problems_of(ex, "missing_column")
    assert set(missing["column"]) == set(EXPORT_COLUMNS) - set(cols)
    assert (missing["severity"] == "warning").all()


def test_missing_required_column_names_file_missing_and_found(write_export):
    cols = [c for c in EXPORT_COLUMNS if c != "sendout_id"]
    path = write_export([row()], columns=cols)
    with pytest.raises(ExportFormatError) as info:
        read_export(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "sendout_id" in msg
    assert "campaign_name" in msg  # a column it did find


def test_empty_file_is_a_format_error(write_export):
    path = write_export(text="")
    with pytest.raises(ExportFormatError, match="empty"):
        read_export(path)


def test_a_file_that_is_not_an_export_is_a_format_error(write_export):
    path = write_export(text="name,age\nAna,31\n")
    with pytest.raises(ExportFormatError, match="not a Connectly campaign export"):
        read_export(path)


def test_binary_junk_is_a_format_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ExportFormatError):
        read_export(path)


def test_header_only_file_gives_an_empty_typed_export(write_export):
    ex = read_export(write_export([]))
    assert len(ex.messages) == 0
    assert list(ex.messages.columns[:15]) == list(EXPORT_COLUMNS)
    assert str(ex.messages["sent_at"].dtype) == "datetime64[us, UTC]"
    assert ex.messages["campaign_name"].dtype == "category"
    assert ex.messages["customer_external_id"].dtype == "str"
    assert len(ex.clicks) == 0
    assert len(ex.variables) == 0
    assert ex.accounting["records_read"].tolist() == [0]


# --------------------------------------------------------------------------- the raw table


def test_read_raw_gives_text_columns_in_export_order_and_the_lines(write_export):
    cols = ["read_at", "store", *[c for c in EXPORT_COLUMNS if c != "read_at"]]
    text = csv_text(
        [row(customer_external_id="+1", store="7"), row(customer_external_id="+2", sent_at="")],
        columns=cols,
        delimiter=";",
    )
    (inp,) = load.resolve_sources(write_export(text=text + "\n"))
    raw = load.read_raw(inp)
    assert raw.table.column_names == [*EXPORT_COLUMNS, "store", "line"]
    assert all(raw.table[c].type == pa.string() for c in [*EXPORT_COLUMNS, "store"])
    assert raw.table["line"].to_pylist() == [2, 3]
    assert raw.table["customer_external_id"].to_pylist() == ["+1", "+2"]
    assert raw.table["sent_at"].to_pylist() == ["2024-05-10 20:13:50.682000", None]  # blank: null
    assert raw.table["store"].to_pylist() == ["7", None]
    assert (raw.source, raw.delimiter, raw.encoding, raw.parser) == (
        str(inp.name),
        ";",
        "utf-8",
        "pyarrow",
    )
    assert raw.extra_columns == ["store"]
    assert (raw.repeated_headers, raw.blank_lines) == (0, 1)
    assert [p["problem"] for p in raw.problems] == ["extra_column", "blank_lines"]


def test_both_parsers_give_the_same_raw_table(write_export, monkeypatch):
    rows = [
        row(customer_external_id=f"+{i}", campaign_name="a\nb" if i % 3 == 0 else "c")
        for i in range(50)
    ]
    (inp,) = load.resolve_sources(write_export(rows))
    fast = load.read_raw(inp)

    def refuse(*args, **kwargs):
        raise load._SlowPath("forced")

    monkeypatch.setattr(load, "_parse_fast", refuse)
    slow = load.read_raw(inp)
    assert (fast.parser, slow.parser) == ("pyarrow", "python")
    assert slow.table.equals(fast.table)


# --------------------------------------------------------------------------- issue 14, items 14-18


def test_a_stray_quote_that_swallows_the_file_is_reported_with_its_span(write_export):
    rows = [row(customer_external_id=f"+55119{i:08d}") for i in range(10_000)]
    rows[1]["campaign_name"] = "PLACEHOLDER"
    text = csv_text(rows).replace("PLACEHOLDER", '"Promo', 1)  # opened, never closed
    ex = read_export(write_export(text=text))
    acc = ex.accounting.iloc[0]
    assert acc["records_read"] == acc["rows_kept"] + acc["duplicates_merged"] == 2
    assert acc["records_swallowed"] == 9_998
    (runaway,) = problems_of(ex, "runaway_quote").itertuples()
    assert runaway.line == 3
    assert runaway.severity == "error"
    assert "lines 3-10001" in runaway.message
    assert "9,998 records" in runaway.message
    assert runaway.column == "campaign_name"


def test_a_stray_quote_closed_by_another_is_reported_by_the_fast_parser_too(write_export):
    rows = [row(customer_external_id=f"+55119{i:08d}") for i in range(50)]
    rows[10]["campaign_name"] = "OPEN"
    rows[20]["error_msg"] = "CLOSE"
    text = csv_text(rows).replace("OPEN", '"Promo', 1).replace(",CLOSE,", ',x",', 1)
    ex = read_export(write_export(text=text))
    acc = ex.accounting.iloc[0]
    assert acc["records_read"] == acc["rows_kept"] + acc["duplicates_merged"]
    assert acc["records_read"] + acc["records_swallowed"] == 50
    (runaway,) = problems_of(ex, "runaway_quote").itertuples()
    assert runaway.line == 12
    assert "lines 12-22" in runaway.message


def test_quoted_line_breaks_are_not_mistaken_for_a_runaway_quote(write_export):
    rows = [row(customer_external_id="+1", error_msg="line one\nline two, with a comma\n3")]
    ex = read_export(write_export(rows))
    assert problems_of(ex, "runaway_quote").empty
    assert ex.accounting["records_swallowed"].tolist() == [0]


def test_one_line_that_is_not_utf8_is_decoded_alone(write_export, tmp_path):
    rows = [
        row(customer_external_id=f"+55119{i:08d}", campaign_name="Reativação 🎉")
        for i in range(3000)
    ]
    good = csv_text(rows).encode("utf-8")
    assert len(good) > 1 << 16
    late = csv_text([row(customer_external_id="+5511000000001", campaign_name="Preço €9")])
    path = tmp_path / "mixed.csv"
    path.write_bytes(good + late.split("\n", 1)[1].encode("cp1252"))
    ex = read_export(path)
    names = ex.messages["campaign_name"].astype(str)
    assert (names.iloc[:3000] == "Reativação 🎉").all()
    assert names.iloc[3000] == "Preço €9"
    (warn,) = problems_of(ex, "not_utf8").itertuples()
    assert warn.line == 3002
    assert "Windows-1252" in warn.message


def test_two_bom_prefixed_exports_concatenated_are_two_exports(write_export):
    a = "\ufeff" + csv_text([row(customer_external_id="+1")])
    b = "\ufeff" + csv_text([row(customer_external_id="+2")])
    ex = read_export(write_export(text=a + b))
    assert ex.messages["customer_external_id"].tolist() == ["+1", "+2"]
    assert problems_of(ex, "repeated_header")["line"].tolist() == [3]
    assert "campaign_name" not in ex.messages["campaign_name"].astype(str).tolist()


@pytest.mark.parametrize(
    "stamp",
    ["0001-01-01 00:00:00", "0001-01-01T00:00:00Z", "1900-01-01 00:00:00", "9999-12-31 23:59:59"],
)
def test_timestamps_out_of_range_are_problems_treated_as_absent(write_export, stamp):
    from connectly_nb import metrics

    rows = [
        row(customer_external_id="+1", sent_at=stamp, delivered_at="2024-05-10 21:00:00"),
        row(customer_external_id="+2", read_at=stamp, delivered_at="2024-05-10 21:00:00"),
    ]
    ex = read_export(write_export(rows))
    assert ex.messages["sent_at"].isna().tolist() == [True, False]
    assert ex.messages["read_at"].isna().all()
    bad = problems_of(ex, "bad_timestamp")
    assert bad[["line", "column"]].values.tolist() == [[2, "sent_at"], [3, "read_at"]]
    assert "2000-01-01" in bad["message"].iloc[0]
    metrics.latency(ex)  # OutOfBoundsTimedelta before
    metrics.timeline(ex)


def test_a_header_longer_than_64_kib_is_read_whole(write_export):
    extras = [f"extra_{i:04d}_" + "x" * 70 for i in range(900)]
    columns = [*extras, *EXPORT_COLUMNS]  # the export's columns come after 64 KiB
    text = csv_text([row(**dict.fromkeys(extras, "v"))], columns=columns)
    assert text.index("customer_external_id") > 1 << 16
    ex = read_export(write_export(text=text))
    assert ex.messages["sent_at"].notna().all()
    assert problems_of(ex, "wrong_field_count").empty
    assert len(problems_of(ex, "extra_column")) == 900


def test_too_many_columns_is_a_clear_error(write_export):
    columns = [*EXPORT_COLUMNS, *(f"c{i}" for i in range(load.MAX_COLUMNS))]
    path = write_export(text=",".join(columns) + "\n")
    with pytest.raises(ExportFormatError, match=f"at most {load.MAX_COLUMNS:,} columns") as info:
        read_export(path)
    assert str(path) in str(info.value)


def test_many_extra_columns_load_in_linear_time(write_export, monkeypatch):
    # 1,000 columns took 1.6 s, 6,000 took 33 s: a new table per column, lists searched
    monkeypatch.setattr(load, "MAX_COLUMNS", 5_000)
    columns = [*EXPORT_COLUMNS, *(f"c{i}" for i in range(3_000))]
    rows = [row(customer_external_id=f"+{i}") for i in range(3)]
    path = write_export(rows, columns=columns)
    started = time.perf_counter()
    ex = read_export(path)
    assert len(ex.problems) == 3_000  # an extra_column info each
    assert len(ex.messages.columns) > 3_000
    assert time.perf_counter() - started < 6  # about 1.5 s here; 10 s and more before


def test_a_line_decoded_alone_inside_a_record_points_at_the_record(tmp_path):
    # found by test_properties: a Windows-1252 byte on the second line of a quoted value
    text = csv_text([row(customer_external_id="+1", error_msg="\nã")])
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode("cp1252"))
    ex = read_export(path)
    assert ex.messages["error_msg"].tolist() == ["\nã"]
    (warn,) = problems_of(ex, "not_utf8").itertuples()
    assert warn.line == 2
    assert "line 3, in the record that starts on line 2" in warn.message
