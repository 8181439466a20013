"""What the dashboard explores: an Export in memory, or a store, behind one interface.

The filters and the dashboard never ask what they were given; they ask a
*source*. :class:`ExportSource` answers from an Export's arrays;
:class:`StoreSource` answers the filter choices, the key figures and the
Funnel, Trend and Errors tabs from the store's cube (the metrics take a
Store), and builds the message-level tabs from a small
:meth:`~connectly_nb.store.Store.to_export` of the selection, loaded on
demand and kept for that selection. :func:`source_of` picks the one that
fits: it is the only place that looks at the type.

``filters`` below are always the arguments of :meth:`Export.filter`
(``campaigns``, ``sendouts``, ``error_codes``, ``start``, ``end``,
``failed``) as :attr:`FilterPanel.value <connectly_nb.widgets.FilterPanel.value>`
holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb import metrics as M
from connectly_nb._stages import key_figures, stage_bits
from connectly_nb.conversions import ClickSet
from connectly_nb.export import Export
from connectly_nb.store import Store

__all__ = ["DASHBOARD_MAX_MESSAGES", "ExportSource", "Source", "StoreSource", "source_of"]

#: The most messages a dashboard on a store loads for its message-level tabs.
DASHBOARD_MAX_MESSAGES = 500_000
#: Columns the views never show (the parsed clicks and variables are used instead).
RAW_TEXT = (
    "button_clicks",
    "link_clicks",
    "input_variables",
    "output_variables",
    "cnt_session_id",
)
#: The most buttons and links of each kind offered as conversions.
TOP_CLICKS = 50
_NO_CODE = None


def _key(filters: Mapping[str, Any]) -> tuple[Any, ...]:
    """Filter arguments as a hashable key (lists and tuples alike)."""
    return tuple(
        (k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in sorted(filters.items())
    )


class _Memo:
    """The last value computed per key: one selection's Export, kept until the next."""

    def __init__(self) -> None:
        self._key: Any = object()
        self._value: Any = None

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        if key != self._key:
            self._value, self._key = make(), key
        return self._value


def _click_names(clicks: pd.DataFrame) -> pd.DataFrame:
    """Clicks counted by kind and name: ``kind``, ``name``, ``n``."""
    named = clicks.loc[clicks["name"].notna().to_numpy(), ["kind", "name"]]
    out = named.astype(str).value_counts().rename("n").reset_index()
    return out.astype({"n": np.int64})


def _top_clicks(counts: pd.DataFrame) -> pd.DataFrame:
    """The most clicked names of each kind, most clicked first (ties by name)."""
    counts = counts.sort_values(["kind", "n", "name"], ascending=[True, False, True])
    return counts.groupby("kind", sort=False).head(TOP_CLICKS).reset_index(drop=True)


class Source:
    """What a dashboard asks of the data it explores (see the module's docstring).

    Each public method is written once here; :class:`ExportSource` and
    :class:`StoreSource` supply the private ``_...`` step behind it.

    Attributes
    ----------
    data : Export or Store
        What was given.
    tz : str
        The time zone dates are chosen in.
    total : int
        Messages in all.
    preselect_negatives : bool
        Whether the buttons that read as a refusal are chosen as "says no" at
        first (only where counting them costs no more than the rest).
    """

    data: Any
    tz: str
    total: int
    preselect_negatives: bool = True

    def campaign_counts(self) -> pd.Series:
        """Messages per campaign (campaigns with messages only).

        Returns
        -------
        pandas.Series
            Counts indexed by campaign name, sorted by name.
        """
        return self._campaign_counts()

    def sendouts(self) -> pd.DataFrame:
        """Each sendout with its campaign, its messages and its first send.

        Returns
        -------
        pandas.DataFrame
            ``sendout_id``, ``campaign_name``, ``rows``, ``first`` (the first
            ``sent_at``, in ``tz``; NaT when nothing was sent).
        """
        return self._sendouts()

    def error_counts(self, filters: Mapping[str, Any]) -> dict[Any, int]:
        """Messages per error code within a selection, every code of the data named.

        Parameters
        ----------
        filters : mapping
            :meth:`Export.filter`'s arguments (``{}``: everything).

        Returns
        -------
        dict
            ``None`` (no error code) and each code -> messages.
        """
        return self._error_counts(filters)

    def sent_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last ``sent_at``, in ``tz``.

        Returns
        -------
        tuple of pandas.Timestamp or None
            None when nothing was sent.
        """
        return self._sent_span()

    def click_counts(self) -> pd.DataFrame:
        """Clicks per button and link name, the most clicked of each kind.

        Returns
        -------
        pandas.DataFrame
            ``kind``, ``name``, ``n``; at most :data:`TOP_CLICKS` of each kind,
            most clicked first.
        """
        return self._click_counts()

    def count(self, filters: Mapping[str, Any]) -> int:
        """Messages within a selection.

        Parameters
        ----------
        filters : mapping
            :meth:`Export.filter`'s arguments (``{}``: everything).

        Returns
        -------
        int
            The count.
        """
        return self._count(filters) if filters else self.total

    def choose_clicks(self, specs: Mapping[str, ClickSet | None]) -> None:
        """Remember what counts as converted and as negative, for :meth:`key_figures`.

        Parameters
        ----------
        specs : mapping
            ``conversions`` and ``negatives``: a ClickSet or None each
            (:attr:`ConversionPicker.value <connectly_nb.widgets.filters.ConversionPicker.value>`).
        """
        self._choose_clicks(specs)

    def key_figures(self, filters: Mapping[str, Any]) -> dict[str, int]:
        """Rows and each stage count within a selection (the dashboard's header).

        Parameters
        ----------
        filters : mapping
            :meth:`Export.filter`'s arguments (``{}``: everything).

        Returns
        -------
        dict of str to int
            As :func:`connectly_nb.metrics.key_figures`, plus ``converted`` and
            ``negative`` when chosen (:meth:`choose_clicks`).
        """
        return self._key_figures(filters)

    def measured(self, filters: Mapping[str, Any]) -> Export | Store:
        """The selection as the metrics take it: what the Funnel, Trend and Errors tabs measure.

        Parameters
        ----------
        filters : mapping
            :meth:`Export.filter`'s arguments (``{}``: everything).

        Returns
        -------
        Export or Store
            The cut Export (once per selection), or the filtered Store view.
        """
        return self._measured(filters)

    def messages(self, filters: Mapping[str, Any]) -> Export:
        """The selection as an Export for the message-level tabs (raw JSON text left out).

        Parameters
        ----------
        filters : mapping
            :meth:`Export.filter`'s arguments (``{}``: everything).

        Returns
        -------
        Export
            Loaded once per selection.

        Raises
        ------
        SelectionTooLargeError
            On a store, more messages than the dashboard loads.
        """
        return self._messages(filters)

    def whole(self, filters: Mapping[str, Any]) -> Export:
        """The selection as an Export with every column (for the saved CSV).

        Parameters
        ----------
        filters : mapping
            :meth:`Export.filter`'s arguments (``{}``: everything).

        Returns
        -------
        Export
            Every table and column of the selected messages.

        Raises
        ------
        SelectionTooLargeError
            On a store, more messages than the dashboard loads.
        """
        return self._whole(filters)

    def input_keys(self, shown: Export) -> list[str]:
        """The input variables a segment can be split by.

        Parameters
        ----------
        shown : Export
            What the Variables tab shows (an Export offers every key of its own).

        Returns
        -------
        list of str
            Sorted keys.
        """
        v = self._keys_from(shown).variables
        return sorted(str(k) for k in v.loc[v["direction"] == "input", "key"].unique())

    # the steps each kind of source supplies
    def _campaign_counts(self) -> pd.Series:
        raise NotImplementedError

    def _sendouts(self) -> pd.DataFrame:
        raise NotImplementedError

    def _error_counts(self, filters: Mapping[str, Any]) -> dict[Any, int]:
        raise NotImplementedError

    def _sent_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        raise NotImplementedError

    def _click_counts(self) -> pd.DataFrame:
        raise NotImplementedError

    def _count(self, filters: Mapping[str, Any]) -> int:
        raise NotImplementedError

    def _choose_clicks(self, specs: Mapping[str, ClickSet | None]) -> None:
        raise NotImplementedError

    def _key_figures(self, filters: Mapping[str, Any]) -> dict[str, int]:
        raise NotImplementedError

    def _measured(self, filters: Mapping[str, Any]) -> Export | Store:
        raise NotImplementedError

    def _whole(self, filters: Mapping[str, Any]) -> Export:
        raise NotImplementedError

    def _messages(self, filters: Mapping[str, Any]) -> Export:
        whole = self.whole(filters)
        keep = [c for c in whole.messages.columns if c not in RAW_TEXT]
        return whole.replace(messages=whole.messages[keep])

    def _keys_from(self, shown: Export) -> Export:
        return shown


class ExportSource(Source):
    """An Export in memory: filters as boolean masks over precomputed arrays.

    Parameters
    ----------
    export : Export
        The export to explore.
    lean : bool, default False
        Cut selections for the tabs without the raw JSON text columns (the
        parsed clicks and variables hold them): cheaper per selection.
    """

    def __init__(self, export: Export, *, lean: bool = False) -> None:
        self.data = export
        self.tz = export.tz
        self.total = len(export.messages)
        self._bits = stage_bits(export.messages)  # what no selection changes
        self._codes = export.messages["error_code"].cat.codes.to_numpy()
        self._flags: dict[str, np.ndarray] = {}
        lean_messages = export.messages.drop(columns=list(RAW_TEXT), errors="ignore")
        self._view = export.replace(messages=lean_messages) if lean else export
        self._memo = _Memo()

    def mask(self, filters: Mapping[str, Any]) -> np.ndarray:
        """The selected rows of ``messages`` (:meth:`Export.selection`).

        Parameters
        ----------
        filters : mapping
            :meth:`Export.filter`'s arguments.

        Returns
        -------
        numpy.ndarray of bool
            One value per message.
        """
        return self.data.selection(**filters)

    def _campaign_counts(self) -> pd.Series:
        counts = self.data.messages["campaign_name"].value_counts(sort=False)
        return counts[counts > 0].sort_index()

    def _sendouts(self) -> pd.DataFrame:
        m = self.data.messages
        by_sendout = m.groupby(["sendout_id", "campaign_name"], observed=True).agg(
            rows=("sent_at", "size"), first=("sent_at", "min")
        )
        return by_sendout.reset_index()

    def _error_counts(self, filters: Mapping[str, Any]) -> dict[Any, int]:
        names = list(self.data.messages["error_code"].cat.categories)
        codes = self._codes[self.mask(filters)] if filters else self._codes
        n = np.bincount(codes + 1, minlength=len(names) + 1)  # slot 0: no code
        return {_NO_CODE: int(n[0]), **{c: int(k) for c, k in zip(names, n[1:], strict=True)}}

    def _sent_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        sent = self.data.messages["sent_at"].dropna()
        return (sent.min(), sent.max()) if len(sent) else None

    def _click_counts(self) -> pd.DataFrame:
        return _top_clicks(_click_names(self.data.clicks))

    def _count(self, filters: Mapping[str, Any]) -> int:
        return int(self.mask(filters).sum())

    def _choose_clicks(self, specs: Mapping[str, ClickSet | None]) -> None:
        m, c = self.data.messages, self.data.clicks
        named = {"converted": specs.get("conversions"), "negative": specs.get("negatives")}
        self._flags = {
            count: spec.messages(m, c) for count, spec in named.items() if spec is not None
        }

    def _key_figures(self, filters: Mapping[str, Any]) -> dict[str, int]:
        mask = self.mask(filters)
        out = key_figures(self._bits, mask)
        for name, flag in self._flags.items():
            out[name] = int((flag & mask).sum())
        return out

    def _measured(self, filters: Mapping[str, Any]) -> Export:
        return self._memo.get(_key(filters), lambda: self._view.subset(self.mask(filters)))

    def _messages(self, filters: Mapping[str, Any]) -> Export:
        return self.measured(filters)

    def _whole(self, filters: Mapping[str, Any]) -> Export:
        return self.data.subset(self.mask(filters))

    def _keys_from(self, shown: Export) -> Export:
        return self.data  # every key, whatever the selection


class StoreSource(Source):
    """A store: choices and counts from its cube, message tabs from a small ``to_export``.

    Parameters
    ----------
    store : Store
        The store (or a filtered view of it) to explore.
    max_messages : int, optional
        The most messages loaded for the message-level tabs and the saved CSV
        (default: :data:`DASHBOARD_MAX_MESSAGES` or the store's own limit,
        whichever is smaller).
    """

    preselect_negatives = False  # a click set is counted from the partitions: seconds, not ms

    def __init__(self, store: Store, *, max_messages: int | None = None) -> None:
        self.data = store
        self.tz = store.tz
        default = min(DASHBOARD_MAX_MESSAGES, store.max_messages)
        self.max_messages = default if max_messages is None else max_messages
        self.total = store.count()
        self._specs: dict[str, ClickSet | None] = {}
        self._memo = _Memo()

    def _cube(self) -> pd.DataFrame:
        return self.data.cube

    def _campaign_counts(self) -> pd.Series:
        counts = self._cube().groupby("campaign_name", observed=True)["n"].sum()
        counts = counts[counts > 0].sort_index()
        return counts.set_axis(counts.index.astype(object)).rename("count")

    def _sendouts(self) -> pd.DataFrame:
        cube = self._cube()
        rows = cube.groupby(["sendout_id", "campaign_name"], observed=True)["n"].sum()
        first = self.data.cube_object.sendouts.groupby("sendout_id", observed=True)["first_sent"]
        out = rows.rename("rows").reset_index()
        out = out.astype({"sendout_id": object, "campaign_name": object})
        firsts = first.min().dt.tz_convert(self.tz)
        firsts.index = firsts.index.astype(object)
        out["first"] = firsts.reindex(out["sendout_id"]).array
        return out

    def _error_counts(self, filters: Mapping[str, Any]) -> dict[Any, int]:
        view = self.measured(filters)
        rows = view.cube_rows()
        if rows is None:  # bounds off the cube's grid: count the partitions
            parts = view.map_partitions(_code_counts, columns=["error_code"])
            rows = pd.concat(parts) if parts else pd.DataFrame({"error_code": [], "n": []})
        codes = rows["error_code"].astype(object)
        counts = rows["n"].groupby(codes.to_numpy(), dropna=False).sum()
        names = self.data.cube_object.names()["error_code"]
        blank = int(rows["n"][codes.isna().to_numpy()].sum())
        return {_NO_CODE: blank, **{c: int(counts.get(c, 0)) for c in names}}

    def _sent_span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        parts = self.data.partitions()
        sent = [pd.Timestamp(p[k]) for p in parts for k in ("sent_min", "sent_max") if p[k]]
        if not sent:
            return None
        return min(sent).tz_convert(self.tz), max(sent).tz_convert(self.tz)

    def _click_counts(self) -> pd.DataFrame:
        parts = self.data.map_partitions(_click_names_of, tables=("messages", "clicks"), columns=[])
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame({"kind": [], "name": [], "n": np.array([], dtype=np.int64)})
        counts = pd.concat(parts).groupby(["kind", "name"], as_index=False)["n"].sum()
        return _top_clicks(counts)

    def _count(self, filters: Mapping[str, Any]) -> int:
        return self.measured(filters).count()

    def _choose_clicks(self, specs: Mapping[str, ClickSet | None]) -> None:
        self._specs = dict(specs)

    def _key_figures(self, filters: Mapping[str, Any]) -> dict[str, int]:
        view = self.measured(filters)
        out = M.key_figures(view)
        if any(s is not None for s in self._specs.values()):  # counted from the partitions
            f = M.funnel(view, by=None, **self._specs).iloc[0]
            out.update({c: int(f[c]) for c in ("converted", "negative") if c in f})
        return out

    def _measured(self, filters: Mapping[str, Any]) -> Store:
        return self.data.filter(**filters) if filters else self.data

    def _whole(self, filters: Mapping[str, Any]) -> Export:
        return self._memo.get(
            _key(filters), lambda: self.measured(filters).to_export(max_messages=self.max_messages)
        )


def _code_counts(ex: Export) -> pd.DataFrame:
    codes = ex.messages["error_code"].astype(object)
    n = codes.value_counts(dropna=False)
    return pd.DataFrame({"error_code": n.index, "n": n.to_numpy(dtype=np.int64)})


def _click_names_of(ex: Export) -> pd.DataFrame:
    return _click_names(ex.clicks)


def source_of(
    data: Export | Store | Source, *, max_messages: int | None = None, lean: bool = False
) -> Source:
    """The source that answers for ``data``.

    Parameters
    ----------
    data : Export, Store or Source
        What to explore (a Source is returned as it is).
    max_messages : int, optional
        For a Store: the most messages loaded for the message-level tabs
        (:class:`StoreSource`).
    lean : bool, default False
        Cut an Export's selections without the raw JSON text (:class:`ExportSource`).

    Returns
    -------
    Source
        :class:`ExportSource` or :class:`StoreSource`.

    Raises
    ------
    TypeError
        ``data`` is none of these.
    """
    if isinstance(data, Source):
        return data
    if isinstance(data, Store):
        return StoreSource(data, max_messages=max_messages)
    if isinstance(data, Export):
        return ExportSource(data, lean=lean)
    raise TypeError(f"expected an Export or a Store, got {type(data).__name__}")
