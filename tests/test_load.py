"""Reading real-looking files: encodings, delimiters, headers, line numbers, sources."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from connectly_nb import ExportFormatError, ExportNotFoundError, read_export
from connectly_nb.schema import EXPORT_COLUMNS
from tests.conftest import csv_text, row


def problems_of(ex, code):
    return ex.problems[ex.problems["problem"] == code]


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


# --------------------------------------------------------------------------- delimiters


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


# --------------------------------------------------------------------------- cells


def test_ids_stay_text_exactly_as_written(write_export):
    ids = ["+5511987654321", "005511987654321", "5511987654321", "abc-123"]
    ex = read_export(write_export([row(customer_external_id=i) for i in ids]))
    assert ex.messages["customer_external_id"].tolist() == ids
    assert ex.problems.empty


@pytest.mark.parametrize("mangled", ["5.51199E+12", "5,51199E+12", "5.51199e12", "5511987654321.0"])
def test_excel_mangled_ids_are_kept_and_reported(write_export, mangled):
    ex = read_export(write_export([row(customer_external_id=mangled)]))
    assert ex.messages["customer_external_id"].tolist() == [mangled]
    bad = problems_of(ex, "mangled_id")
    assert bad["value"].tolist() == [mangled]
    assert bad["line"].tolist() == [2]


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


def test_tz_shows_times_in_another_zone_without_changing_instants(write_export):
    path = write_export([row(sent_at="2024-05-10 20:00:00")])
    ex = read_export(path, tz="America/Sao_Paulo")
    sent = ex.messages["sent_at"].iloc[0]
    assert str(sent.tz) == "America/Sao_Paulo"
    assert sent.hour == 17
    assert sent == pd.Timestamp("2024-05-10 20:00:00", tz="UTC")


def test_unknown_time_zone_is_a_clear_error(write_export):
    with pytest.raises(ValueError, match="unknown time zone"):
        read_export(write_export([row()]), tz="Mars/Olympus")


def test_error_codes_stay_strings_numeric_and_connectly_alike(write_export):
    codes = ["131026", "ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT", "", "0"]
    ex = read_export(
        write_export([row(customer_external_id=f"+{i}", error_code=c) for i, c in enumerate(codes)])
    )
    col = ex.messages["error_code"]
    assert col.dtype == "category"
    assert all(isinstance(c, str) for c in col.cat.categories)
    assert col.tolist()[:2] == codes[:2]
    assert pd.isna(col.iloc[2])
    assert col.iloc[3] == "0"
    assert ex.messages["is_failed"].tolist() == [True, True, False, True]


def test_error_msg_without_code_still_counts_as_failed(write_export):
    ex = read_export(write_export([row(error_msg="Message undeliverable")]))
    assert ex.messages["is_failed"].tolist() == [True]


# --------------------------------------------------------------------------- clicks


CLICK = '{"id": "btn_1", "name": "Ver ofertas", "ts": "2024-05-10 20:20:00"}'


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


# --------------------------------------------------------------------------- sources


def test_folder_reads_every_csv_sorted_by_name(write_export, tmp_path):
    write_export([row(customer_external_id="+2")], name="2024-05-11.csv")
    write_export([row(customer_external_id="+1")], name="2024-05-10.csv")
    (tmp_path / "notes.txt").write_text("not an export")
    ex = read_export(tmp_path)
    assert ex.messages["customer_external_id"].tolist() == ["+1", "+2"]
    assert [s.rsplit("/", 1)[-1] for s in ex.accounting["source"]] == [
        "2024-05-10.csv",
        "2024-05-11.csv",
    ]


def test_glob_and_list_sources(write_export, tmp_path):
    a = write_export([row(customer_external_id="+1")], name="a.csv")
    b = write_export([row(customer_external_id="+2")], name="b.csv")
    assert len(read_export(str(tmp_path / "*.csv")).messages) == 2
    assert read_export([b, a]).messages["customer_external_id"].tolist() == ["+2", "+1"]
    assert len(read_export([a, a]).messages) == 1  # the same file named twice is read once


def test_file_objects_text_and_binary(write_export):
    text = csv_text([row()])
    assert len(read_export(io.StringIO(text)).messages) == 1
    assert len(read_export(io.BytesIO(("\ufeff" + text).encode())).messages) == 1
    with write_export([row()]).open("rb") as fh:
        ex = read_export(fh)
    assert ex.messages["source"].iloc[0].endswith(".csv")


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(ExportNotFoundError, match="no such file"):
        read_export(tmp_path / "nope.csv")
    with pytest.raises(ExportNotFoundError, match=r"no \.csv file"):
        read_export(tmp_path)
    with pytest.raises(ExportNotFoundError, match="matches no file"):
        read_export(str(tmp_path / "*.csv"))
    with pytest.raises(TypeError, match="source must be"):
        read_export(42)


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


# --------------------------------------------------------------------------- progress


def test_progress_bar_on_request_and_off_by_default_for_small_files(write_export, capsys):
    path = write_export([row()])
    read_export(path)
    assert capsys.readouterr().err == ""
    read_export(path, progress=True)
    err = capsys.readouterr().err
    assert "reading export" in err
    read_export(path, progress=False)
    assert capsys.readouterr().err == ""


def test_huge_text_cells_are_kept_and_reported(write_export):
    ex = read_export(write_export([row(error_msg="x" * 1_100_000)]))
    assert len(ex.messages["error_msg"].iloc[0]) == 1_100_000
    big = problems_of(ex, "too_large")
    assert big["column"].tolist() == ["error_msg"]
    assert len(big["value"].iloc[0]) <= 201  # the problem shows a preview only
