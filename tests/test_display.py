"""How numbers, rates, durations and tables look, and that data never becomes markup."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from connectly_nb.display import (
    DASH,
    format_count,
    format_duration,
    format_p_value,
    format_percent,
    html_table,
    is_rate_column,
    key_figures_html,
    message_sample,
    pretty,
)
from tests.conftest import parse_html

SCRIPT = "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("value", "text"),
    [(16650, "16,650"), (0, "0"), (np.int64(1234567), "1,234,567"), (5.0, "5")],
)
def test_format_count(value, text):
    assert format_count(value) == text


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA])
def test_format_count_of_a_missing_value_is_blank(missing):
    assert format_count(missing) == ""


def test_format_percent():
    assert format_percent(0.15488) == "15.5%"
    assert format_percent(0.15488, digits=2) == "15.49%"
    assert format_percent(1) == "100.0%"
    assert format_percent(np.float64(0.958)) == "95.8%"
    for missing in (float("nan"), None, "n/a", float("inf"), pd.NA):
        assert format_percent(missing) == DASH == "–"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (pd.Timedelta(seconds=45), "45 s"),
        (pd.Timedelta("0 days 00:15:21"), "15 min"),
        (pd.Timedelta(hours=2.5), "2.5 h"),
        (pd.Timedelta(days=3.1), "3.1 days"),
        (pd.Timedelta(seconds=89), "89 s"),
        (pd.Timedelta(seconds=90), "1.5 min"),  # a unit changes where the next reads 1.5
        (pd.Timedelta(seconds=599), "10.0 min"),
        (pd.Timedelta(seconds=600), "10 min"),
        (pd.Timedelta(minutes=89), "89 min"),
        (pd.Timedelta(minutes=90), "1.5 h"),  # review: "119 min" beside "2.0 h"
        (pd.Timedelta(minutes=119), "2.0 h"),
        (dt.timedelta(hours=35), "35.0 h"),
        (dt.timedelta(hours=36), "1.5 days"),
        (30.0, "30 s"),
        (7200, "2.0 h"),
        (pd.Timedelta(seconds=-30), "-30 s"),
        (pd.Timedelta(minutes=-15), "-15 min"),
        (-3 * 86400, "-3.0 days"),
    ],
)
def test_format_duration(value, text):
    assert format_duration(value) == text


@pytest.mark.parametrize("missing", [None, pd.NaT, float("nan"), np.inf])
def test_format_duration_of_nat_or_nan_is_blank(missing):
    assert format_duration(missing) == ""


@pytest.mark.parametrize(
    ("value", "text"), [(np.timedelta64(80, "s"), "80 s"), (np.timedelta64("NaT"), "")]
)
def test_format_duration_of_a_numpy_timedelta64(value, text):
    assert format_duration(value) == text


def test_rate_columns_are_told_by_name():
    for name in ("delivery_rate", "click_to_read", "share_of_failed", "coverage", "read_rate_low"):
        assert is_rate_column(name), name
    for name in ("sent", "count", "line", "median"):
        assert not is_rate_column(name), name


def test_pretty_formats_rates_durations_and_counts_and_leaves_ids():
    frame = pd.DataFrame(
        {
            "campaign_name": ["A", "B"],
            "sent": [16650, 3],
            "line": [12345, 2],
            "delivery_rate": [0.15488, float("nan")],
            "median": pd.to_timedelta(["15min", None]),
            "score": [1.5, 2.25],
        }
    )
    out = pretty(frame)
    assert out["sent"].tolist() == ["16,650", "3"]
    assert out["line"].tolist() == [12345, 2]  # a line number is not a count
    assert out["delivery_rate"].tolist() == ["15.5%", ""]
    assert out["median"].tolist() == ["15 min", ""]
    assert out["score"].tolist() == [1.5, 2.25]  # a float that is not a rate stays
    assert pretty(frame, digits=0)["delivery_rate"].iloc[0] == "15%"
    assert frame["sent"].tolist() == [16650, 3]  # the numbers stay in the input


def test_html_table_escapes_every_cell_and_header():
    frame = pd.DataFrame({"campaign_name": [SCRIPT, "ok"], "<b>col</b>": [1, 2]})
    markup = html_table(frame)
    page = parse_html(markup)
    assert "script" not in page.tags
    assert "b" not in page.tags
    assert SCRIPT not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert SCRIPT in page.text  # shown as text
    assert "first" not in markup  # every row shown: no note


def test_html_table_says_first_n_of_m():
    frame = pd.DataFrame({"n": range(1500)})
    markup = html_table(frame, max_rows=2, note="<messages>")
    page = parse_html(markup)
    assert [t for t in page.text if t.strip().isdigit()] == ["0", "1"]
    assert "first 2 of 1,500 &lt;messages&gt;" in markup
    assert len([t for t in page.tags if t == "tr"]) == 3  # header + two rows
    assert "first" not in html_table(frame.head(2), max_rows=2)


def counts(**changes: int) -> dict[str, int]:
    base = {"rows": 10, "sent": 8, "delivered": 6, "read": 3, "clicked": 1, "failed": 2}
    return {**base, "opted_out": 0, **changes}


def test_key_figures_html_shows_each_rate_with_its_numerator_and_denominator():
    text = " ".join(parse_html(key_figures_html(counts())).text)
    assert "75.0%" in text
    assert "6 of 8 sent" in text
    assert "3 of 6 delivered" in text
    assert "2 of 10 messages" in text  # a failure rate's denominator, as a reader says it
    assert "read (lower bound)" in text


def test_key_figures_html_with_a_zero_denominator_shows_a_dash():
    zero = counts(rows=1, sent=0, delivered=0, read=0, clicked=0, failed=1)
    text = parse_html(key_figures_html(zero)).text
    assert DASH in text
    assert "0 of 0 sent" in text
    assert "100.0%" in text  # failure rate: 1 of 1 row
    assert "nan" not in " ".join(text).lower()


def test_message_sample_masks_phone_numbers_unless_asked(sample):
    m = sample.messages
    shown = message_sample(m, start=10, rows=5)
    assert list(shown.columns) == [
        "customer",
        "campaign",
        "sent_at",
        "stage",
        "error_code",
        "clicks",
    ]
    assert shown.index.tolist() == [0, 1, 2, 3, 4]
    ids = m["customer_external_id"].iloc[10:15].tolist()
    assert not set(ids) & set(shown["customer"])
    for masked, full in zip(shown["customer"], ids, strict=True):
        assert "***" in masked
        assert masked[-4:] == full[-4:]  # the last four digits stay
        assert masked[:3] == full[:3]  # and the country code
    full = message_sample(m, start=10, rows=5, show_phone_numbers=True)
    assert full["customer"].tolist() == ids
    some = message_sample(m, rows=3, columns=("line", "sendout"))
    assert list(some.columns) == ["line", "sendout"]
    assert some["line"].tolist() == m["line"].iloc[:3].tolist()
    assert all(s.endswith("…") and len(s) == 9 for s in some["sendout"])


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0496, "p = 0.0496"),  # issue 13: never "p = 0.05, significant at 5%"
        (0.0504, "p = 0.0504"),
        (0.05, "p = 0.05"),
        (0.013, "p = 0.013"),
        (0.5, "p = 0.5"),
        (0.00049, "p < 0.001"),
        (float("nan"), "p not defined"),
    ],
)
def test_p_values_never_round_across_alpha(p, text):
    assert format_p_value(p, 0.05) == text
