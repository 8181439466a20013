"""Campaign metrics: an Export in, a small tidy DataFrame out.

Every function here is pure pandas/numpy (no matplotlib, no widgets), takes
an :class:`~connectly_nb.export.Export` and returns a new DataFrame with named
columns, sorted deterministically. Definitions (docs/metrics.md, DESIGN.md
section 2): a later stage proves the earlier ones. A message is *sent* when
``sent_at`` is present or it was delivered, *delivered* when ``delivered_at``
is present or it was read or opted out, *read* when ``read_at`` is present or
it was clicked, *clicked* with at least one valid click, *failed* with an
error code or message and no delivery, *opted out* with ``opt_out_at``.
Rates name their denominator:

=============== =====================
rate            numerator / denominator
=============== =====================
delivery_rate   delivered / sent
read_rate       read / delivered
click_rate      clicked / delivered
click_to_read   clicked / read
opt_out_rate    opted_out / delivered
failure_rate    failed / rows
=============== =====================

Each rate comes with a 95% Wilson score interval (``*_low``, ``*_high``).
Reads are a lower bound: WhatsApp reports a read only when the recipient has
read receipts on.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from connectly_nb._docs import shared_docs
from connectly_nb._keys import BLANK, blank_filled
from connectly_nb._stages import count_combinations, count_stages, stage_bits, stage_instants
from connectly_nb._stages import key_figures as stage_key_figures
from connectly_nb._stats import (
    Z95,
    bin_quantile,
    fisher_exact,
    holm,
    log_bin,
    two_proportion_test,
    wilson_interval,
)
from connectly_nb._time import NAT_INT, floor_local, naive_utc, since
from connectly_nb.conversions import ClickSet
from connectly_nb.display import format_p_value
from connectly_nb.export import Export
from connectly_nb.schema import (
    ALL_RATES,
    COUNT_COLUMNS,
    EVENT_TIMES,
    FLAG_COLUMNS,
    LATENCY_COLUMNS,
    MANGLED_ID,
    NO_CODE,
    RATES,
    UNKNOWN,
    describe_error,
)
from connectly_nb.store import SLOT, Store, empty_export

__all__ = [
    "BLANK",
    "OUTCOMES",
    "RATES",
    "Z95",
    "activity_heatmap",
    "best_and_worst",
    "buttons",
    "compare",
    "compare_rates",
    "countries",
    "errors",
    "fatigue",
    "funnel",
    "key_figures",
    "latency",
    "links",
    "segment",
    "suppression_list",
    "timeline",
    "trend",
    "two_proportion_test",
    "unreadable_ids",
    "variables",
    "wilson_interval",
]

By = str | Sequence[str] | None

#: Count columns of a funnel, in funnel order.
COUNTS = COUNT_COLUMNS
ALL = "all"


# --------------------------------------------------------------------------- grouping


def _by_list(by: By) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _group_keys(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The ``by`` columns of ``frame``, blanks filled (every row belongs to a group)."""
    return pd.DataFrame({c: blank_filled(frame[c]) for c in by}, index=frame.index)


def _group_codes(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer group of each row and the groups' key values; a blank key is :data:`BLANK`."""
    if not by:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=[0])
    if len(by) == 1 and isinstance(frame[by[0]].dtype, pd.CategoricalDtype):
        col = blank_filled(frame[by[0]])  # categories: each group once, codes >= 0
        names = list(col.cat.categories)
        keys = pd.DataFrame({by[0]: pd.Categorical(names, categories=names)})
        return col.cat.codes.to_numpy().astype(np.int64), keys
    grouped = _group_keys(frame, by).groupby(by, observed=True, sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    keys = grouped.size().index.to_frame(index=False)
    return codes, keys


def _counts(
    frame: pd.DataFrame, codes: np.ndarray, n_groups: int, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Rows and stage counts per group, by the one stage counter (:mod:`connectly_nb._stages`)."""
    return count_stages(stage_bits(frame), codes, n_groups, weights)


def _with_rates(table: pd.DataFrame) -> pd.DataFrame:
    for rate, (num, den) in ALL_RATES.items():
        if num not in table.columns:
            continue
        r, lo, hi = wilson_interval(table[num], table[den])
        table[rate] = r
        table[f"{rate}_low"] = lo
        table[f"{rate}_high"] = hi
    return table


def _funnel_frame(
    frame: pd.DataFrame,
    by: list[str],
    where: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """The funnel of ``frame``; ``extra`` counts more flags (e.g. converted) per group.

    ``weights``: how many messages each row stands for, when ``frame`` holds
    partial counts (:func:`_compress`, a store's partitions, its cube).
    """
    codes, keys = _group_codes(frame, by)
    if where is not None:
        codes = np.where(where, codes, -1)
    counts = _counts(frame, codes, len(keys), weights)
    for name, flag in (extra or {}).items():
        hit = flag & (codes >= 0)
        w = None if weights is None else weights[hit]
        found = np.bincount(codes[hit], weights=w, minlength=len(keys))[: len(keys)]
        counts[name] = np.rint(found).astype(np.int64)
    table = pd.concat([keys.reset_index(drop=True), pd.DataFrame(counts)], axis=1)
    if by:
        table = table[table["rows"] > 0]
    else:
        table.insert(0, "group", ALL)
    return _with_rates(table.reset_index(drop=True))


# --------------------------------------------------------------------------- funnel


@shared_docs
def funnel(
    export: Export,
    *,
    by: By = "campaign_name",
    where: Any = None,
    conversions: Any = None,
    negatives: Any = None,
) -> pd.DataFrame:
    """Counts at each stage and the rates between them, per group.

    By default one row per campaign (``by="campaign_name"``). ``clicked``
    counts every click, a "Stop" button's included; ``conversions`` says
    which clicks mean what the campaign wanted, ``negatives`` which mean "no".

    Parameters
    ----------
    {export}
    {by}
    {where}
    conversions : ClickSet, dict, str or list of str, optional
        The buttons (ids or names) and links (URLs or prefixes) that count as
        a conversion (see :class:`connectly_nb.conversions.ClickSet`): adds
        ``converted`` and ``conversion_rate`` = converted / delivered.
    negatives : ClickSet, dict, str or list of str, optional
        The buttons that say "no" ("Parar promoções", "Not interested"): adds
        ``negative`` and ``negative_rate`` = negative / delivered.
        :func:`connectly_nb.conversions.suggest_negatives` proposes them.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns (or ``group`` = "all"), ``rows``, ``sent``,
        ``delivered``, ``read``, ``clicked``, ``failed``, ``opted_out`` (and
        ``converted``, ``negative`` when asked), then each rate of
        :data:`RATES` (and ``conversion_rate``, ``negative_rate``) with
        ``*_low`` and ``*_high`` (95% Wilson). Sorted by the ``by`` columns;
        groups without rows are left out.

    Raises
    ------
    ValueError
        A ``where`` mask without one boolean per message, or a bad
        ``start``/``end`` among ``where``'s filter arguments.

    Examples
    --------
    >>> from connectly_nb.datasets import sample_export
    >>> funnel(sample_export(), by=None)[["rows", "sent", "delivered"]]
       rows  sent  delivered
    0  6000  5974       5723
    """
    if isinstance(export, Store):
        return _store_funnel(_store_where(export, where), _by_list(by), conversions, negatives)
    extra = _click_sets(export, conversions, negatives)
    return _funnel_frame(export.messages, _by_list(by), _where(export, where), extra)


def _click_sets(export: Export, conversions: Any, negatives: Any) -> dict[str, np.ndarray]:
    """Per message: a click in the conversion set, a click in the negative set."""
    out = {}
    for name, spec in (("converted", conversions), ("negative", negatives)):
        clicks = ClickSet.of(spec, label=name)
        if clicks is not None:
            out[name] = clicks.messages(export.messages, export.clicks)
    return out


@shared_docs
def key_figures(export: Export, *, where: Any = None) -> dict[str, int]:
    """Rows and the count of each stage, as plain ints: the dashboard's header.

    Parameters
    ----------
    {export}
    {where}

    Returns
    -------
    dict of str to int
        ``rows``, ``sent``, ``delivered``, ``read``, ``clicked``, ``failed``,
        ``opted_out``.

    Raises
    ------
    ValueError
        As for :func:`funnel`.

    Examples
    --------
    >>> from connectly_nb.datasets import sample_export
    >>> key_figures(sample_export())["clicked"]
    806
    """
    if isinstance(export, Store):
        store = _store_where(export, where)
        if store.use_cube and store.selection.on_grid:  # the dashboard's header: from the cube
            return store.cube_object.key_figures(store.selection)
        rows = _stack(_partials(store, _flags_partial, columns=list(FLAG_COLUMNS)))
        counts = count_stages(stage_bits(rows), weights=rows["n"].to_numpy())
        return {name: int(counts[name][0]) for name in COUNTS}
    return stage_key_figures(stage_bits(export.messages), _where(export, where))


def _where(export: Export, where: Any) -> np.ndarray | None:
    """``where`` (a mask or :meth:`Export.filter` arguments) as a mask, checked."""
    if where is None:
        return None
    mask = export.selection(**where) if isinstance(where, dict) else np.asarray(where, bool)
    if mask.shape != (len(export.messages),):
        raise ValueError("where must have one boolean per row of export.messages")
    return mask


@shared_docs
def trend(
    export: Export,
    *,
    every: str | None = None,
    conversions: Any = None,
    negatives: Any = None,
) -> pd.DataFrame:
    """Is it getting better or worse? The funnel per sendout in time order, or per period.

    Parameters
    ----------
    {export}
    every : str, optional
        ``None``: one row per sendout (with its campaign), ordered by its first
        send. A period (``"D"`` days, ``"W"`` weeks from Monday, ``"M"``
        calendar months, ``"Q"``, ``"Y"``): one row per period of the local
        sent date, in the Export's time zone; messages without a ``sent_at``
        are left out.
    conversions, negatives : optional
        As for :func:`funnel`.

    Returns
    -------
    pandas.DataFrame
        Per sendout: ``campaign_name``, ``sendout_id``, ``first_sent`` (the
        sendout's first ``sent_at``), then the columns of :func:`funnel`.
        Per period: ``period`` (the period's start), then the funnel columns.
        Each rate has its 95% interval (``*_low``, ``*_high``).

    Raises
    ------
    ValueError
        ``every`` is not a period of a day or longer.
    """
    if isinstance(export, Store):
        return _store_trend(export, every, conversions, negatives)
    m = export.messages
    extra = _click_sets(export, conversions, negatives)
    if every is None:
        out = _funnel_frame(m, ["campaign_name", "sendout_id"], None, extra)
        # keyed as the groups are: a blank sendout id is the "(blank)" sendout
        first = m["sent_at"].groupby(blank_filled(m["sendout_id"]), observed=True).min()
        return _by_first_send(out, first)
    frame, kept = _period_frame(m, every, export.tz)
    out = _funnel_frame(frame, ["period"], None, {k: v[kept] for k, v in extra.items()})
    return out.sort_values("period", kind="stable").reset_index(drop=True)


def _by_first_send(out: pd.DataFrame, first: pd.Series) -> pd.DataFrame:
    """The per-sendout funnel with each sendout's first send, in time order."""
    first_sent = first.reindex(out["sendout_id"].astype(object)).to_numpy()
    out.insert(2, "first_sent", pd.Series(first_sent, dtype=first.dtype))
    out = out.sort_values(["first_sent", "sendout_id"], kind="stable", na_position="last")
    return out.reset_index(drop=True)


def _period_starts(times: pd.Series, every: str, tz: str) -> pd.Series:
    """The start of each instant's period (days, weeks from Monday, months ...) in ``tz``."""
    wall = times.dt.tz_convert(tz).dt.tz_localize(None)
    alias = every[:-1] if every in ("MS", "QS", "YS") else every  # "month start" = month
    refusal = (
        f"every={every!r} is not a period such as 'D' (days), 'W' (weeks from Monday) "
        "or 'M' (calendar months); for hours use timeline(freq='1h'), which keeps the two "
        "01:00 hours of a daylight-saving change apart"
    )
    if _shorter_than_a_day(alias):  # local hours are ambiguous on the autumn change
        raise ValueError(refusal)
    try:
        starts = wall.dt.to_period(alias).dt.start_time
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(refusal) from exc
    # a period starts at the local midnight of its first day (daylight saving included)
    return pd.Series(
        pd.DatetimeIndex(starts).tz_localize(tz, ambiguous=True, nonexistent="shift_forward"),
        index=times.index,
    )


def _period_frame(
    m: pd.DataFrame, every: str, tz: str, *, time: str = "sent_at", keep: Sequence[str] = ()
) -> tuple[pd.DataFrame, np.ndarray]:
    """The flags (and ``keep``) of the rows with a ``time`` and their ``period``; which rows."""
    has_time = m[time].notna().to_numpy()
    columns = [c for c in (*keep, *FLAG_COLUMNS, "n") if c in m.columns]
    frame = m.loc[has_time, list(dict.fromkeys(columns))]
    frame["period"] = _period_starts(m[time][has_time], every, tz)
    return frame, has_time


def _shorter_than_a_day(alias: str) -> bool:
    try:
        offset = pd.tseries.frequencies.to_offset(alias)
    except ValueError:  # "M", "Q", "Y" are periods, not offsets, since pandas 2.2
        return False
    return isinstance(offset, pd.offsets.Tick) and not isinstance(offset, pd.offsets.Day)


# --------------------------------------------------------------------------- errors


_ERROR_COLUMNS = (
    "error_code",
    "count",
    "share_of_failed",
    "share_of_rows",
    "top_error_msg",
    "title",
    "category",
    "retry",
    "advice",
    "fixable",
)


@shared_docs
def errors(
    export: Export,
    *,
    by: By = None,
    category: str | None = None,
    every: str | None = None,
) -> pd.DataFrame:
    """Failures per error code, with what the code means and whether to retry.

    Failed messages only: an error reported on a message that was delivered
    (a later report's receipt, say) is not a failure. A failed message without
    a code (only ``error_msg``) counts under ``"(no code)"``. Title, category,
    retry advice, what to do and whether the business can fix it come from
    the catalogue
    in :mod:`connectly_nb.schema`; a code it does not know says "unknown".
    By default the codes of all messages together (``by=None``); with ``by``
    (e.g. ``"campaign_name"``) the shares are within each group.

    Parameters
    ----------
    {export}
    {by}
    category : str, optional
        Keep only codes of this catalogue category (``"business-template"``,
        ``"recipient"``, ``"rate-limit"``, ``"system"``, ``"policy"`` or
        ``"unknown"``); a code of two categories (``recipient/policy``)
        belongs to both.
    every : str, optional
        Also split by period of the local sent date (``"D"``, ``"W"``,
        ``"M"`` ... as for :func:`trend`): which codes grow. Messages without
        a ``sent_at`` are then left out.

    Returns
    -------
    pandas.DataFrame
        ``period`` (with ``every``), ``by`` columns, ``error_code``,
        ``count``, ``share_of_failed``, ``share_of_rows`` (within the group),
        ``top_error_msg``, ``title``, ``category``, ``retry``, ``advice``
        (what to do, in a sentence), ``fixable`` (the business can fix the
        cause: see :attr:`connectly_nb.schema.ErrorInfo.fixable`); sorted by
        group, then count (descending), then code.

    Raises
    ------
    ValueError
        ``every`` is not a period of a day or longer.
    """
    keys = ["period", *_by_list(by)] if every is not None else _by_list(by)
    if isinstance(export, Store):
        failures, rows = _store_errors(export, keys, every)
    else:
        m = export.messages
        if every is not None:
            m = _period_frame(m, every, export.tz, keep=[*_by_list(by), *_ERROR_TEXT])[0]
        failures = _failure_counts(m[m["is_failed"].to_numpy()], keys)
        rows = _row_counts(m, keys)
    out = _count_codes(failures, keys)
    out = _with_shares(out, rows, keys)
    described = [describe_error(str(c)) for c in out["error_code"]]
    out["title"] = [d.title for d in described]
    out["category"] = [d.category for d in described]
    out["retry"] = [d.retry for d in described]
    out["advice"] = [d.advice for d in described]
    out["fixable"] = np.array([d.fixable for d in described], dtype=bool)
    if category is not None:
        keep = np.array([category in str(c).split("/") for c in out["category"]], dtype=bool)
        out = out[keep]  # (a plain list would select columns when it is empty)
    order = [*keys, "count", "error_code"]
    out = out.sort_values(order, ascending=[True] * len(keys) + [False, True], kind="stable")
    out = out[[*keys, *_ERROR_COLUMNS]].reset_index(drop=True)
    text = ("error_code", "top_error_msg", "title", "category", "retry", "advice")
    return _typed(out, dict.fromkeys(text, "str"))


_ERROR_TEXT = ("error_code", "error_msg")


def _typed(out: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    """``out`` with these columns typed as they are when it has rows.

    A column built from an empty list is float or object: ``.str`` on it, or
    a concatenation with a non-empty result, would then fail or change type.
    """
    if len(out):
        return out
    return out.astype({c: t for c, t in dtypes.items() if c in out.columns})


def _failure_counts(failed: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Failed messages per group key, error code (or "(no code)") and message: column ``n``.

    ``failed`` holds one row per failed message, or partial counts in ``n``.
    """
    code = failed["error_code"].astype(object).where(failed["error_code"].notna(), NO_CODE)
    frame = _group_keys(failed, by).reset_index(drop=True)
    frame["error_code"] = code.to_numpy()
    frame["error_msg"] = failed["error_msg"].to_numpy(dtype=object)
    frame["n"] = failed["n"].to_numpy() if "n" in failed.columns else 1
    grouped = frame.groupby([*by, *_ERROR_TEXT], observed=True, dropna=False, sort=False)
    return grouped["n"].sum().reset_index()


def _row_counts(m: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Messages per group key (column ``n``); ``m`` may hold partial counts in ``n``."""
    frame = _group_keys(m, by).reset_index(drop=True)
    frame["n"] = m["n"].to_numpy() if "n" in m.columns else 1
    if not by:
        return pd.DataFrame({"n": [int(frame["n"].sum())]}, dtype=np.int64)
    return frame.groupby(by, observed=True, dropna=False, sort=False)["n"].sum().reset_index()


def _count_codes(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Failures per (group, code), with the most frequent error message of each."""
    cols = [*by, "error_code"]
    grouped = frame.groupby(cols, observed=True, sort=False, dropna=False)
    out = grouped["n"].sum().astype(np.int64).rename("count")
    msgs = (
        frame.dropna(subset=["error_msg"])
        .groupby([*cols, "error_msg"], observed=True, dropna=False)["n"]
        .sum()
        .reset_index()
        .sort_values(["n", "error_msg"], ascending=[False, True], kind="stable")
        .drop_duplicates(cols)
        .rename(columns={"error_msg": "top_error_msg"})
        .drop(columns="n")
    )
    return out.reset_index().merge(msgs, on=cols, how="left")


def _with_shares(out: pd.DataFrame, rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Each code's share of its group's failures and of its group's rows (``rows``' ``n``)."""
    if by:
        group_failed = out.groupby(by, observed=True)["count"].transform("sum")
        group_rows = rows.groupby(by, observed=True)["n"].sum().rename("_rows").reset_index()
        out = out.merge(group_rows, on=by, how="left")
        n_rows = out.pop("_rows").to_numpy()
    else:
        group_failed = out["count"].sum()
        n_rows = rows["n"].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_of_failed"] = out["count"] / group_failed
        out["share_of_rows"] = out["count"] / n_rows
    return out


@shared_docs
def suppression_list(export: Export, *, repeats: int = 2) -> pd.DataFrame:
    """Customers not to message again, each with the reason, from the error catalogue.

    A customer is listed when they opted out (``opt_out_at``), failed with a
    code the catalogue marks "suppress always" (131050 "user stopped
    marketing messages", Connectly's opted-out code), or failed at least
    ``repeats`` times with a code marked "suppress after repeats" (131026
    "message undeliverable": not on WhatsApp). See
    :attr:`connectly_nb.schema.ErrorInfo.suppress`. Give it every campaign
    loaded, usually: a filtered export misses the other campaigns' failures.

    Messages whose customer id is blank or was rewritten by Excel
    (:func:`unreadable_ids`) are left out: such an id names no one, and
    different customers may share it (``5.51199E+12``), so their failures
    cannot be added up.

    Parameters
    ----------
    {export}
    repeats : int, default 2
        Failures needed for a "suppress after repeats" code.

    Returns
    -------
    pandas.DataFrame
        One row per customer: ``customer_external_id``, ``reason`` (the
        reasons, "; "-joined), ``messages`` (their messages in the export),
        ``last_sent_at``; sorted by customer id.
    """
    if isinstance(export, Store):  # the candidates' whole history, then the same rule
        found = _partials(export, _suppression_candidates, columns=_SUPPRESSION_COLUMNS)
        ids = sorted(set().union(*found))
        return suppression_list(export.to_export(customers=ids), repeats=repeats)
    m = export.messages[~unreadable_ids(export)]
    customer = m["customer_external_id"]
    reasons: dict[str, list[str]] = {}
    for cid in customer[m["is_opted_out"].to_numpy()].unique():
        reasons.setdefault(str(cid), []).append("opted out")
    failed = m[m["is_failed"].to_numpy() & m["error_code"].notna().to_numpy()]
    counts = failed.groupby(["customer_external_id", "error_code"], observed=True).size()
    for (cid, code), n in counts.items():
        info = describe_error(str(code))
        if info.suppress == "always" or (info.suppress == "after repeats" and n >= repeats):
            again = f" ({repeats}+ failures)" if info.suppress == "after repeats" else ""
            reasons.setdefault(str(cid), []).append(f"{code} {info.title}{again}")
    ids = sorted(reasons)
    per_customer = m.groupby("customer_external_id", observed=True).agg(
        messages=("sent_at", "size"), last_sent_at=("sent_at", "max")
    )
    out = pd.DataFrame(
        {
            "customer_external_id": pd.array(ids, dtype=m["customer_external_id"].dtype),
            # typed text even when nobody is listed (an empty list would be float)
            "reason": pd.array(["; ".join(reasons[c]) for c in ids], dtype="str"),
        }
    )
    return out.join(per_customer, on="customer_external_id").reset_index(drop=True)


@shared_docs
def unreadable_ids(export: Export) -> np.ndarray:
    """The messages whose customer id names no one: blank, or rewritten by Excel.

    An id Excel saved as a number (``5.51199E+12``, ``5511987654321.0``;
    :data:`connectly_nb.schema.MANGLED_ID`) has lost its digits; the loader
    reports it as ``mangled_id``. Such messages count in every rate, but no
    customer can be suppressed or followed through them.

    Parameters
    ----------
    {export}

    Returns
    -------
    numpy.ndarray of bool
        One value per row of ``export.messages``.
    """
    ids = export.messages["customer_external_id"].astype("string")
    blank = (ids.isna() | ids.str.strip().eq("")).to_numpy(dtype=bool, na_value=True)
    return blank | ids.str.match(MANGLED_ID).to_numpy(dtype=bool, na_value=False)


_SUPPRESSION_COLUMNS = ["customer_external_id", "error_code", "is_failed", "is_opted_out"]


def _suppression_candidates(export: Export) -> set[str]:
    """Customers who opted out or failed with a code the catalogue may suppress."""
    m = export.messages
    codes = m["error_code"].astype(object)
    suppressible = codes.map(lambda c: pd.notna(c) and bool(describe_error(str(c)).suppress))
    hit = m["is_opted_out"].to_numpy() | (
        m["is_failed"].to_numpy() & suppressible.to_numpy(dtype=bool)
    )
    return {str(c) for c in m.loc[hit, "customer_external_id"].dropna()}


# --------------------------------------------------------------------------- time

#: Default points (time since sending) of the timeline curve.
TIMELINE_POINTS = tuple(
    pd.Timedelta(x)
    for x in (
        "0s",
        "10s",
        "30s",
        "1min",
        "2min",
        "5min",
        "10min",
        "15min",
        "30min",
        "45min",
        "1h",
        "2h",
        "3h",
        "4h",
        "6h",
        "8h",
        "12h",
        "18h",
        "1D",
        "36h",
        "2D",
        "3D",
        "5D",
        "7D",
    )
)


def _reached_since_sent(m: pd.DataFrame) -> dict[str, np.ndarray]:
    """Time from ``sent_at`` to the earliest event proving each stage (timedelta64[us]).

    The rule of :func:`connectly_nb._stages.stage_instants`: a click proves a
    read at the click's time, a read or an opt-out proves a delivery.
    """
    stamps = {c: naive_utc(m[c]) for c in ("delivered_at", "read_at", "opt_out_at")}
    when = stage_instants(stamps, naive_utc(m["first_click_at"]))
    sent_at = naive_utc(m["sent_at"])
    return {stage: since(values, sent_at) for stage, values in when.items()}


@shared_docs
def timeline(
    export: Export,
    *,
    by: By = None,
    freq: str | None = None,
    tz: str | None = None,
    points: Sequence[pd.Timedelta | str] | None = None,
) -> pd.DataFrame:
    """How a campaign unfolds over time.

    Without ``freq``: of the messages with a ``sent_at``, the cumulative share
    delivered, read and clicked as a function of time since sending (when is
    a campaign "done"?). A stage counts from the earliest event that proves
    it (a click proves a read, a read or an opt-out proves a delivery), so each
    curve ends at its funnel count over the messages sent (not at the rate,
    whose denominator may be delivered). Events stamped before ``sent_at``
    count at 0.

    With ``freq`` (``"1h"``, ``"1D"`` ...): counts of the reported events
    (sent, delivered and read receipts, first clicks, opt-outs) per bucket of
    the local clock in ``tz`` (default: the Export's time zone); on the
    autumn clock change the two 01:00 hours are two buckets. By default all
    messages together (``by=None``).

    Parameters
    ----------
    {export}
    {by}
    freq : str, optional
        A pandas frequency (``"1h"``, ``"1D"``): count events per clock-time
        bucket instead of following them since sending.
    tz : str, optional
        Time zone of the buckets; the Export's by default. Only with ``freq``.
    points : sequence of Timedelta or str, optional
        The times since sending at which the shares are given (sorted here);
        by default :data:`TIMELINE_POINTS`, 0 s to 7 days. Not used with ``freq``.

    Returns
    -------
    pandas.DataFrame
        Since sending: ``by`` columns (or ``group`` = "all"), ``stage``,
        ``elapsed`` (Timedelta), ``reached`` (count), ``sent`` (denominator:
        messages with a ``sent_at``), ``share``.
        Per bucket: ``by`` columns, ``time`` (bucket start), ``event``, ``count``.

    Raises
    ------
    ValueError
        ``freq`` is not a pandas frequency.
    """
    by_cols = _by_list(by)
    if isinstance(export, Store):
        if freq is None:
            return _timeline_since_sent_store(export, by_cols, points)
        part = functools.partial(_clock_rows, by=by_cols, freq=freq, tz=tz or export.tz)
        columns = [*by_cols, *_CLOCK_EVENTS.values()]
        return _clock_finish(_partials(export, part, columns=columns), by_cols)
    m = export.messages
    if freq is not None:
        return _clock_counts(m, by_cols, freq, tz or export.tz)
    grid = _grid(points)
    rows = _since_sent_rows(export, by=by_cols, grid=grid)
    return _since_sent_finish(rows, by_cols, grid)


def _grid(points: Sequence[pd.Timedelta | str] | None) -> pd.TimedeltaIndex:
    grid = pd.to_timedelta(list(points) if points is not None else list(TIMELINE_POINTS))
    return grid.sort_values()


_SENT = "_sent"  # the rows of the partial timeline counting the messages with a sent_at


def _since_sent_rows(export: Export, by: list[str], grid: pd.TimedeltaIndex) -> pd.DataFrame:
    """Partial timeline: per group, stage and grid step, the messages first reaching it there.

    Rows of stage ``"_sent"`` count each group's messages with a ``sent_at``.
    """
    m = export.messages
    sent = m["sent_at"].notna().to_numpy()  # the time origin: messages with a sent time
    edges = grid.to_numpy().astype("timedelta64[us]").astype(np.int64)
    frames = [
        _compress(m.loc[sent, by].assign(stage=_SENT, bucket=0), [*by, "stage", "bucket"], flags=())
    ]
    for stage, since_sent in _reached_since_sent(m).items():
        elapsed = since_sent[sent]
        reached = ~np.isnat(elapsed)
        el = np.maximum(elapsed[reached].astype("timedelta64[us]").astype(np.int64), 0)
        frame = m.loc[sent, by][reached].reset_index(drop=True)
        frame["stage"] = stage
        # bucket of each event: how many grid points lie before it (cumulated later)
        frame["bucket"] = np.searchsorted(edges, el, side="left")
        frames.append(_compress(frame, [*by, "stage", "bucket"], flags=()))
    return pd.concat(frames, ignore_index=True)


def _since_sent_finish(rows: pd.DataFrame, by: list[str], grid: pd.TimedeltaIndex) -> pd.DataFrame:
    """The timeline from partial rows: cumulative counts per grid point, shares of sent."""
    codes, keys = _group_codes(rows, by)
    n_groups, steps = len(keys), len(grid) + 1
    stage_of = rows["stage"].to_numpy(dtype=object)
    n = rows["n"].to_numpy(dtype=np.float64)
    is_sent = stage_of == _SENT
    n_sent = np.rint(np.bincount(codes[is_sent], weights=n[is_sent], minlength=n_groups))
    frames = []
    for stage in LATENCY_COLUMNS:
        sel = (stage_of == stage) & (codes >= 0)
        flat = codes[sel] * steps + rows["bucket"].to_numpy()[sel]
        counts = np.bincount(flat, weights=n[sel], minlength=n_groups * steps)
        counts = np.cumsum(np.rint(counts).astype(np.int64).reshape(n_groups, steps)[:, :-1], 1)
        part = (
            keys.loc[keys.index.repeat(len(grid))].reset_index(drop=True)
            if by
            else (pd.DataFrame({"group": [ALL] * len(grid)}))
        )
        part["stage"] = stage
        part["elapsed"] = np.tile(grid.to_numpy(), n_groups)
        part["reached"] = counts.ravel()
        part["sent"] = np.repeat(n_sent.astype(np.int64), len(grid))
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share"] = np.where(out["sent"] > 0, out["reached"] / out["sent"], np.nan)
    out = out[out["sent"] > 0] if by else out
    out["stage"] = pd.Categorical(out["stage"], categories=list(LATENCY_COLUMNS), ordered=True)
    order = [*(by or ["group"]), "stage", "elapsed"]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def _timeline_since_sent_store(
    store: Store, by: list[str], points: Sequence[pd.Timedelta | str] | None
) -> pd.DataFrame:
    grid = _grid(points)
    part = functools.partial(_since_sent_rows, by=by, grid=grid)
    columns = [*by, "sent_at", "delivered_at", "read_at", "opt_out_at", "first_click_at"]
    return _since_sent_finish(_stack(_partials(store, part, columns=columns)), by, grid)


def _clock_rows(export: Export, by: list[str], freq: str, tz: str) -> pd.DataFrame:
    return _clock_partial(export.messages, by, freq, tz)


_CLOCK_EVENTS = EVENT_TIMES


def _clock_counts(m: pd.DataFrame, by: list[str], freq: str, tz: str) -> pd.DataFrame:
    return _clock_finish([_clock_partial(m, by, freq, tz)], by)


def _clock_partial(m: pd.DataFrame, by: list[str], freq: str, tz: str) -> pd.DataFrame:
    """Events per group, clock bucket and kind (partial counts add up)."""
    frames = []
    keys = _group_keys(m, by)
    for event, column in _CLOCK_EVENTS.items():
        t = m[column]
        keep = t.notna().to_numpy()
        if not keep.any():
            continue
        frame = keys[keep].copy()
        frame["time"] = floor_local(t[keep], freq, tz)
        counts = frame.groupby([*by, "time"], observed=True).size().rename("count").reset_index()
        counts["event"] = event
        frames.append(counts)
    if not frames:
        return pd.DataFrame(columns=[*by, "time", "event", "count"])
    return pd.concat(frames, ignore_index=True)


def _clock_finish(parts: list[pd.DataFrame], by: list[str]) -> pd.DataFrame:
    """The partial clock counts added up, in order."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=[*by, "time", "event", "count"])
    out = _stack(parts) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        grouped = out.groupby([*by, "time", "event"], observed=True, sort=False)
        out = grouped["count"].sum().reset_index()
    out["event"] = pd.Categorical(out["event"], categories=list(_CLOCK_EVENTS), ordered=True)
    out = out.sort_values([*by, "time", "event"], kind="stable").reset_index(drop=True)
    return out[[*by, "time", "event", "count"]]


@shared_docs
def latency(export: Export, *, by: By = "campaign_name") -> pd.DataFrame:
    """Median, 90th percentile and mean of time to deliver, to read and to first click.

    Times are from ``sent_at``; negative values (events stamped before the
    send, which WhatsApp's out-of-order reports produce) are left out and
    counted in ``n_negative``. By default per campaign (``by="campaign_name"``).

    Parameters
    ----------
    {export}
    {by}

    Returns
    -------
    pandas.DataFrame
        ``by`` columns (or ``group``), ``stage`` ("delivered", "read",
        "clicked"), ``n``, ``median``, ``p90``, ``mean`` (Timedeltas),
        ``n_negative``.
    """
    by_cols = _by_list(by)
    if isinstance(export, Store):
        part = functools.partial(_latency_bins, by=by_cols)
        columns = [*by_cols, *LATENCY_COLUMNS.values()]
        return _latency_from_bins(_stack(_partials(export, part, columns=columns)), by_cols)
    m = export.messages
    rows = []
    columns = LATENCY_COLUMNS
    codes, keys = _group_codes(m, by_cols)
    nat = NAT_INT
    for gi in range(len(keys)):
        in_group = codes == gi
        if by_cols and not in_group.any():
            continue
        key = tuple(keys.iloc[gi]) if by_cols else (ALL,)
        for stage, col in columns.items():
            v = m[col].to_numpy().astype("timedelta64[us]").view(np.int64)[in_group]
            v = v[v != nat]
            neg = int((v < 0).sum())
            v = v[v >= 0]
            if len(v):
                med, p90 = np.quantile(v, [0.5, 0.9])
                stats = [pd.Timedelta(microseconds=float(x)) for x in (med, p90, v.mean())]
            else:
                stats = [None, None, None]
            rows.append((*key, stage, len(v), *stats, neg))
    return _latency_frame(rows, by_cols)


def _latency_frame(rows: list[tuple[Any, ...]], by: list[str]) -> pd.DataFrame:
    names = [*(by or ["group"]), "stage", "n", "median", "p90", "mean", "n_negative"]
    out = pd.DataFrame(rows, columns=names)
    out["stage"] = pd.Categorical(out["stage"], categories=list(LATENCY_COLUMNS), ordered=True)
    for c in ("median", "p90", "mean"):
        # all-NaT columns would be read as datetimes: state the type
        out[c] = pd.Series([v if pd.notna(v) else None for v in out[c]], dtype="timedelta64[us]")
    return _typed(out, {**dict.fromkeys(by, "str"), "n": np.int64, "n_negative": np.int64})


_NEGATIVE_BIN = -2  # latencies below 0: counted apart
_PRESENT_BIN = -3  # marks a group that has messages, latencies or not


def _latency_bins(export: Export, by: list[str]) -> pd.DataFrame:
    """Partial latencies: per group, stage and 1% log bin, the count and the sum (µs)."""
    m = export.messages
    frames = [
        _compress(
            m[by].assign(stage="delivered", bin=_PRESENT_BIN), [*by, "stage", "bin"], flags=()
        )
    ]
    frames[0]["total"] = 0
    for stage, col in LATENCY_COLUMNS.items():
        v = m[col].to_numpy().astype("timedelta64[us]").view(np.int64)
        has = v != NAT_INT
        frame = m.loc[has, by].reset_index(drop=True)
        values = v[has]
        frame["stage"] = stage
        frame["bin"] = np.where(values < 0, _NEGATIVE_BIN, log_bin(np.maximum(values, 0)))
        frame["total"] = np.where(values < 0, 0, values)
        grouped = frame.groupby([*by, "stage", "bin"], observed=True, dropna=False, sort=False)
        frames.append(grouped.agg(n=("total", "size"), total=("total", "sum")).reset_index())
    return pd.concat(frames, ignore_index=True)


def _latency_from_bins(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """:func:`latency` from partial bins: n, mean and n_negative exact, quantiles within 0.5%."""
    codes, keys = _group_codes(rows, by)
    stage = rows["stage"].to_numpy(dtype=object)
    bins = rows["bin"].to_numpy()
    n = rows["n"].to_numpy()
    total = rows["total"].to_numpy()
    out = []
    for gi in range(len(keys)):
        in_group = codes == gi
        if not in_group.any():
            continue
        key = tuple(keys.iloc[gi]) if by else (ALL,)
        for name in LATENCY_COLUMNS:
            sel = in_group & (stage == name)
            neg = int(n[sel & (bins == _NEGATIVE_BIN)].sum())
            ok = sel & (bins >= -1)
            count = int(n[ok].sum())
            stats: list[Any] = [None, None, None]
            if count:
                med, p90 = (bin_quantile(bins[ok], n[ok], q) for q in (0.5, 0.9))
                mean = total[ok].sum() / count
                stats = [pd.Timedelta(microseconds=float(x)) for x in (med, p90, mean)]
            out.append((*key, name, count, *stats, neg))
    return _latency_frame(out, by)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@shared_docs
def activity_heatmap(
    export: Export,
    *,
    event: Literal["sent", "delivered", "read", "clicked"] = "read",
    tz: str | None = None,
) -> pd.DataFrame:
    """Events by weekday and hour of day, in ``tz`` (default: the Export's).

    ``event="clicked"`` counts every click (not only first clicks).

    Parameters
    ----------
    {export}
    event : {"sent", "delivered", "read", "clicked"}, default "read"
        Which reported event to count (a receipt, or every click), at the time
        it was stamped.
    tz : str, optional
        Time zone of the weekdays and hours; the Export's by default.

    Returns
    -------
    pandas.DataFrame
        All 168 cells: ``weekday`` (ordered Mon..Sun), ``hour`` (0-23), ``count``.

    Raises
    ------
    ValueError
        ``event`` is none of the four.
    """
    if event not in ("sent", "delivered", "read", "clicked"):
        raise ValueError(f"event must be one of sent, delivered, read, clicked; got {event!r}")
    cells = functools.partial(_heatmap_cells, event=event, tz=tz or export.tz)
    if isinstance(export, Store):
        tables = ("messages", "clicks") if event == "clicked" else ("messages",)
        columns = [] if event == "clicked" else [EVENT_TIMES[event]]
        counts = sum(_partials(export, cells, tables=tables, columns=columns))
    else:
        counts = cells(export)
    out = pd.DataFrame(
        {
            "weekday": pd.Categorical(np.repeat(WEEKDAYS, 24), categories=WEEKDAYS, ordered=True),
            "hour": np.tile(np.arange(24), 7),
            "count": counts.astype(np.int64),
        }
    )
    out.attrs = {"event": event, "tz": tz or export.tz}  # what the cells count, and where
    return out


def _heatmap_cells(export: Export, event: str, tz: str) -> np.ndarray:
    """Events per weekday x hour cell (168 counts; partial counts add up)."""
    if event == "clicked":
        times = export.clicks["ts"].dropna()
    else:
        times = export.messages[EVENT_TIMES[event]].dropna()
    times = times.dt.tz_convert(tz)
    cell = times.dt.day_of_week.to_numpy() * 24 + times.dt.hour.to_numpy()
    return np.bincount(cell, minlength=168)


# --------------------------------------------------------------------------- clicks


_CLICK_COLUMNS = (
    "id",
    "name",
    "clicks",
    "unique_clickers",
    "messages",
    "share_of_delivered",
    "share_of_read",
    "median_time_to_click",
)


def _click_table(export: Export, kind: str, by: list[str]) -> pd.DataFrame:
    if isinstance(export, Store):
        return _store_click_table(export, kind, by)
    m = export.messages
    frame = _click_frame(export, kind, by)
    grouped = frame.groupby([*by, "id", "name"], observed=True, sort=False, dropna=False)
    out = grouped.agg(
        clicks=("message_id", "size"),
        unique_clickers=("customer", "nunique"),
        messages=("message_id", "nunique"),
        median_time_to_click=("to_click", "median"),
    ).reset_index()
    return _click_finish(out, _click_reach(m, by), by)


def _click_frame(export: Export, kind: str, by: list[str]) -> pd.DataFrame:
    """One row per click of ``kind``: its message's group, id, name, customer, time to click."""
    m = export.messages
    c = export.clicks[(export.clicks["kind"] == kind).to_numpy()]
    mid = c["message_id"].to_numpy()
    pos = m.index.get_indexer(mid)
    to_click = naive_utc(c["ts"]) - naive_utc(m["sent_at"].iloc[pos])
    # one definition of time to click (docs/metrics.md): from sent_at, and a click
    # stamped before the send is left out of durations
    to_click[to_click < np.timedelta64(0, "us")] = np.timedelta64("NaT")
    frame = _group_keys(m.iloc[pos], by).reset_index(drop=True)
    frame["id"] = c["id"].fillna("(no id)").to_numpy()
    frame["name"] = c["name"].fillna("(no name)").to_numpy()
    frame["message_id"] = mid
    frame["customer"] = m["customer_external_id"].iloc[pos].to_numpy()
    frame["to_click"] = to_click
    return frame


def _click_reach(m: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Delivered and read messages per group (the shares' denominators; partial sums add up)."""
    flags = m[["is_delivered", "is_read"]].reset_index(drop=True)
    if not by:
        return flags.sum().to_frame().T.astype(np.int64)
    den = _group_keys(m, by).reset_index(drop=True).join(flags)
    return den.groupby(by, observed=True)[["is_delivered", "is_read"]].sum().reset_index()


def _click_finish(out: pd.DataFrame, reach: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if by:
        den = reach.groupby(by, observed=True)[["is_delivered", "is_read"]].sum().reset_index()
        out = out.merge(den, on=by, how="left")
        delivered, read = out.pop("is_delivered").to_numpy(), out.pop("is_read").to_numpy()
    else:
        delivered, read = int(reach["is_delivered"].sum()), int(reach["is_read"].sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_of_delivered"] = out["messages"] / delivered
        out["share_of_read"] = out["messages"] / read
    out = out.sort_values(
        [*by, "clicks", "id", "name"],
        ascending=[True] * len(by) + [False, True, True],
        kind="stable",
    )
    out = out[[*by, *_CLICK_COLUMNS]].reset_index(drop=True)
    return _typed(out, {"id": "str", "name": "str", "clicks": np.int64, "messages": np.int64})


_CLICK_READ = ["customer_external_id", "sent_at", "is_delivered", "is_read"]


def _store_click_table(store: Store, kind: str, by: list[str]) -> pd.DataFrame:
    """Clicks per button or link of a store: counts and reach added up, clickers by customer."""
    keys = [*by, "id", "name"]
    read = {"tables": ("messages", "clicks"), "columns": [*by, *_CLICK_READ]}
    found = _partials(store, functools.partial(_click_parts, kind=kind, by=by), **read)
    counts = _stack([f[0] for f in found])
    out = counts.groupby(keys, observed=True, sort=False)[["clicks", "messages"]].sum()
    times = _stack([f[1] for f in found])
    medians = {
        key: _timedelta(bin_quantile(g["bin"].to_numpy(), g["n"].to_numpy(), 0.5))
        for key, g in times.groupby(keys, observed=True, sort=False)
    }
    out["median_time_to_click"] = pd.Series(
        [medians.get(k) for k in out.index], index=out.index, dtype="timedelta64[us]"
    )
    clickers = store.map_customers(
        functools.partial(_clicker_rows, kind=kind, by=by),
        functools.partial(_clickers, keys=keys),
        **read,
    )
    unique = pd.concat(clickers).groupby(keys, observed=True).sum() if clickers else None
    out["unique_clickers"] = (
        unique.reindex(out.index).fillna(0).to_numpy(np.int64) if unique is not None else 0
    )
    out = out.reset_index()
    return _click_finish(out, _stack([f[2] for f in found]), by)


def _timedelta(us: float) -> pd.Timedelta | None:
    return None if math.isnan(us) else pd.Timedelta(microseconds=us)


def _click_parts(
    export: Export, kind: str, by: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Partial click counts, time-to-click bins and reach of one piece of a store."""
    keys = [*by, "id", "name"]
    frame = _click_frame(export, kind, by)
    grouped = frame.groupby(keys, observed=True, sort=False, dropna=False)
    counts = grouped.agg(clicks=("message_id", "size"), messages=("message_id", "nunique"))
    us = frame["to_click"].to_numpy().astype("timedelta64[us]").view(np.int64)
    has = us != NAT_INT
    times = frame.loc[has, keys].assign(bin=log_bin(us[has]))
    bins = times.groupby([*keys, "bin"], observed=True, sort=False).size().rename("n")
    return counts.reset_index(), bins.reset_index(), _click_reach(export.messages, by)


def _clicker_rows(export: Export, kind: str, by: list[str]) -> pd.DataFrame:
    """Who clicked what: (group, id, name, customer), once each."""
    frame = _click_frame(export, kind, by)
    rows = frame[[*by, "id", "name"]].assign(customer_external_id=frame["customer"])
    return rows.drop_duplicates()


def _clickers(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Distinct customers per button (all rows of these customers are here: counts add up)."""
    return frame.groupby(keys, observed=True, sort=False)["customer_external_id"].nunique()


@shared_docs
def buttons(export: Export, *, by: By = None) -> pd.DataFrame:
    """Per button (id and name): total clicks, unique clickers and reach.

    ``unique_clickers`` counts customers; ``messages`` counts messages with at
    least one click on it; ``share_of_delivered`` and ``share_of_read`` are
    ``messages`` over the delivered / read messages of the group;
    ``median_time_to_click`` is from ``sent_at`` to each click, as in
    :func:`latency` (clicks stamped before the send are left out). By default
    all messages together (``by=None``).

    Parameters
    ----------
    {export}
    {by}

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``id``, ``name`` (``"(no id)"`` / ``"(no name)"`` when
        blank), ``clicks``, ``unique_clickers``, ``messages``,
        ``share_of_delivered``, ``share_of_read``, ``median_time_to_click``;
        sorted by group, then clicks (descending), id and name.
    """
    return _click_table(export, "button", _by_list(by))


@shared_docs
def links(export: Export, *, by: By = None) -> pd.DataFrame:
    """Per link (id and name, usually the URL): as :func:`buttons`.

    By default all messages together (``by=None``).

    Parameters
    ----------
    {export}
    {by}

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`buttons`, one row per link (and group).
    """
    return _click_table(export, "link", _by_list(by))


# --------------------------------------------------------------------------- variables

MISSING = "(missing)"
OTHER = "(other)"


@shared_docs
def variables(export: Export, *, top: int = 3) -> pd.DataFrame:
    """The keys seen in input and output variables, with coverage and top values.

    Parameters
    ----------
    {export}
    top : int, default 3
        How many of each key's most common values to list.

    Returns
    -------
    pandas.DataFrame
        ``direction``, ``key``, ``messages`` (with the key), ``coverage``
        (share of all messages), ``distinct`` values, ``top_values`` (the
        ``top`` most common, with counts).
    """
    _export_only(export, "variables")
    v = export.variables
    n = len(export.messages)
    keys = ["direction", "key"]
    # after merging, a (message, direction, key) appears once: group size = messages
    per_value = (
        v.groupby([*keys, "value"], observed=True, sort=False)
        .size()
        .rename("n")
        .reset_index()
        .sort_values([*keys, "n", "value"], ascending=[True, True, False, True], kind="stable")
    )
    grouped = per_value.groupby(keys, observed=True, sort=True)["n"]
    per_key = pd.DataFrame({"messages": grouped.sum(), "distinct": grouped.size()})
    per_value = per_value[per_value.groupby(keys, observed=True).cumcount() < top]
    per_value["text"] = [
        f"{val} ({c:,})" for val, c in zip(per_value["value"], per_value["n"], strict=True)
    ]
    tops = per_value.groupby(keys, observed=True, sort=False)["text"].agg(", ".join)
    out = per_key.join(tops.rename("top_values")).reset_index()
    out["coverage"] = out["messages"] / n if n else np.nan
    out["messages"] = out["messages"].astype(np.int64)
    out["distinct"] = out["distinct"].astype(np.int64)
    columns = ["direction", "key", "messages", "coverage", "distinct", "top_values"]
    if not len(out):
        out = pd.DataFrame(columns=columns)
    dtypes = {"direction": "category", "key": "category", "messages": np.int64}
    return _typed(
        out[columns], {**dtypes, "coverage": float, "distinct": np.int64, "top_values": "str"}
    )


@shared_docs
def segment(
    export: Export,
    key: str,
    *,
    direction: Literal["input", "output"] = "input",
    by: By = None,
    top: int | None = None,
) -> pd.DataFrame:
    """The funnel split by the value of one variable (e.g. click rate by city).

    Messages without the key fall in ``"(missing)"``. Output answers count
    the same way: ``segment(ex, "replied", direction="output")``. ``by``
    splits further (e.g. by campaign); by default it does not (``by=None``).

    Parameters
    ----------
    {export}
    key : str
        Variable name, e.g. ``"city"``.
    direction : {"input", "output"}, default "input"
        Whether ``key`` is an input or an output variable.
    {by}
    top : int, optional
        Keep the ``top`` values with the most rows; the rest become "(other)".

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``value``, then the columns of :func:`funnel`.
    """
    _export_only(export, "segment")
    v = export.variables
    sel = v[((v["direction"] == direction) & (v["key"] == key)).to_numpy()]
    m = export.messages
    codes, uniques = pd.factorize(sel["value"], sort=True)
    n_values = len(uniques)
    labels = [str(u) for u in uniques]
    value = np.full(len(m), n_values, dtype=np.int64)  # n_values: "(missing)"
    value[m.index.get_indexer(sel["message_id"].to_numpy())] = codes
    if top is not None and n_values > top:
        counts = np.bincount(value, minlength=n_values + 1)[:n_values]
        keep = np.sort(np.argsort(-counts, kind="stable")[:top])
        remap = np.full(n_values + 1, len(keep), dtype=np.int64)  # len(keep): "(other)"
        remap[keep] = np.arange(len(keep))
        remap[n_values] = len(keep) + 1
        value = remap[value]
        labels = [labels[i] for i in keep] + [OTHER]
    frame = m[[*_by_list(by), *FLAG_COLUMNS]].copy()
    frame["value"] = pd.Categorical.from_codes(value, categories=[*labels, MISSING])
    return _funnel_frame(frame, [*_by_list(by), "value"])


# --------------------------------------------------------------------------- comparison

MIN_MESSAGES = 100


@shared_docs
def compare(
    export: Export,
    a: Any,
    b: Any,
    *,
    rate: str = "click_rate",
    labels: tuple[str, str] | None = None,
    alpha: float = 0.05,
    conversions: Any = None,
    negatives: Any = None,
) -> pd.DataFrame:
    """Compare two groups on one rate: intervals, lift, test and a verdict.

    Parameters
    ----------
    {export}
    a, b : dict, str, boolean mask or Export
        A dict of :meth:`Export.filter` arguments (``{"campaigns": "A"}``),
        a campaign name, a boolean mask aligned with ``export.messages``, or
        an already filtered Export.
    rate : str, default "click_rate"
        One of :data:`RATES` (``"click_rate"``, ``"read_rate"`` ...), or
        ``"conversion_rate"`` / ``"negative_rate"`` with ``conversions=`` /
        ``negatives=``.
    labels : (str, str), optional
        Names shown for the groups; by default the campaign name (or the one
        filter value) given, else "A" and "B".
    alpha : float, default 0.05
        Significance level of the two-sided test.
    conversions, negatives : optional
        As for :func:`funnel`: needed to compare ``conversion_rate`` or
        ``negative_rate``.

    Returns
    -------
    pandas.DataFrame
        One row: ``rate``, for each group ``label_*``, ``n_*`` (denominator),
        ``k_*`` (numerator), ``rate_*``, ``low_*``, ``high_*``; then
        ``abs_lift`` (b - a), ``rel_lift`` ((b - a) / a), ``z`` (the
        two-proportion z statistic, for scale), ``p_value`` (Fisher's exact
        test, two-sided: exact at any size), ``test``, ``outcome`` (one of
        :data:`OUTCOMES`), ``significant`` and ``verdict`` (a sentence). The
        verdict refuses to call a winner with fewer than 100
        messages (in the rate's denominator) in a group (``significant`` is
        then False); its p-value never rounds across ``alpha``.

    Raises
    ------
    ValueError
        ``rate`` is not one of :data:`RATES`, a mask does not have one boolean
        per message, or the two groups share messages (a test needs two
        separate groups).
    SelectionError
        A campaign or filter value the export does not have.
    """
    _export_only(export, "compare")
    sides = _sides(export, a, b, labels)
    clicks = {"conversions": conversions, "negatives": negatives}
    row = _comparison(sides, rate, alpha, clicks)
    row.update(_verdict(row, rate, alpha))
    return pd.DataFrame([row])


def compare_rates(
    export: Export,
    a: Any,
    b: Any,
    *,
    rates: Sequence[str] | None = None,
    labels: tuple[str, str] | None = None,
    alpha: float = 0.05,
    conversions: Any = None,
    negatives: Any = None,
) -> pd.DataFrame:
    """Compare two groups on several rates at once, adjusted for the multiple tests.

    Testing six rates at 5% each finds a "difference" by chance far more often
    than 5% of the time; Holm's method adjusts the p-values so that the chance
    of any false winner among them stays at ``alpha``.

    Parameters
    ----------
    export : Export
        The messages both groups are drawn from.
    a, b : dict, str, boolean mask or Export
        As for :func:`compare`.
    rates : sequence of str, optional
        Which rates (default: every rate of :data:`RATES`, and the conversion
        and negative rates when ``conversions`` / ``negatives`` are given).
    labels : (str, str), optional
        Names shown for the groups.
    alpha : float
        Family-wise significance level.
    conversions, negatives : optional
        As for :func:`funnel`.

    Returns
    -------
    pandas.DataFrame
        One row per rate: the columns of :func:`compare`, plus ``p_adjusted``
        (Holm); ``significant`` and ``verdict`` are decided on ``p_adjusted``.
    """
    _export_only(export, "compare_rates")
    sides = _sides(export, a, b, labels)
    clicks = {"conversions": conversions, "negatives": negatives}
    if rates is None:
        rates = [*RATES]
        rates += ["conversion_rate"] if conversions is not None else []
        rates += ["negative_rate"] if negatives is not None else []
    rows = [_comparison(sides, rate, alpha, clicks) for rate in rates]
    adjusted = holm([r["p_value"] for r in rows])
    for row, p in zip(rows, adjusted, strict=True):
        row["p_adjusted"] = p
        how = f"Holm-adjusted for {len(rows)} rates" if len(rows) > 1 else ""
        row.update(_verdict(row, row["rate"], alpha, p=p, how=how))
    return pd.DataFrame(rows)


@shared_docs
def best_and_worst(
    export: Export,
    *,
    by: str = "campaign_name",
    rate: str | None = None,
    alpha: float = 0.05,
    conversions: Any = None,
    negatives: Any = None,
) -> pd.DataFrame:
    """The best group against the weakest on one rate, adjusted for having picked them.

    Picking the best and the weakest of ``k`` groups after seeing their rates
    is testing all ``k (k - 1) / 2`` pairs at once: ten equal campaigns would
    show a "significant" best-worst gap more often than not. The p-value of
    the pair is therefore multiplied by the number of pairs (Bonferroni, at
    most 1), which keeps the chance of calling equal groups different at
    ``alpha``.

    Ranked are the groups with at least :data:`MIN_MESSAGES` messages in the
    rate's denominator and at least one success: a campaign where nobody
    converted may not offer the conversion at all (no such button), so it is
    left out and named rather than ranked last.

    Parameters
    ----------
    {export}
    by : str, default "campaign_name"
        The column whose groups are ranked; blank values are one group
        (``"(blank)"``).
    rate : str, optional
        A rate of :func:`funnel`; by default ``"conversion_rate"`` with
        ``conversions``, else ``"click_rate"``.
    alpha : float, default 0.05
        Significance level, for the adjusted p-value.
    conversions, negatives : optional
        As for :func:`funnel`.

    Returns
    -------
    pandas.DataFrame
        Without two groups to rank, empty. Otherwise one row: the columns of
        :func:`compare` (``a`` the weakest, ``b`` the best), plus ``groups``
        (how many were ranked), ``pairs``, ``p_adjusted``, ``left_out`` (the
        groups with no success, as a list); ``significant`` and ``verdict``
        are decided on ``p_adjusted``.

    Examples
    --------
    >>> from connectly_nb.datasets import sample_export
    >>> r = best_and_worst(sample_export()).iloc[0]
    >>> r["label_b"], r["label_a"], int(r["pairs"]), round(float(r["p_adjusted"]), 2)
    ('Reativação de clientes, SP', 'Welcome series – step 1', 6, 0.62)
    """
    rate = rate or ("conversion_rate" if conversions is not None else "click_rate")
    if rate not in ALL_RATES:
        raise ValueError(f"rate must be one of {', '.join(ALL_RATES)}; got {rate!r}")
    clicks = {"conversions": conversions, "negatives": negatives}
    num, den = ALL_RATES[rate]
    table = funnel(export, by=by, **clicks)
    if num not in table:
        raise ValueError(f"{rate} needs conversions= (or negatives=): what counts as {num}")
    big = table[table[den] >= MIN_MESSAGES]
    left_out = [str(v) for v in big.loc[big[num] == 0, by]]
    ranked = big[big[num] > 0].sort_values([rate, by], kind="stable")
    if len(ranked) < 2:
        return pd.DataFrame()
    worst, best = ranked.iloc[0], ranked.iloc[-1]
    keys = blank_filled(export.messages[by])  # the groups as funnel made them, exact
    sides = [
        _Side(str(g[by]), export.subset((keys == g[by]).to_numpy()), export) for g in (worst, best)
    ]
    row = _comparison(sides, rate, alpha, clicks)
    k = len(ranked)
    row["groups"], row["pairs"] = k, k * (k - 1) // 2
    row["p_adjusted"] = float(min(1.0, row["p_value"] * row["pairs"]))
    row["left_out"] = left_out
    how = f"adjusted for the {row['pairs']} pairs of {k} groups"
    row.update(
        _verdict(row, rate, alpha, p=row["p_adjusted"], how=how, ties=best[rate] == worst[rate])
    )
    return pd.DataFrame([row])


@dataclass(frozen=True)
class _Side:
    label: str
    export: Export
    #: the export the group was drawn from: messages of one export are told apart by
    #: their row label, those of two by their file and line
    origin: Export | None


def _sides(export: Export, a: Any, b: Any, labels: tuple[str, str] | None) -> list[_Side]:
    """The two groups' messages, checked to share none."""
    sides = []
    for i, (spec, default) in enumerate(((a, "A"), (b, "B"))):
        label = (labels[i] if labels else None) or _label(spec, default)
        origin = None if isinstance(spec, Export) else export
        sides.append(_Side(label, _select(export, spec), origin))
    shared = _shared(sides[0], sides[1])
    if shared:
        raise ValueError(
            f"{sides[0].label!r} and {sides[1].label!r} share {shared:,} messages: a test "
            "needs two separate groups (e.g. campaign B against every other campaign, not "
            "against all campaigns)"
        )
    return sides


def _shared(a: _Side, b: _Side) -> int:
    """How many messages two groups share."""
    ma, mb = a.export.messages, b.export.messages
    if a.origin is not None and a.origin is b.origin:  # both cut from one export
        return len(np.intersect1d(ma.index, mb.index))
    # Exports given as such may come from separate loads: a message is its file and line
    ka = pd.MultiIndex.from_arrays([ma["source"].astype(str), ma["line"]])
    kb = pd.MultiIndex.from_arrays([mb["source"].astype(str), mb["line"]])
    return int(ka.isin(kb).sum())


def _comparison(
    sides: list[_Side], rate: str, alpha: float, clicks: dict[str, Any] | None = None
) -> dict[str, Any]:
    if rate not in ALL_RATES:
        raise ValueError(f"rate must be one of {', '.join(ALL_RATES)}; got {rate!r}")
    num, den = ALL_RATES[rate]
    row: dict[str, Any] = {"rate": rate}
    counts = []
    for name, side in zip("ab", sides, strict=True):
        f = funnel(side.export, by=None, **(clicks or {}))
        if num not in f:
            raise ValueError(f"{rate} needs conversions= (or negatives=): what counts as {num}")
        k, n = int(f[num].iloc[0]), int(f[den].iloc[0])
        r, lo, hi = wilson_interval(k, n)
        row.update(
            {
                f"label_{name}": side.label,
                f"n_{name}": n,
                f"k_{name}": k,
                f"rate_{name}": float(r),
                f"low_{name}": float(lo),
                f"high_{name}": float(hi),
            }
        )
        counts.append((k, n))
    (k1, n1), (k2, n2) = counts
    z, _ = two_proportion_test(k2, n2, k1, n1)
    ra, rb = row["rate_a"], row["rate_b"]
    row["abs_lift"] = rb - ra
    row["rel_lift"] = (rb - ra) / ra if ra else math.nan
    row["z"] = z
    row["p_value"] = fisher_exact(k1, n1, k2, n2)
    row["test"] = "Fisher's exact test (two-sided)"
    return row


def _select(export: Export, spec: Any) -> Export:
    if isinstance(spec, Export):
        return spec
    if isinstance(spec, dict):
        return export.filter(**spec)
    if isinstance(spec, str):
        return export.filter(campaigns=spec)
    mask = np.asarray(spec, dtype=bool)
    if mask.shape != (len(export.messages),):
        raise ValueError("a mask must have one boolean per row of export.messages")
    return export.subset(mask)


def _label(spec: Any, default: str) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and len(spec) == 1:
        (value,) = spec.values()
        if value is None:
            return "all"
        return value if isinstance(value, str) else ", ".join(map(str, value))
    return default


def _verdict(
    row: dict[str, Any],
    rate: str,
    alpha: float,
    *,
    p: float | None = None,
    how: str = "",
    ties: bool = False,
) -> dict[str, Any]:
    """The ``outcome``, ``significant`` and ``verdict`` (a sentence) of a comparison.

    ``p`` is the p-value to decide on (the row's own by default), ``how`` how
    it was adjusted, ``ties`` that the groups' rates are equal. The outcome is
    one of :data:`OUTCOMES`.
    """
    # Fisher's test is exact at any count, so few successes need no rule of their own
    # (1 of 1,380 against 118 of 2,349 is a real gap); a tiny group is refused outright
    small = [row[f"label_{s}"] for s in "ab" if row[f"n_{s}"] < MIN_MESSAGES]
    if small:
        return _outcome(
            "too few",
            f"Too few messages to call a winner ({', '.join(small)}: need at least "
            f"{MIN_MESSAGES} in the denominator).",
        )
    what = rate.replace("_", " ")
    if ties:
        return _outcome("equal", f"Every group has the same {what}: {row['rate_a']:.1%}.")
    p = row["p_value"] if p is None else p
    shown = format_p_value(p, alpha) + (f", {how}" if how else "")
    if not p < alpha:
        return _outcome(
            "not significant",
            f"No significant difference in {what}: {row['rate_a']:.1%} vs "
            f"{row['rate_b']:.1%} ({shown}): it could be chance.",
        )
    winner, loser = ("b", "a") if row["rate_b"] > row["rate_a"] else ("a", "b")
    return _outcome(
        "significant",
        f"{row[f'label_{winner}']} has the higher {what}: "
        f"{row[f'rate_{winner}']:.1%} vs {row[f'rate_{loser}']:.1%} "
        f"({shown}; significant at {alpha:.0%}).",
    )


#: How a comparison ends: a winner, no winner, not enough data, or equal rates.
OUTCOMES = ("significant", "not significant", "too few", "equal")


def _outcome(outcome: str, verdict: str) -> dict[str, Any]:
    return {"outcome": outcome, "significant": outcome == "significant", "verdict": verdict}


# --------------------------------------------------------------------------- audience


@shared_docs
def countries(export: Export, *, by: By = None) -> pd.DataFrame:
    """The funnel by the recipient's country, from the phone number's calling code.

    The country calling code (``+55`` -> BR) is read with the ``phonenumbers``
    library's metadata; ids that are not ``+<digits>`` (mangled by Excel,
    missing the ``+``) or whose code is unknown go to "unknown". Codes shared
    by several countries (``+1``: US, CA and the Caribbean; ``+7``) are
    counted under the code's main country, e.g. ``US`` with calling code
    ``+1``. By default all messages together (``by=None``).

    Parameters
    ----------
    {export}
    {by}

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``country`` (ISO region or "unknown"),
        ``calling_code``, then the columns of :func:`funnel`; sorted by rows
        (descending) within each group, then country.
    """
    keys = _by_list(by)
    if isinstance(export, Store):
        columns = [*keys, "customer_external_id", *FLAG_COLUMNS]
        rows = _stack(_partials(export, functools.partial(_country_rows, by=keys), columns=columns))
    else:
        rows = _country_rows(export, keys)
    out = _funnel_frame(rows, [*keys, "country"], weights=rows["n"].to_numpy())
    out["country"] = out["country"].astype(str)
    split = out["country"].str.split(" ", n=1, expand=True).reindex(columns=[0, 1])
    code = split[1].astype(object)
    code = code.where(code.notna(), "").to_numpy()
    out.insert(out.columns.get_loc("country") + 1, "calling_code", code)
    out["country"] = split[0].to_numpy()
    keys = _by_list(by)
    out = out.sort_values(
        [*keys, "rows", "country"], ascending=[True] * len(keys) + [False, True], kind="stable"
    )
    return _typed(out.reset_index(drop=True), {"country": "str", "calling_code": "str"})


def _country_rows(export: Export, by: list[str]) -> pd.DataFrame:
    """Messages counted by group, country and state (partial counts)."""
    m = export.messages
    frame = m[[*by, *FLAG_COLUMNS]].copy()
    frame["country"] = _regions(m["customer_external_id"])
    return _compress(frame, [*by, "country"])


def _regions(ids: pd.Series) -> pd.Categorical:
    """Country of each id as "BR +55" (or "unknown"), from its calling code."""
    import phonenumbers
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(ids):
        return pd.Categorical([], categories=[UNKNOWN])
    arr = pa.chunked_array([pa.array(ids, type=pa.large_string(), from_pandas=True)])
    phone_like = pc.fill_null(pc.match_substring_regex(arr, r"^\+\d{5,}$"), False)
    prefix = pc.if_else(phone_like, pc.utf8_slice_codeunits(arr, 1, 4), None)
    enc = pa.chunked_array(pc.dictionary_encode(prefix).chunks).unify_dictionaries()
    names = enc.chunk(0).dictionary.to_pylist() if enc.num_chunks else []
    indices = np.concatenate(
        [pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False) for c in enc.chunks]
        or [np.empty(0, np.int64)]
    ).astype(np.int64)
    label_of = []
    for p in names:
        label = UNKNOWN
        # calling codes are prefix-free: the first 1, 2 or 3 digits that name one
        for width in (1, 2, 3):
            cc = int(p[:width])
            reg = phonenumbers.region_code_for_country_code(cc)
            if reg != "ZZ":
                label = f"{reg if reg != '001' else 'intl'} +{cc}"
                break
        label_of.append(label)
    categories = sorted(set(label_of) | {UNKNOWN})
    code_of = np.array([categories.index(x) for x in [*label_of, UNKNOWN]], dtype=np.int64)
    return pd.Categorical.from_codes(code_of[indices], categories=categories)


@shared_docs
def fatigue(export: Export, *, cap: int = 5) -> pd.DataFrame:
    """Read and opt-out rates by how many messages the customer had received before.

    Across the loaded sendouts, each sent message is numbered per customer by
    ``sent_at``: 0 for the customer's first message in the export, 1 for the
    second ... ``cap`` and more are pooled. Messages without a ``sent_at`` or
    without a customer id cannot be placed in a history and are left out.

    Parameters
    ----------
    {export}
    cap : int, default 5
        From this many previous messages on, customers are pooled (``"5+"``).

    Returns
    -------
    pandas.DataFrame
        ``previous_messages`` (text: "0", "1", ... "5+"), then the columns of
        :func:`funnel`.
    """
    if isinstance(export, Store):
        rows = _stack(
            export.map_customers(
                _fatigue_rows,
                functools.partial(_fatigue_counts, cap=cap),
                columns=["customer_external_id", "sent_at", "sendout_id", *FLAG_COLUMNS],
            )
            or [_fatigue_counts(_fatigue_rows(empty_export()), cap)]
        )
    else:
        rows = _fatigue_counts(_fatigue_rows(export), cap)
    return _funnel_frame(rows, ["previous_messages"], weights=rows["n"].to_numpy())


def _fatigue_rows(export: Export) -> pd.DataFrame:
    """The messages that can be placed in a customer's history: a send time and a customer."""
    m = export.messages
    placed = (m["sent_at"].notna() & m["customer_external_id"].notna()).to_numpy()
    rows = m.loc[placed, ["customer_external_id", *FLAG_COLUMNS]].reset_index(drop=True)
    rows["when"] = naive_utc(m["sent_at"])[placed].astype(np.int64)
    # ties (one customer, two sends at the same instant) go by a hash of the sendout id:
    # the same order in every piece of a store (hashing the few ids, not every row)
    sendout = m["sendout_id"][placed]
    names = np.asarray([str(c) for c in sendout.cat.categories], dtype=object)
    per_id = np.r_[pd.util.hash_array(names), np.uint64(0)] if len(names) else np.zeros(1, "u8")
    rows["sendout"] = per_id[sendout.cat.codes.to_numpy()].view(np.int64)
    return rows


def _fatigue_counts(rows: pd.DataFrame, cap: int) -> pd.DataFrame:
    """Messages by how many the customer had before (all of a customer's rows are here).

    Each customer's messages are numbered by ``sent_at`` (ties in a fixed order
    of their sendouts), 0 for the first; ``cap`` and more are pooled.
    """
    customer, _ = pd.factorize(rows["customer_external_id"])
    order = np.lexsort((rows["sendout"].to_numpy(), rows["when"].to_numpy(), customer))
    run_start = np.r_[True, customer[order][1:] != customer[order][:-1]]
    position = np.arange(len(order))
    first = np.maximum.accumulate(np.where(run_start, position, 0))
    prior = np.empty(len(order), dtype=np.int64)
    prior[order] = position - first
    prior = np.minimum(prior, cap)
    labels = [str(i) for i in range(cap)] + [f"{cap}+"]
    frame = rows[list(FLAG_COLUMNS)].copy()
    frame["previous_messages"] = pd.Categorical.from_codes(prior, categories=labels, ordered=True)
    return _compress(frame, ["previous_messages"])


# --------------------------------------------------------------------------- stores
#
# A metric of a Store is the metric of an Export whose rows are partial counts:
# each partition (or the cube) is counted by the function the in-memory metric
# uses (_compress, _failure_counts ...), the partial tables are stacked, and the
# same finish step (_funnel_frame with weights, _count_codes ...) makes the result.

#: Dimensions of the cube a funnel can be grouped by.
_CUBE_DIMS = frozenset(("business_id", "campaign_name", "sendout_id", "error_code"))


def _store_where(store: Store, where: Any) -> Store:
    """``where`` on a Store: filter arguments only (a mask has nothing to align with)."""
    if where is None:
        return store
    if isinstance(where, dict):
        return store.filter(**where)
    raise TypeError(
        "where= on a Store takes filter arguments as a dict ({'campaigns': 'A'}); "
        "a boolean mask needs an Export: store.to_export(...)"
    )


def _compress(
    frame: pd.DataFrame,
    keys: list[str],
    flags: Sequence[str] = FLAG_COLUMNS,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows counted by their ``keys``, stage flags and ``extra`` flags: column ``n``.

    The partial counts of a piece of data: stacked with other pieces' and
    given to a finish step as weights, they count like the rows themselves.
    """
    cols = list(dict.fromkeys([*keys, *extra]))
    weights = frame["n"].to_numpy() if "n" in frame.columns else None  # already partial counts
    columns = {c: frame[c] for c in cols}
    packed = tuple(flags) == FLAG_COLUMNS
    if packed:  # the six flags as one column of packed stage bits, as the funnel counts them
        columns["_bits"] = pd.Series(stage_bits(frame), index=frame.index)
    else:
        columns.update({c: frame[c] for c in flags if c not in columns})
    out = count_combinations(columns, weights)
    if packed:
        bits = out.pop("_bits").to_numpy()
        for i, flag in enumerate(FLAG_COLUMNS):
            out.insert(len(cols) + i, flag, (bits >> i) & 1 == 1)
    return out


def _flags_partial(export: Export) -> pd.DataFrame:
    return _compress(export.messages, [])


def _partials(
    store: Store,
    func: Any,
    *,
    tables: tuple[str, ...] = ("messages",),
    columns: list[str] | None = None,
) -> list[Any]:
    """``func`` of each partition of ``store`` (of an empty Export when none is selected)."""
    return store.map_partitions(func, tables=tables, columns=columns) or [func(empty_export())]


def _stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Partial tables as one; categories united (sorted, the blank group last)."""
    parts = [p for p in parts if len(p)] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    out = pd.concat(parts, ignore_index=True)
    for c in parts[0].columns:
        dtype = parts[0][c].dtype
        if not isinstance(dtype, pd.CategoricalDtype):
            continue
        if dtype.ordered:
            out[c] = pd.Categorical(out[c].astype(object), dtype=dtype)
            continue
        names = set().union(*(p[c].cat.categories for p in parts))
        order = sorted(names - {BLANK}, key=str) + ([BLANK] if BLANK in names else [])
        out[c] = pd.Categorical(out[c].astype(object), categories=order)
    return out


def _store_funnel(store: Store, by: list[str], conversions: Any, negatives: Any) -> pd.DataFrame:
    click_sets = conversions is not None or negatives is not None
    rows = store.cube_rows() if not click_sets and set(by) <= _CUBE_DIMS else None
    if rows is None:
        part = functools.partial(_funnel_rows, by=by, conversions=conversions, negatives=negatives)
        tables = ("messages", "clicks") if click_sets else ("messages",)
        columns = None if click_sets else [*by, *FLAG_COLUMNS]
        rows = _stack(_partials(store, part, tables=tables, columns=columns))
    extra = {k: rows[k].to_numpy(dtype=bool) for k in ("converted", "negative") if k in rows}
    return _funnel_frame(rows, by, None, extra, weights=rows["n"].to_numpy())


def _funnel_rows(export: Export, by: list[str], conversions: Any, negatives: Any) -> pd.DataFrame:
    """Partial funnel counts: messages by group, state and click sets."""
    frame = export.messages[list(dict.fromkeys([*by, *FLAG_COLUMNS]))].copy()
    extra = _click_sets(export, conversions, negatives)
    for name, flag in extra.items():
        frame[name] = flag
    return _compress(frame, by, extra=list(extra))


def _store_trend(store: Store, every: str | None, conversions: Any, negatives: Any) -> pd.DataFrame:
    cube = store.cube_rows() if conversions is None and negatives is None else None
    if every is None:
        keys = ["campaign_name", "sendout_id"]
        if cube is not None and _whole_sendouts(store, cube):
            sendouts = store.cube_rows("sendouts")
            first = sendouts["first_sent"].groupby(
                blank_filled(sendouts["sendout_id"]), observed=True
            )
            return _by_first_send(
                _funnel_frame(cube, keys, weights=cube["n"].to_numpy()),
                first.min().dt.tz_convert(store.tz),
            )
        out = _store_funnel(store, keys, conversions, negatives)
        parts = _partials(store, _first_sends, columns=["sendout_id", "sent_at"])
        first = pd.concat(parts).groupby(level=0).min()
        return _by_first_send(out, first.dt.tz_convert(store.tz))
    if cube is not None:
        rows = _compress(_period_frame(cube, every, store.tz, time="slot")[0], ["period"])
    else:
        part = functools.partial(
            _period_rows, every=every, tz=store.tz, c=conversions, neg=negatives
        )
        tables = ("messages",) if conversions is None and negatives is None else None
        rows = _stack(_partials(store, part, **_reads(tables, ["sent_at", *FLAG_COLUMNS])))
    extra = {k: rows[k].to_numpy(dtype=bool) for k in ("converted", "negative") if k in rows}
    out = _funnel_frame(rows, ["period"], None, extra, weights=rows["n"].to_numpy())
    return out.sort_values("period", kind="stable").reset_index(drop=True)


def _whole_sendouts(store: Store, rows: pd.DataFrame) -> bool:
    """Whether the selection keeps every message of its sendouts (their first sends hold)."""
    sel = store.selection
    if sel.error_codes is not None or sel.failed is not None:
        return False
    if sel.lo is None and sel.hi is None:
        return True
    every_row = store.cube_object.counts
    chosen = every_row["sendout_id"].isin(rows["sendout_id"].dropna().unique())
    slots = every_row.loc[chosen.to_numpy(), "slot"].dropna()  # first sends ignore the unsent
    lo_ok = sel.lo is None or not len(slots) or slots.min() >= sel.lo
    hi_ok = sel.hi is None or not len(slots) or slots.max() + pd.Timedelta(SLOT) <= sel.hi
    return bool(lo_ok and hi_ok)


def _reads(tables: tuple[str, ...] | None, columns: list[str]) -> dict[str, Any]:
    """What a partial needs read: only ``columns``, or messages and clicks whole."""
    if tables is None:
        return {"tables": ("messages", "clicks"), "columns": None}
    return {"tables": tables, "columns": columns}


def _first_sends(export: Export) -> pd.Series:
    m = export.messages  # keyed as the groups are: a blank sendout id is "(blank)"
    return m["sent_at"].groupby(blank_filled(m["sendout_id"]), observed=True).min()


def _period_rows(export: Export, every: str, tz: str, c: Any, neg: Any) -> pd.DataFrame:
    """Partial counts by period of the local sent date, state and click sets."""
    m = export.messages
    frame, kept = _period_frame(m, every, tz)
    extra = _click_sets(export, c, neg)
    for name, flag in extra.items():
        frame[name] = flag[kept]
    return _compress(frame, ["period"], extra=list(extra))


def _store_errors(
    store: Store, keys: list[str], every: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Partial failure and row counts of a store: from the cube, or from its partitions."""
    cube = store.cube_rows() if set(keys) - {"period"} <= _CUBE_DIMS else None
    if cube is not None:
        failures = store.cube_rows("failures")
        if every is not None:
            cube = _period_frame(cube, every, store.tz, time="slot", keep=keys[1:])[0]
            failures = _period_frame(
                failures, every, store.tz, time="slot", keep=[*keys[1:], *_ERROR_TEXT]
            )[0]
        return _failure_counts(failures, keys), _row_counts(cube, keys)
    by = keys[1:] if every is not None else keys
    part = functools.partial(_error_rows, by=by, every=every, tz=store.tz)
    columns = [*by, "sent_at", *_ERROR_TEXT, *FLAG_COLUMNS]
    found = _partials(store, part, columns=columns)
    return _stack([f for f, _ in found]), _stack([r for _, r in found])


def _error_rows(
    export: Export, by: list[str], every: str | None, tz: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Partial counts of failures (by group, code, message) and of rows (by group)."""
    m = export.messages
    keys = by
    if every is not None:
        m = _period_frame(m, every, tz, keep=[*by, *_ERROR_TEXT])[0]
        keys = ["period", *by]
    return _failure_counts(m[m["is_failed"].to_numpy()], keys), _row_counts(m, keys)


def _export_only(export: Any, name: str) -> None:
    if isinstance(export, Store):
        raise TypeError(
            f"{name}() needs an Export: measure a selection of the store with "
            f"{name}(store.to_export(campaigns=..., start=..., end=...))"
        )
