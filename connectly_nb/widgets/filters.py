"""Small filter controls, each with one public trait, ``value``.

Set ``value`` from code or let the user click: the children follow the trait
and the trait follows the children. Option labels are plain text (ipywidgets
does not render them as HTML), so names from the data are shown as written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from connectly_nb.export import Export
from connectly_nb.schema import ERROR_CATEGORIES, describe_error

__all__ = ["CampaignFilter", "DateRangeFilter", "ErrorCodeFilter", "FilterPanel"]

SEARCH_FROM = 8  # campaigns; from this many a search box appears
NO_CODE = None  # the value that stands for "no error code" in ErrorCodeFilter.value


class _Guard:
    """Re-entrancy guard: trait -> children -> trait loops stop here."""

    def __init__(self) -> None:
        self.busy = False

    def __enter__(self) -> _Guard:
        self.busy = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.busy = False


class CampaignFilter(widgets.VBox):
    """Choose campaigns and their sendouts; nothing chosen means all.

    ``value`` is ``{"campaigns": (names...), "sendouts": (ids...)}``; an empty
    tuple means "all". Each option shows its row count; the sendout list
    follows the chosen campaigns. A search box narrows long campaign lists.

    Parameters
    ----------
    export : Export
        Where the campaigns, sendouts and their row counts come from.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).

    Raises
    ------
    traitlets.TraitError
        A ``value`` set with keys other than ``campaigns`` and ``sendouts``.
    """

    value = traitlets.Dict()

    def __init__(self, export: Export, **kwargs: Any) -> None:
        m = export.messages
        counts = m["campaign_name"].value_counts(sort=False)
        self._campaign_counts = counts[counts > 0].sort_index()
        by_sendout = m.groupby(["sendout_id", "campaign_name"], observed=True).agg(
            rows=("sent_at", "size"), first=("sent_at", "min")
        )
        self._sendouts = by_sendout.reset_index()
        self._campaigns = widgets.SelectMultiple(
            options=self._campaign_options(""),
            rows=min(8, max(2, len(self._campaign_counts))),
            description="Campaigns",
            layout=widgets.Layout(width="auto"),
        )
        self._sendout_select = widgets.SelectMultiple(
            options=self._sendout_options(()),
            rows=min(6, max(2, len(self._sendouts))),
            description="Sendouts",
            layout=widgets.Layout(width="auto"),
        )
        self._search = widgets.Text(
            placeholder="search campaigns", continuous_update=False, description="Search"
        )
        self._guard = _Guard()
        children = [self._campaigns, self._sendout_select]
        if len(self._campaign_counts) >= SEARCH_FROM:
            children.insert(0, self._search)
        super().__init__(children=children, **kwargs)
        self.value = {"campaigns": (), "sendouts": ()}
        self._campaigns.observe(self._on_children, names="value")
        self._sendout_select.observe(self._on_children, names="value")
        self._search.observe(self._on_search, names="value")

    def _campaign_options(self, query: str) -> list[tuple[str, str]]:
        q = query.strip().lower()
        return [
            (f"{name} ({n:,})", name)
            for name, n in self._campaign_counts.items()
            if not q or q in str(name).lower()
        ]

    def _sendout_options(self, campaigns: tuple[str, ...]) -> list[tuple[str, str]]:
        s = self._sendouts
        if campaigns:
            s = s[s["campaign_name"].isin(campaigns)]
        s = s.sort_values(["first", "sendout_id"], na_position="last")
        return [
            (
                f"{r.first:%d %b %Y %H:%M} · {str(r.sendout_id)[:8]}… ({r.rows:,})"
                if pd.notna(r.first)
                else f"not sent · {str(r.sendout_id)[:8]}… ({r.rows:,})",
                r.sendout_id,
            )
            for r in s.itertuples(index=False)
        ]

    def _on_search(self, change: dict[str, Any]) -> None:
        chosen = self._campaigns.value
        options = self._campaign_options(change["new"])
        keep = tuple(v for v in chosen if v in {o[1] for o in options})
        with self._guard:
            self._campaigns.options = options
            self._campaigns.value = keep

    def _on_children(self, change: dict[str, Any]) -> None:
        if self._guard.busy:
            return
        campaigns = tuple(self._campaigns.value)
        options = self._sendout_options(campaigns)
        valid = {o[1] for o in options}
        sendouts = tuple(s for s in self._sendout_select.value if s in valid)
        with self._guard:
            if change["owner"] is self._campaigns:
                self._sendout_select.options = options
                self._sendout_select.value = sendouts
        self.value = {"campaigns": campaigns, "sendouts": sendouts}

    @traitlets.validate("value")
    def _check(self, proposal: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        v = proposal["value"]
        unknown = set(v) - {"campaigns", "sendouts"}
        if unknown:
            raise traitlets.TraitError(f"unknown keys {sorted(unknown)}; use campaigns, sendouts")
        return {
            "campaigns": tuple(v.get("campaigns", ())),
            "sendouts": tuple(v.get("sendouts", ())),
        }

    @traitlets.observe("value")
    def _to_children(self, change: dict[str, Any]) -> None:
        if self._guard.busy:
            return
        v = change["new"]
        with self._guard:
            self._search.value = ""
            self._campaigns.options = self._campaign_options("")
            self._campaigns.value = tuple(c for c in v["campaigns"] if c in self._campaign_counts)
            self._sendout_select.options = self._sendout_options(v["campaigns"])
            valid = {o[1] for o in self._sendout_select.options}
            self._sendout_select.value = tuple(s for s in v["sendouts"] if s in valid)

    def selection(self) -> dict[str, Any]:
        """The arguments of :meth:`Export.filter` for the current value.

        Returns
        -------
        dict
            ``campaigns`` and ``sendouts``: tuples of the chosen names / ids,
            ``None`` for "all".
        """
        v = self.value
        return {"campaigns": v["campaigns"] or None, "sendouts": v["sendouts"] or None}


class ErrorCodeFilter(widgets.VBox):
    """Choose error codes, each shown as code, catalogue title and count.

    ``value`` is a tuple of codes; ``None`` in it stands for "no error code";
    an empty tuple means all messages. Quick choices: all messages, all
    failures, no failures, and each error category present.

    Parameters
    ----------
    export : Export
        Where the error codes and their row counts come from.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).
    """

    value = traitlets.Tuple()

    def __init__(self, export: Export, **kwargs: Any) -> None:
        m = export.messages
        counts = m["error_code"].value_counts(sort=False)
        counts = counts[counts > 0]
        self._codes = sorted(counts.index, key=lambda c: (-counts[c], str(c)))
        self._no_code = int(m["error_code"].isna().sum())
        info = {c: describe_error(c) for c in self._codes}
        self._by_category: dict[str, tuple[str, ...]] = {}
        for c in self._codes:
            for cat in info[c].category.split("/"):
                self._by_category.setdefault(cat, ())
                self._by_category[cat] += (c,)
        options: list[tuple[str, Any]] = [
            (f"{c} · {info[c].title} ({counts[c]:,})", c) for c in self._codes
        ]
        options.append((f"no error code ({self._no_code:,})", NO_CODE))
        self._select = widgets.SelectMultiple(
            options=options,
            rows=min(8, len(options)),
            description="Errors",
            layout=widgets.Layout(width="auto"),
        )
        quick = ["all messages", "all failures", "no failures"]
        quick += [
            f"category: {cat}" for cat in ERROR_CATEGORIES.values() if cat in self._by_category
        ]
        if "unknown" in self._by_category:
            quick.append("category: unknown")
        self._quick = widgets.Dropdown(options=quick, value="all messages", description="Quick")
        self._guard = _Guard()
        super().__init__(children=[self._quick, self._select], **kwargs)
        self._select.observe(self._on_select, names="value")
        self._quick.observe(self._on_quick, names="value")

    def _on_quick(self, change: dict[str, Any]) -> None:
        if self._guard.busy:
            return
        choice = change["new"]
        if choice == "all messages":
            self.value = ()
        elif choice == "all failures":
            self.value = tuple(self._codes)
        elif choice == "no failures":
            self.value = (NO_CODE,)
        else:
            self.value = self._by_category.get(choice.removeprefix("category: "), ())

    def _on_select(self, change: dict[str, Any]) -> None:
        if not self._guard.busy:
            self.value = tuple(change["new"])

    @traitlets.observe("value")
    def _to_children(self, change: dict[str, Any]) -> None:
        valid = {o[1] for o in self._select.options}
        with self._guard:
            self._select.value = tuple(v for v in change["new"] if v in valid)
            if not change["new"]:
                self._quick.value = "all messages"

    def selection(self) -> dict[str, Any]:
        """The arguments of :meth:`Export.filter` for the current value.

        Returns
        -------
        dict
            ``error_codes``: a list of the chosen codes (``None`` in it for "no
            error code"), or ``None`` for all messages.
        """
        return {"error_codes": list(self.value) if self.value else None}


class DateRangeFilter(widgets.VBox):
    """Choose a range of sent dates (inclusive) in the export's time zone.

    ``value`` is ``(first_day, last_day)`` as :class:`datetime.date`; an empty
    tuple means the whole span.

    Parameters
    ----------
    export : Export
        Where the span of sent dates (in the export's time zone) comes from.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).

    Raises
    ------
    traitlets.TraitError
        A ``value`` set that is neither ``()`` nor two dates.
    """

    value = traitlets.Tuple()

    def __init__(self, export: Export, **kwargs: Any) -> None:
        sent = export.messages["sent_at"].dropna()
        self.tz = export.tz
        if len(sent):
            first, last = sent.min().date(), sent.max().date()
            days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        else:
            days = []
        self._days = days
        one_year = bool(days) and days[0].year == days[-1].year
        fmt = "%d %b" if one_year else "%d %b %Y"
        self._slider = widgets.SelectionRangeSlider(
            options=[(d.strftime(fmt), d) for d in days] or [("no sent messages", None)],
            index=(0, max(len(days) - 1, 0)),
            description=f"Sent ({self.tz}{', ' + str(days[0].year) if one_year else ''})",
            continuous_update=False,
            disabled=not days,
            layout=widgets.Layout(width="520px"),
            style={"description_width": "initial"},
        )
        self._guard = _Guard()
        super().__init__(children=[self._slider], **kwargs)
        self._slider.observe(self._on_slider, names="value")

    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._guard.busy or not self._days:
            return
        first, last = change["new"]
        whole = (first, last) == (self._days[0], self._days[-1])
        self.value = () if whole else (first, last)

    @traitlets.validate("value")
    def _check(self, proposal: dict[str, Any]) -> tuple[dt.date, ...]:
        v = tuple(proposal["value"])
        if v and len(v) != 2:
            raise traitlets.TraitError("value is () or (first_day, last_day)")
        return tuple(pd.Timestamp(d).date() for d in v)

    @traitlets.observe("value")
    def _to_children(self, change: dict[str, Any]) -> None:
        if not self._days:
            return
        v = change["new"] or (self._days[0], self._days[-1])
        lo = int(np.clip((v[0] - self._days[0]).days, 0, len(self._days) - 1))
        hi = int(np.clip((v[1] - self._days[0]).days, 0, len(self._days) - 1))
        with self._guard:
            self._slider.index = (lo, hi)

    def selection(self) -> dict[str, Any]:
        """The arguments of :meth:`Export.filter` for the current value.

        Returns
        -------
        dict
            ``start`` and ``end``: the first and last chosen day (a bare date,
            so ``end`` includes that whole day), both ``None`` for the whole span.
        """
        if not self.value:
            return {"start": None, "end": None}
        return {"start": self.value[0], "end": self.value[1]}


_CONTROLS = {"campaigns": CampaignFilter, "errors": ErrorCodeFilter, "dates": DateRangeFilter}


class FilterPanel(widgets.VBox):
    """The filters side by side, with a reset button.

    ``value`` holds the arguments of :meth:`Export.filter` for the current
    selection; :attr:`filtered` is the Export cut accordingly (computed once
    per selection) and :attr:`mask` the selected rows of ``messages``.

    Parameters
    ----------
    export : Export
        The export to filter.
    controls : sequence of {"campaigns", "errors", "dates"}
        Which filters to show, in order; all three by default.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).

    Raises
    ------
    ValueError
        An unknown name in ``controls``.
    """

    value = traitlets.Dict()

    def __init__(
        self,
        export: Export,
        *,
        controls: tuple[str, ...] = ("campaigns", "errors", "dates"),
        **kwargs: Any,
    ) -> None:
        unknown = [c for c in controls if c not in _CONTROLS]
        if unknown:
            raise ValueError(f"unknown controls {unknown}; choose from {list(_CONTROLS)}")
        self.export = export
        self.controls = {name: _CONTROLS[name](export) for name in controls}
        self._reset = widgets.Button(description="Reset filters", icon="undo")
        self._reset.on_click(lambda _b: self.reset())
        self._cache: tuple[tuple[Any, ...], Export, np.ndarray] | None = None
        row = widgets.HBox(
            list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__(children=[row, self._reset], **kwargs)
        for control in self.controls.values():
            control.observe(self._update, names="value")
        self._update()

    def _update(self, change: dict[str, Any] | None = None) -> None:
        value: dict[str, Any] = {}
        for control in self.controls.values():
            value.update(control.selection())
        self.value = {k: v for k, v in value.items() if v is not None}

    def reset(self) -> None:
        """Clear every filter."""
        for control in self.controls.values():
            control.value = (
                {"campaigns": (), "sendouts": ()} if isinstance(control, CampaignFilter) else ()
            )

    def _key(self) -> tuple[Any, ...]:
        return tuple(
            (k, tuple(v) if isinstance(v, list | tuple) else v)
            for k, v in sorted(self.value.items())
        )

    @property
    def mask(self) -> np.ndarray:
        """Selected rows of ``export.messages`` (cheap: no table is copied).

        Returns
        -------
        numpy.ndarray of bool
            One value per row of ``export.messages`` (:meth:`Export.selection`).
        """
        return self.export.selection(**self.value)

    @property
    def filtered(self) -> Export:
        """The Export cut to the selection, computed once per selection.

        Returns
        -------
        Export
            :meth:`Export.subset` of the selected rows (``export`` itself when
            every row is selected).
        """
        key = self._key()
        if self._cache is None or self._cache[0] != key:
            mask = self.mask
            self._cache = (key, self.export.subset(mask), mask)
        return self._cache[1]
