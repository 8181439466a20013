"""A store's selection (its filter, resolved once) and its cube of counts.

The cube holds, per partition day, business, campaign, sendout, 15-minute
slot of ``sent_at`` (UTC), error code and the six stage flags, how many
messages are in that state: a few thousand rows for millions of messages.
Every count of the funnel, the key figures, the errors and the trends per
sendout or period is a sum over its rows, so a filter by campaign, sendout,
error code and any date bound on the 15-minute grid (every bare date, in any
real time zone) is answered from it exactly, in about a millisecond.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb._stages import count_stages, stage_bits
from connectly_nb._time import Bound
from connectly_nb.export import matching, sent_bounds
from connectly_nb.schema import COUNT_COLUMNS, ERROR_CATALOGUE
from connectly_nb.store._layout import Place
from connectly_nb.store._parts import SLOT

__all__ = ["Cube", "Selection"]

_SLOT = pd.Timedelta(SLOT)


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, str):
        return [value]
    return list(value)


def _chosen(names: list[str], values: Any, what: str, column: str, **kw: Any) -> frozenset[str]:
    mask = matching(names, values, what, column=column, **kw)
    return frozenset(n for n, m in zip(names, mask, strict=True) if m)


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    return b if a is None else a if b is None else a & b


@dataclass(frozen=True)
class Selection:
    """Which messages a filtered store keeps: the values matched, the instants ``[lo, hi)``.

    Built by :meth:`resolve` from :meth:`Export.filter`'s arguments, checked
    against the whole store's names (so a name that exists in another
    partition is never "unknown"), and applied to each partition and to the
    cube alike.

    Parameters
    ----------
    campaigns, sendouts, error_codes : frozenset of str, optional
        The stored values kept; ``None`` keeps all.
    no_code : bool
        With ``error_codes``: also keep messages without an error code.
    lo, hi : pandas.Timestamp, optional
        Keep messages with ``lo <= sent_at < hi``.
    failed : bool, optional
        Keep only the failed messages (True) or the others (False).
    """

    campaigns: frozenset[str] | None = None
    sendouts: frozenset[str] | None = None
    error_codes: frozenset[str] | None = None
    no_code: bool = False
    lo: pd.Timestamp | None = None
    hi: pd.Timestamp | None = None
    failed: bool | None = None

    @classmethod
    def resolve(
        cls,
        names: dict[str, list[str]],
        tz: str,
        *,
        campaigns: Iterable[str] | str | None = None,
        sendouts: Iterable[str] | str | None = None,
        error_codes: Iterable[str | None] | str | None = None,
        start: Bound | None = None,
        end: Bound | None = None,
        failed: bool | None = None,
    ) -> Selection:
        """Check filter arguments against the store's names and resolve them.

        Parameters
        ----------
        names : dict of str to list of str
            The store's ``campaign_name``, ``sendout_id`` and ``error_code`` values.
        tz : str
            The zone bare dates are read in.
        campaigns, sendouts, error_codes, start, end, failed
            As for :meth:`Export.filter`.

        Returns
        -------
        Selection
            The resolved selection.

        Raises
        ------
        SelectionError
            A name the store does not have (with the closest known ones).
        ValueError
            A bound that is not ISO 8601, or an end before the start.
        """
        out: dict[str, Any] = {}
        if campaigns is not None:
            out["campaigns"] = _chosen(
                names["campaign_name"], _as_list(campaigns), "campaign", "campaign_name"
            )
        if sendouts is not None:
            out["sendouts"] = _chosen(
                names["sendout_id"], _as_list(sendouts), "sendout", "sendout_id"
            )
        if error_codes is not None:
            codes = _as_list(error_codes)
            out["error_codes"] = _chosen(
                names["error_code"],
                [c for c in codes if c is not None],
                "error code",
                "error_code",
                also_known=ERROR_CATALOGUE,
            )
            out["no_code"] = any(c is None for c in codes)
        if start is not None or end is not None:
            out["lo"], out["hi"] = sent_bounds(start, end, tz)
        if failed is not None:
            out["failed"] = bool(failed)
        return cls(**out)

    def and_(self, other: Selection) -> Selection:
        """Both selections at once (a filter of a filtered store).

        Parameters
        ----------
        other : Selection
            The second filter.

        Returns
        -------
        Selection
            Messages kept by both.
        """
        no_code = (
            self.no_code and other.no_code
            if self.error_codes is not None and other.error_codes is not None
            else self.no_code or other.no_code
        )
        los = [t for t in (self.lo, other.lo) if t is not None]
        his = [t for t in (self.hi, other.hi) if t is not None]
        failed = {f for f in (self.failed, other.failed) if f is not None}
        both = _meet(self.campaigns, other.campaigns)
        if len(failed) > 1:  # failed and not failed: nothing
            both, failed = frozenset(), set()
        return replace(
            self,
            campaigns=both,
            sendouts=_meet(self.sendouts, other.sendouts),
            error_codes=_meet(self.error_codes, other.error_codes),
            no_code=no_code,
            lo=max(los) if los else None,
            hi=min(his) if his else None,
            failed=failed.pop() if failed else None,
        )

    @property
    def everything(self) -> bool:
        """No filter at all.

        Returns
        -------
        bool
            True when every message is kept.
        """
        return self == Selection()

    @property
    def on_grid(self) -> bool:
        """Whether the bounds fall on the cube's 15-minute grid (every bare date does).

        Returns
        -------
        bool
            True when the cube can answer the selection exactly.
        """
        return all(t is None or t.tz_convert("UTC").floor(_SLOT) == t for t in (self.lo, self.hi))

    def mask(self, frame: pd.DataFrame, time: str = "sent_at") -> np.ndarray:
        """The rows of ``frame`` (messages, or the cube with ``time="slot"``) kept.

        Parameters
        ----------
        frame : pandas.DataFrame or dict of str to column
            Holds ``campaign_name``, ``sendout_id``, ``error_code`` and ``time``
            as needed.
        time : str, default "sent_at"
            The column the bounds apply to.

        Returns
        -------
        numpy.ndarray of bool
            One per row.
        """
        keep = np.ones(len(frame[time]), dtype=bool)
        for column, values in (("campaign_name", self.campaigns), ("sendout_id", self.sendouts)):
            if values is not None:
                keep &= _in(frame[column], values)
        if self.error_codes is not None:
            hit = _in(frame["error_code"], self.error_codes)
            if self.no_code:
                hit |= np.asarray(frame["error_code"].isna())
            keep &= hit
        if self.lo is not None:
            keep &= np.asarray(frame[time] >= self.lo)
        if self.hi is not None:
            keep &= np.asarray(frame[time] < self.hi)
        if self.failed is not None:  # a table of failures only (no flag): all or none
            flag = frame["is_failed"] if "is_failed" in frame else np.ones(len(keep), bool)
            keep &= np.asarray(flag) == (self.failed is True)
        return keep


def _in(col: pd.Series, values: frozenset[str]) -> np.ndarray:
    """Rows of a (categorical) column whose value is in ``values``."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        lookup = np.array([str(c) in values for c in col.cat.categories] + [False])
        return lookup[col.cat.codes.to_numpy()]
    return col.isin(values).to_numpy()


class Cube:
    """The cube of a store version: counts by sendout, slot, code and state.

    Parameters
    ----------
    place : Place
        The store.
    rel : str or None
        The cube's folder (None: an empty store).
    """

    def __init__(self, place: Place, rel: str | None) -> None:
        tables = {}
        for name in ("cube", "failures", "sendouts"):
            tables[name] = place.read_frame(f"{rel}/{name}.parquet") if rel else pd.DataFrame()
        self.counts = tables["cube"]
        self.failures = tables["failures"]
        self.sendouts = tables["sendouts"]
        self.bits = stage_bits(self.counts) if len(self.counts) else np.empty(0, np.int8)
        self.n = self.counts["n"].to_numpy() if len(self.counts) else np.empty(0, np.int64)
        self._names: dict[str, list[str]] | None = None

    def names(self) -> dict[str, list[str]]:
        """The store's campaign names, sendout ids and error codes.

        Returns
        -------
        dict of str to list of str
            ``campaign_name``, ``sendout_id``, ``error_code`` -> sorted values.
        """
        if self._names is None:
            out = {}
            for c in ("campaign_name", "sendout_id", "error_code"):
                col = self.counts[c] if c in self.counts else pd.Series([], dtype=object)
                out[c] = sorted({str(v) for v in col.dropna().unique()})
            self._names = out
        return self._names

    def rows(self, selection: Selection) -> pd.DataFrame:
        """The cube's rows in a selection (bounds must be on the grid).

        Parameters
        ----------
        selection : Selection
            The filter.

        Returns
        -------
        pandas.DataFrame
            Its rows: dimensions, the six flags and ``n``.
        """
        if selection.everything or not len(self.counts):
            return self.counts
        return self.counts[selection.mask(self.counts, time="slot")]

    def key_figures(self, selection: Selection) -> dict[str, int]:
        """Rows and each stage count of a selection, by the stage counter.

        Parameters
        ----------
        selection : Selection
            The filter (bounds on the grid).

        Returns
        -------
        dict of str to int
            :data:`connectly_nb.schema.COUNT_COLUMNS` -> count.
        """
        if selection.everything or not len(self.counts):
            bits, n = self.bits, self.n
        else:
            keep = selection.mask(self._arrays, time="slot")
            bits, n = self.bits[keep], self.n[keep]
        counts = count_stages(bits, weights=n)
        return {name: int(counts[name][0]) for name in COUNT_COLUMNS}

    @functools.cached_property
    def _arrays(self) -> dict[str, Any]:
        """The cube's filter columns, ready for :meth:`Selection.mask` (slot as an index)."""
        return {
            **{c: self.counts[c] for c in ("campaign_name", "sendout_id", "error_code")},
            "slot": pd.DatetimeIndex(self.counts["slot"]),
            "is_failed": self.counts["is_failed"].to_numpy(),
        }

    def failure_rows(self, selection: Selection) -> pd.DataFrame:
        """The failed messages' counts by code and message in a selection.

        Parameters
        ----------
        selection : Selection
            The filter (bounds on the grid).

        Returns
        -------
        pandas.DataFrame
            Dimensions, ``error_msg`` and ``n``.
        """
        if selection.everything or not len(self.failures):
            return self.failures
        return self.failures[selection.mask(self.failures, time="slot")]

    def days(self, selection: Selection) -> set[str] | None:
        """The partition days that can hold the selection's campaigns and sendouts.

        Parameters
        ----------
        selection : Selection
            The filter.

        Returns
        -------
        set of str or None
            The days, or None when the selection names neither.
        """
        if selection.campaigns is None and selection.sendouts is None:
            return None
        s = self.sendouts
        if not len(s):
            return set()
        keep = np.ones(len(s), dtype=bool)
        if selection.campaigns is not None:
            keep &= _in(s["campaign_name"], selection.campaigns)
        if selection.sendouts is not None:
            keep &= _in(s["sendout_id"], selection.sendouts)
        return set(s.loc[keep, "day"])
