"""Time zones and date bounds: one rule for every date a user types."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

from connectly_nb._time import (
    NAT_INT,
    check_tz,
    local_day_start,
    localize,
    naive_utc,
    parse_bound,
    parse_date,
    since,
)
from connectly_nb.exceptions import ConnectlyError, TimeZoneError
from tests.conftest import row

NY = "America/New_York"


def whole_day(day: str, tz: str) -> pd.Timedelta:
    return parse_bound(day, tz, end=True) - parse_bound(day, tz, end=False)


def test_a_bare_end_date_covers_the_whole_local_day_of_25_hours():
    start = parse_bound("2024-11-03", NY, end=False)
    end = parse_bound("2024-11-03", NY, end=True)
    assert start == pd.Timestamp("2024-11-03 00:00", tz=NY)
    assert end == pd.Timestamp("2024-11-04 00:00", tz=NY)  # exclusive
    assert whole_day("2024-11-03", NY) == pd.Timedelta(hours=25)  # clocks go back
    late = pd.Timestamp("2024-11-03 23:30", tz=NY)  # 04:30 UTC on the 4th
    assert start <= late < end
    assert late.tz_convert("UTC").day == 4


def test_the_spring_day_has_23_hours_and_an_ordinary_day_24():
    assert whole_day("2024-03-10", NY) == pd.Timedelta(hours=23)
    assert whole_day("2024-03-11", NY) == pd.Timedelta(hours=24)
    assert whole_day("2024-11-03", "UTC") == pd.Timedelta(hours=24)


def test_a_bare_end_date_keeps_a_late_message_of_that_day_in_a_filter(write_export):
    from connectly_nb import read_export

    ex = read_export(
        write_export(
            [
                row(customer_external_id="+1", sent_at="2024-11-04 04:30:00"),  # 23:30, 3rd
                row(customer_external_id="+2", sent_at="2024-11-04 05:30:00"),  # 00:30, 4th
            ]
        ),
        tz=NY,
    )
    kept = ex.filter(start="2024-11-03", end="2024-11-03").messages["customer_external_id"]
    assert kept.tolist() == ["+1"]


def test_dates_and_datetimes_as_objects():
    assert parse_bound(dt.date(2024, 11, 3), NY, end=True) == pd.Timestamp("2024-11-04", tz=NY)
    ts = parse_bound(dt.datetime(2024, 5, 10, 12, 0), "UTC", end=True)
    assert ts == pd.Timestamp("2024-05-10 12:00:00.000001", tz="UTC")  # an instant: inclusive
    assert parse_bound(pd.Timestamp("2024-05-10 12:00"), "UTC", end=False) == pd.Timestamp(
        "2024-05-10 12:00", tz="UTC"
    )
    assert parse_date(dt.date(2024, 5, 10)) == (pd.Timestamp("2024-05-10"), True)
    assert parse_date("2024-05-10 08:00") == (pd.Timestamp("2024-05-10 08:00"), False)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-11-03T12:00:00Z", "2024-11-03 12:00:00"),
        ("2024-11-03T12:00Z", "2024-11-03 12:00:00"),
        ("2024-11-03 12:00:00+02:00", "2024-11-03 10:00:00"),
        ("2024-11-03T07:00:00-05:00", "2024-11-03 12:00:00"),
    ],
)
def test_iso_text_with_t_z_and_offsets_is_an_instant(text, utc):
    start = parse_bound(text, NY, end=False)
    assert str(start.tz) == NY
    assert start == pd.Timestamp(utc, tz="UTC")
    assert parse_bound(text, NY, end=True) - start == pd.Timedelta(microseconds=1)


def test_a_naive_time_is_read_in_the_zone_and_a_repeated_hour_as_widely_as_possible():
    assert parse_bound("2024-05-10 20:00", "Asia/Tokyo", end=False) == pd.Timestamp(
        "2024-05-10 11:00", tz="UTC"
    )
    # 01:30 happens twice on 2024-11-03 in New York: first reading for a start, second for an end
    start = parse_bound("2024-11-03 01:30", NY, end=False)
    end = parse_bound("2024-11-03 01:30", NY, end=True)
    assert end - start == pd.Timedelta(hours=1, microseconds=1)
    # 02:30 never happens on 2024-03-10: read as the next instant that does
    assert parse_bound("2024-03-10 02:30", NY, end=False) == pd.Timestamp("2024-03-10 03:00", tz=NY)


def test_an_ambiguous_day_month_date_is_refused_showing_both_iso_readings():
    with pytest.raises(ValueError, match="cannot read") as info:
        parse_bound("01/11/2024", NY, end=True)
    message = str(info.value)
    assert "2024-11-01" in message
    assert "2024-01-11" in message
    assert message.startswith("end:")
    with pytest.raises(ValueError, match="write it as 2024-11-13"):  # one reading only
        parse_bound("13/11/2024", NY, end=False, option="--start")


@pytest.mark.parametrize("bad", ["last tuesday", "2024-13-45", "", "2024/11/03", "03.11.24"])
def test_text_that_is_not_an_iso_date_is_a_value_error(bad):
    with pytest.raises(ValueError, match="start"):
        parse_bound(bad, "UTC", end=False)


def test_other_types_are_refused():
    with pytest.raises(ValueError, match="expected a date"):
        parse_date(20241103)  # type: ignore[arg-type]


def test_check_tz_returns_a_known_zone_and_raises_time_zone_error_otherwise():
    assert check_tz("America/Sao_Paulo") == "America/Sao_Paulo"
    with pytest.raises(TimeZoneError, match="unknown time zone 'Mars/Olympus'") as info:
        check_tz("Mars/Olympus")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ConnectlyError)
    assert "America/Sao_Paulo" in str(info.value)  # an example of a good name
    with pytest.raises(TimeZoneError):
        check_tz("../../etc/passwd")


def test_local_day_start_when_midnight_is_skipped():
    # Sao Paulo skipped midnight on 2018-11-04 (clocks went to 01:00)
    start = local_day_start(dt.date(2018, 11, 4), "America/Sao_Paulo")
    assert start == pd.Timestamp("2018-11-04 01:00", tz="America/Sao_Paulo")


def test_instants_round_trip_and_differences_keep_nat():
    times = pd.Series(pd.to_datetime(["2024-05-10 20:00", None], utc=True)).dt.tz_convert(NY)
    raw = naive_utc(times)
    assert raw.dtype == np.dtype("datetime64[us]")
    assert raw[0] == np.datetime64("2024-05-10T20:00:00", "us")
    shown = localize(raw, NY)
    assert str(shown.tz) == NY
    assert shown[0] == times.iloc[0]
    later = raw + np.timedelta64(90, "s")
    diff = since(later, raw)
    assert diff[0] == np.timedelta64(90, "s")
    assert np.isnat(diff[1])
    assert np.datetime64("NaT", "us").view(np.int64) == NAT_INT


def test_a_zone_after_a_bare_date_is_refused_as_not_iso():
    # review: "2024-11-11Z" passed the ISO check, then failed as "not a real date"
    with pytest.raises(ValueError, match="cannot read '2024-11-11Z' as a date"):
        parse_date("2024-11-11Z")


def test_numpy_dates_and_instants_are_bounds():
    assert parse_bound(np.datetime64("2024-11-11"), "UTC", end=True) == pd.Timestamp(
        "2024-11-12", tz="UTC"
    )
    assert parse_bound(np.datetime64("2024-11-11T10:00"), "UTC", end=False) == pd.Timestamp(
        "2024-11-11 10:00", tz="UTC"
    )


def test_an_end_at_midnight_given_as_an_instant_warns_that_its_day_is_left_out():
    # review: end=pd.Timestamp("2024-11-11") kept 1,528 rows, end="2024-11-11" 2,354
    with pytest.warns(UserWarning, match="not included. For the whole day pass the date"):
        parse_bound(pd.Timestamp("2024-11-11"), "UTC", end=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_bound("2024-11-11 00:00", "UTC", end=True)  # written out: meant as an instant
        parse_bound(pd.Timestamp("2024-11-11"), "UTC", end=False)  # a start: no surprise
        parse_bound(dt.date(2024, 11, 11), "UTC", end=True)
