"""Raw records -> Export: typed columns, checked ids, derived stages, deferred variables."""

from __future__ import annotations

import unicodedata

import pandas as pd
import pytest

import connectly_nb as cnb
from connectly_nb import _parse, read_export
from connectly_nb import metrics as M
from tests.conftest import problems_of, row

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


def test_error_msg_without_code_still_counts_as_failed(write_export):
    ex = read_export(write_export([row(error_msg="Message undeliverable")]))
    assert ex.messages["is_failed"].tolist() == [True]


# --------------------------------------------------------------------------- typed columns


def test_ids_stay_text_exactly_as_written(write_export):
    ids = ["+5511987654321", "005511987654321", "5511987654321", "abc-123"]
    ex = read_export(write_export([row(customer_external_id=i) for i in ids]))
    assert ex.messages["customer_external_id"].tolist() == ids
    assert ex.problems.empty


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


def test_tz_shows_times_in_another_zone_without_changing_instants(write_export):
    path = write_export([row(sent_at="2024-05-10 20:00:00")])
    ex = read_export(path, tz="America/Sao_Paulo")
    sent = ex.messages["sent_at"].iloc[0]
    assert str(sent.tz) == "America/Sao_Paulo"
    assert sent.hour == 17
    assert sent == pd.Timestamp("2024-05-10 20:00:00", tz="UTC")


# --------------------------------------------------------------------------- checks


def test_blank_required_values_are_reported_and_rows_kept(write_export):
    ex = read_export(write_export([row(customer_external_id="", sendout_id=" ")]))
    assert len(ex.messages) == 1
    rep = ex.problems[ex.problems["problem"] == "missing_value"]
    assert sorted(rep["column"]) == ["customer_external_id", "sendout_id"]


@pytest.mark.parametrize("mangled", ["5.51199E+12", "5,51199E+12", "5.51199e12", "5511987654321.0"])
def test_excel_mangled_ids_are_kept_and_reported(write_export, mangled):
    ex = read_export(write_export([row(customer_external_id=mangled)]))
    assert ex.messages["customer_external_id"].tolist() == [mangled]
    bad = problems_of(ex, "mangled_id")
    assert bad["value"].tolist() == [mangled]
    assert bad["line"].tolist() == [2]


def test_huge_text_cells_are_kept_and_reported(write_export):
    ex = read_export(write_export([row(error_msg="x" * 1_100_000)]))
    assert len(ex.messages["error_msg"].iloc[0]) == 1_100_000
    big = problems_of(ex, "too_large")
    assert big["column"].tolist() == ["error_msg"]
    assert len(big["value"].iloc[0]) <= 201  # the problem shows a preview only


# --------------------------------------------------------------------------- deferred variables


def test_variables_are_parsed_on_first_access_and_complete_the_problems(daily, monkeypatch):
    complete = read_export(daily, progress=False)
    complete_variables = complete.variables  # parsed before counting starts
    calls = []
    real = _parse.parse_variables

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_parse, "parse_variables", counting)
    ex = read_export(daily, progress=False)
    assert calls == []  # messages and clicks are ready without them
    assert len(ex.messages) == len(complete.messages)
    promo = ex.filter(campaigns=ex.messages["campaign_name"].iloc[0])  # still deferred
    assert calls == []
    pd.testing.assert_frame_equal(ex.problems, complete.problems)
    assert len(calls) == 2  # one per variables column, once
    pd.testing.assert_frame_equal(ex.variables, complete_variables)
    assert len(calls) == 2
    ids = promo.messages.index
    expected = complete.problems[
        complete.problems["message_id"].isna() | complete.problems["message_id"].isin(ids)
    ]
    pd.testing.assert_frame_equal(promo.problems, expected)
    assert "bad_json" in repr(ex)


# --------------------------------------------------------------------------- issue 13


def test_every_rate_stays_between_0_and_1_with_unreadable_timestamps(write_export):
    # issue 13: a delivered message whose sent_at could not be read counted as delivered but
    # not sent: delivery rates of 109% and 107%; an opt-out without delivered_at likewise
    rows = [row(customer_external_id=f"+55119{i:08d}", campaign_name="A") for i in range(10)]
    for i in range(10):
        rows[i]["delivered_at"] = "2024-05-10 20:14:00"
    for i in (0, 1, 2):
        rows[i]["sent_at"] = "N/A"  # unreadable
    rows[3].update(delivered_at="", opt_out_at="2024-05-10 21:00:00")
    rows[4].update(sent_at="", delivered_at="", read_at="2024-05-10 20:30:00")
    ex = read_export(write_export(rows), progress=False)
    f = cnb.funnel(ex, by=["campaign_name"])
    for rate in cnb.metrics.RATES:
        for col in (rate, f"{rate}_low", f"{rate}_high"):
            assert f[col].between(0, 1).all(), (col, f[col].tolist())
    assert f["delivery_rate"].iloc[0] == 1.0
    assert f["delivery_rate_low"].notna().all()
    counts = f.iloc[0]
    assert counts["sent"] >= counts["delivered"] >= counts["read"] >= counts["clicked"]
    assert counts["delivered"] >= counts["opted_out"]
    assert len(problems_of(ex, "event_without_sent")) == 4  # three N/A and one blank


def test_whitespace_only_error_cells_are_not_a_failure(write_export):
    # issue 13: " " in error_code or error_msg made a message failed
    rows = [
        row(customer_external_id="+1", error_code=" ", delivered_at=""),
        row(customer_external_id="+2", error_msg="   ", delivered_at=""),
        row(customer_external_id="+3", error_code="131026"),
    ]
    ex = read_export(write_export(rows), progress=False)
    assert ex.messages["is_failed"].tolist() == [False, False, True]
    assert cnb.errors(ex)["error_code"].tolist() == ["131026"]


def test_nfc_and_nfd_spellings_of_a_name_are_one_campaign(write_export):
    nfc = unicodedata.normalize("NFC", "Reativação")
    nfd = unicodedata.normalize("NFD", "Reativação")
    rows = [
        row(customer_external_id="+1", campaign_name=nfc),
        row(customer_external_id="+2", campaign_name=nfd),
        row(customer_external_id="+3", campaign_name="reativação "),
    ]
    ex = read_export(write_export(rows), progress=False)
    assert ex.messages["campaign_name"].astype(str).tolist() == [nfc, nfc, "reativação "]
    assert problems_of(ex, "renamed_value")["value"].tolist() == [nfd]
    similar = problems_of(ex, "similar_names")
    assert len(similar) == 1
    assert "letter case" in similar["message"].iloc[0]
    # a filter naming one spelling finds all three
    assert len(ex.filter(campaigns="REATIVAÇÃO").messages) == 3


def test_error_codes_are_read_without_surrounding_spaces(write_export):
    # review: " " + a message, "131026 " and "131026" were three rows of errors(), and " "
    # was neither "(no code)" nor blank
    rows = [
        row(customer_external_id="+1", error_code=" ", error_msg="went wrong"),
        row(customer_external_id="+2", error_code="", error_msg="went wrong"),
        row(customer_external_id="+3", error_code="131026 "),
        row(customer_external_id="+4", error_code="131026"),
    ]
    ex = read_export(write_export(rows), progress=False)
    assert ex.messages["error_code"].astype(object).tolist()[2:] == ["131026", "131026"]
    assert ex.messages["error_code"].isna().tolist()[:2] == [True, True]
    assert ex.messages["is_failed"].all()
    e = M.errors(ex).set_index("error_code")["count"].to_dict()
    assert e == {"131026": 2, "(no code)": 2}
    renamed = ex.problems[(ex.problems["problem"] == "renamed_value").to_numpy()]
    assert sorted(renamed["value"]) == [" ", "131026 "]
    assert any("only spaces" in m for m in renamed["message"])
    assert any("spaces around it" in m for m in renamed["message"])
