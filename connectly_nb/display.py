"""How numbers, rates, durations and tables look: one formatter for dashboard, report and CLI.

A count reads ``16,650``, a rate ``15.5%``, a duration ``15 min``, wherever it
is shown. Every function here takes plain values or DataFrames (never an
Export), returns text, and escapes everything that came from the data when it
returns HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb.safety import mask_phone
from connectly_nb.schema import ALL_RATES, PROBLEM_CODES, RATES

__all__ = [
    "export_summary_html",
    "export_summary_text",
    "format_count",
    "format_duration",
    "format_number_of",
    "format_p_value",
    "format_percent",
    "html_table",
    "is_rate_column",
    "key_figures_html",
    "message_sample",
    "pretty",
    "readable",
    "short_id",
    "store_summary_html",
    "store_summary_text",
]

DASH = "–"  # shown where a value has no meaning (a rate without a denominator)
_PERCENT_HINTS = ("_rate", "share", "coverage", "click_to_read", "_low", "_high")
_NOT_COUNTS = ("line", "message_id", "hour")


# --------------------------------------------------------------------------- values


def format_count(n: Any) -> str:
    """A count with thousands separators: ``16,650``; blank for a missing value.

    Parameters
    ----------
    n : int, float or None
        The count; ``None``, a float NaN and ``pd.NA`` are missing.

    Returns
    -------
    str
        ``f"{int(n):,}"``, or ``""`` when missing.
    """
    if n is None or (isinstance(n, float) and math.isnan(n)) or n is pd.NA:
        return ""
    return f"{int(n):,}"


def format_number_of(n: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun, singular or plural: ``1 campaign``, ``4 campaigns``.

    Parameters
    ----------
    n : int
        The count.
    noun : str
        The noun for one.
    plural : str, optional
        The noun for several (default: ``noun + "s"``).

    Returns
    -------
    str

    Examples
    --------
    >>> format_number_of(1, "campaign"), format_number_of(16650, "message")
    ('1 campaign', '16,650 messages')
    """
    return f"{format_count(n)} {noun if n == 1 else plural or noun + 's'}"


def short_id(value: Any, n: int = 8) -> str:
    """A long id cut to its first ``n`` characters and an ellipsis, for a label.

    Parameters
    ----------
    value : object
        A sendout id (a UUID) or another long id.
    n : int, default 8
        Characters kept.

    Returns
    -------
    str
        The id as it is when it is no longer than ``n + 1``.

    Examples
    --------
    >>> short_id("3f1c2a9e-0b7d-4c1e-9a55-2b8f0e6d7c11"), short_id("s1")
    ('3f1c2a9e…', 's1')
    """
    text = str(value)
    return text if len(text) <= n + 1 else text[:n] + "…"


def format_percent(x: Any, digits: int = 1) -> str:
    """A share as a percentage: ``0.1549`` -> ``15.5%``; a dash without a value.

    Parameters
    ----------
    x : float or object
        The share (1.0 is 100%). Anything that is not a finite number shows
        as a dash.
    digits : int, default 1
        Decimals of the percentage.

    Returns
    -------
    str
        The percentage, or :data:`DASH`.

    Examples
    --------
    >>> format_percent(0.15488), format_percent(float("nan"))
    ('15.5%', '–')
    """
    try:
        value = float(x)
    except (TypeError, ValueError):
        return DASH
    return DASH if not np.isfinite(value) else f"{value:.{digits}%}"


def format_duration(value: Any) -> str:
    """A duration as people say it: ``45 s``, ``15 min``, ``2.5 h``, ``3.1 days``.

    Parameters
    ----------
    value : Timedelta, timedelta, numpy.timedelta64 or float seconds
        NaT / NaN give an empty string.

    Returns
    -------
    str
        Seconds under 90 s, minutes under 90 min (one decimal under 10),
        hours (one decimal) under 36 h, else days (one decimal): a unit
        changes where the next one reads 1.5, so neighbouring values never
        read "119 min" and "2.0 h". Negative durations keep their sign.

    Examples
    --------
    >>> format_duration(pd.Timedelta("0 days 00:15:21"))
    '15 min'
    """
    if value is None or value is pd.NaT:
        return ""
    # numpy's timedelta64 is also a numpy integer: test it first
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, np.timedelta64
    ):
        seconds = float(value)
    else:
        td = pd.Timedelta(value)
        if pd.isna(td):
            return ""
        seconds = td.total_seconds()
    if not np.isfinite(seconds):
        return ""
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 90:
        return f"{sign}{seconds:.0f} s"
    if seconds < 600:
        return f"{sign}{seconds / 60:.1f} min"
    if seconds < 5400:
        return f"{sign}{seconds / 60:.0f} min"
    if seconds < 129600:
        return f"{sign}{seconds / 3600:.1f} h"
    return f"{sign}{seconds / 86400:.1f} days"


def format_p_value(p: float, alpha: float = 0.05) -> str:
    """A p-value with as many digits as it takes not to round across ``alpha``.

    ``0.0496`` at 5% reads ``p = 0.0496``, never ``p = 0.05``; below 0.001 it
    reads ``p < 0.001``.

    Parameters
    ----------
    p : float
        The p-value.
    alpha : float
        The significance level the reader will compare it with.

    Returns
    -------
    str

    Examples
    --------
    >>> format_p_value(0.0496), format_p_value(0.013), format_p_value(0.0004)
    ('p = 0.0496', 'p = 0.013', 'p < 0.001')
    >>> format_p_value(0.049999999), format_p_value(0.050000001)
    ('p < 0.05', 'p > 0.05')
    """
    if not np.isfinite(p):
        return "p not defined"
    if p < 0.001:
        return "p < 0.001"
    for digits in range(2, 7):
        shown = float(f"{p:.{digits}g}")
        if shown != alpha and (shown < alpha) == (p < alpha):
            return f"p = {p:.{digits}g}"
    if p == alpha:
        return f"p = {p:g}"
    return f"p {'<' if p < alpha else '>'} {alpha:g}"  # closer to alpha than 6 digits show


def is_rate_column(name: str) -> bool:
    """Whether a result column holds a share (shown as a percentage).

    Parameters
    ----------
    name : str
        The column name.

    Returns
    -------
    bool
        True for a rate of :data:`connectly_nb.schema.RATES`, and for names
        containing ``_rate``, ``share``, ``coverage``, ``click_to_read``,
        ``_low`` or ``_high``.
    """
    return name in RATES or any(h in name for h in _PERCENT_HINTS)


# --------------------------------------------------------------------------- tables


def pretty(frame: pd.DataFrame, *, digits: int = 1) -> pd.DataFrame:
    """A result frame for reading: rates as percentages, durations rounded, counts with commas.

    Parameters
    ----------
    frame : pandas.DataFrame
        A metric's result.
    digits : int
        Decimals of percentages.

    Returns
    -------
    pandas.DataFrame
        A new frame of text (the numbers stay in ``frame``). Shown in a notebook
        it is HTML-escaped like any DataFrame, unlike a Styler.
    """
    out = frame.copy()
    for c in out.columns:  # (a time reads "04 Nov 2024 14:00", in the frame's time zone)
        col = out[c]
        name = str(c)
        if pd.api.types.is_float_dtype(col) and is_rate_column(name):
            out[c] = col.map(lambda v: "" if pd.isna(v) else format_percent(v, digits))
        elif isinstance(col.dtype, pd.DatetimeTZDtype):
            out[c] = col.dt.strftime("%d %b %Y %H:%M").where(col.notna(), "")
        elif pd.api.types.is_timedelta64_dtype(col):
            out[c] = col.map(format_duration)
        elif pd.api.types.is_integer_dtype(col) and name not in _NOT_COUNTS:
            out[c] = col.map(format_count)
    return out


#: Column names as a reader says them (others: underscores become spaces).
READABLE = {
    "campaign_name": "campaign",
    "sendout_id": "sendout",
    "business_id": "business",
    "customer_external_id": "customer",
    "error_code": "error code",
    "top_error_msg": "most common message",
    "share_of_failed": "share of failures",
    "share_of_rows": "share of messages",
    "opted_out": "opted out",
    "n_negative": "stamped before send",
    "negative": "said no",
    "negative_rate": "said-no rate",
    "first_sent": "first sent",
    "rows": "messages",
}

#: Put around HTML that holds data: MathJax (JupyterLab's, or a page's) skips it, so a
#: ``$...$`` in a campaign name or an error message is never typeset as mathematics.
NO_MATH = "tex2jax_ignore mathjax_ignore"


def readable(name: str) -> str:
    """A column name as a reader says it: ``delivery_rate_low`` -> ``delivery rate (low)``.

    Parameters
    ----------
    name : str
        A result frame's column.

    Returns
    -------
    str

    Examples
    --------
    >>> readable("delivery_rate"), readable("click_rate_high"), readable("error_code")
    ('delivery rate', 'click rate (high)', 'error code')
    """
    for end in ("_low", "_high"):
        if name.endswith(end) and name[: -len(end)] in ALL_RATES:
            return f"{readable(name[: -len(end)])} ({end[1:]})"
    return READABLE.get(name, name.replace("_", " "))


def html_table(
    frame: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    max_rows: int | None = None,
    digits: int = 1,
    note: str = "rows",
) -> str:
    """A result frame as an HTML table a person reads: few columns, readable headers.

    Values as :func:`pretty` gives them (``16,650``, ``15.5%``, ``15 min``),
    headers as :func:`readable` gives them, no index, every cell escaped,
    out of MathJax's reach. With ``columns``, those are shown and the whole
    table is one click away (an HTML ``details`` element).

    Parameters
    ----------
    frame : pandas.DataFrame
        A metric's result.
    columns : list of str, optional
        The columns that matter, in order; the others are on demand.
    max_rows : int, optional
        Show the first rows only, and say how many there are.
    digits : int
        Decimals of percentages.
    note : str
        What the rows are, in the "first N of M" note.

    Returns
    -------
    str
        The table in a horizontally scrolling ``div``.
    """
    shown = frame if max_rows is None else frame.head(max_rows)
    markup = _table(shown[columns] if columns else shown, digits)
    if max_rows is not None and len(frame) > max_rows:
        markup += f"<p><em>first {max_rows:,} of {len(frame):,} {html.escape(note)}</em></p>"
    hidden = [c for c in frame.columns if columns and c not in columns]
    if hidden:
        markup += (
            f"<details><summary>all {len(frame.columns)} columns</summary>"
            f"{_table(shown, digits)}</details>"
        )
    return f"<div class='{NO_MATH}' style='overflow-x:auto'>{markup}</div>"


def _table(frame: pd.DataFrame, digits: int) -> str:
    text = pretty(frame, digits=digits).rename(columns=lambda c: readable(str(c)))
    return text.to_html(index=False, escape=True, border=0, na_rep="", classes="dataframe")


# --------------------------------------------------------------------------- key figures


def key_figures_html(counts: Mapping[str, int]) -> str:
    """Messages and the key rates, each with its numerator and denominator.

    Parameters
    ----------
    counts : mapping
        ``rows``, ``sent``, ``delivered``, ``read``, ``clicked``, ``failed``
        and ``opted_out`` (see :func:`connectly_nb.metrics.key_figures`);
        ``converted`` and ``negative`` when conversions and refusals are counted.

    Returns
    -------
    str
        HTML: one figure per box, wrapping on a narrow screen.
    """
    k = counts

    def cell(big: str, label: str, small: str) -> str:
        return (
            "<div style='padding:0 1.2em 0.4em 0;min-width:7em'>"
            f"<b style='font-size:1.3em'>{html.escape(big)}</b><br>{html.escape(label)}"
            f"<br><small>{html.escape(small)}</small></div>"
        )

    def rate(name: str, label: str) -> str:
        num, den = ALL_RATES[name]
        value = k[num] / k[den] if k[den] else float("nan")
        return cell(format_percent(value), label, f"{k[num]:,} of {k[den]:,} {readable(den)}")

    cells = (
        cell(format_count(k["rows"]), "messages", f"{k['sent']:,} sent")
        + rate("delivery_rate", "delivered")
        + rate("read_rate", "read (lower bound)")
        + rate("click_rate", "clicked (any button or link)" if "converted" in k else "clicked")
    )
    if "converted" in k:
        cells += rate("conversion_rate", "converted")
    if "negative" in k:
        cells += rate("negative_rate", "said no")
    cells += rate("opt_out_rate", "opted out") + rate("failure_rate", "failed")
    empty = "" if k["rows"] else "<p><strong>No messages match the selection.</strong></p>"
    row = f"<div style='display:flex;flex-wrap:wrap'>{cells}</div>"  # wraps on a phone
    return f"<div class='{NO_MATH}'>{empty}{row}</div>"


def selection_too_large_html(count: int, limit: int) -> str:
    """What a message-level tab of a store's dashboard says when the selection is too large.

    Parameters
    ----------
    count : int
        Messages in the selection.
    limit : int
        The most the dashboard loads.

    Returns
    -------
    str
        HTML: the count, the limit, and how to narrow the selection.
    """
    return (
        f"<p class='{NO_MATH}'><strong>This selection holds {count:,} messages; narrow it to "
        f"at most {limit:,} to see message-level tabs</strong> (choose campaigns, sendouts, "
        "error codes or fewer days). The key figures and the Funnel, Trend and Errors tabs "
        "cover the whole selection.</p>"
    )


# --------------------------------------------------------------------------- an export


def _span(summary: Mapping[str, Any], tz: str, fmt: str, sep: str) -> str:
    if summary["first_sent"] is None:
        return "no sent messages"
    return f"{summary['first_sent']:{fmt}}{sep}{summary['last_sent']:{fmt}} ({tz})"


def export_summary_text(summary: Mapping[str, Any], tz: str) -> str:
    """One line saying what an Export holds (its ``repr``).

    Parameters
    ----------
    summary : mapping
        :meth:`connectly_nb.Export.summary`'s result.
    tz : str
        The Export's time zone.

    Returns
    -------
    str
        ``<Export: ... messages, ... campaigns, ...; problems: ...>``.
    """
    s = summary
    probs = ", ".join(f"{k} {v:,}" for k, v in s["problems"].items()) or "none"
    return (
        f"<Export: {_counts_text(s)}, {format_number_of(s['clicks'], 'click')}; "
        f"sent {_span(s, tz, '%Y-%m-%d %H:%M', ' .. ')}; {_files_text(s)}; problems: {probs}>"
    )


def _counts_text(s: Mapping[str, Any]) -> str:
    """``6,000 messages, 1 campaign, 8 sendouts``."""
    return ", ".join(
        format_number_of(s[key], noun)
        for key, noun in (("rows", "message"), ("campaigns", "campaign"), ("sendouts", "sendout"))
    )


def _files_text(s: Mapping[str, Any]) -> str:
    """``from 1 file, 6,005 records read, 5 merged``."""
    return (
        f"from {format_number_of(s['files'], 'file')}, "
        f"{format_number_of(s['records_read'], 'record')} read, {s['duplicates_merged']:,} merged"
    )


def export_summary_html(summary: Mapping[str, Any], tz: str) -> str:
    """What an Export holds, as a small HTML table (how a notebook shows it).

    Parameters
    ----------
    summary : mapping
        :meth:`connectly_nb.Export.summary`'s result.
    tz : str
        The Export's time zone.

    Returns
    -------
    str
        A ``div`` holding the table; every value from the data is escaped.
    """
    s = summary
    e = html.escape
    rows = _summary_rows(s, tz, [("Clicks", format_count(s["clicks"]))])
    body = "".join(_row_html(k, e(v)) for k, v in rows)
    if s["problems"]:
        items = "".join(
            f"<li><code>{e(str(k))}</code> "
            f"({e(PROBLEM_CODES[str(k)].severity if str(k) in PROBLEM_CODES else '')}): {v:,}</li>"
            for k, v in s["problems"].items()
        )
        probs = f"<ul style='margin:0'>{items}</ul>"
    else:
        probs = "none"
    body += _row_html("Problems", probs)
    return f"<div class='{NO_MATH}'><strong>Connectly export</strong><table>{body}</table></div>"


def _summary_rows(
    s: Mapping[str, Any], tz: str, more: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The rows an Export's and a store's summary tables share, ``more`` after Sendouts."""
    return [
        ("Messages", format_count(s["rows"])),
        ("Campaigns", format_count(s["campaigns"])),
        ("Sendouts", format_count(s["sendouts"])),
        *more,
        ("Sent", _span(s, tz, "%Y-%m-%d %H:%M", " – ")),
        (
            "Files",
            f"{s['files']:,} ({s['records_read']:,} records, "
            f"{s['duplicates_merged']:,} merged duplicates)",
        ),
    ]


def _row_html(key: str, markup: str) -> str:
    """One row of a summary table: an escaped key, and markup already made safe."""
    left = "style='text-align:left'"
    return f"<tr><th {left}>{html.escape(key)}</th><td {left}>{markup}</td></tr>"


def store_summary_text(summary: Mapping[str, Any], tz: str) -> str:
    """One line saying what a store (or a filtered view of it) holds (its ``repr``).

    Parameters
    ----------
    summary : mapping
        :meth:`connectly_nb.store.Store.summary`'s result.
    tz : str
        The store's time zone.

    Returns
    -------
    str
        ``<Store: ... messages, ... campaigns, ...>``; no path (outputs stay
        the same wherever the store is).
    """
    s = summary
    return (
        f"<Store: {_counts_text(s)}; sent {_span(s, tz, '%Y-%m-%d %H:%M', ' .. ')}; "
        f"{_files_text(s)}; version {s['version']}>"
    )


def store_summary_html(summary: Mapping[str, Any], tz: str) -> str:
    """What a store holds, as a small HTML table (how a notebook shows it).

    Parameters
    ----------
    summary : mapping
        :meth:`connectly_nb.store.Store.summary`'s result.
    tz : str
        The store's time zone.

    Returns
    -------
    str
        A ``div`` holding the table; every value from the data is escaped.
    """
    rows = [*_summary_rows(summary, tz, []), ("Version", str(summary["version"]))]
    body = "".join(_row_html(k, html.escape(v)) for k, v in rows)
    return f"<div class='{NO_MATH}'><strong>Connectly store</strong><table>{body}</table></div>"


# --------------------------------------------------------------------------- messages


def message_sample(
    messages: pd.DataFrame,
    *,
    start: int = 0,
    rows: int = 10,
    show_phone_numbers: bool = False,
    columns: Iterable[str] = ("customer", "campaign", "sent_at", "stage", "error_code", "clicks"),
) -> pd.DataFrame:
    """A page of messages for reading, phone numbers masked unless asked otherwise.

    Parameters
    ----------
    messages : pandas.DataFrame
        ``Export.messages`` (or a selection of it).
    start, rows : int
        Which rows: ``rows`` rows from position ``start``.
    show_phone_numbers : bool
        Show full customer ids (masked by default, see :func:`connectly_nb.safety.mask_phone`).
    columns : iterable of str
        Which of ``customer``, ``campaign``, ``sendout``, ``sent_at``, ``stage``,
        ``error_code``, ``clicks`` and ``line`` to show, in order.

    Returns
    -------
    pandas.DataFrame
        Text columns (``clicks`` and ``line`` stay numbers), a fresh 0-based
        index.
    """
    m = messages.iloc[start : start + rows]
    ids = m["customer_external_id"]
    makers = {
        "customer": lambda: ids.astype(object) if show_phone_numbers else mask_phone(ids),
        "campaign": lambda: m["campaign_name"].astype(object),
        "sendout": lambda: m["sendout_id"].map(short_id).astype(object),
        "sent_at": lambda: m["sent_at"].dt.strftime("%Y-%m-%d %H:%M"),
        "stage": lambda: m["stage"].astype(str),
        "error_code": lambda: m["error_code"].astype(object).fillna(""),
        "clicks": lambda: m["n_clicks"],
        "line": lambda: m["line"],
    }
    out = pd.DataFrame({name: makers[name]() for name in columns})
    return out.reset_index(drop=True)
