"""The bundled sample: its golden numbers, checked twice, and the generator behind it.

``tests/data/sample_golden.json`` holds the numbers every other test compares
the sample against. Here the file is checked once against the package and
once against a plain count of the CSV (``csv`` and ``json`` only, following
the definitions of docs/metrics.md), so neither can drift alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter

import pytest

from connectly_nb.datasets import (
    SAMPLE_ROWS,
    SAMPLE_SEED,
    export_text,
    generate_export,
    sample_export,
    sample_path,
    write_export,
)
from connectly_nb.schema import STAGE_FLAGS
from tests.conftest import csv_text, golden_from_package, load_golden, row

TIMESTAMPS = ("sent_at", "delivered_at", "read_at", "opt_out_at")
CLICK_CELLS = ("button_clicks", "link_clicks")
VARIABLE_CELLS = ("input_variables", "output_variables")
EXCEL_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+|\d+\.0+")


# --------------------------------------------------------------------------- an independent count


def instant(text: str) -> dt.datetime | None:
    """A timestamp cell read by the standard library; None when blank or unreadable."""
    try:
        return dt.datetime.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def json_cell(text: str) -> tuple[object, bool]:
    """(value, whether the cell is invalid JSON) of a non-blank JSON cell."""
    try:
        return json.loads(text), False
    except json.JSONDecodeError:
        return None, True


def click_entries(text: str) -> list[tuple[str, str, str]]:
    """The valid clicks of a cell: a JSON array of objects, or one bare object."""
    if not text.strip():
        return []
    value, _ = json_cell(text)
    items = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
    return [
        (str(i.get("id")), str(i.get("name")), str(i.get("ts")))
        for i in items
        if isinstance(i, dict)
    ]


def merged_messages(records: list[dict[str, str]]) -> list[dict[str, object]]:
    """One message per (sendout_id, customer_external_id): later non-blank values win.

    A message keeps the place of its first record; clicks are united.
    """
    messages: dict[object, dict[str, object]] = {}
    for i, rec in enumerate(records):
        key = (rec["sendout_id"], rec["customer_external_id"])
        if not all(key):
            key = ("no key", i)  # a record without its key never merges
        msg = messages.setdefault(key, {"clicks": {c: [] for c in CLICK_CELLS}})
        for column, value in rec.items():
            if value.strip() or column not in msg:
                msg[column] = value
        for c in CLICK_CELLS:
            for click in click_entries(rec[c]):
                if click not in msg["clicks"][c]:
                    msg["clicks"][c].append(click)
    return list(messages.values())


def stages(msg: dict[str, object]) -> dict[str, bool]:
    """The six stage flags of docs/metrics.md, from a merged message."""
    clicked = any(msg["clicks"].values())
    read = instant(msg["read_at"]) is not None or clicked
    return {
        "sent": instant(msg["sent_at"]) is not None,
        "delivered": instant(msg["delivered_at"]) is not None or read,
        "read": read,
        "clicked": clicked,
        "failed": bool(msg["error_code"].strip() or msg["error_msg"].strip()),
        "opted_out": instant(msg["opt_out_at"]) is not None,
    }


def problems_by_hand(records: list[dict[str, str]], merged: int) -> dict[str, int]:
    """The problems of the records read, counted cell by cell."""
    found: Counter[str] = Counter()
    for rec in records:
        found["mangled_id"] += bool(EXCEL_NUMBER.fullmatch(rec["customer_external_id"].strip()))
        found["bad_timestamp"] += sum(
            bool(rec[c].strip()) and instant(rec[c]) is None for c in TIMESTAMPS
        )
        for c in (*CLICK_CELLS, *VARIABLE_CELLS):
            if rec[c].strip() not in ("", "null", "[]", "{}"):
                value, bad = json_cell(rec[c])
                bad = bad or (c in VARIABLE_CELLS and not isinstance(value, dict))
                found["bad_json"] += bad
    found["merged_duplicate"] = merged
    return {k: v for k, v in sorted(found.items()) if v}


def count_by_hand() -> dict[str, object]:
    """The golden numbers recomputed from the CSV with the standard library only."""
    with sample_path().open(encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    messages = merged_messages(records)
    flags = [stages(m) for m in messages]
    names = ("sent", "delivered", "read", "clicked", "failed", "opted_out")

    def counts(rows: list[int]) -> dict[str, int]:
        return {"rows": len(rows), **{n: sum(flags[i][n] for i in rows) for n in names}}

    by_campaign: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        by_campaign.setdefault(m["campaign_name"], []).append(i)
    campaigns = {
        name: {**counts(rows), "sendouts": len({messages[i]["sendout_id"] for i in rows})}
        for name, rows in sorted(by_campaign.items())
    }
    sent_days = Counter(
        instant(m["sent_at"]).date().isoformat() for m in messages if instant(m["sent_at"])
    )
    codes = Counter(m["error_code"] for m in messages if m["error_code"].strip())
    return {
        **counts(list(range(len(messages)))),
        "records_read": len(records),
        "merged": len(records) - len(messages),
        "clicks": sum(len(v) for m in messages for v in m["clicks"].values()),
        "sendouts": len({m["sendout_id"] for m in messages}),
        "campaigns": campaigns,
        "problems": problems_by_hand(records, len(records) - len(messages)),
        "error_codes": dict(sorted(codes.items())),
        "sent_by_day": dict(sorted(sent_days.items())),
    }


def test_golden_file_matches_an_independent_count_of_the_csv(golden):
    assert count_by_hand() == golden


def test_golden_file_matches_the_package(golden, sample):
    assert golden_from_package(sample) == golden
    # and the stage flags summed straight from the messages, without the funnel's counter
    m = sample.messages
    flags = m.groupby("campaign_name", observed=True)[list(STAGE_FLAGS.values())].sum()
    flags.columns = list(STAGE_FLAGS)
    flags.insert(0, "rows", m.groupby("campaign_name", observed=True).size())
    for name, counts in golden["campaigns"].items():
        assert flags.loc[name].to_dict() == {c: counts[c] for c in flags.columns}, name
    assert flags.sum().to_dict() == {c: golden[c] for c in flags.columns}


def test_a_missing_golden_file_is_written_and_fails_asking_for_review(tmp_path, sample, golden):
    path = tmp_path / "sample_golden.json"
    with pytest.raises(pytest.fail.Exception, match="review it"):
        load_golden(path, sample)
    assert load_golden(path, sample) == golden  # the second run reads what was written


def test_golden_totals_are_the_sum_of_the_campaigns(golden):
    for count in ("rows", "sent", "delivered", "read", "clicked", "failed", "opted_out"):
        assert sum(c[count] for c in golden["campaigns"].values()) == golden[count], count
    assert sum(c["sendouts"] for c in golden["campaigns"].values()) == golden["sendouts"]
    assert sum(golden["sent_by_day"].values()) == golden["sent"]
    assert sum(golden["error_codes"].values()) <= golden["failed"]
    assert golden["records_read"] == golden["rows"] + golden["merged"]
    assert golden["problems"]["merged_duplicate"] == golden["merged"]


# --------------------------------------------------------------------------- the sample


def test_sample_looks_like_real_whatsapp_marketing(sample, golden):
    m = sample.messages
    sent = m["is_sent"].sum()
    delivered = m["is_delivered"].sum()
    assert len(m) == SAMPLE_ROWS == golden["rows"]
    assert m["campaign_name"].nunique() == len(golden["campaigns"])
    assert m["sendout_id"].nunique() == golden["sendouts"]
    assert 0.93 < delivered / sent < 0.99
    assert 0.55 < m["is_read"].sum() / delivered < 0.7
    assert 0.02 < m["is_failed"].mean() < 0.06
    assert m["error_code"].nunique() >= 5
    assert 0 < m["is_opted_out"].sum() / delivered < 0.01
    assert 0.05 < m["is_clicked"].sum() / m["is_read"].sum() < 0.4
    assert (
        set(sample.problems["problem"])
        == set(golden["problems"])
        == {
            "mangled_id",
            "bad_timestamp",
            "bad_json",
            "merged_duplicate",
        }
    )
    assert sample.accounting[
        ["records_read", "rows_kept", "duplicates_merged"]
    ].values.tolist() == [[golden["records_read"], golden["rows"], golden["merged"]]]
    assert golden["merged"] == 5  # the generator's quirks repeat five records


def test_sample_export_names_its_source_without_an_install_path(sample):
    assert sample.accounting["source"].tolist() == ["sample_export.csv"]
    assert sample_export(tz="Asia/Tokyo").tz == "Asia/Tokyo"


# --------------------------------------------------------------------------- the generator


def test_bundled_file_is_what_the_generator_writes(tmp_path):
    path = write_export(tmp_path / "again.csv", rows=SAMPLE_ROWS, seed=SAMPLE_SEED)
    assert path.read_bytes() == sample_path().read_bytes()


def test_generator_is_seeded_and_sized():
    a = generate_export(50, seed=1)
    assert a == generate_export(50, seed=1)
    assert a != generate_export(50, seed=2)
    assert len(generate_export(50, seed=1, quirks=False)) == 51  # header + rows
    assert export_text(10, quirks=False).count("\n") == 11
    with pytest.raises(ValueError, match="rows must be"):
        generate_export(-1)


def test_big_exports_are_written_in_chunks_with_one_business(tmp_path, monkeypatch):
    import connectly_nb.datasets.generator as gen
    from connectly_nb import read_export

    monkeypatch.setattr(gen, "CHUNK_ROWS", 100)
    path = write_export(tmp_path / "big.csv", rows=450, seed=3, quirks=False)
    ex = read_export(path)
    assert len(ex.messages) == 450
    assert ex.messages["business_id"].nunique() == 1
    assert ex.messages["sendout_id"].nunique() == 8  # the same sendouts in every chunk
    # one message per customer per sendout; customers hear from several sendouts
    assert not ex.messages.duplicated(["sendout_id", "customer_external_id"]).any()
    assert not ex.messages["customer_external_id"].is_unique
    assert ex.problems.empty


def test_load_or_sample_reads_a_path_or_falls_back_to_the_sample(tmp_path, golden):
    from connectly_nb import load_or_sample

    path = tmp_path / "one.csv"
    path.write_text(csv_text([row()]), encoding="utf-8")
    assert len(load_or_sample().messages) == golden["rows"]
    one = load_or_sample(path, tz="Asia/Tokyo")
    assert (len(one.messages), one.tz) == (1, "Asia/Tokyo")


def test_write_export_never_writes_through_a_planted_link(tmp_path, planted_links):
    # issue 14, item 3: the generator opened its target with open("w"), following a symlink
    target = tmp_path / "gen.csv"
    check = planted_links(target)
    write_export(target, rows=30, seed=1)
    check()
    assert target.read_text(encoding="utf-8").startswith("customer_external_id,")


def test_bundled_daily_reports_are_what_the_generator_writes(tmp_path):
    from connectly_nb.datasets import (
        DAILY_DAYS,
        DAILY_ROWS_PER_DAY,
        DAILY_SEED,
        daily_paths,
        write_daily_reports,
    )

    written = write_daily_reports(
        tmp_path, days=DAILY_DAYS, rows_per_day=DAILY_ROWS_PER_DAY, seed=DAILY_SEED
    )
    assert [p.name for p in written] == [p.name for p in daily_paths()]
    for ours, bundled in zip(written, daily_paths(), strict=True):
        assert ours.read_bytes() == bundled.read_bytes()


def test_daily_reports_repeat_earlier_records_in_a_more_advanced_state():
    from connectly_nb.datasets import generate_daily_reports

    days = list(generate_daily_reports(4, rows_per_day=300, quirks=False))
    assert [len(records) - 1 for _, records in days] == [300] * 4
    header = days[0][1][0]
    col = {c: i for i, c in enumerate(header)}
    seen: dict[tuple[str, str], list[str]] = {}
    repeats = 0
    for _, records in days:
        for r in records[1:]:
            key = (r[col["sendout_id"]], r[col["customer_external_id"]])
            if key in seen:
                repeats += 1
                before = seen[key]
                for c in ("sent_at", "delivered_at", "read_at", "opt_out_at"):
                    assert not before[col[c]] or r[col[c]] == before[col[c]]  # events stay
                assert r != before  # and something moved on
            seen[key] = r
    assert repeats > 30
    businesses = {r[col["business_id"]] for _, records in days for r in records[1:]}
    assert len(businesses) == 1
    customers = [r[col["customer_external_id"]] for _, records in days for r in records[1:]]
    assert len(set(customers)) < len(customers) * 0.8  # one pool, reached again and again
