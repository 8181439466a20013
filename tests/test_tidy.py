"""The Export: derived stages, merging daily reports, filtering, display, accounting."""

from __future__ import annotations

import datetime as dt
import html.parser

import pandas as pd
import pytest

from connectly_nb import Export, read_export
from tests.conftest import row

CLICK = '[{"id": "btn_1", "name": "Sim", "ts": "2024-05-10 20:30:00"}]'
LINK = '[{"id": "l1", "name": "https://x.example", "ts": "2024-05-10 20:25:00"}]'


# --------------------------------------------------------------------------- stages


def test_stage_flags_follow_the_design_definitions(write_export):
    rows = [
        row(customer_external_id="+1", sent_at=""),  # not sent
        row(customer_external_id="+2"),  # sent only
        row(customer_external_id="+3", delivered_at="2024-05-10 20:14:00"),
        row(customer_external_id="+4", read_at="2024-05-10 20:20:00"),  # read proves delivery
        row(customer_external_id="+5", button_clicks=CLICK),  # a click proves read and delivery
        row(customer_external_id="+6", error_code="131026"),
        row(
            customer_external_id="+7",
            delivered_at="2024-05-10 20:14:00",
            opt_out_at="2024-05-11 08:00:00",
        ),
    ]
    m = read_export(write_export(rows)).messages
    flags = m[["is_sent", "is_delivered", "is_read", "is_clicked", "is_failed", "is_opted_out"]]
    assert flags.astype(int).values.tolist() == [
        [0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 0, 0, 0, 1, 0],
        [1, 1, 0, 0, 0, 1],
    ]
    assert m["stage"].tolist() == [
        "not_sent",
        "sent",
        "delivered",
        "read",
        "clicked",
        "sent",
        "delivered",
    ]
    assert m["stage"].cat.ordered
    # the funnel is monotone by construction
    assert (m["is_delivered"] >= m["is_read"]).all()
    assert (m["is_read"] >= m["is_clicked"]).all()


def test_click_counts_first_click_and_latencies(write_export):
    ex = read_export(
        write_export(
            [
                row(
                    sent_at="2024-05-10 20:00:00",
                    delivered_at="2024-05-10 20:00:03",
                    read_at="2024-05-10 20:10:00",
                    button_clicks=CLICK,
                    link_clicks=LINK,
                ),
            ]
        )
    )
    m = ex.messages.iloc[0]
    assert (m["n_button_clicks"], m["n_link_clicks"], m["n_clicks"]) == (1, 1, 2)
    assert m["first_click_at"] == pd.Timestamp("2024-05-10 20:25:00", tz="UTC")
    assert m["time_to_deliver"] == pd.Timedelta(seconds=3)
    assert m["time_to_read"] == pd.Timedelta(minutes=10)
    assert m["time_to_first_click"] == pd.Timedelta(minutes=25)
    assert ex.clicks["kind"].tolist() == ["button", "link"]


def test_events_without_sent_at_are_flagged_and_counted_as_sent(write_export):
    # a delivery proves the send: delivery rate can never exceed 100% (issue 13, item 2)
    ex = read_export(write_export([row(sent_at="", delivered_at="2024-05-10 20:14:00")]))
    assert ex.messages["is_delivered"].tolist() == [True]
    assert ex.messages["is_sent"].tolist() == [True]
    assert ex.messages["time_to_deliver"].isna().all()  # no time to measure from
    assert ex.problems["problem"].tolist() == ["event_without_sent"]


def test_blank_required_values_are_reported_and_rows_kept(write_export):
    ex = read_export(write_export([row(customer_external_id="", sendout_id=" ")]))
    assert len(ex.messages) == 1
    rep = ex.problems[ex.problems["problem"] == "missing_value"]
    assert sorted(rep["column"]) == ["customer_external_id", "sendout_id"]


# --------------------------------------------------------------------------- merging


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


# --------------------------------------------------------------------------- filter


@pytest.fixture
def mixed(write_export) -> Export:
    rows = [
        row(
            customer_external_id="+1",
            campaign_name="A",
            sendout_id="s1",
            sent_at="2024-05-10 23:30:00",
            button_clicks=CLICK,
            input_variables='{"k": "v"}',
        ),
        row(
            customer_external_id="+2",
            campaign_name="A",
            sendout_id="s2",
            sent_at="2024-05-11 10:00:00",
            error_code="131026",
            read_at="N/A",
        ),
        row(
            customer_external_id="+3",
            campaign_name="B",
            sendout_id="s3",
            sent_at="2024-05-12 10:00:00",
            error_code="131049",
        ),
        row(customer_external_id="+4", campaign_name="B", sendout_id="s3", sent_at=""),
    ]
    return read_export(write_export(rows))


def test_filter_by_campaign_cuts_all_tables(mixed):
    a = mixed.filter(campaigns="A")
    assert a.messages["customer_external_id"].tolist() == ["+1", "+2"]
    assert len(a.clicks) == 1
    assert a.variables["message_id"].tolist() == [0]
    assert a.problems["problem"].tolist() == ["bad_timestamp"]
    b = mixed.filter(campaigns=["B"])
    assert len(b.clicks) == 0
    assert len(b.variables) == 0
    assert b.problems.empty
    # the original is unchanged
    assert len(mixed.messages) == 4


def test_filter_by_sendout_and_error_code(mixed):
    assert mixed.filter(sendouts=["s3"]).messages["customer_external_id"].tolist() == ["+3", "+4"]
    assert mixed.filter(error_codes="131026").messages["customer_external_id"].tolist() == ["+2"]
    ok = mixed.filter(error_codes=[None])
    assert ok.messages["customer_external_id"].tolist() == ["+1", "+4"]
    both = mixed.filter(error_codes=["131049", None], campaigns="B")
    assert both.messages["customer_external_id"].tolist() == ["+3", "+4"]


def test_filter_by_dates_uses_the_export_time_zone_and_whole_end_days(mixed, write_export):
    assert mixed.filter(start="2024-05-11").messages["customer_external_id"].tolist() == [
        "+2",
        "+3",
    ]
    assert mixed.filter(end="2024-05-11").messages["customer_external_id"].tolist() == ["+1", "+2"]
    assert mixed.filter(end=dt.date(2024, 5, 10)).messages["customer_external_id"].tolist() == [
        "+1"
    ]
    assert mixed.filter(end="2024-05-11 10:00:00").messages["customer_external_id"].tolist() == [
        "+1",
        "+2",
    ]
    utc = mixed.filter(start="2024-05-11", end="2024-05-11")
    assert utc.messages["customer_external_id"].tolist() == ["+2"]
    # 23:30 UTC on the 10th is 08:30 on the 11th in Tokyo
    tokyo = read_export(mixed.messages["source"].iloc[0], tz="Asia/Tokyo")
    assert tokyo.filter(start="2024-05-11", end="2024-05-11").messages[
        "customer_external_id"
    ].tolist() == ["+1", "+2"]
    with pytest.raises(ValueError, match="cannot read"):
        mixed.filter(start="last tuesday")


def test_filter_with_nothing_selected_returns_an_empty_export(mixed):
    none = mixed.filter(campaigns=[])
    assert len(none.messages) == 0
    assert len(none.clicks) == 0
    assert "0 messages" in repr(none)


# --------------------------------------------------------------------------- display


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_repr_and_html_summarise_and_escape(write_export, tmp_path):
    hostile = "<script>alert(1)</script>"
    path = write_export([row(campaign_name=hostile, read_at="<b>N/A</b>")], name="x<i>.csv")
    ex = read_export(path)
    text = repr(ex)
    assert "1 messages" in text
    assert "bad_timestamp 1" in text
    page = ex._repr_html_()
    parsed = _Text()
    parsed.feed(page)
    assert "script" not in parsed.tags
    assert "i" not in parsed.tags
    assert "b" not in parsed.tags
    assert "bad_timestamp" in "".join(parsed.text)


def test_export_pickles_with_every_table(mixed):
    import pickle

    fresh = read_export(mixed.accounting["source"].tolist(), progress=False)  # still deferred
    again = pickle.loads(pickle.dumps(fresh))
    for name in ("messages", "clicks", "variables", "problems", "accounting"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(mixed, name), obj=name)
    assert again.tz == mixed.tz
    with pytest.raises(AttributeError, match="immutable"):
        again.tz = "UTC"


def test_export_is_immutable(mixed):
    with pytest.raises(AttributeError, match="immutable"):
        mixed.messages = mixed.messages.head(1)


def test_summary_counts(mixed):
    s = mixed.summary()
    assert (s["rows"], s["campaigns"], s["sendouts"], s["files"]) == (4, 2, 3, 1)
    assert s["problems"] == {"bad_timestamp": 1}
