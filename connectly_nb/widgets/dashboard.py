"""The explorer dashboard: filters, key figures and tabs of charts and tables.

The dashboard keeps the Export and its derived arrays as plain attributes
(never in synced traits) and redraws through :mod:`connectly_nb.metrics` and
:mod:`connectly_nb.plots`. Charts are drawn on :class:`matplotlib.figure.Figure`
objects (no pyplot state) and shown as PNG in Output widgets, so they render
in JupyterLab, in exported HTML and under nbval alike. Only the visible tab is
redrawn on a filter change; the others when they are opened. Errors in a
callback go to the status line, never to a lost traceback.
"""

from __future__ import annotations

import functools
import html
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np

from connectly_nb import display
from connectly_nb._stages import key_figures, stage_bits
from connectly_nb.export import Export
from connectly_nb.read import read_export
from connectly_nb.safety import write_safe_csv
from connectly_nb.widgets import views
from connectly_nb.widgets.filters import FilterPanel
from connectly_nb.widgets.views import View, figure_output

__all__ = ["Dashboard", "explore"]

TABS = ("Funnel", "Errors", "Engagement", "Buttons & links", "Variables", "Messages")
#: Columns the views never show (the parsed clicks and variables are used instead).
_RAW_TEXT = (
    "button_clicks",
    "link_clicks",
    "input_variables",
    "output_variables",
    "cnt_session_id",
)
#: The Output widgets of each tab: (chart, tables).
_OUTPUTS = {
    "Funnel": ("funnel_chart", "funnel_table"),
    "Errors": ("errors_chart", "errors_table"),
    "Engagement": ("engagement_chart", "latency_table"),
    "Buttons & links": ("buttons_chart", "buttons_table"),
    "Variables": ("segment_chart", "variables_table"),
    "Messages": (None, "messages_table"),
}


def _html_output(markup: str) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "data": {"text/html": markup, "text/plain": "table"},
        "metadata": {},
    }


def _tables_html(view: View, *, max_rows: int = 30) -> str:
    return "".join(
        (f"<h4>{html.escape(title)}</h4>" if title else "")
        + display.html_table(frame, max_rows=max_rows)
        for title, frame in view.tables.items()
    )


class Dashboard(widgets.VBox):
    """Explore an Export: filters, key figures, and tabs that follow the filters.

    Parameters
    ----------
    export : Export
        The export to explore.
    save_dir : path, optional
        Where "Save filtered CSV" writes (default: the current directory, that
        is next to the notebook).
    page_size : int
        Rows per page of the Messages tab.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=`` ...).

    Attributes
    ----------
    panel : FilterPanel
        The filters; set ``dashboard.panel.controls["campaigns"].value`` etc.
        from code to drive the dashboard as a user's clicks would.
    header, status : ipywidgets.HTML
        Key figures, and what the dashboard is doing or what went wrong.
    last_redraw_ms : float
        Time of the last redraw of the visible tab.
    """

    def __init__(
        self,
        export: Export,
        *,
        save_dir: str | os.PathLike[str] | None = None,
        page_size: int = 25,
        **kwargs: Any,
    ) -> None:
        self.export = export
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self.page_size = page_size
        self.last_redraw_ms = float("nan")
        self.views: dict[str, View] = {}
        self._bits = stage_bits(export.messages)  # what no selection changes
        self._page = 0
        # what the views need, without the raw JSON text: cheaper to cut per selection
        self._view = export.replace(messages=export.messages.drop(columns=list(_RAW_TEXT)))
        self.panel = FilterPanel(self._view)
        self.header = widgets.HTML()
        self.status = widgets.HTML()
        self.outputs = {
            name: widgets.Output() for pair in _OUTPUTS.values() for name in pair if name
        }
        self.outputs["links_table"] = widgets.Output()
        self._build_controls(export)
        self.tabs = widgets.Tab(children=self._pages(), titles=TABS)
        self._draw_tab: dict[int, Callable[[Export], None]] = dict(
            enumerate(
                (
                    functools.partial(self._put, "Funnel", views.funnel_view),
                    functools.partial(self._put, "Errors", views.errors_view),
                    functools.partial(self._put, "Engagement", views.engagement_view),
                    self._draw_clicks,
                    self._draw_variables,
                    self._draw_messages,
                )
            )
        )
        self._stale = set(self._draw_tab)
        title = widgets.HTML("<h3 style='margin:0'>Connectly campaign explorer</h3>")
        super().__init__(
            children=[
                title,
                self.panel,
                self.header,
                self.tabs,
                widgets.HBox([self._save, self.status]),
            ],
            **kwargs,
        )
        self._connect()
        self._refresh()

    def _build_controls(self, export: Export) -> None:
        """The segment key, the message pager, the phone-number switch and the save button."""
        v = export.variables
        keys = sorted(str(k) for k in v.loc[v["direction"] == "input", "key"].unique())
        self._segment_key = widgets.Dropdown(
            options=keys, description="Split by", value=keys[0] if keys else None
        )
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
            widgets.VBox([out["errors_chart"], out["errors_table"]]),
            widgets.VBox([out["engagement_chart"], out["latency_table"]]),
            widgets.VBox([out["buttons_chart"], out["buttons_table"], out["links_table"]]),
            widgets.VBox([out["variables_table"], self._segment_key, out["segment_chart"]]),
            widgets.VBox(
                [
                    widgets.HBox([self._prev, self._next, self._page_label, self._show_numbers]),
                    out["messages_table"],
                ]
            ),
        ]

    def _connect(self) -> None:
        self.panel.observe(self._on_filter, names="value")
        self.tabs.observe(self._on_tab, names="selected_index")
        self._segment_key.observe(self._on_segment_key, names="value")
        self._show_numbers.observe(self._on_page_option, names="value")
        self._prev.on_click(lambda _b: self._turn(-1))
        self._next.on_click(lambda _b: self._turn(+1))
        self._save.on_click(lambda _b: self.save_filtered())

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
    def _on_filter(self, change: dict[str, Any]) -> None:
        self._page = 0
        self._stale = set(self._draw_tab)
        self._refresh()

    @_reporting
    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] in self._stale:
            self._redraw(change["new"])

    @_reporting
    def _on_segment_key(self, change: dict[str, Any]) -> None:
        self._draw_segment(self.panel.filtered)

    @_reporting
    def _on_page_option(self, change: dict[str, Any]) -> None:
        self._draw_messages(self.panel.filtered)

    @_reporting
    def _turn(self, step: int) -> None:
        n = int(self.panel.mask.sum())
        last = max((n - 1) // self.page_size, 0)
        self._page = int(np.clip(self._page + step, 0, last))
        self._draw_messages(self.panel.filtered)

    def _refresh(self) -> None:
        self.header.value = self.key_figures_html()
        self._redraw(self.tabs.selected_index or 0)

    def _redraw(self, index: int) -> None:
        start = time.perf_counter()
        self._draw_tab[index](self.panel.filtered)
        self._stale.discard(index)
        self.last_redraw_ms = (time.perf_counter() - start) * 1000
        n = int(self.panel.mask.sum())
        self._say(f"{TABS[index]}: {n:,} messages selected.")

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#555"
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    # ------------------------------------------------------------ key figures

    def key_figures(self) -> dict[str, int]:
        """Counts of the current selection: rows and each stage (no table is copied).

        Returns
        -------
        dict of str to int
            ``rows``, ``sent``, ``delivered``, ``read``, ``clicked``, ``failed``,
            ``opted_out``.
        """
        return key_figures(self._bits, self.panel.mask)

    def key_figures_html(self) -> str:
        """The header: counts and rates, each rate with its denominator.

        Returns
        -------
        str
            HTML.
        """
        return display.key_figures_html(self.key_figures())

    # ------------------------------------------------------------ tabs

    def _put(self, tab: str, make: Callable[[Export], View], ex: Export) -> None:
        """Compute a tab's view and show it in the tab's Output widgets."""
        view = make(ex)
        self.views[tab] = view
        chart, tables = _OUTPUTS[tab]
        if chart is not None:
            items = (figure_output(view.figure, view.alt),) if view.figure is not None else ()
            self.outputs[chart].outputs = items
        self.outputs[tables].outputs = (_html_output(_tables_html(view)),)

    def _draw_clicks(self, ex: Export) -> None:
        view = views.clicks_view(ex)
        self.views["Buttons & links"] = view
        self.outputs["buttons_chart"].outputs = (figure_output(view.figure, view.alt),)
        for output, heading in (("buttons_table", "Buttons"), ("links_table", "Links")):
            part = View(None, {heading: view.tables[heading]})
            self.outputs[output].outputs = (_html_output(_tables_html(part)),)

    def _draw_variables(self, ex: Export) -> None:
        view = views.variables_view(ex)
        self.views["Variables"] = view
        self.outputs["variables_table"].outputs = (_html_output(_tables_html(view)),)
        self._draw_segment(ex)

    def _draw_segment(self, ex: Export) -> None:
        key = self._segment_key.value
        if key is None:
            self.outputs["segment_chart"].outputs = ()
            return
        view = views.segment_view(ex, key)
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
    def save_filtered(self) -> Path:
        """Write the selected messages as an Excel-safe CSV; returns the path.

        The file is ``connectly_filtered_<n>.csv`` in ``save_dir``, ``n`` the
        first number not taken, written by
        :func:`~connectly_nb.safety.write_safe_csv` with every column of the
        export. The status line says what was saved.

        Returns
        -------
        pathlib.Path or None
            The file written; ``None`` when writing failed (the error is shown
            in the status line, not raised).
        """
        folder = self.save_dir or Path.cwd()
        n = 1
        while (folder / f"connectly_filtered_{n}.csv").exists():
            n += 1
        selected = self.export.subset(self.panel.mask)  # with every column of the export
        path = write_safe_csv(selected, folder / f"connectly_filtered_{n}.csv")
        self._say(f"Saved {int(self.panel.mask.sum()):,} messages to {path}")
        return path


def explore(source: Export | Any, **read_kwargs: Any) -> Dashboard:
    """Load an export if needed and return its dashboard.

    The first line an analyst types: ``explore("campaign_report.csv")`` as
    the last line of a cell shows the dashboard.

    Parameters
    ----------
    source : Export, or anything :func:`connectly_nb.read_export` reads
        What to explore.
    **read_kwargs
        Passed to :func:`read_export` (``tz=``, ``dedupe=`` ...); unused when
        ``source`` is already an Export.

    Returns
    -------
    Dashboard
        Shown by Jupyter when it is a cell's last value.

    Raises
    ------
    ExportFormatError, ExportNotFoundError, TimeZoneError
        As for :func:`~connectly_nb.read.read_export`.
    """
    export = source if isinstance(source, Export) else read_export(source, **read_kwargs)
    return Dashboard(export)
