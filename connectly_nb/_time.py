"""Time zones, instants and date bounds: each rule written once.

The export's timestamps carry no zone and are read as UTC; an Export shows
them in its ``tz``. Date bounds given by a user (``filter(start=, end=)``,
the report's ``--start``/``--end``, the dashboard's date pickers) are read
here, in that zone, by one rule:

- a bare date means the whole local day: ``start`` is the first instant of
  that day, ``end`` the first instant of the next day (exclusive), so a day
  of 23 or 25 hours (daylight saving) is covered exactly;
- a date with a time is that instant (``end`` inclusive); a local time that
  occurs twice (the autumn change) is read as widely as possible, a time
  that does not occur (the spring change) as the next one that does;
- text must be ISO 8601 (``2024-11-30``, ``2024-11-30 18:00``): ``01/11/2024``
  is refused, since it reads as 1 November in Brazil and 11 January in the
  US.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
import zoneinfo

import numpy as np
import pandas as pd

from connectly_nb.exceptions import TimeZoneError

__all__ = [
    "NAT_INT",
    "Bound",
    "check_tz",
    "floor_local",
    "local_day_start",
    "localize",
    "naive_utc",
    "parse_bound",
    "parse_date",
    "since",
]

#: NaT seen as int64 (numpy's datetime64/timedelta64 sentinel).
NAT_INT = np.iinfo(np.int64).min

Bound = str | dt.date | dt.datetime | pd.Timestamp | np.datetime64

_ISO_TEXT = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"
    r"(?:\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?)?$",  # a zone only after a time
    re.IGNORECASE,
)


def check_tz(tz: str) -> str:
    """Return ``tz`` if the zone database knows it.

    Parameters
    ----------
    tz : str
        An IANA time zone name (``"UTC"``, ``"America/Sao_Paulo"``).

    Returns
    -------
    str
        ``tz`` itself.

    Raises
    ------
    TimeZoneError
        An unknown name, with an example of a good one.
    """
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise TimeZoneError(
            f"unknown time zone {tz!r}; use an IANA name such as 'UTC' or 'America/Sao_Paulo'"
        ) from exc
    return tz


def parse_date(value: Bound, *, option: str = "date") -> tuple[pd.Timestamp, bool]:
    """Read a user's date or date-time; say whether it is a bare date.

    Parameters
    ----------
    value : str, date, datetime or Timestamp
        Text must be ISO 8601.
    option : str
        How the error message names the value (``"--start"``, ``"end"``).

    Returns
    -------
    (Timestamp, bool)
        The value, and True when it names a whole day (no time given).

    Raises
    ------
    ValueError
        Text that is not ISO 8601, or not a real date; the message shows the
        ISO form.
    """
    if isinstance(value, str):
        text = value.strip()
        if not _ISO_TEXT.match(text):
            raise ValueError(_not_iso(option, value))
        whole_day = len(text) == 10
    elif isinstance(value, np.datetime64):
        whole_day = np.datetime_data(value.dtype)[0] in ("D", "W", "M", "Y")
    elif isinstance(value, dt.datetime | pd.Timestamp):
        whole_day = False
    elif isinstance(value, dt.date):
        whole_day = True
    else:
        raise ValueError(f"{option}: expected a date, got {type(value).__name__} {value!r}")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{option}: {value!r} is not a real date (e.g. 2024-11-30)") from exc
    if pd.isna(ts):
        raise ValueError(f"{option}: expected a date, got {value!r}")
    return ts, whole_day


def _not_iso(option: str, value: str) -> str:
    parts = re.split(r"[/.\-]", value.strip())
    hint = "use the ISO form YYYY-MM-DD, e.g. 2024-11-30"
    if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[2]) == 4:
        a, b, year = (int(p) for p in parts)
        readings = []
        for day, month in ((a, b), (b, a)):
            with_date = _try_date(year, month, day)
            if with_date and with_date not in readings:
                readings.append(with_date)
        if len(readings) > 1:
            hint = f"day and month are ambiguous: write {readings[0]} or {readings[1]}"
        elif readings:
            hint = f"write it as {readings[0]}"
    return f"{option}: cannot read {value!r} as a date; {hint} (ISO 8601)"


def _try_date(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def local_day_start(day: dt.date, tz: str) -> pd.Timestamp:
    """The first instant of ``day`` in ``tz`` (midnight, or later if midnight is skipped).

    Parameters
    ----------
    day : datetime.date
        The local day.
    tz : str
        The time zone.

    Returns
    -------
    pandas.Timestamp
        Aware, in ``tz``. A midnight that occurs twice is read as the first.
    """
    return pd.Timestamp(day).tz_localize(tz, nonexistent="shift_forward", ambiguous=True)


def parse_bound(value: Bound, tz: str, *, end: bool, option: str | None = None) -> pd.Timestamp:
    """A filter bound as a tz-aware instant: ``start <= t`` or ``t < end``.

    Parameters
    ----------
    value : str, date, datetime or Timestamp
        See the module's rules. Naive values are read in ``tz``.
    tz : str
        The Export's time zone.
    end : bool
        Whether this is the upper bound (returned exclusive).
    option : str, optional
        How errors name the value (default ``"start"`` / ``"end"``).

    Returns
    -------
    pandas.Timestamp
        In ``tz``.

    Raises
    ------
    ValueError
        As for :func:`parse_date`.

    Examples
    --------
    >>> parse_bound("2024-11-03", "America/New_York", end=True)
    Timestamp('2024-11-04 00:00:00-0500', tz='America/New_York')
    """
    name = option or ("end" if end else "start")
    ts, whole_day = parse_date(value, option=name)
    if end and not whole_day and not isinstance(value, str) and ts == ts.normalize():
        warnings.warn(
            f"{name}={value!r} is an instant, midnight: the messages of {ts:%d %b %Y} are not "
            f"included. For the whole day pass the date: {ts.date().isoformat()!r} or a "
            "datetime.date",
            UserWarning,
            stacklevel=3,
        )
    if whole_day:
        day = ts.date() + dt.timedelta(days=1) if end else ts.date()
        return local_day_start(day, tz)
    if ts.tzinfo is None:
        # a repeated hour: the earlier reading for a start, the later for an end
        ts = ts.tz_localize(tz, ambiguous=not end, nonexistent="shift_forward")
    else:
        ts = ts.tz_convert(tz)
    return ts + pd.Timedelta(microseconds=1) if end else ts


def naive_utc(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """tz-aware times as numpy ``datetime64[us]`` in UTC (no per-element objects).

    Parameters
    ----------
    times : pandas.Series or pandas.DatetimeIndex
        Datetimes; naive ones are taken as UTC already.

    Returns
    -------
    numpy.ndarray of datetime64[us]
        The same instants in UTC, without a zone; NaT stays NaT.
    """
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.to_numpy().astype("datetime64[us]")


def localize(values: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """UTC instants (``datetime64[us]``) shown in ``tz``.

    Parameters
    ----------
    values : numpy.ndarray of datetime64
        Naive UTC instants.
    tz : str
        The time zone to show them in.

    Returns
    -------
    pandas.DatetimeIndex
        The same instants, aware, in ``tz``.
    """
    return pd.DatetimeIndex(values).tz_localize("UTC").tz_convert(tz)


def since(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """``later - earlier`` for ``datetime64[us]`` arrays, NaT where either is missing.

    Plain int64 arithmetic: pandas' subtraction checks every element for
    overflow and takes several times as long; these instants are years apart
    at most.

    Parameters
    ----------
    later, earlier : numpy.ndarray of datetime64[us]
        Instants of the same length (other units would be misread).

    Returns
    -------
    numpy.ndarray of timedelta64[us]
        The differences; NaT where either instant is NaT.
    """
    a = later.view(np.int64)
    b = earlier.view(np.int64)
    out = a - b
    out[(a == NAT_INT) | (b == NAT_INT)] = NAT_INT
    return out.view("timedelta64[us]")


def floor_local(times: pd.Series, freq: str, tz: str) -> pd.Series:
    """Each instant's clock-time bucket in ``tz``: the start of its ``freq`` period.

    The floor is taken on the local wall clock (so ``"1D"`` means local days),
    and the bucket is placed back on the time line by the instant's own
    daylight-saving flag: on the autumn change the two 01:00 hours stay two
    buckets, and on the spring change no bucket starts in the skipped hour.

    Parameters
    ----------
    times : pandas.Series of tz-aware datetimes
        No NaT.
    freq : str
        A pandas fixed frequency (``"15min"``, ``"1h"``, ``"1D"``).
    tz : str
        The zone whose clock the buckets follow.

    Returns
    -------
    pandas.Series
        Bucket starts, tz-aware in ``tz``, aligned with ``times``.

    Raises
    ------
    ValueError
        ``freq`` is not a fixed pandas frequency.
    """
    local = times.dt.tz_convert(tz)
    try:
        wall = local.dt.tz_localize(None).dt.floor(freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq {freq!r} is not a pandas frequency such as '1h' or '1D'") from exc
    offset = _offset(local)
    first = wall.dt.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    # a wall time that occurs twice: keep the occurrence with the instant's own offset
    later = (_offset(first) != offset).to_numpy()
    if later.any():
        second = wall.dt.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
        first = first.where(~later, second)
    return first


def _offset(local: pd.Series) -> pd.Series:
    """Each tz-aware time's offset from UTC."""
    return local.dt.tz_localize(None) - local.dt.tz_convert("UTC").dt.tz_localize(None)
