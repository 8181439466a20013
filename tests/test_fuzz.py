"""Fuzzing the loader with hostile and broken files.

Every case must end in an Export (with problems) or an ExportFormatError with
a message: never another exception, never a hang, and always
records read = rows kept + duplicates merged. The budget is capped for
``make test``; ``make fuzz`` (HYPOTHESIS_PROFILE=long) runs many more examples.
Cases that once failed are kept as files in tests/data/fuzz_regressions/.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectly_nb import ExportFormatError, read_export
from connectly_nb.schema import EXPORT_COLUMNS

REGRESSIONS = Path(__file__).parent / "data" / "fuzz_regressions"

pytestmark = pytest.mark.usefixtures("both_load_modes")  # sequential and threaded loads

nasty_text = st.lists(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from([*",;|\t\"'\n\r\x00{}[]=+-@\\\ufeff", "\r\n", '""']),
    max_size=30,
).map("".join)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def _json(value) -> str:
    import json

    return json.dumps(value)


cell = st.one_of(
    nasty_text,
    st.sampled_from(
        [
            "",
            "N/A",
            "2024-02-31 10:00:00",
            "2024-05-10 20:13:50.682000",
            "2024-05-10T20:13:50Z",
            "5.51199E+12",
            "[]",
            "{}",
            "null",
            "[{",
            "{]",
        ]
    ),
    json_like.map(_json),
    st.integers(1, 200).map(lambda d: "[" * d + "]" * d),  # deep nesting
)


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    columns = list(EXPORT_COLUMNS)
    if draw(st.booleans()):
        columns = draw(st.permutations(columns))
    header = [draw(st.sampled_from([c, c.upper(), f" {c} ", c.title()])) for c in columns]
    if draw(st.booleans()):
        header.append(draw(st.sampled_from(header)))  # a duplicate column
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=12))
    if rows and draw(st.booleans()):
        rows[0][0] = "x" * draw(st.sampled_from([10, 70_000, 1_100_000]))  # a huge cell
    buf = io.StringIO()
    writer = csv.writer(
        buf, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))
    )
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # truncated anywhere, mid-quote too
    if draw(st.booleans()):
        junk = draw(st.binary(max_size=64))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + junk + data[at:]  # random bytes somewhere
    return data


def check(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        ex = read_export(path, progress=False)
    except ExportFormatError as exc:
        message = str(exc)
        assert str(path) in message
        return
    acc = ex.accounting
    assert (acc["records_read"] == acc["rows_kept"] + acc["duplicates_merged"]).all()
    assert acc["rows_kept"].sum() == len(ex.messages)
    assert ex.messages["line"].ge(2).all()
    assert set(ex.problems["severity"].dropna()) <= {"error", "warning", "info"}
    len(ex.variables)  # the lazy table builds too


@given(hostile_files())
def test_hostile_files_end_in_an_export_or_a_clear_error(tmp_path_factory, data):
    check(data, tmp_path_factory.mktemp("fuzz"))


@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(tmp_path_factory, data):
    check(data, tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.csv")), ids=lambda p: p.name)
def test_regression_corpus(path, tmp_path):
    check(path.read_bytes(), tmp_path)
