"""The :class:`Export`: a campaign export, tidy, as an immutable container of DataFrames.

Methods that select return a new Export and never change this one:
:meth:`Export.filter` by campaign, sendout, error code and sent date,
:meth:`Export.subset` by a boolean mask over ``messages`` (all tables cut
consistently), :meth:`Export.replace` to swap whole tables.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb import display
from connectly_nb._keys import BLANK, blank_categories, match_names, name_key
from connectly_nb._problems import problem_summary
from connectly_nb._time import Bound, check_tz, parse_bound
from connectly_nb.display import format_number_of
from connectly_nb.exceptions import SelectionError
from connectly_nb.schema import ERROR_CATALOGUE

__all__ = ["Export", "matching", "sent_bounds"]

Table = pd.DataFrame | Callable[[], pd.DataFrame]


class Export:
    """A campaign export, tidy: four tables and the accounting of what was read.

    Made by :func:`~connectly_nb.read.read_export`; build one directly only
    from tables of the same shapes.

    Parameters
    ----------
    messages, clicks : pandas.DataFrame
        The tables described under Attributes.
    variables, problems : pandas.DataFrame or callable
        The tables, or functions without arguments that build them on first
        access (see Notes).
    accounting : pandas.DataFrame
        The table described under Attributes.
    tz : str, default "UTC"
        Time zone to show timestamps in.

    Attributes
    ----------
    messages : pandas.DataFrame
        One row per customer per sendout, indexed by ``message_id``: the 15
        export columns typed (ids as text; business, campaign, sendout and
        error code categorical; timestamps tz-aware), extra columns as text,
        the stage flags of DESIGN.md section 2 (``is_sent`` ... ``is_opted_out``),
        ``stage`` (the furthest stage reached, an ordered category), click
        counts, ``first_click_at``, the latencies ``time_to_deliver``,
        ``time_to_read`` and ``time_to_first_click`` (from ``sent_at``), and
        ``source`` + ``line``: the file and 1-based line of the record.
    clicks : pandas.DataFrame
        One row per button or link click: ``message_id``, ``kind``
        (``"button"`` or ``"link"``), ``id``, ``name``, ``ts``, ``source``, ``line``.
    variables : pandas.DataFrame
        One row per (message, direction, key): ``message_id``, ``direction``
        (``"input"`` or ``"output"``), ``key``, ``value`` (text), ``source``, ``line``.
    problems : pandas.DataFrame
        One row per data problem: ``source``, ``line``, ``column``, ``value``,
        ``problem`` (a code of :data:`connectly_nb.schema.PROBLEM_CODES`),
        ``severity``, ``message`` and the ``message_id`` it concerns (if any).
    accounting : pandas.DataFrame
        Per file: ``records_read`` = ``rows_kept`` + ``duplicates_merged``,
        ``records_swallowed`` (records a stray quote hid inside one field, see
        the ``runaway_quote`` problem), and the header and blank lines skipped.
    tz : str
        Time zone the timestamps are shown in.

    Raises
    ------
    TimeZoneError
        ``tz`` is not a time zone name.

    Notes
    -----
    Treat the tables as read-only: methods return new Exports and never
    change this one. The variables cells are parsed on first access to
    ``variables`` or ``problems`` (whichever comes first), not during
    :func:`read_export`: they are the costliest cells to read and many
    analyses never use them. ``problems`` is therefore always complete, and
    its first access may take a moment on a large export.
    """

    __slots__ = ("_lock", "_problems", "_variables", "accounting", "clicks", "messages", "tz")

    messages: pd.DataFrame
    clicks: pd.DataFrame
    accounting: pd.DataFrame
    tz: str

    def __init__(
        self,
        messages: pd.DataFrame,
        clicks: pd.DataFrame,
        variables: Table,
        problems: Table,
        accounting: pd.DataFrame,
        tz: str = "UTC",
    ) -> None:
        check_tz(tz)
        for name, value in (
            ("messages", messages),
            ("clicks", clicks),
            ("_variables", variables),
            ("_problems", problems),
            ("accounting", accounting),
            ("tz", tz),
            ("_lock", threading.Lock()),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Export is immutable; use filter() or build a new Export ({name!r})")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle the five tables (the deferred ones are built first)."""
        return (
            Export,
            (self.messages, self.clicks, self.variables, self.problems, self.accounting, self.tz),
        )

    def _built(self, slot: str) -> pd.DataFrame:
        """The table in ``slot``, built (once) if it is still a function."""
        table = getattr(self, slot)
        if callable(table):
            with self._lock:
                table = getattr(self, slot)
                if callable(table):
                    table = table()
                    object.__setattr__(self, slot, table)
        return table

    @property
    def variables(self) -> pd.DataFrame:
        """One row per (message, direction, key); see the class docstring.

        Returns
        -------
        pandas.DataFrame
            The variables table, built (once) on first access.
        """
        return self._built("_variables")

    @property
    def problems(self) -> pd.DataFrame:
        """One row per data problem; see the class docstring.

        Returns
        -------
        pandas.DataFrame
            The problems table, completed (once) on first access.
        """
        return self._built("_problems")

    def replace(self, **changes: Any) -> Export:
        """A new Export with some tables (or ``tz``) replaced; the others are shared.

        Parameters
        ----------
        **changes
            ``messages``, ``clicks``, ``variables``, ``problems``,
            ``accounting`` or ``tz``. ``variables`` and ``problems`` may be
            functions that build the table on first access.

        Returns
        -------
        Export
            The new Export; ``self`` is unchanged.

        Raises
        ------
        TimeZoneError
            A ``tz`` that is not a time zone name.
        """
        fields = {
            "messages": self.messages,
            "clicks": self.clicks,
            "variables": self._variables,
            "problems": self._problems,
            "accounting": self.accounting,
            "tz": self.tz,
        }
        fields.update(changes)
        return Export(**fields)

    # ----------------------------------------------------------------- selection

    def filter(
        self,
        *,
        campaigns: Iterable[str] | str | None = None,
        sendouts: Iterable[str] | str | None = None,
        error_codes: Iterable[str | None] | str | None = None,
        start: Bound | None = None,
        end: Bound | None = None,
        failed: bool | None = None,
    ) -> Export:
        """Return a new Export cut to a selection, all four tables consistently.

        Parameters
        ----------
        campaigns, sendouts : str or iterable of str, optional
            Keep these campaign names / sendout ids. ``None`` keeps all.
        error_codes : str or iterable of str or None, optional
            Keep messages with these error codes; ``None`` inside the list
            stands for "no error code". ``None`` (the default) keeps all.
            A code names what was reported: a message delivered after an
            error keeps its code but is not failed (see ``failed``).
        start, end : date, datetime or ISO string, optional
            Keep messages whose ``sent_at`` falls in ``[start, end]``. A bare
            date (no time) for ``end`` includes that whole day. Naive values are
            read in the Export's time zone (a local day, daylight saving
            included). Messages never sent are dropped when either bound is
            given.
        failed : bool, optional
            ``True`` keeps the failed messages (an error and no delivery,
            whether or not a code was given), ``False`` the others.

        Returns
        -------
        Export
            The selection; problems not tied to a message (file-level ones)
            are kept.

        Raises
        ------
        ValueError
            ``start`` or ``end`` is text that is not ISO 8601, or not a real
            date, or the end is before the start.
        SelectionError
            A campaign, sendout or error code the export does not have (the
            message lists the closest known ones).
        """
        return self.subset(
            self.selection(
                campaigns=campaigns,
                sendouts=sendouts,
                error_codes=error_codes,
                start=start,
                end=end,
                failed=failed,
            )
        )

    def selection(
        self,
        *,
        campaigns: Iterable[str] | str | None = None,
        sendouts: Iterable[str] | str | None = None,
        error_codes: Iterable[str | None] | str | None = None,
        start: Bound | None = None,
        end: Bound | None = None,
        failed: bool | None = None,
    ) -> np.ndarray:
        """The rows of ``messages`` that :meth:`filter` would keep, as a boolean array.

        Cheaper than filtering when only counts are needed:
        ``funnel(export, where=export.selection(campaigns="A"))``.

        Parameters
        ----------
        campaigns, sendouts, error_codes, start, end, failed
            As for :meth:`filter`.

        Returns
        -------
        numpy.ndarray of bool
            One value per row of ``messages``.

        Raises
        ------
        ValueError
            As for :meth:`filter`.
        """
        m = self.messages
        mask = np.ones(len(m), dtype=bool)
        if campaigns is not None:
            mask &= _isin(m["campaign_name"], _as_list(campaigns), "campaign")
        if sendouts is not None:
            mask &= _isin(m["sendout_id"], _as_list(sendouts), "sendout")
        if error_codes is not None:
            codes = _as_list(error_codes)
            named = [c for c in codes if c is not None]
            sel = _isin(m["error_code"], named, "error code", also_known=ERROR_CATALOGUE)
            if any(c is None for c in codes):
                sel |= _isin(m["error_code"], [BLANK], "error code")
            mask &= sel
        if start is not None or end is not None:
            mask &= self._sent_between(start, end)
        if failed is not None:
            mask &= m["is_failed"].to_numpy() == bool(failed)
        return mask

    def _sent_between(self, start: Bound | None, end: Bound | None) -> np.ndarray:
        sent = self.messages["sent_at"]
        lo, hi = sent_bounds(start, end, self.tz)
        mask = np.ones(len(sent), dtype=bool)
        if lo is not None:
            mask &= (sent >= lo).to_numpy()
        if hi is not None:
            mask &= (sent < hi).to_numpy()
        return mask

    def subset(self, mask: Any) -> Export:
        """A new Export holding the messages where ``mask`` is true, all tables cut alike.

        Parameters
        ----------
        mask : array-like of bool
            One value per row of ``messages`` (e.g. from :meth:`selection`).

        Returns
        -------
        Export
            Clicks and variables of the kept messages; problems tied to them
            plus the file-level ones. ``self`` when every row is kept.

        Raises
        ------
        ValueError
            ``mask`` does not have one boolean per message.
        """
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(self.messages),):
            raise ValueError(
                f"mask must hold one boolean per row of messages ({len(self.messages):,}); "
                f"got {mask.dtype} of shape {mask.shape}"
            )
        if mask.all():
            return self
        messages = self.messages[mask]
        ids = messages.index.to_numpy()
        keep_clicks = np.isin(self.clicks["message_id"].to_numpy(), ids)
        source = self

        def variables() -> pd.DataFrame:
            v = source.variables
            return v[np.isin(v["message_id"].to_numpy(), ids)]

        def problems() -> pd.DataFrame:
            p = source.problems
            pid = p["message_id"]
            return p[(pid.isna() | pid.isin(ids)).to_numpy()]

        return self.replace(
            messages=messages,
            clicks=self.clicks[keep_clicks],
            variables=variables,
            problems=problems if callable(self._problems) else problems(),
        )

    # ----------------------------------------------------------------- summaries

    def summary(self) -> dict[str, Any]:
        """Key facts: rows, campaigns, sendouts, clicks, date range and problem counts.

        Returns
        -------
        dict
            ``rows``, ``campaigns``, ``sendouts``, ``clicks``, ``first_sent``,
            ``last_sent`` (Timestamps or None), ``files``, ``records_read``,
            ``duplicates_merged`` and ``problems`` (code -> count).
        """
        m = self.messages
        sent = m["sent_at"].dropna()
        return {
            "rows": len(m),
            "campaigns": int(m["campaign_name"].nunique()),
            "sendouts": int(m["sendout_id"].nunique()),
            "clicks": len(self.clicks),
            "first_sent": sent.min() if len(sent) else None,
            "last_sent": sent.max() if len(sent) else None,
            "files": len(self.accounting),
            "records_read": int(self.accounting["records_read"].sum()),
            "duplicates_merged": int(self.accounting["duplicates_merged"].sum()),
            "problems": self.problems["problem"].value_counts().loc[lambda s: s > 0].to_dict(),
        }

    def problem_summary(self) -> pd.DataFrame:
        """How many problems of each kind, most severe first, with what each means.

        Returns
        -------
        pandas.DataFrame
            ``severity``, ``problem``, ``rows``, ``meaning``.
        """
        return problem_summary(self.problems)

    def __repr__(self) -> str:
        return display.export_summary_text(self.summary(), self.tz)

    def _repr_html_(self) -> str:
        return display.export_summary_html(self.summary(), self.tz)


def sent_bounds(
    start: Bound | None, end: Bound | None, tz: str
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The instants ``[lo, hi)`` that :meth:`Export.filter`'s ``start`` and ``end`` mean.

    Parameters
    ----------
    start, end : date, datetime or ISO string, optional
        As for :meth:`Export.filter` (a bare ``end`` date includes its day).
    tz : str
        The zone naive values and bare dates are read in.

    Returns
    -------
    lo, hi : pandas.Timestamp or None
        The first instant kept and the first one after; None when not given.

    Raises
    ------
    ValueError
        A bound is not ISO 8601, or ``end`` is before ``start``.
    """
    lo = parse_bound(start, tz, end=False) if start is not None else None
    hi = parse_bound(end, tz, end=True) if end is not None else None
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(
            f"end {end} is before start {start}: no day can be in between "
            "(an end date includes its whole day)"
        )
    return lo, hi


def matching(
    categories: Iterable[Any],
    values: Iterable[Any],
    what: str,
    *,
    column: str,
    also_known: Iterable[str] = (),
) -> np.ndarray:
    """Which of ``categories`` the filter ``values`` select, by :meth:`Export.filter`'s rule.

    A value selects the category written exactly so, else those equal to
    it but for letter case, surrounding spaces and Unicode normalisation form
    (:func:`connectly_nb._keys.match_names`).

    Parameters
    ----------
    categories : iterable
        The known values (campaign names, sendout ids, error codes).
    values : iterable
        The values asked for.
    what : str
        How the message names them (``"campaign"``).
    column : str
        The column they come from (``"campaign_name"``), for the error.
    also_known : iterable of str, optional
        Values that select nothing without being an error (catalogue codes).

    Returns
    -------
    numpy.ndarray of bool
        One per category.

    Raises
    ------
    SelectionError
        A value matches no category and is not in ``also_known``; the
        message lists the closest known ones.
    """
    known = pd.Series(pd.Categorical(list(categories)), name=column)
    return _isin(known, list(values), what, also_known=also_known)


def _isin(
    column: pd.Series, values: list[Any], what: str, *, also_known: Iterable[str] = ()
) -> np.ndarray:
    """Rows whose category one of ``values`` names (:func:`connectly_nb._keys.match_names`).

    A value naming nothing, and not in ``also_known`` (e.g. a catalogue code
    simply absent from this export), is an error naming the closest known
    values.
    """
    categories = [str(c) for c in column.cat.categories]
    selected, unknown = match_names(categories, values)
    unknown = [str(v) for v in unknown if str(v).strip() not in also_known]
    if unknown:
        blank = blank_categories(categories)
        known = [c for c, b in zip(categories, blank, strict=False) if not b]
        raise _unknown(
            unknown, known + [BLANK] * bool(blank[column.cat.codes].any()), what, column.name
        )
    return selected[column.cat.codes.to_numpy()]


def _unknown(unknown: list[str], categories: list[str], what: str, column: Any) -> SelectionError:
    keys = {name_key(c): c for c in categories}
    suggestions = {}
    for value in unknown:
        key = name_key(value)
        near = [keys[k] for k in difflib.get_close_matches(key, list(keys), n=3, cutoff=0.6)]
        near += [c for k, c in keys.items() if key and key in k and c not in near]
        suggestions[value] = near[:3]
    parts = []
    for value, near in suggestions.items():
        hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
        parts.append(f"{value!r}{hint}")
    listed = ", ".join(repr(c) for c in categories[:10]) + (" ..." if len(categories) > 10 else "")
    message = (
        f"unknown {what}{'s' if len(unknown) > 1 else ''}: {'; '.join(parts)}. "
        f"The export has {format_number_of(len(categories), what)}: {listed or 'none'} "
        "(connectly-nb validate lists them)"
    )
    return SelectionError(message, column=str(column), unknown=unknown, suggestions=suggestions)


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, str):
        return [value]
    return list(value)
