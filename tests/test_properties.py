"""Property tests: generated exports with random bad cells never lose a record.

Each example writes an export with a random encoding, delimiter and line
ending, random valid and invalid cells (text that cannot be a timestamp or
JSON, quotes, delimiters, newlines) and some repeated message keys, then
checks what ``read_export`` returns against a reference computed straight
from the generated records. ``make fuzz`` runs the same tests with many more
examples (HYPOTHESIS_PROFILE=long).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectly_nb import read_export
from connectly_nb.schema import EXPORT_COLUMNS

pytestmark = pytest.mark.usefixtures("both_load_modes")  # sequential and threaded loads

TIMESTAMP = "2024-05-10 20:13:50.682000"
CLICK = '[{"id": "b1", "name": "Sim", "ts": "2024-05-10 20:20:00"}]'


@dataclass
class Cell:
    text: str
    kind: str  # "valid", "blank" or "bad"


def junk(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Non-blank text that is neither a timestamp nor JSON: it starts with 'x'."""
    return st.text(alphabet, max_size=12).map(lambda t: "x" + t)


@st.composite
def exports(draw: st.DrawFn) -> tuple[bytes, list[dict[str, Cell]], str]:
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    if encoding == "cp1252":
        alphabet = st.sampled_from(list("abcXYZ 019,;|\t\"'\n\r{}[]:éçã€“”–"))
    else:
        alphabet = st.characters(
            codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"
        ) | st.sampled_from(list(",;|\t\"'\n\r{}[]"))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    n = draw(st.integers(0, 25))
    n_keys = max(1, draw(st.integers(1, max(1, n))))
    records = []
    for _ in range(n):
        key = draw(st.integers(0, n_keys - 1))
        rec = {c: Cell("", "blank") for c in EXPORT_COLUMNS}
        rec["customer_external_id"] = Cell(f"+5511{key:08d}", "valid")
        rec["sendout_id"] = Cell("s-1", "valid")
        rec["campaign_name"] = Cell(draw(st.text(alphabet, min_size=1, max_size=10)), "valid")
        for col in ("sent_at", "delivered_at", "read_at"):
            rec[col] = draw(
                st.sampled_from([Cell(TIMESTAMP, "valid"), Cell("", "blank")])
                | junk(alphabet).map(lambda t: Cell(t, "bad"))
            )
        rec["button_clicks"] = draw(
            st.sampled_from([Cell(CLICK, "valid"), Cell("[]", "blank"), Cell("", "blank")])
            | junk(alphabet).map(lambda t: Cell(t, "bad"))
        )
        rec["error_msg"] = Cell(draw(st.text(alphabet, max_size=8)), "valid")
        records.append(rec)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(EXPORT_COLUMNS)
    for rec in records:
        writer.writerow([rec[c].text for c in EXPORT_COLUMNS])
    return buf.getvalue().encode(encoding), records, terminator


def proves_sent(rec: dict[str, Cell]) -> bool:
    """Sent: a readable sent_at, or a later stage that proves it (docs/metrics.md)."""
    later = ("sent_at", "delivered_at", "read_at", "button_clicks")
    return any(rec[c].kind == "valid" for c in later)


def expected_lines(records: list[dict[str, Cell]]) -> list[int]:
    """Line of each record: lines are counted as \n characters (a bare \r is data)."""
    out, line = [], 2
    for rec in records:
        out.append(line)
        line += 1 + sum(rec[c].text.count("\n") for c in EXPORT_COLUMNS)
    return out


@given(exports())
def test_no_record_is_lost_and_lines_are_exact(tmp_path_factory, case):
    data, records, _ = case
    path = tmp_path_factory.mktemp("prop") / "export.csv"
    path.write_bytes(data)
    ex = read_export(path, dedupe=False, progress=False)
    m = ex.messages
    assert len(m) == len(records)
    assert ex.accounting["records_read"].sum() == len(records)
    assert m["customer_external_id"].tolist() == [r["customer_external_id"].text for r in records]
    assert m["line"].tolist() == expected_lines(records)
    # names are kept as written, in Unicode's composed form (docs/loading.md)
    assert m["campaign_name"].astype(object).tolist() == [
        unicodedata.normalize("NFC", r["campaign_name"].text) for r in records
    ]


@given(exports())
def test_counts_match_a_simple_reference(tmp_path_factory, case):
    data, records, _ = case
    path = tmp_path_factory.mktemp("prop") / "export.csv"
    path.write_bytes(data)
    ex = read_export(path, dedupe=False, progress=False)
    m = ex.messages

    def n(col: str, kind: str) -> int:
        return sum(r[col].kind == kind for r in records)

    assert int(m["is_sent"].sum()) == sum(proves_sent(r) for r in records)
    assert int(m["n_button_clicks"].sum()) == n("button_clicks", "valid")
    read_ref = sum(
        r["read_at"].kind == "valid" or r["button_clicks"].kind == "valid" for r in records
    )
    assert int(m["is_read"].sum()) == read_ref
    probs = ex.problems
    bad_ts = sum(n(c, "bad") for c in ("sent_at", "delivered_at", "read_at"))
    assert (probs["problem"] == "bad_timestamp").sum() == bad_ts
    assert (probs["problem"] == "bad_json").sum() == n("button_clicks", "bad")
    # every problem points at a real record line
    assert set(probs.loc[probs["line"].notna(), "line"]) <= set(m["line"]) | {1}


@given(exports())
def test_merging_accounts_for_every_record(tmp_path_factory, case):
    data, records, _ = case
    path = tmp_path_factory.mktemp("prop") / "export.csv"
    path.write_bytes(data)
    ex = read_export(path, progress=False)
    keys = {r["customer_external_id"].text for r in records}
    assert len(ex.messages) == len(keys)
    acc = ex.accounting
    assert (acc["records_read"] == acc["rows_kept"] + acc["duplicates_merged"]).all()
    assert acc["records_read"].sum() == len(records)
    merged = (ex.problems["problem"] == "merged_duplicate").sum()
    assert merged == len(records) - len(keys)
    # a merged message is sent if any of its records was, or shows a later stage
    sent_keys = {r["customer_external_id"].text for r in records if proves_sent(r)}
    sent = ex.messages.loc[ex.messages["is_sent"], "customer_external_id"]
    assert set(sent) == sent_keys
    assert ex.messages["customer_external_id"].is_unique
    assert pd.Index(ex.messages["line"]).is_unique
