"""read_export end to end: sources, folders, globs, progress, and threaded == sequential."""

from __future__ import annotations

import io

import pytest

from connectly_nb import ExportNotFoundError, read_export, tidy
from connectly_nb.datasets import sample_path
from tests.conftest import assert_same_export, csv_text, row

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


def test_unknown_time_zone_is_a_clear_error(write_export):
    with pytest.raises(ValueError, match="unknown time zone"):
        read_export(write_export([row()]), tz="Mars/Olympus")


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


# --------------------------------------------------------------------------- threads


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


def test_several_files_with_only_a_header_read_as_an_empty_export(write_export):
    # found by the store's property test: Arrow gave no chunk to encode and raised
    ex = read_export([write_export([]), write_export([])])
    assert len(ex.messages) == 0
    assert list(ex.accounting["records_read"]) == [0, 0]
