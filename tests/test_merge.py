"""Repeated records merged into one message: the rule, the hash, and collisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import connectly_nb as cnb
from connectly_nb import _merge, read_export
from tests.conftest import assert_same_export, problems_of, row

CLICK = '[{"id": "btn_1", "name": "Sim", "ts": "2024-05-10 20:30:00"}]'


# --------------------------------------------------------------------------- the merge rule


def day1_day2(write_export):
    day1 = write_export(
        [
            row(
                customer_external_id="+1",
                delivered_at="2024-05-10 20:14:00",
                input_variables='{"city": "Rio", "tier": "gold"}',
            ),
            row(customer_external_id="+2", error_code="131026", error_msg="Message undeliverable"),
            row(customer_external_id="+3", button_clicks=CLICK),
        ],
        name="day1.csv",
    )
    day2 = write_export(
        [
            row(
                customer_external_id="+1",
                read_at="2024-05-11 09:00:00",
                input_variables='{"city": "Recife"}',
                output_variables='{"replied": true}',
            ),
            row(
                customer_external_id="+3",
                button_clicks=CLICK[:-1]
                + ', {"id": "btn_2", "name": "Não", "ts": "2024-05-10 20:31:00"}]',
            ),
            row(customer_external_id="+4"),
        ],
        name="day2.csv",
    )
    return day1, day2


def test_daily_reports_merge_into_the_most_advanced_state(write_export):
    day1, day2 = day1_day2(write_export)
    ex = read_export([day1, day2])
    m = ex.messages.set_index("customer_external_id")
    assert list(m.index) == ["+1", "+2", "+3", "+4"]
    # blanks never win: day 2 has no delivered_at for +1, day 1 had it
    assert m.loc["+1", "delivered_at"] == pd.Timestamp("2024-05-10 20:14:00", tz="UTC")
    assert m.loc["+1", "read_at"] == pd.Timestamp("2024-05-11 09:00:00", tz="UTC")
    assert m.loc["+1", "stage"] == "read"
    assert m.loc["+2", "error_code"] == "131026"
    # clicks are the union by (kind, id, ts): the repeated btn_1 click counts once
    assert m.loc["+3", "n_button_clicks"] == 2
    assert sorted(ex.clicks["id"]) == ["btn_1", "btn_2"]
    # the survivor is the later record
    assert m.loc["+1", "source"].endswith("day2.csv")
    assert m.loc["+1", "line"] == 2


def test_variables_merge_by_key_later_file_wins(write_export):
    day1, day2 = day1_day2(write_export)
    ex = read_export([day1, day2])
    v = ex.variables
    first = v[v["message_id"] == 0]
    got = dict(zip(zip(first["direction"], first["key"], strict=True), first["value"], strict=True))
    assert got == {
        ("input", "city"): "Recife",
        ("input", "tier"): "gold",
        ("output", "replied"): "true",
    }


def test_merges_are_info_problems_and_accounting_adds_up(write_export):
    day1, day2 = day1_day2(write_export)
    ex = read_export([day1, day2])
    merged = ex.problems[ex.problems["problem"] == "merged_duplicate"]
    assert merged["source"].str.endswith("day1.csv").all()
    assert merged["line"].tolist() == [2, 4]
    assert (merged["severity"] == "info").all()
    assert merged["value"].isna().all()  # the id is a phone number: not repeated here
    acc = ex.accounting.set_index(ex.accounting["source"].str.rsplit("/", n=1).str[-1])
    assert acc.loc["day1.csv", ["records_read", "rows_kept", "duplicates_merged"]].tolist() == [
        3,
        1,
        2,
    ]
    assert acc.loc["day2.csv", ["records_read", "rows_kept", "duplicates_merged"]].tolist() == [
        3,
        3,
        0,
    ]
    assert (acc["records_read"] == acc["rows_kept"] + acc["duplicates_merged"]).all()


def test_dedupe_false_keeps_every_record(write_export):
    day1, day2 = day1_day2(write_export)
    ex = read_export([day1, day2], dedupe=False)
    assert len(ex.messages) == 6
    assert (ex.problems["problem"] != "merged_duplicate").all()
    assert ex.accounting["duplicates_merged"].sum() == 0


def test_exact_duplicate_rows_in_one_file_merge(write_export):
    ex = read_export(write_export([row(), row(), row(customer_external_id="+9")]))
    assert len(ex.messages) == 2
    assert ex.accounting[["records_read", "rows_kept", "duplicates_merged"]].values.tolist() == [
        [3, 2, 1]
    ]


def test_rows_without_a_key_are_never_merged(write_export):
    ex = read_export(write_export([row(customer_external_id=""), row(customer_external_id="")]))
    assert len(ex.messages) == 2


def test_problems_point_at_the_surviving_message(write_export):
    day1 = write_export([row(customer_external_id="+1", read_at="N/A")], name="a.csv")
    day2 = write_export(
        [row(customer_external_id="+1", read_at="2024-05-11 09:00:00")], name="b.csv"
    )
    ex = read_export([day1, day2])
    bad = ex.problems[ex.problems["problem"] == "bad_timestamp"]
    assert bad["message_id"].tolist() == [0]
    assert ex.messages.loc[0, "read_at"] == pd.Timestamp("2024-05-11 09:00:00", tz="UTC")


# --------------------------------------------------------------------------- hashing


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


def test_repeat_candidates_hold_every_repeated_key_and_skip_blank_keys():
    customers = pa.chunked_array([["+1", "+2", "+1", None, None, "+3"], ["+2", "+1"]])
    sendouts = np.array([0, 0, 0, 0, 0, -1, 1, 1])
    got = _merge.repeat_candidates(sendouts, customers)
    assert got.tolist() == [0, 2]  # +1 in sendout 0; +2 and +1 in sendout 1 are new keys
    plan = _merge.merge_plan(sendouts, customers, got)
    assert plan.members.tolist() == [0, 2]
    assert (plan.first.tolist(), plan.latest.tolist()) == ([0, 0], [2, 2])
    assert _merge.merge_plan(sendouts, customers, np.array([], dtype=np.int64)) is None


def test_a_hash_candidate_that_is_not_a_repeat_is_not_merged():
    customers = pa.chunked_array([["+1", "+2", "+3", "+1"]])
    sendouts = np.array([0, 0, 0, 0])
    plan = _merge.merge_plan(sendouts, customers, np.array([0, 1, 2, 3]))  # as if all collided
    assert plan.members.tolist() == [0, 3]
    assert _merge.merge_plan(sendouts, customers, np.array([0, 1, 2])) is None


def test_hash_collisions_never_merge_different_records(daily, monkeypatch):
    honest = read_export(daily, progress=False)

    def colliding(arr):  # every id hashes alike: every keyed record is a candidate
        _, null = real(arr)
        return np.zeros(len(null), dtype=np.uint64), null

    real = _merge.text_hash
    monkeypatch.setattr(_merge, "text_hash", colliding)
    assert_same_export(read_export(daily, progress=False), honest)


# --------------------------------------------------------------------------- issue 13


def mangled_pairs(write_export, *, sessions: bool):
    """100 customers, 6 of whose ids Excel turned into three shared mangled texts."""
    rows = []
    for i in range(100):
        rows.append(
            row(
                customer_external_id=f"+55119{i:08d}",
                cnt_session_id=f"s-{i}" if sessions else "",
                delivered_at="2024-05-10 20:14:00",
            )
        )
    for k, pair in enumerate(((3, 4), (10, 11), (50, 51))):
        for i in pair:
            rows[i]["customer_external_id"] = f"5.5119{k}E+12"
    return write_export(rows)


@pytest.mark.parametrize("sessions", [False, True])
def test_a_mangled_id_never_merges_different_people(write_export, sessions):
    # issue 13: three pairs of customers sharing a mangled text were merged into three
    # messages built from two people's timestamps (97 rows instead of 100)
    ex = read_export(mangled_pairs(write_export, sessions=sessions), progress=False)
    assert len(ex.messages) == 100
    assert int(ex.messages["is_sent"].sum()) == 100
    assert int(ex.messages["is_delivered"].sum()) == 100
    assert ex.accounting["duplicates_merged"].sum() == 0
    kept_apart = problems_of(ex, "not_merged")
    assert len(kept_apart) == 6  # each of the six says which record it could not be told from
    assert kept_apart["message"].str.contains("rewritten by Excel").all()
    assert kept_apart["message"].str.contains("line").all()


def test_a_mangled_id_with_the_same_session_is_one_message(write_export):
    # the same customer in two daily reports: same sendout, same mangled text, same session
    day1 = write_export([row(customer_external_id="5.51199E+12", cnt_session_id="s-7")])
    day2 = write_export(
        [
            row(
                customer_external_id="5.51199E+12",
                cnt_session_id="s-7",
                delivered_at="2024-05-10 20:14:00",
            )
        ]
    )
    ex = read_export([day1, day2], progress=False)
    assert len(ex.messages) == 1
    assert ex.messages["is_delivered"].tolist() == [True]
    assert problems_of(ex, "not_merged").empty


def test_the_newest_report_wins_whatever_the_file_names(write_export):
    # issue 13: a folder read as text put day10 before day2, so day 2's older state won
    old = row(delivered_at="2024-05-10 20:14:00")
    new = row(delivered_at="2024-05-10 20:14:00", read_at="2024-05-11 09:00:00")
    write_export([old], name="day2.csv")
    folder = write_export([new], name="day10.csv").parent
    ex = read_export(folder, progress=False)
    assert ex.accounting["source"].map(lambda s: s.rsplit("/", 1)[-1]).tolist() == [
        "day2.csv",
        "day10.csv",
    ]
    assert ex.messages["is_read"].tolist() == [True]
    assert ex.messages["source"].astype(str).str.endswith("day10.csv").all()
    # given in the wrong order, the newer snapshot still wins
    late_first = read_export([folder / "day10.csv", folder / "day2.csv"], progress=False)
    assert late_first.messages["is_read"].tolist() == [True]
    assert str(late_first.messages["source"].iloc[0]).endswith("day10.csv")
    assert late_first.accounting["as_of"].iloc[0] == pd.Timestamp("2024-05-11 09:00", tz="UTC")


def test_the_newest_report_wins_variables_by_key(write_export):
    newer = write_export(
        [row(read_at="2024-05-12 10:00:00", input_variables='{"tier": "gold"}')], name="b.csv"
    )
    older = write_export([row(input_variables='{"tier": "silver"}')], name="a.csv")
    ex = read_export([newer, older], progress=False)
    assert ex.variables["value"].tolist() == ["gold"]


def test_a_later_delivery_clears_an_earlier_failure(write_export):
    # issue 13: an error in day 1's report stayed forever although day 2 delivered it
    day1 = write_export([row(error_code="131049", error_msg="not delivered")], name="d1.csv")
    day2 = write_export(
        [row(delivered_at="2024-05-11 10:00:00", read_at="2024-05-11 10:05:00")], name="d2.csv"
    )
    ex = read_export([day1, day2], progress=False)
    m = ex.messages
    assert m["is_delivered"].tolist() == [True]
    assert m["is_failed"].tolist() == [False]
    assert m["error_code"].astype(str).tolist() == ["131049"]  # the history is kept
    assert cnb.errors(ex).empty
    assert cnb.funnel(ex, by=None)["failure_rate"].iloc[0] == 0
