"""The explorer dashboard: filters, key figures and tabs of charts and tables.

The dashboard only composes: the filters (:mod:`connectly_nb.widgets.filters`)
say which messages, the views (:mod:`connectly_nb.widgets.views`) compute and
draw each tab, :mod:`connectly_nb.display` formats. It keeps the Export and its
derived arrays as plain attributes (never in synced traits). Charts are drawn
on :class:`matplotlib.figure.Figure` objects and shown as PNG in Output
widgets, so they render in JupyterLab, in exported HTML and under nbval
alike. Only the visible tab is redrawn on a filter change; the others when
they are opened. Errors in a callback (or in the first drawing) go to the
status line, never to a lost traceback.

It explores an Export or a store through a *source*
(:mod:`connectly_nb.widgets.sources`): on a store the filter choices, the key
figures and the Funnel, Trend and Errors tabs come from the cube; the
message-level tabs and the saved CSV from a small ``to_export`` of the
selection, loaded when such a tab is shown, or a note saying the selection is
too large.
"""

from __future__ import annotations

import functools
import html
import os
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from connectly_nb import display
from connectly_nb.datasets import load_or_sample
from connectly_nb.exceptions import SelectionTooLargeError
from connectly_nb.export import Export
from connectly_nb.safety import mask_columns, mask_phone, write_safe_csv
from connectly_nb.store import Store, is_store, open_store
from connectly_nb.widgets import views
from connectly_nb.widgets.filters import ConversionPicker, FilterPanel
from connectly_nb.widgets.sources import source_of
from connectly_nb.widgets.views import View, figure_output

__all__ = ["Dashboard", "explore"]

TABS = (
    "Funnel",
    "Trend",
    "Errors",
    "Engagement",
    "Buttons & links",
    "Variables",
    "Messages",
)
#: The tabs drawn from the selection's messages (on a store: a small ``to_export``).
MESSAGE_TABS = ("Engagement", "Buttons & links", "Variables", "Messages")
#: The Output widgets of each tab: (chart, tables).
_OUTPUTS = {
    "Funnel": ("funnel_chart", "funnel_table"),
    "Trend": ("trend_chart", "trend_table"),
    "Errors": ("errors_chart", "errors_table"),
    "Engagement": ("engagement_chart", "latency_table"),
    "Buttons & links": ("buttons_chart", "buttons_table"),
    "Variables": ("segment_chart", "variables_table"),
    "Messages": (None, "messages_table"),
}
#: Every Output widget of each tab (what a "selection too large" note replaces).
_TAB_OUTPUTS = {
    tab: tuple(o for o in (*pair, *(("links_table",) if tab == "Buttons & links" else ())) if o)
    for tab, pair in _OUTPUTS.items()
}
#: Text columns a saved CSV keeps as they are while phone numbers are hidden: ids of
#: Connectly's own objects, codes, file names. Every other text column is free text that
#: may hold a phone number or an email (error messages, clicks, variables, campaign names,
#: and any extra column a hand-edited export carries) and goes through ``mask_text``.
_NOT_PERSONAL = ("business_id", "sendout_id", "cnt_session_id", "error_code", "source")


def _free_text(frame: pd.DataFrame) -> list[str]:
    """The text columns of ``frame`` that may carry personal data (ids masked apart)."""
    return [
        c
        for c, dtype in frame.dtypes.items()
        if c not in (*_NOT_PERSONAL, "customer_external_id")
        and (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        )
    ]


#: Where "Save filtered CSV" writes, next to the notebook, unless told otherwise.
DOWNLOADS = "connectly_downloads"


def _html_output(markup: str) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "data": {"text/html": markup, "text/plain": "table"},
        "metadata": {},
    }


def _tables_html(view: View, *, max_rows: int = 30) -> str:
    note = f"<p><small>{html.escape(view.note)}</small></p>" if view.note else ""
    return note + "".join(
        (f"<h4>{html.escape(title)}</h4>" if title else "")
        + display.html_table(frame, columns=view.columns.get(title), max_rows=max_rows)
        for title, frame in view.tables.items()
    )


class Dashboard(widgets.VBox):
    """Explore an Export or a store: filters, key figures, and tabs that follow the filters.

    Parameters
    ----------
    export : Export or Store
        What to explore. On a :class:`~connectly_nb.store.Store` the filter
        choices, key figures and the Funnel, Trend and Errors tabs come from
        its cube; the message-level tabs (Engagement, Buttons & links,
        Variables, Messages) and "Save filtered CSV" load the selection with
        :meth:`~connectly_nb.store.Store.to_export` when shown, once per
        selection.
    save_dir : path, optional
        Where "Save filtered CSV" writes (default: a ``connectly_downloads``
        folder next to the notebook, served to the browser as a download).
    page_size : int
        Rows per page of the Messages tab.
    note : str, optional
        A line shown in the status bar when the dashboard opens.
    max_messages : int, optional
        On a store: the most messages loaded for the message-level tabs and
        the saved CSV (default 500,000, or the store's ``max_messages`` if
        smaller); a larger selection shows a note in those tabs instead.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).

    Attributes
    ----------
    export : Export or Store
        What is explored.
    source : Source
        What the dashboard asks for choices, counts and selections.
    panel : FilterPanel
        The filters; set ``dashboard.panel.controls["campaigns"].value`` etc.
        from code to drive the dashboard as a user's clicks would.
    conversions : ConversionPicker
        What counts as a conversion, and which buttons say "no".
    header, status : ipywidgets.HTML
        Key figures, and what the dashboard is doing or what went wrong.
    views : dict of str to View
        The last view drawn of each tab (its frames and Figure).
    last_redraw_ms : float
        Time of the last redraw of the visible tab.
    """

    def __init__(
        self,
        export: Export | Store,
        *,
        save_dir: str | os.PathLike[str] | None = None,
        page_size: int = 25,
        note: str = "",
        max_messages: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.export = export
        # the views need no raw JSON text: an Export's selections are cut without it
        self.source = source_of(export, max_messages=max_messages, lean=True)
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self.page_size = page_size
        self.last_redraw_ms = float("nan")
        self.views: dict[str, View] = {}
        self._page = 0
        self.panel = FilterPanel(self.source)
        self.conversions = ConversionPicker(self.source)
        self.header = widgets.HTML()
        self.status = widgets.HTML()
        self.outputs = {name: widgets.Output() for p in _OUTPUTS.values() for name in p if name}
        self.outputs["links_table"] = widgets.Output()
        self.outputs["download"] = widgets.Output()
        self._build_controls()
        self.tabs = widgets.Tab(children=self._pages(), titles=TABS)
        self._draw_tab = self._drawers()
        self._stale = set(self._draw_tab)
        super().__init__(children=self._layout(), **kwargs)
        self._connect()
        self._start(note)

    def _build_controls(self) -> None:
        """The segment key, the message pager, the phone-number switch and the save button."""
        self._segment_key = widgets.Dropdown(options=[], description="Split by")
        self._show_numbers = widgets.Checkbox(
            value=False, description="show phone numbers", indent=False
        )
        self._prev = widgets.Button(description="◀ previous", layout=widgets.Layout(width="auto"))
        self._next = widgets.Button(description="next ▶", layout=widgets.Layout(width="auto"))
        self._page_label = widgets.HTML()
        self._save = widgets.Button(
            description="Save filtered CSV", icon="download", layout=widgets.Layout(width="auto")
        )

    def _pages(self) -> list[widgets.Widget]:
        out = self.outputs
        return [
            widgets.VBox([out["funnel_chart"], out["funnel_table"]]),
            widgets.VBox([out["trend_chart"], out["trend_table"]]),
            widgets.VBox([out["errors_chart"], out["errors_table"]]),
            widgets.VBox([out["engagement_chart"], out["latency_table"]]),
            widgets.VBox([out["buttons_chart"], out["buttons_table"], out["links_table"]]),
            widgets.VBox([out["variables_table"], self._segment_key, out["segment_chart"]]),
            widgets.VBox(
                [widgets.HBox([self._prev, self._next, self._page_label]), out["messages_table"]]
            ),
        ]

    def _layout(self) -> list[widgets.Widget]:
        title = widgets.HTML("<h3 style='margin:0'>Connectly campaign explorer</h3>")
        more = widgets.Accordion(
            children=[self.conversions], titles=("What counts as a conversion",)
        )
        more.selected_index = None
        bottom = widgets.HBox([self._save, self._show_numbers, self.status])
        return [title, self.panel, more, self.header, self.tabs, bottom, self.outputs["download"]]

    def _drawers(self) -> dict[int, Callable[[Any], None]]:
        return dict(
            enumerate(
                (
                    functools.partial(self._put_with_clicks, "Funnel", views.funnel_view),
                    functools.partial(self._put_with_clicks, "Trend", views.trend_view),
                    functools.partial(self._put_private, "Errors", views.errors_view),
                    functools.partial(self._put, "Engagement", views.engagement_view),
                    self._draw_clicks,
                    self._draw_variables,
                    self._draw_messages,
                )
            )
        )

    def _connect(self) -> None:
        self.panel.observe(self._on_filter, names="value")
        self.conversions.observe(self._on_conversions, names="value")
        self.tabs.observe(self._on_tab, names="selected_index")
        self._segment_key.observe(self._on_segment_key, names="value")
        self._show_numbers.observe(self._on_page_option, names="value")
        self._prev.on_click(lambda _b: self._turn(-1))
        self._next.on_click(lambda _b: self._turn(+1))
        self._save.on_click(lambda _b: self.save_filtered())

    @property
    def _click_specs(self) -> dict[str, Any]:
        return dict(self.conversions.value)

    # ------------------------------------------------------------ callbacks

    @staticmethod
    def _reporting(method: Callable[..., Any]) -> Callable[..., Any]:
        """Run a callback; show what failed in the status line instead of losing it."""

        @functools.wraps(method)
        def run(self: Dashboard, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # shown to the user, not swallowed
                self._say(f"{type(exc).__name__}: {exc}", error=True)
                return None

        return run

    @_reporting
    def _start(self, note: str) -> None:
        self._on_conversions_now()
        self._refresh()  # a chart that fails shows in the status line: the dashboard opens
        if note:
            self._say(note)

    @_reporting
    def _on_filter(self, change: dict[str, Any]) -> None:
        self._page = 0
        self._stale = set(self._draw_tab)
        self._refresh()

    @_reporting
    def _on_conversions(self, change: dict[str, Any]) -> None:
        self._on_conversions_now()
        self._stale = set(self._draw_tab)
        self._refresh()

    def _on_conversions_now(self) -> None:
        self.source.choose_clicks(self._click_specs)

    @_reporting
    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] in self._stale:
            self._redraw(change["new"])

    @_reporting
    def _on_segment_key(self, change: dict[str, Any]) -> None:
        ex = self._data_for("Variables")
        if ex is not None:
            self._draw_segment(ex)

    @_reporting
    def _on_page_option(self, change: dict[str, Any]) -> None:
        # every tab that shows free text follows the switch: redraw the visible one now
        self._stale = set(self._draw_tab)
        self._redraw(self.tabs.selected_index or 0)

    @_reporting
    def _turn(self, step: int) -> None:
        n = self.source.count(self.panel.value)
        last = max((n - 1) // self.page_size, 0)
        self._page = int(np.clip(self._page + step, 0, last))
        ex = self._data_for("Messages")
        if ex is not None:
            self._draw_messages(ex)

    def _refresh(self) -> None:
        self.header.value = self.key_figures_html()
        self._redraw(self.tabs.selected_index or 0)

    def _redraw(self, index: int) -> None:
        start = time.perf_counter()
        try:
            data = self._data_for(TABS[index])
            if data is not None:
                self._draw_tab[index](data)
        except Exception:
            # never the last selection's chart under the new header; tried again when opened
            for name in _TAB_OUTPUTS[TABS[index]]:
                self.outputs[name].outputs = ()
            raise
        self._stale.discard(index)
        self.last_redraw_ms = (time.perf_counter() - start) * 1000
        n = self.source.count(self.panel.value)
        self._say(f"{n:,} of {self.source.total:,} messages selected ({TABS[index]}).")

    def _data_for(self, tab: str) -> Export | Store | None:
        """What a tab draws: the selection as measured, or its messages (None: too many)."""
        if tab not in MESSAGE_TABS:
            return self.panel.filtered
        try:
            return self.source.messages(self.panel.value)
        except SelectionTooLargeError as exc:
            self._too_large(tab, exc)
            return None

    def _too_large(self, tab: str, exc: SelectionTooLargeError) -> None:
        """In place of a message-level tab: how many messages, and to narrow the selection."""
        self.views.pop(tab, None)
        first, *rest = _TAB_OUTPUTS[tab]
        for name in rest:
            self.outputs[name].outputs = ()
        markup = display.selection_too_large_html(exc.count, exc.limit)
        self.outputs[first].outputs = (_html_output(markup),)
        if tab == "Messages":
            self._page_label.value = ""

    def _say(self, text: str, *, error: bool = False, markup: str = "") -> None:
        colour = "#b00020" if error else "#555"
        self.status.value = (
            f"<span class='{display.NO_MATH}' style='color:{colour}'>{html.escape(text)}"
            f"{markup}</span>"
        )

    # ------------------------------------------------------------ key figures

    def key_figures(self) -> dict[str, int]:
        """Counts of the current selection: rows and each stage (no table is copied).

        Returns
        -------
        dict of str to int
            ``rows``, ``sent``, ``delivered``, ``read``, ``clicked``, ``failed``,
            ``opted_out``; ``converted`` and ``negative`` when conversions and
            refusals are chosen.
        """
        return self.source.key_figures(self.panel.value)

    def key_figures_html(self) -> str:
        """The header: counts and rates, each rate with its denominator.

        Returns
        -------
        str
            HTML.
        """
        return display.key_figures_html(self.key_figures())

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, and what a notebook opened without running shows in its place."""
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        k = self.key_figures()
        bundle["text/plain"] = (
            f"Connectly campaign explorer: {k['rows']:,} messages, {k['sent']:,} sent, "
            f"{k['delivered']:,} delivered, {k['read']:,} read, {k['clicked']:,} clicked "
            "(run the cell to explore)"
        )
        bundle["text/html"] = (
            "<p><strong>Connectly campaign explorer</strong> (run the cell to explore)</p>"
            + self.key_figures_html()
        )
        return bundle

    # ------------------------------------------------------------ tabs

    def _put(self, tab: str, make: Callable[[Any], View], ex: Export | Store) -> None:
        """Compute a tab's view and show it in the tab's Output widgets."""
        self._show(tab, make(ex))

    def _put_private(self, tab: str, make: Callable[..., View], ex: Export | Store) -> None:
        self._show(tab, make(ex, show_phone_numbers=self._show_numbers.value))

    def _put_with_clicks(self, tab: str, make: Callable[..., View], ex: Export | Store) -> None:
        self._show(tab, make(ex, **self._click_specs))

    def _show(self, tab: str, view: View) -> None:
        self.views[tab] = view
        chart, tables = _OUTPUTS[tab]
        if chart is not None:
            items = (figure_output(view.figure, view.alt),) if view.figure is not None else ()
            self.outputs[chart].outputs = items
        self.outputs[tables].outputs = (_html_output(_tables_html(view)),)

    def _draw_clicks(self, ex: Export) -> None:
        view = views.clicks_view(ex, show_phone_numbers=self._show_numbers.value)
        self.views["Buttons & links"] = view
        self.outputs["buttons_chart"].outputs = (figure_output(view.figure, view.alt),)
        for output, heading in (("buttons_table", "Buttons"), ("links_table", "Links")):
            part = View(None, {heading: view.tables[heading]}, columns=view.columns)
            self.outputs[output].outputs = (_html_output(_tables_html(part)),)

    def _draw_variables(self, ex: Export) -> None:
        view = views.variables_view(ex, show_phone_numbers=self._show_numbers.value)
        self.views["Variables"] = view
        self.outputs["variables_table"].outputs = (_html_output(_tables_html(view)),)
        # the keys: known once the variables are read (on a store, those of the selection)
        keys = self.source.input_keys(ex)
        if list(self._segment_key.options) != keys:
            # the key chosen before if still offered, else the first; a new value draws
            before = self._segment_key.value
            wanted = before if before in keys else (keys[0] if keys else None)
            self._segment_key.options = keys
            if self._segment_key.value != wanted:
                self._segment_key.value = wanted
                return
            if self._segment_key.value != before:
                return  # the options set the value, which drew it
        self._draw_segment(ex)

    def _draw_segment(self, ex: Export) -> None:
        key = self._segment_key.value
        if key is None:
            self.outputs["segment_chart"].outputs = ()
            return
        view = views.segment_view(ex, key, show_phone_numbers=self._show_numbers.value)
        self.views["Segment"] = view
        self.outputs["segment_chart"].outputs = (figure_output(view.figure, view.alt),)

    def _draw_messages(self, ex: Export) -> None:
        view, label = views.messages_view(
            ex,
            page=self._page,
            page_size=self.page_size,
            show_phone_numbers=self._show_numbers.value,
        )
        self.views["Messages"] = view
        self.outputs["messages_table"].outputs = (
            _html_output(_tables_html(view, max_rows=self.page_size)),
        )
        self._page_label.value = html.escape(label)

    # ------------------------------------------------------------ saving

    @_reporting
    def save_filtered(self) -> Path | None:
        """Write the selected messages as an Excel-safe CSV and offer it as a download.

        The file is ``connectly_filtered_<n>.csv`` in ``save_dir`` (by default
        ``connectly_downloads/`` next to the notebook), ``n`` the first number
        not taken, written by :func:`~connectly_nb.safety.write_safe_csv`
        with every column of the export. Phone numbers are masked unless
        "show phone numbers" is ticked. The status line shows the progress
        (chunk by chunk: :data:`~connectly_nb.safety.CHUNK_ROWS` rows), then what
        was saved; a link under the dashboard downloads it through the browser
        (see :meth:`_offer` for when no link can).

        Returns
        -------
        pathlib.Path or None
            The file written; ``None`` when writing failed (the error is shown
            in the status line, not raised).
        """
        count = self.source.count(self.panel.value)
        self._say(f"Saving {count:,} messages…")
        try:
            selected = self.source.whole(self.panel.value)  # with every column of the export
        except SelectionTooLargeError as exc:  # a store's selection: nothing written
            self._say(
                f"Not saved: this selection holds {exc.count:,} messages, more than the "
                f"{exc.limit:,} a save loads. Narrow it (campaigns, sendouts, error codes or "
                "fewer days) and save again.",
                error=True,
            )
            return None
        folder = self.save_dir or Path.cwd() / DOWNLOADS
        folder.mkdir(parents=True, exist_ok=True)
        if self.save_dir is None and not (folder / ".gitignore").exists():
            (folder / ".gitignore").write_text("*\n")  # downloads are never committed
        n = 1
        while (folder / f"connectly_filtered_{n}.csv").exists():
            n += 1
        masked = not self._show_numbers.value
        if masked:  # the ids, and phone numbers or emails inside free text
            self._say(f"Saving {count:,} messages: masking phone numbers and emails…")
            m = selected.messages
            m = mask_columns(
                m.assign(customer_external_id=mask_phone(m["customer_external_id"])),
                _free_text(m),
            )
            selected = selected.replace(messages=m)
        path = write_safe_csv(
            selected,
            folder / f"connectly_filtered_{n}.csv",
            progress=False,  # tqdm's bar would go to the log console from a callback
            on_chunk=lambda done, rows: self._say(
                f"Saving {count:,} messages: {done:,} written ({done / max(rows, 1):.0%})…"
            ),
        )
        self._offer(path, count, masked)
        return path

    def _offer(self, path: Path, count: int, masked: bool) -> None:
        """Say what was saved, and put a download link under the dashboard.

        JupyterLab resolves a relative link in an output against the
        notebook's folder (where it starts the kernel: the working directory)
        and serves the file through its ``/files/`` handler, which refuses
        hidden files and folders. A ``file://`` link is refused by browsers
        from an http page, and the kernel cannot tell which folders above its
        own the server shares. So the link is relative (URL-quoted), and only
        offered for a file under the working directory with no hidden folder on
        the way; otherwise the line says plainly where the file is.
        """
        what = "phone numbers and emails masked" if masked else "phone numbers in full"
        size = path.stat().st_size
        self._say(f"Saved {count:,} messages ({what}, {size / 1e6:.1f} MB) to {path}.")
        here = Path.cwd().resolve()
        try:
            relative = path.resolve().relative_to(here)
        except ValueError:
            relative = None
        if relative is None or any(part.startswith(".") for part in relative.parts):
            why = (
                "it is outside the notebook's folder"
                if relative is None
                else "JupyterLab does not serve hidden folders"
            )
            note = (
                f"No download link for {path}: {why} ({here}). Open it from there, or save "
                "inside the notebook's folder (Dashboard(..., save_dir=...))."
            )
            self.outputs["download"].outputs = (
                _html_output(f"<span class='{display.NO_MATH}'>{html.escape(note)}</span>"),
            )
            return
        href = urllib.parse.quote(relative.as_posix())
        link = (
            f"<a href='{html.escape(href, quote=True)}' download='{html.escape(path.name)}'>"
            f"⬇ Download {html.escape(path.name)}</a> ({count:,} messages, {what})"
        )
        self.outputs["download"].outputs = (_html_output(link),)


def explore(
    source: Export | Store | Any = None,
    *,
    max_messages: int | None = None,
    save_dir: str | os.PathLike[str] | None = None,
    page_size: int = 25,
    **read_kwargs: Any,
) -> Dashboard:
    """Load an export (or open a store) if needed and return its dashboard.

    The first line an analyst types: ``explore("campaign_report.csv")`` as
    the last line of a cell shows the dashboard; ``explore()`` opens the
    bundled sample and says so; ``explore(store)`` or ``explore("history/")``
    (a folder holding a store's ``manifest.json``) explores a store of daily
    reports from its cube.

    Parameters
    ----------
    source : Export, Store, a store's path, what :func:`~connectly_nb.read_export` reads, or None
        What to explore; ``None`` for the bundled sample.
    max_messages : int, optional
        On a store: the most messages loaded for the message-level tabs (see
        :class:`Dashboard`).
    save_dir, page_size
        As for :class:`Dashboard`.
    **read_kwargs
        Passed to :func:`read_export` (``tz=``, ``dedupe=`` ...), or to
        :func:`~connectly_nb.store.open_store` for a store's path (``tz=``,
        ``client=``, ``use_cube=``); refused when ``source`` is already an
        Export or a Store (it is loaded: they would change nothing).

    Returns
    -------
    Dashboard
        Shown by Jupyter when it is a cell's last value.

    Raises
    ------
    ExportFormatError, ExportNotFoundError, TimeZoneError
        As for :func:`~connectly_nb.read.read_export`.
    TypeError
        Loading options given with an Export or a Store.

    Examples
    --------
    >>> from connectly_nb.store import open_store
    >>> dash = explore(open_store("history/"))  # doctest: +SKIP
    """
    board = {"max_messages": max_messages, "save_dir": save_dir, "page_size": page_size}
    if isinstance(source, Export | Store):
        if read_kwargs:
            raise TypeError(
                f"explore() got loading options ({', '.join(f'{k}=' for k in read_kwargs)}) "
                f"with a {type(source).__name__} that is already loaded: pass them where it "
                "is loaded (read_export or open_store)"
            )
        return Dashboard(source, **board)
    if is_store(source):
        return Dashboard(open_store(source, **read_kwargs), **board)
    note = (
        "No export given: this is the bundled sample. Pass your file: "
        "explore('campaign_report.csv')."
        if source is None
        else ""
    )
    return Dashboard(load_or_sample(source, **read_kwargs), note=note, **board)
