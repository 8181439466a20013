"""Problem rows: previews, the collector's order and types, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectly_nb._problems import (
    VALUE_PREVIEW,
    ProblemCollector,
    empty_problems,
    preview,
    problem,
    problem_summary,
)
from connectly_nb.schema import PROBLEM_CODES, PROBLEM_TABLE_COLUMNS, SEVERITIES

DTYPES = {
    "line": "Int64",
    "column": "str",
    "value": "str",
    "message": "str",
    "message_id": "Int64",
}


def assert_problem_types(frame: pd.DataFrame, sources: list[str]) -> None:
    assert tuple(frame.columns) == PROBLEM_TABLE_COLUMNS
    for column, dtype in DTYPES.items():
        assert frame[column].dtype == dtype, column
    assert list(frame["source"].cat.categories) == sources
    assert list(frame["problem"].cat.categories) == list(PROBLEM_CODES)
    assert list(frame["severity"].cat.categories) == list(SEVERITIES)
    assert frame["severity"].cat.ordered


def test_preview_cuts_at_200_characters_and_blanks_are_none():
    assert VALUE_PREVIEW == 200
    assert preview("x" * 200) == "x" * 200
    assert preview("x" * 201) == "x" * 200 + "…"
    assert len(preview("y" * 1_100_000)) == 201
    assert preview(None) is None
    assert preview(float("nan")) is None
    assert preview(42) == "42"
    assert preview("") == ""


def test_a_file_level_problem_row_takes_its_severity_from_the_catalogue():
    row = problem("a.csv", None, "store", "Loja" * 100, "extra_column", "kept as text")
    assert row == {
        "source": "a.csv",
        "line": None,
        "column": "store",
        "value": ("Loja" * 100)[:200] + "…",
        "problem": "extra_column",
        "severity": "info",
        "message": "kept as text",
    }


def test_collector_rows_are_sorted_by_file_order_line_column_and_code_and_typed():
    names = ["b.csv", "a.csv"]  # file order, not alphabetical
    src = np.array([0, 0, 0, 1, 1])
    line = np.array([2, 3, 4, 2, 3])
    collector = ProblemCollector(names, src, line)
    collector.add_cells(np.array([4, 1]), "read_at", ["N/A", "x" * 300], "bad_timestamp", "bad")
    collector.add_cells(np.array([1]), "button_clicks", ["[{"], "bad_json", ["invalid"])
    collector.add_cells(np.array([], dtype=int), "read_at", [], "bad_timestamp", "none")
    collector.add_rows([problem("a.csv", None, None, None, "blank_lines", "2 blank lines")])
    collector.add_rows([])
    out = collector.frame(np.array([0, 1, 1, 2, 3]))  # records 1 and 2 merged into message 1
    assert_problem_types(out, names)
    assert out["source"].tolist() == ["b.csv", "b.csv", "a.csv", "a.csv"]
    assert out["line"].astype(object).tolist() == [3, 3, pd.NA, 3]  # no line sorts first
    assert out["column"].fillna("-").tolist() == ["button_clicks", "read_at", "-", "read_at"]
    assert out["problem"].tolist() == ["bad_json", "bad_timestamp", "blank_lines", "bad_timestamp"]
    assert out["message_id"].astype(object).tolist() == [1, 1, pd.NA, 3]
    assert out["severity"].tolist() == ["warning", "warning", "info", "warning"]
    assert out["value"].iloc[1] == "x" * 200 + "…"
    assert out["message"].tolist() == ["invalid", "bad", "2 blank lines", "bad"]


def test_empty_problems_has_the_columns_and_types_of_a_full_table():
    empty = empty_problems(["x.csv"])
    assert len(empty) == 0
    assert_problem_types(empty, ["x.csv"])
    assert_problem_types(empty_problems(), [])


def test_problem_summary_counts_by_severity_then_catalogue_order_with_meanings(sample, golden):
    summary = problem_summary(sample.problems)
    assert list(summary.columns) == ["severity", "problem", "rows", "meaning"]
    # most severe first; within a severity the catalogue's order (file-level, then cells)
    assert summary[["severity", "problem"]].values.tolist() == [
        ["warning", "mangled_id"],
        ["warning", "bad_timestamp"],
        ["warning", "bad_json"],
        ["info", "merged_duplicate"],
    ]
    assert dict(zip(summary["problem"], summary["rows"], strict=True)) == golden["problems"]
    assert summary["meaning"].tolist() == [PROBLEM_CODES[p].description for p in summary["problem"]]
    assert summary["meaning"].iloc[-1] == "record repeats a message; merged into it"
    pd.testing.assert_frame_equal(sample.problem_summary(), summary)


def test_problem_summary_puts_errors_first_and_is_empty_without_problems():
    collector = ProblemCollector(["f.csv"], np.array([0, 0]), np.array([2, 3]))
    collector.add_cells(np.array([0]), "sendout_id", [""], "missing_value", "blank")
    collector.add_rows([problem("f.csv", 3, None, None, "wrong_field_count", "short")])
    collector.add_rows([problem("f.csv", None, "x", None, "extra_column", "kept")])
    summary = problem_summary(collector.frame(np.array([0, 1])))
    assert summary["severity"].tolist() == ["error", "warning", "info"]
    assert summary["problem"].tolist() == ["wrong_field_count", "missing_value", "extra_column"]
    assert summary["rows"].tolist() == [1, 1, 1]
    none = problem_summary(empty_problems())
    assert none.empty
    assert list(none.columns) == ["severity", "problem", "rows", "meaning"]
