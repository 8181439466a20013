"""Small filter controls, each with one public trait, ``value``.

Set ``value`` from code or let the user click: the children follow the trait
and the trait follows the children. Option labels are plain text (ipywidgets
does not render them as HTML), so names from the data are shown as written.
Each control takes an Export or a Store (or the dashboard's
:class:`~connectly_nb.widgets.sources.Source`): on a store the choices and
their counts come from the cube, no message is read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from connectly_nb.conversions import ClickSet, suggest_negatives
from connectly_nb.display import short_id
from connectly_nb.export import Export
from connectly_nb.safety import mask_text
from connectly_nb.schema import ERROR_CATEGORIES, describe_error
from connectly_nb.store import Store
from connectly_nb.widgets.sources import Source, source_of

#: What a control takes: an Export, a Store, or the dashboard's source.
Data = Export | Store | Source

__all__ = [
    "CampaignFilter",
    "ConversionPicker",
    "DateRangeFilter",
    "ErrorCodeFilter",
    "FilterPanel",
]

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


def _rows(n: int) -> int:
    """How many entries a list shows without scrolling: all, up to ten."""
    return min(10, max(2, n))


def _sendout_label(r: Any) -> str:
    """A sendout as an analyst knows it: campaign, first send and size."""
    campaign = str(r.campaign_name)
    campaign = campaign if len(campaign) <= 28 else campaign[:27] + "…"
    when = f"{r.first:%d %b %Y %H:%M}" if pd.notna(r.first) else "not sent"
    return f"{campaign} · {when} · {short_id(r.sendout_id)} ({r.rows:,})"


class CampaignFilter(widgets.VBox):
    """Choose campaigns and their sendouts; nothing chosen means all.

    ``value`` is ``{"campaigns": (names...), "sendouts": (ids...)}``; an empty
    tuple means "all". Each option shows its row count; the sendout list
    follows the chosen campaigns. A search box narrows long campaign lists.

    Parameters
    ----------
    export : Export, Store or Source
        Where the campaigns, sendouts and their row counts come from.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).

    Raises
    ------
    traitlets.TraitError
        A ``value`` set with keys other than ``campaigns`` and ``sendouts``.
    """

    value = traitlets.Dict()

    def __init__(self, export: Data, **kwargs: Any) -> None:
        source = source_of(export)
        self._campaign_counts = source.campaign_counts()
        self._sendouts = source.sendouts()
        self._campaigns = widgets.SelectMultiple(
            options=self._campaign_options(""),
            rows=_rows(len(self._campaign_counts)),
            description="Campaigns",
            layout=widgets.Layout(width="auto"),
        )
        self._sendout_select = widgets.SelectMultiple(
            options=self._sendout_options(()),
            rows=_rows(len(self._sendouts)),
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

    def _campaign_options(self, query: str, keep: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """The campaigns matching ``query``, and the chosen ones (never hidden by a search)."""
        q = query.strip().casefold()
        return [
            (f"{name} ({n:,})", name)
            for name, n in self._campaign_counts.items()
            if not q or q in str(name).casefold() or name in keep
        ]

    def _sendout_options(self, campaigns: tuple[str, ...]) -> list[tuple[str, str]]:
        s = self._sendouts
        if campaigns:
            s = s[s["campaign_name"].isin(campaigns)]
        s = s.sort_values(["first", "sendout_id"], na_position="last")
        return [(_sendout_label(r), r.sendout_id) for r in s.itertuples(index=False)]

    def _on_search(self, change: dict[str, Any]) -> None:
        chosen = tuple(self._campaigns.value)
        with self._guard:
            self._campaigns.options = self._campaign_options(change["new"], keep=chosen)
            self._campaigns.value = chosen

    def _on_children(self, change: dict[str, Any]) -> None:
        if self._guard.busy:
            return
        campaigns = tuple(self._campaigns.value)
        options = self._sendout_options(campaigns)
        valid = {o[1] for o in options}
        sendouts = tuple(s for s in self._sendout_select.value if s in valid)
        with self._guard:  # the children are already right: the search box stays as typed
            if change["owner"] is self._campaigns:
                self._sendout_select.options = options
                self._sendout_select.rows = _rows(len(options))
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

    def reset(self) -> None:
        """Choose every campaign and sendout, and empty the search box."""
        empty = {"campaigns": (), "sendouts": ()}
        self._to_children({"new": empty})  # even if the value is already empty
        with self._guard:
            self.value = empty

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
    an empty tuple means all messages. ``failed`` is ``True`` (failed
    messages only, with or without a code), ``False`` (the others) or
    ``None``. Quick choices: all messages, all failures, no failures, and each
    error category present. The counts follow the other filters
    (:meth:`recount`).

    Parameters
    ----------
    export : Export, Store or Source
        Where the error codes and their row counts come from.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).
    """

    value = traitlets.Tuple()
    failed = traitlets.Bool(None, allow_none=True)

    def __init__(self, export: Data, **kwargs: Any) -> None:
        self._source = source_of(export)
        counts = self._source.error_counts({})
        named = (c for c in counts if c is not NO_CODE and counts[c])
        self._codes = sorted(named, key=lambda c: (-counts[c], str(c)))
        self._info = {c: describe_error(c) for c in self._codes}
        self._by_category: dict[str, tuple[str, ...]] = {}
        for c in self._codes:
            for cat in self._info[c].category.split("/"):
                self._by_category[cat] = (*self._by_category.get(cat, ()), c)
        self._select = widgets.SelectMultiple(
            options=self._options(counts),
            rows=_rows(len(self._codes) + 1),
            description="Errors",
            layout=widgets.Layout(width="auto"),
        )
        quick = ["all messages", "all failures", "no failures", "chosen codes"]
        quick += [f"category: {c}" for c in ERROR_CATEGORIES.values() if c in self._by_category]
        if "unknown" in self._by_category:
            quick.append("category: unknown")
        self._quick = widgets.Dropdown(options=quick, value="all messages", description="Quick")
        self._guard = _Guard()
        super().__init__(children=[self._quick, self._select], **kwargs)
        self._select.observe(self._on_select, names="value")
        self._quick.observe(self._on_quick, names="value")

    def _options(self, counts: dict[Any, int]) -> list[tuple[str, Any]]:
        options: list[tuple[str, Any]] = [
            (f"{c} · {self._info[c].title} ({counts[c]:,})", c) for c in self._codes
        ]
        options.append((f"no error code ({counts[NO_CODE]:,})", NO_CODE))
        return options

    def recount(self, others: dict[str, Any] | None) -> None:
        """Show the counts within the messages the other filters keep.

        Parameters
        ----------
        others : dict or None
            The other filters' :meth:`Export.filter` arguments (``None``: all).
        """
        chosen = tuple(self._select.value)
        with self._guard:
            self._select.options = self._options(self._source.error_counts(others or {}))
            self._select.value = chosen

    def _on_quick(self, change: dict[str, Any]) -> None:
        if self._guard.busy:
            return
        choice = change["new"]
        failed = {"all failures": True, "no failures": False}.get(choice)
        if choice == "chosen codes":  # no longer "all failures": the codes to be picked decide
            with self._guard, self.hold_trait_notifications():
                self.failed = None
            return
        codes = self._by_category.get(choice.removeprefix("category: "), ())
        # notifications held until both traits are set: observers hear one selection
        with self._guard, self.hold_trait_notifications():
            self.failed = failed
            self.value = codes if choice.startswith("category: ") else ()
            self._select.value = self.value

    def reset(self) -> None:
        """All messages: no code chosen, "all messages" in the quick choice."""
        with self._guard, self.hold_trait_notifications():
            self._quick.value = "all messages"
            self._select.value = ()
            self.failed = None
            self.value = ()

    def _on_select(self, change: dict[str, Any]) -> None:
        if self._guard.busy:
            return
        # both traits set before anyone hears: one selection, not "all" then the codes
        with self.hold_trait_notifications():
            with self._guard:
                self.failed = None
                self._quick.value = "chosen codes" if change["new"] else "all messages"
            self.value = tuple(change["new"])

    @traitlets.observe("value")
    def _to_children(self, change: dict[str, Any]) -> None:
        if self._guard.busy:
            return
        valid = {o[1] for o in self._select.options}
        with self._guard:
            self._select.value = tuple(v for v in change["new"] if v in valid)
            self.failed = None
            self._quick.value = "chosen codes" if change["new"] else "all messages"

    def selection(self) -> dict[str, Any]:
        """The arguments of :meth:`Export.filter` for the current value.

        Returns
        -------
        dict
            ``error_codes``: a list of the chosen codes (``None`` in it for "no
            error code"), or ``None`` for all messages; ``failed``: ``True``,
            ``False`` or ``None``.
        """
        return {"error_codes": list(self.value) if self.value else None, "failed": self.failed}


class DateRangeFilter(widgets.VBox):
    """Choose a range of sent dates (inclusive) in the export's time zone.

    ``value`` is ``(first_day, last_day)`` as :class:`datetime.date`; an empty
    tuple means the whole span. Drag the slider, or type or pick the dates.

    Parameters
    ----------
    export : Export, Store or Source
        Where the span of sent dates (in the export's time zone) comes from.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).

    Raises
    ------
    traitlets.TraitError
        A ``value`` set that is neither ``()`` nor two dates.
    """

    value = traitlets.Tuple()

    def __init__(self, export: Data, **kwargs: Any) -> None:
        source = source_of(export)
        span = source.sent_span()
        self.tz = source.tz
        if span is not None:
            first, last = span[0].date(), span[1].date()
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
        # typed or picked: the browser's date input, in the export's time zone
        self._from = widgets.DatePicker(
            value=days[0] if days else None,
            description="from",
            disabled=not days,
            layout=widgets.Layout(width="220px"),
        )
        self._to = widgets.DatePicker(
            value=days[-1] if days else None,
            description="to",
            disabled=not days,
            layout=widgets.Layout(width="220px"),
        )
        self._guard = _Guard()
        pickers = widgets.HBox([self._from, self._to])
        super().__init__(children=[self._slider, pickers], **kwargs)
        self._slider.observe(self._on_slider, names="value")
        self._from.observe(self._on_picker, names="value")
        self._to.observe(self._on_picker, names="value")

    def _on_slider(self, change: dict[str, Any]) -> None:
        if self._guard.busy or not self._days:
            return
        self._set(*change["new"])

    def _on_picker(self, change: dict[str, Any]) -> None:
        if self._guard.busy or not self._days:
            return
        first = self._from.value or self._days[0]
        last = self._to.value or self._days[-1]
        if first > last:  # typed the wrong way round: keep the one just typed
            first, last = (last, last) if change["owner"] is self._to else (first, first)
        self._set(first, last)

    def _set(self, first: dt.date, last: dt.date) -> None:
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
            self._from.value, self._to.value = v[0], v[1]

    def reset(self) -> None:
        """The whole span, on the slider and in the date pickers."""
        self.value = ()
        self._to_children({"new": ()})  # even if the value was already empty

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
    selection; :attr:`filtered` is the Export (or the Store view) cut
    accordingly (computed once per selection) and, on an Export, :attr:`mask`
    the selected rows of ``messages``.

    Parameters
    ----------
    export : Export, Store or Source
        What to filter.
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
        export: Data,
        *,
        controls: tuple[str, ...] = ("campaigns", "errors", "dates"),
        **kwargs: Any,
    ) -> None:
        unknown = [c for c in controls if c not in _CONTROLS]
        if unknown:
            raise ValueError(f"unknown controls {unknown}; choose from {list(_CONTROLS)}")
        self.source = source_of(export)
        self.export = self.source.data
        self.controls = {name: _CONTROLS[name](self.source) for name in controls}
        self._reset = widgets.Button(description="Reset filters", icon="undo")
        self._reset.on_click(lambda _b: self.reset())
        self._resetting = _Guard()
        row = widgets.HBox(
            list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__(children=[row, self._reset], **kwargs)
        for control in self.controls.values():
            control.observe(self._update, names=["value", "failed"])
        self._update()

    def _update(self, change: dict[str, Any] | None = None) -> None:
        if self._resetting.busy:  # reset sets value once, when every control is clear
            return
        value: dict[str, Any] = {}
        for control in self.controls.values():
            value.update(control.selection())
        self.value = {k: v for k, v in value.items() if v is not None}
        errors = self.controls.get("errors")
        if isinstance(errors, ErrorCodeFilter) and (
            change is None or change["owner"] is not errors
        ):
            others = {k: v for k, v in self.value.items() if k not in ("error_codes", "failed")}
            errors.recount(others)

    def reset(self) -> None:
        """Clear every filter and what its controls show (quick choice, search box, dates).

        Observers of ``value`` hear one change (none if nothing was chosen), so
        a dashboard redraws once.
        """
        with self._resetting:
            for control in self.controls.values():
                control.reset()
        self._update()

    @property
    def mask(self) -> np.ndarray:
        """Selected rows of ``export.messages`` (cheap: no table is copied).

        Returns
        -------
        numpy.ndarray of bool
            One value per row of ``export.messages`` (:meth:`Export.selection`).

        Raises
        ------
        TypeError
            On a store (its messages are not in memory): use :attr:`filtered`.
        """
        mask = getattr(self.source, "mask", None)
        if mask is None:
            raise TypeError("a store's selection has no mask: use panel.filtered")
        return mask(self.value)

    @property
    def filtered(self) -> Export | Store:
        """The data cut to the selection, computed once per selection.

        Returns
        -------
        Export or Store
            On an Export, :meth:`Export.subset` of the selected rows
            (``export`` itself when every row is selected); on a store, the
            filtered view (:meth:`Store.filter`: nothing is read).
        """
        return self.source.measured(self.value)


_PICKER_NOTE = {
    True: "<small>Clicked counts every click. Pick the buttons and links that count as a "
    "conversion, and those that say no (pre-chosen: names that read as a refusal).</small>",
    False: "<small>Clicked counts every click. Pick the buttons and links that count as a "
    "conversion, and those that say no. On a store nothing is pre-chosen: what a choice "
    "counts is read from every partition of the selection (seconds), the rest comes from "
    "the cube (milliseconds).</small>",
}


class ConversionPicker(widgets.VBox):
    """Say what counts as a conversion, and which buttons say "no".

    "Clicked" counts every click; analysts decide which clicks mean the
    campaign worked. ``value`` is ``{"conversions": ClickSet or None,
    "negatives": ClickSet or None}``; nothing is chosen as a conversion by
    default (all clicks stay "clicked"), and the buttons whose names read as
    a refusal are pre-chosen as "says no" (:func:`connectly_nb.conversions.suggest_negatives`).

    Parameters
    ----------
    export : Export, Store or Source
        Where the buttons and links (and their click counts) come from. On a
        store nothing is pre-chosen: a click set is counted from the
        partitions (seconds), every other number from the cube (milliseconds).
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).
    """

    value = traitlets.Dict()

    def __init__(self, export: Data, **kwargs: Any) -> None:
        source = source_of(export)
        clicks = source.click_counts()
        # labels never show a phone number or an email a URL or a name carries (the
        # values, what is counted, stay as written)
        shown = mask_text(clicks["name"].astype(object)) if len(clicks) else clicks["name"]
        options = [
            (f"{r.kind} · {label} ({r.n:,})", (r.kind, str(r.name)))
            for kind in ("button", "link")
            for r, label in zip(
                clicks[clicks["kind"] == kind].itertuples(index=False),
                shown[(clicks["kind"] == kind).to_numpy()],
                strict=True,
            )
        ]
        self._conversions = widgets.SelectMultiple(
            options=options,
            rows=_rows(len(options)),
            description="Converted",
            layout=widgets.Layout(width="auto"),
        )
        negatives = suggest_negatives(clicks) if source.preselect_negatives else None
        self._negatives = widgets.SelectMultiple(
            options=[o for o in options if o[1][0] == "button"],
            value=tuple(("button", b) for b in (negatives.buttons if negatives else ())),
            rows=_rows(len(options)),
            description="Says no",
            layout=widgets.Layout(width="auto"),
        )
        note = widgets.HTML(_PICKER_NOTE[source.preselect_negatives])
        super().__init__(
            children=[note, widgets.HBox([self._conversions, self._negatives])], **kwargs
        )
        self._update()
        self._conversions.observe(self._update, names="value")
        self._negatives.observe(self._update, names="value")

    def _update(self, change: dict[str, Any] | None = None) -> None:
        def of(chosen: tuple[tuple[str, str], ...], label: str) -> ClickSet | None:
            buttons = tuple(n for k, n in chosen if k == "button")
            links = tuple(n for k, n in chosen if k == "link")
            return ClickSet(buttons, links, label) if buttons or links else None

        self.value = {
            "conversions": of(self._conversions.value, "converted"),
            "negatives": of(self._negatives.value, "negative"),
        }
