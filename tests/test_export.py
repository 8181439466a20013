"""The Export: filter, selection, subset, replace, summary, repr, pickling, immutability."""

from __future__ import annotations

import datetime as dt
import unicodedata

import numpy as np
import pandas as pd
import pytest

from connectly_nb import Export, read_export
from connectly_nb.exceptions import SelectionError
from tests.conftest import parse_html, row

CLICK = '[{"id": "btn_1", "name": "Sim", "ts": "2024-05-10 20:30:00"}]'


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


# --------------------------------------------------------------------------- filter


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


def test_repr_and_html_summarise_and_escape(write_export, tmp_path):
    hostile = "<script>alert(1)</script>"
    path = write_export([row(campaign_name=hostile, read_at="<b>N/A</b>")], name="x<i>.csv")
    ex = read_export(path)
    text = repr(ex)
    assert "1 message, 1 campaign, 1 sendout, 0 clicks" in text  # singular where one
    assert "bad_timestamp 1" in text
    page = ex._repr_html_()
    parsed = parse_html(page)
    assert "script" not in parsed.tags
    assert "i" not in parsed.tags
    assert "b" not in parsed.tags
    assert "bad_timestamp" in "".join(parsed.text)


# --------------------------------------------------------------------------- immutability


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


# --------------------------------------------------------------------------- selection


def test_selection_is_the_mask_filter_keeps(mixed):
    mask = mixed.selection(campaigns="A", error_codes=[None])
    assert mask.dtype == bool
    assert mask.tolist() == [True, False, False, False]
    assert mixed.filter(campaigns="A", error_codes=[None]).messages.index.tolist() == [0]
    assert mixed.selection().all()


def test_filter_with_an_unknown_name_says_so_with_the_closest_known_ones(mixed):
    # issue 13: an unknown name was silently an empty selection
    with pytest.raises(SelectionError, match="unknown campaign") as info:
        mixed.filter(campaigns="No such campaign")
    assert info.value.column == "campaign_name"
    assert info.value.unknown == ["No such campaign"]
    with pytest.raises(SelectionError, match="unknown sendout"):
        mixed.filter(sendouts=["s9"])
    with pytest.raises(SelectionError, match="unknown error code: '999'"):
        mixed.filter(error_codes="999")
    # a catalogue code this export does not have is a valid, empty selection
    none = mixed.filter(error_codes="131021")
    assert len(none.messages) == 0
    assert len(none.clicks) == 0


def test_subset_cuts_every_table_alike(mixed):
    mask = np.array([True, False, False, True])
    sub = mixed.subset(mask)
    assert sub.messages["customer_external_id"].tolist() == ["+1", "+4"]
    assert sub.clicks["message_id"].tolist() == [0]
    assert sub.variables["message_id"].tolist() == [0]
    assert sub.problems.empty  # the bad timestamp was +2's
    assert sub.tz == mixed.tz
    assert mixed.subset(np.ones(4, dtype=bool)) is mixed  # nothing cut: the same Export


@pytest.mark.parametrize(
    "mask",
    [
        np.array([True, False, True]),  # one too few
        np.ones(5, dtype=bool),
        np.array([1, 0, 1, 0]),  # not booleans
        np.array(["yes", "no", "yes", "no"]),
        np.ones((4, 1), dtype=bool),
        [True, None, True, False],
    ],
)
def test_subset_refuses_a_mask_of_the_wrong_length_or_type(mixed, mask):
    with pytest.raises(ValueError, match="one boolean per row of messages"):
        mixed.subset(mask)


def test_replace_shares_the_untouched_tables(mixed):
    assert len(mixed.variables) == len(mixed.problems) == 1  # built: now shared as they are
    other = mixed.replace(tz="Asia/Tokyo")
    assert other.tz == "Asia/Tokyo"
    assert mixed.tz == "UTC"
    for name in ("messages", "clicks", "variables", "problems", "accounting"):
        assert getattr(other, name) is getattr(mixed, name), name
    head = mixed.messages.head(1)
    fewer = mixed.replace(messages=head)
    assert fewer.messages is head
    assert fewer.clicks is mixed.clicks
    with pytest.raises(ValueError, match="unknown time zone"):
        mixed.replace(tz="Nowhere/Land")


def test_replace_before_the_deferred_tables_are_built_parses_them_once(mixed, monkeypatch):
    from connectly_nb import _parse

    built = mixed.variables  # before counting
    calls = []
    real = _parse.parse_variables

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_parse, "parse_variables", counting)
    fresh = read_export(mixed.accounting["source"].tolist(), progress=False)
    other = fresh.replace(tz="Asia/Tokyo")
    pd.testing.assert_frame_equal(other.variables, built)
    pd.testing.assert_frame_equal(fresh.variables, built)
    pd.testing.assert_frame_equal(fresh.problems, other.problems)
    assert len(calls) == 2  # one per variables column, shared by both Exports


def test_a_table_given_as_a_function_is_built_once_on_first_access(mixed):
    calls = []

    def build() -> pd.DataFrame:
        calls.append(1)
        return mixed.variables.head(0)

    lazy = mixed.replace(variables=build)
    assert calls == []
    assert lazy.variables.empty
    assert lazy.variables is lazy.variables
    assert calls == [1]
    assert isinstance(lazy, Export)


def test_date_bounds_are_the_local_days_real_start_and_end(write_export):
    # issue 13: in New York, end="2024-11-03" dropped a message sent at 23:30 that day (a
    # 25-hour day), and on the spring change an extra hour of the next day was kept
    times = {
        "+1": "2024-11-04 04:30:00",  # 2024-11-03 23:30 EST: inside the 25-hour day
        "+2": "2024-11-04 05:30:00",  # 2024-11-04 00:30 EST: the next day
        "+3": "2024-03-11 03:30:00",  # 2024-03-10 23:30 EDT: inside the 23-hour day
        "+4": "2024-03-11 04:30:00",  # 2024-03-11 00:30 EDT: the next day
    }
    rows = [row(customer_external_id=k, sent_at=v) for k, v in times.items()]
    ex = read_export(write_export(rows), tz="America/New_York", progress=False)

    def kept(**bounds):
        return ex.filter(**bounds).messages["customer_external_id"].tolist()

    assert kept(start="2024-11-03", end="2024-11-03") == ["+1"]
    assert kept(start="2024-03-10", end="2024-03-10") == ["+3"]
    assert kept(start="2024-11-04") == ["+2"]
    assert kept(end=dt.date(2024, 3, 10)) == ["+3"]


@pytest.mark.parametrize("text", ["01/11/2024", "11/30/2024", "30.11.2024", "tomorrow"])
def test_dates_must_be_iso(mixed, text):
    with pytest.raises(ValueError, match="ISO"):
        mixed.filter(start=text)


def test_an_end_before_the_start_is_an_error(mixed):
    with pytest.raises(ValueError, match="before start"):
        mixed.filter(start="2024-05-11", end="2024-05-10")


def test_filter_matches_names_whatever_their_case_spaces_or_unicode_form(write_export):
    name = "Black Friday 2024 🎉"
    ex = read_export(write_export([row(campaign_name=name)]), progress=False)
    for spelling in (name, name.upper(), f"  {name} ", unicodedata.normalize("NFD", name)):
        assert len(ex.filter(campaigns=spelling).messages) == 1, spelling
    with pytest.raises(SelectionError) as info:
        ex.filter(campaigns="Black Friday 2024")  # typed without its emoji
    assert f"did you mean {name!r}" in str(info.value)
    assert info.value.suggestions == {"Black Friday 2024": [name]}


def test_a_name_written_exactly_selects_only_itself_its_variants_otherwise(write_export):
    # review: "promo" selected "Promo", "promo" and "Promo " (6 rows) while the funnel showed
    # three campaigns of 2; now the exact spelling wins, and only an unmatched name folds
    rows = [
        row(customer_external_id=f"+55119000000{i:02d}", campaign_name=name)
        for i, name in enumerate(["Promo", "Promo", "promo", "promo", "Promo ", "Promo "])
    ]
    ex = read_export(write_export(rows), progress=False)
    assert ex.selection(campaigns="promo").sum() == 2
    assert ex.selection(campaigns="Promo ").sum() == 2
    assert ex.selection(campaigns=["Promo", "promo"]).sum() == 4
    assert ex.selection(campaigns="PROMO").sum() == 6  # no exact spelling: every variant


def test_the_blank_campaign_can_be_selected_like_any_other(write_export):
    rows = [
        row(customer_external_id="+1", campaign_name=""),
        row(customer_external_id="+2", campaign_name="   "),
        row(customer_external_id="+3", campaign_name="A"),
    ]
    ex = read_export(write_export(rows), progress=False)
    picked = ex.filter(campaigns="(blank)").messages["customer_external_id"]
    assert picked.tolist() == ["+1", "+2"]
    with pytest.raises(SelectionError, match=r"'\(blank\)'"):  # listed among the known ones
        ex.filter(campaigns="B")


def test_no_error_code_selects_the_messages_without_one(write_export):
    rows = [
        row(customer_external_id="+1", error_code=" ", error_msg="x"),
        row(customer_external_id="+2", error_code="131026"),
        row(customer_external_id="+3"),
    ]
    ex = read_export(write_export(rows), progress=False)
    assert ex.filter(error_codes=[None]).messages["customer_external_id"].tolist() == ["+1", "+3"]
