"""What each tab of the dashboard shows: an Export in, tables and a Figure out.

One function per tab, no widgets: each takes a (filtered) Export and returns
a :class:`View` holding the result frames it shows and the matplotlib
:class:`~matplotlib.figure.Figure` it draws (object API, no pyplot state).
The :class:`~connectly_nb.widgets.dashboard.Dashboard` only puts views into
Output widgets; tests call these functions and check the numbers drawn.
The Funnel, Trend and Errors views take a (filtered)
:class:`~connectly_nb.store.Store` as well: their metrics answer from its cube.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from connectly_nb import display
from connectly_nb import metrics as M
from connectly_nb import plots as P
from connectly_nb.conversions import ClickSet
from connectly_nb.display import short_id
from connectly_nb.export import Export
from connectly_nb.safety import mask_columns
from connectly_nb.store import Store

__all__ = [
    "DPI",
    "View",
    "clicks_view",
    "engagement_view",
    "errors_view",
    "figure_png",
    "funnel_view",
    "messages_view",
    "segment_view",
    "trend_view",
    "variables_view",
]

DPI = 80


@dataclass
class View:
    """What one tab shows.

    Parameters
    ----------
    figure : matplotlib.figure.Figure or None
        The chart(s), or None when the tab has none.
    tables : dict of str to pandas.DataFrame, optional
        Result frames, by heading ("" for none), in the order shown; none by
        default.
    alt : str, default ""
        A text description of the figure.
    columns : dict of str to list of str, optional
        For a table, the columns that matter (the others are shown on demand).
    note : str, default ""
        A sentence saying what is shown (which clicks count as a conversion ...).
    """

    figure: Figure | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    alt: str = ""
    columns: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


def new_figure(
    height: float, rows: int = 1, cols: int = 1, *, left: float | None = None
) -> tuple[Figure, Any]:
    """A Figure (no pyplot) 10 inches wide and its Axes.

    With ``left``, fixed margins instead of the "tight" layout engine, whose
    extra drawing pass costs about a third of a redraw.

    Parameters
    ----------
    height : float
        Height in inches.
    rows, cols : int, default 1
        The grid of Axes (``Figure.subplots``).
    left : float, optional
        The left margin as a fraction of the width; the other margins are
        fixed too. By default the "tight" layout engine places everything.

    Returns
    -------
    figure : matplotlib.figure.Figure
        The new Figure, not registered with pyplot.
    axes : matplotlib.axes.Axes or numpy.ndarray of Axes
        One Axes for a 1 x 1 grid, else an array of them.
    """
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


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes at :data:`DPI`.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def figure_output(fig: Figure, alt: str) -> dict[str, Any]:
    """A display_data output holding the figure as PNG (for ``Output.outputs``).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render (:func:`figure_png`).
    alt : str
        The output's ``text/plain`` form: a text description of the figure.

    Returns
    -------
    dict
        A Jupyter ``display_data`` output: ``output_type``, ``data`` (base64
        PNG and text) and ``metadata``.
    """
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(figure_png(fig)).decode(), "text/plain": alt},
        "metadata": {},
    }


_RATE_COLUMNS = ("delivery_rate", "read_rate", "click_rate")


def _clicks_note(conversions: Any, negatives: Any) -> str:
    """Which clicks the numbers count: said on every view that shows them."""
    spec = ClickSet.of(conversions)
    note = "Clicked counts every click. "
    if spec is not None:
        note += f"Converted counts {spec.describe()}. "
    neg = ClickSet.of(negatives, label="negative")
    if neg is not None:
        note += f"Said no counts {neg.describe()}."
    return note.strip()


def funnel_view(ex: Export | Store, *, conversions: Any = None, negatives: Any = None) -> View:
    """The funnel per campaign (chart) and per sendout (table).

    Parameters
    ----------
    ex : Export or Store
        The (filtered) export or store the tab shows.
    conversions, negatives : optional
        As for :func:`connectly_nb.metrics.funnel`.

    Returns
    -------
    View
        The per-campaign chart (the largest campaigns, the rest as "others")
        and the per-sendout table, its key columns first.
    """
    f = M.funnel(ex, conversions=conversions, negatives=negatives)
    shown = min(len(f), 10)
    fig, ax = new_figure(1.4 + 0.45 * max(shown, 1))
    P.plot_funnel(f, ax=ax)
    by_sendout = M.funnel(
        ex, by=["campaign_name", "sendout_id"], conversions=conversions, negatives=negatives
    )
    by_sendout["sendout_id"] = by_sendout["sendout_id"].map(short_id).astype(object)
    counts = [c for c in ("converted", "negative") if c in by_sendout]
    rates = [r for r in ("conversion_rate", "negative_rate") if r in by_sendout]
    columns = [
        "campaign_name",
        "sendout_id",
        "sent",
        "delivered",
        "read",
        "clicked",
        *counts,
        *_RATE_COLUMNS,
        *rates,
        "opt_out_rate",
    ]
    return View(
        fig,
        {"": by_sendout},
        "funnel chart",
        columns={"": columns},
        note=_clicks_note(conversions, negatives),
    )


def trend_view(ex: Export | Store, *, conversions: Any = None, negatives: Any = None) -> View:
    """Is it getting better or worse: read and click (or conversion) rate per sendout over time.

    Parameters
    ----------
    ex : Export or Store
        The (filtered) export or store the tab shows.
    conversions, negatives : optional
        As for :func:`connectly_nb.metrics.funnel`.

    Returns
    -------
    View
        Two charts side by side and the per-sendout table in time order.
    """
    t = M.trend(ex, conversions=conversions, negatives=negatives)
    second = "conversion_rate" if "conversion_rate" in t else "click_rate"
    fig, axes = new_figure(4, 1, 2)
    P.plot_trend(t, rate="read_rate", ax=axes[0])
    P.plot_trend(t, rate=second, ax=axes[1])
    t["sendout_id"] = t["sendout_id"].map(short_id).astype(object)
    columns = ["first_sent", "campaign_name", "sendout_id", "sent", "read_rate", second]
    return View(
        fig,
        {"": t},
        "trend charts",
        columns={"": columns},
        note=_clicks_note(conversions, negatives),
    )


def _private(frame: pd.DataFrame, show_phone_numbers: bool, columns: tuple[str, ...]) -> Any:
    return frame if show_phone_numbers else mask_columns(frame, columns)


def errors_view(ex: Export | Store, *, show_phone_numbers: bool = False) -> View:
    """Failures per error code: chart and table.

    Parameters
    ----------
    ex : Export or Store
        The (filtered) export or store the tab shows.
    show_phone_numbers : bool
        Show the error messages as written (phone numbers and emails in them
        masked by default).

    Returns
    -------
    View
        The top codes' chart (or a note when nothing failed) and the table of
        :func:`~connectly_nb.metrics.errors`.
    """
    e = M.errors(ex)
    fig, ax = new_figure(max(2.5, 0.35 * min(len(e), 10) + 1))
    P.plot_errors(e, ax=ax)
    if e.empty:
        ax.set_title("No failures in this selection")
    columns = ["error_code", "count", "share_of_failed", "title", "retry"]
    e = _private(e, show_phone_numbers, ("top_error_msg",))
    return View(fig, {"": e}, "errors chart", columns={"": columns})


def engagement_view(ex: Export) -> View:
    """The timeline since sending, the read heatmap, and the latency table.

    Parameters
    ----------
    ex : Export
        The (filtered) export the tab shows.

    Returns
    -------
    View
        Two charts, one above the other, and the overall latency table.
    """
    fig, axes = new_figure(7.5, 2, 1, left=0.09)
    P.plot_timeline(M.timeline(ex), ax=axes[0])
    P.plot_activity_heatmap(M.activity_heatmap(ex, event="read"), ax=axes[1])
    lat = M.latency(ex, by=None).drop(columns="group")
    title = "Time from sending (events stamped before the send left out)"
    return View(
        fig, {title: lat}, "engagement charts", columns={title: ["stage", "n", "median", "p90"]}
    )


def clicks_view(ex: Export, *, show_phone_numbers: bool = False) -> View:
    """Buttons and links: charts and tables.

    Parameters
    ----------
    ex : Export
        The (filtered) export the tab shows.
    show_phone_numbers : bool
        Show link URLs as written (phone numbers and emails in them masked by
        default: ``...?phone=+55...``).

    Returns
    -------
    View
        The two charts side by side and the tables of
        :func:`~connectly_nb.metrics.buttons` and :func:`~connectly_nb.metrics.links`.
    """
    b = _private(M.buttons(ex), show_phone_numbers, ("name", "id"))  # "Ligar +55 ..."
    ln = _private(M.links(ex), show_phone_numbers, ("name", "id"))
    fig, axes = new_figure(4.5, 1, 2)
    P.plot_buttons(b, ax=axes[0])
    P.plot_links(ln, ax=axes[1])
    columns = ["name", "clicks", "unique_clickers", "share_of_delivered", "median_time_to_click"]
    return View(
        fig,
        {"Buttons": b, "Links": ln},
        "button and link charts",
        columns={"Buttons": columns, "Links": columns},
    )


def variables_view(ex: Export, *, show_phone_numbers: bool = False) -> View:
    """The variables seen, with coverage and top values.

    Parameters
    ----------
    ex : Export
        The (filtered) export the tab shows.
    show_phone_numbers : bool
        Show the values as written (phone numbers and emails in them masked
        by default).

    Returns
    -------
    View
        No figure; the table of :func:`~connectly_nb.metrics.variables`.
    """
    v = _private(M.variables(ex), show_phone_numbers, ("top_values",))
    return View(None, {"": v}, columns={"": ["direction", "key", "coverage", "top_values"]})


def segment_view(ex: Export, key: str, *, show_phone_numbers: bool = False) -> View:
    """Click rate by the values of one input variable.

    Parameters
    ----------
    ex : Export
        The (filtered) export the tab shows.
    key : str
        The input variable to split by (``"city"`` ...).
    show_phone_numbers : bool
        Label the values as written (phone numbers and emails in them masked
        by default).

    Returns
    -------
    View
        The chart of :func:`~connectly_nb.plots.plot_segment` and no table.
    """
    seg = _private(M.segment(ex, key, top=12), show_phone_numbers, ("value",))
    fig, ax = new_figure(max(2.5, 0.35 * len(seg) + 1), left=0.3)
    P.plot_segment(seg, rate="click_rate", ax=ax)
    ax.set_title(P.plain(f"Click rate by {key} (input variable)"))
    return View(fig, {}, f"click rate by {key}")


def messages_view(
    ex: Export, *, page: int, page_size: int, show_phone_numbers: bool
) -> tuple[View, str]:
    """One page of messages, and the line saying which rows it shows.

    Parameters
    ----------
    ex : Export
        The (filtered) export the tab shows.
    page : int
        The page, 0 for the first.
    page_size : int
        Messages per page.
    show_phone_numbers : bool
        Show full customer ids (masked otherwise).

    Returns
    -------
    view : View
        No figure; the page as a table (:func:`connectly_nb.display.message_sample`).
    label : str
        ``"rows 1–50 of 6,000"``.
    """
    m = ex.messages
    start = page * page_size
    shown = display.message_sample(
        m,
        start=start,
        rows=page_size,
        show_phone_numbers=show_phone_numbers,
        columns=(
            "customer",
            "campaign",
            "sendout",
            "sent_at",
            "stage",
            "error_code",
            "clicks",
            "line",
        ),
    )
    last = min(start + page_size, len(m))
    label = f"rows {start + 1 if len(m) else 0:,}–{last:,} of {len(m):,}"
    return View(None, {"": shown}), label
