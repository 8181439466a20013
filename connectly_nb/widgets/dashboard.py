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

import base64
import functools
import html
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from connectly_nb import metrics as M
from connectly_nb import plots as P
from connectly_nb._html import key_figures_html, pct
from connectly_nb.safety import mask_phone, write_safe_csv
from connectly_nb.tidy import Export, read_export
from connectly_nb.widgets.filters import FilterPanel

__all__ = ["Dashboard", "explore"]

TABS = ("Funnel", "Errors", "Engagement", "Buttons & links", "Variables", "Messages")
DPI = 80
_FLAGS = ("is_sent", "is_delivered", "is_read", "is_clicked", "is_failed", "is_opted_out")
#: Columns the views never show (the parsed clicks and variables are used instead).
_RAW_TEXT = (
    "button_clicks",
    "link_clicks",
    "input_variables",
    "output_variables",
    "cnt_session_id",
)


def _figure_output(fig: Figure, alt: str) -> dict[str, Any]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": alt},
        "metadata": {},
    }


def _html_output(markup: str) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "data": {"text/html": markup, "text/plain": "table"},
        "metadata": {},
    }


def _show(out: widgets.Output, *items: dict[str, Any]) -> None:
    out.outputs = tuple(items)


def _table(frame: pd.DataFrame, *, percent: tuple[str, ...] = (), max_rows: int = 30) -> str:
    """A DataFrame as escaped HTML, rates as percentages."""
    shown = frame.head(max_rows).copy()
    for c in shown.columns:
        if c in percent:
            shown[c] = shown[c].map(lambda v: pct(float(v)) if pd.notna(v) else "–")
        elif pd.api.types.is_timedelta64_dtype(shown[c]):
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else str(v).split(".")[0])
    markup = shown.to_html(index=False, escape=True, border=0, na_rep="")
    markup = f"<div style='overflow-x:auto;font-size:0.9em'>{markup}</div>"
    if len(frame) > max_rows:
        markup += f"<p><em>first {max_rows} of {len(frame):,} rows</em></p>"
    return markup


class Dashboard(widgets.VBox):
    """Explore an Export: filters, key figures, and tabs that follow the filters.

    Parameters
    ----------
    export : Export
    save_dir : path, optional
        Where "Save filtered CSV" writes (default: the current directory, that
        is next to the notebook).
    page_size : int
        Rows per page of the Messages tab.

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
        # what no selection can change: the six stage flags packed in 6 bits
        state = np.zeros(len(export.messages), dtype=np.int8)
        for bit, flag in enumerate(_FLAGS):
            state |= export.messages[flag].to_numpy().astype(np.int8) << bit
        self._state = state
        self._bits = (np.arange(64)[:, None] >> np.arange(len(_FLAGS))[None, :]) & 1

        # what the views need, without the raw JSON text: cheaper to cut per selection
        self._view = export._replace(messages=export.messages.drop(columns=list(_RAW_TEXT)))
        self.panel = FilterPanel(self._view)
        self.header = widgets.HTML()
        self.status = widgets.HTML()
        out = {
            name: widgets.Output()
            for name in (
                "funnel_chart",
                "funnel_table",
                "errors_chart",
                "errors_table",
                "engagement_chart",
                "latency_table",
                "buttons_chart",
                "buttons_table",
                "links_table",
                "variables_table",
                "segment_chart",
                "messages_table",
            )
        }
        self.outputs = out
        keys = sorted(
            str(k)
            for k in export.variables.loc[export.variables["direction"] == "input", "key"].unique()
        )
        self._segment_key = widgets.Dropdown(
            options=keys, description="Split by", value=keys[0] if keys else None
        )
        self._page = 0
        self._show_numbers = widgets.Checkbox(
            value=False, description="show phone numbers", indent=False
        )
        self._prev = widgets.Button(description="◀ previous", layout=widgets.Layout(width="auto"))
        self._next = widgets.Button(description="next ▶", layout=widgets.Layout(width="auto"))
        self._page_label = widgets.HTML()
        self._save = widgets.Button(
            description="Save filtered CSV", icon="download", layout=widgets.Layout(width="auto")
        )
        pages = [
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
        self.tabs = widgets.Tab(children=pages, titles=TABS)
        self._draw_tab: dict[int, Callable[[Export], None]] = dict(
            enumerate(
                (
                    self._draw_funnel,
                    self._draw_errors,
                    self._draw_engagement,
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
        self.panel.observe(self._on_filter, names="value")
        self.tabs.observe(self._on_tab, names="selected_index")
        self._segment_key.observe(self._on_segment_key, names="value")
        self._show_numbers.observe(self._on_page_option, names="value")
        self._prev.on_click(lambda _b: self._turn(-1))
        self._next.on_click(lambda _b: self._turn(+1))
        self._save.on_click(lambda _b: self.save_filtered())
        self._refresh()

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
        """Counts of the current selection: rows and each stage (no table is copied)."""
        cells = np.bincount(self._state[self.panel.mask], minlength=64)
        counts = cells @ self._bits
        out = {"rows": int(cells.sum())}
        for name, n in zip(
            ("sent", "delivered", "read", "clicked", "failed", "opted_out"), counts, strict=True
        ):
            out[name] = int(n)
        return out

    def key_figures_html(self) -> str:
        """The header: counts and rates, each rate with its denominator."""
        return key_figures_html(self.key_figures())

    # ------------------------------------------------------------ tabs

    def _figure(
        self, height: float, rows: int = 1, cols: int = 1, *, left: float | None = None
    ) -> tuple[Figure, Any]:
        """A Figure (no pyplot). With ``left``, fixed margins instead of the "tight"
        layout engine, whose extra drawing pass costs about a third of a redraw."""
        fig = Figure(figsize=(10, height), layout=None if left is not None else "tight")
        axes = fig.subplots(rows, cols)
        if left is not None:
            fig.subplots_adjust(
                left=left,
                right=0.97,
                top=1 - 0.45 / height,
                bottom=0.55 / height,
                hspace=0.9 / height * rows,
            )
        return fig, axes

    def _draw_funnel(self, ex: Export) -> None:
        f = M.funnel(ex)
        fig, ax = self._figure(4)  # rotated campaign names: let the layout engine fit them
        if len(f):
            P.plot_funnel(f, ax=ax)
        by_sendout = M.funnel(ex, by=["campaign_name", "sendout_id"])
        by_sendout["sendout_id"] = by_sendout["sendout_id"].astype(str).str[:8] + "…"
        cols = [
            "campaign_name",
            "sendout_id",
            "sent",
            "delivered",
            "read",
            "clicked",
            "failed",
            "opted_out",
            "delivery_rate",
            "read_rate",
            "click_rate",
            "opt_out_rate",
        ]
        _show(self.outputs["funnel_chart"], _figure_output(fig, "funnel chart"))
        _show(
            self.outputs["funnel_table"],
            _html_output(
                _table(
                    by_sendout[cols],
                    percent=("delivery_rate", "read_rate", "click_rate", "opt_out_rate"),
                )
            ),
        )

    def _draw_errors(self, ex: Export) -> None:
        e = M.errors(ex)
        fig, ax = self._figure(max(2.5, 0.35 * min(len(e), 10) + 1))
        if len(e):
            P.plot_errors(e, ax=ax)
        else:
            ax.set_axis_off()
            ax.set_title("No failures in this selection")
        _show(self.outputs["errors_chart"], _figure_output(fig, "errors chart"))
        _show(
            self.outputs["errors_table"],
            _html_output(_table(e, percent=("share_of_failed", "share_of_rows"))),
        )

    def _draw_engagement(self, ex: Export) -> None:
        fig, axes = self._figure(7.5, 2, 1, left=0.09)
        P.plot_timeline(M.timeline(ex), ax=axes[0])
        P.plot_activity_heatmap(M.activity_heatmap(ex, event="read"), ax=axes[1])
        lat = M.latency(ex, by=None).drop(columns="group")
        _show(self.outputs["engagement_chart"], _figure_output(fig, "engagement charts"))
        _show(
            self.outputs["latency_table"],
            _html_output("<h4>Time from sending (negative times left out)</h4>" + _table(lat)),
        )

    def _draw_clicks(self, ex: Export) -> None:
        b, ln = M.buttons(ex), M.links(ex)
        fig, axes = self._figure(4.5, 1, 2)
        P.plot_buttons(b, ax=axes[0])
        P.plot_links(ln, ax=axes[1])
        pct = ("share_of_delivered", "share_of_read")
        _show(self.outputs["buttons_chart"], _figure_output(fig, "button and link charts"))
        _show(
            self.outputs["buttons_table"], _html_output("<h4>Buttons</h4>" + _table(b, percent=pct))
        )
        _show(self.outputs["links_table"], _html_output("<h4>Links</h4>" + _table(ln, percent=pct)))

    def _draw_variables(self, ex: Export) -> None:
        _show(
            self.outputs["variables_table"],
            _html_output(_table(M.variables(ex), percent=("coverage",))),
        )
        self._draw_segment(ex)

    def _draw_segment(self, ex: Export) -> None:
        key = self._segment_key.value
        if key is None:
            _show(self.outputs["segment_chart"])
            return
        seg = M.segment(ex, key, top=12)
        fig, ax = self._figure(max(2.5, 0.35 * len(seg) + 1), left=0.3)
        P.plot_segment(seg, rate="click_rate", ax=ax)
        ax.set_title(f"Click rate by {key} (input variable)")
        _show(self.outputs["segment_chart"], _figure_output(fig, f"click rate by {key}"))

    def _draw_messages(self, ex: Export) -> None:
        m = ex.messages
        start = self._page * self.page_size
        page = m.iloc[start : start + self.page_size]
        ids = page["customer_external_id"]
        shown = pd.DataFrame(
            {
                "customer": ids if self._show_numbers.value else mask_phone(ids),
                "campaign": page["campaign_name"].astype(str),
                "sendout": page["sendout_id"].astype(str).str[:8] + "…",
                "sent_at": page["sent_at"].dt.strftime("%Y-%m-%d %H:%M"),
                "stage": page["stage"].astype(str),
                "error_code": page["error_code"].astype(object).fillna(""),
                "clicks": page["n_clicks"],
                "line": page["line"],
            }
        )
        _show(self.outputs["messages_table"], _html_output(_table(shown, max_rows=self.page_size)))
        last = min(start + self.page_size, len(m))
        self._page_label.value = html.escape(
            f"rows {start + 1 if len(m) else 0:,}–{last:,} of {len(m):,}"
        )

    # ------------------------------------------------------------ saving

    @_reporting
    def save_filtered(self) -> Path:
        """Write the selected messages as an Excel-safe CSV; returns the path."""
        folder = self.save_dir or Path.cwd()
        n = 1
        while (folder / f"connectly_filtered_{n}.csv").exists():
            n += 1
        selected = self.export._subset(self.panel.mask)  # with every column of the export
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
    **read_kwargs
        Passed to :func:`read_export` (``tz=``, ``dedupe=`` ...).
    """
    export = source if isinstance(source, Export) else read_export(source, **read_kwargs)
    return Dashboard(export)
