"""Charts of metric results: a result frame in, a matplotlib Axes out.

Each ``plot_*`` takes the DataFrame the matching :mod:`connectly_nb.metrics`
function returns, draws on ``ax`` (or ``plt.gca()``), forwards ``**kwargs``
to the main matplotlib call and returns the Axes. Nothing here calls
``plt.show()``, saves files or changes global style. A stage has the same
colour in every chart (:data:`STAGE_COLORS`); long names are shortened on the
axis, the full names stay in the data.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from connectly_nb._docs import shared_docs
from connectly_nb.display import format_duration, pretty
from connectly_nb.schema import ALL_RATES, COUNT_COLUMNS

__all__ = [
    "STAGE_COLORS",
    "describe_figure",
    "label_text",
    "plain",
    "plot_activity_heatmap",
    "plot_buttons",
    "plot_compare",
    "plot_countries",
    "plot_errors",
    "plot_funnel",
    "plot_latency",
    "plot_links",
    "plot_rates",
    "plot_segment",
    "plot_timeline",
    "plot_trend",
    "pretty",
]

#: One colour per stage, used by every chart (colour-blind-safe Okabe-Ito hues).
STAGE_COLORS = {
    "rows": "#999999",
    "sent": "#56B4E9",
    "delivered": "#0072B2",
    "read": "#009E73",
    "clicked": "#E69F00",
    "converted": "#8C510A",
    "negative": "#555555",
    "failed": "#D55E00",
    "opted_out": "#CC79A7",
}
CATEGORY_COLORS = {
    "recipient": "#0072B2",
    "business-template": "#E69F00",
    "rate-limit": "#56B4E9",
    "system": "#CC79A7",
    "policy": "#D55E00",
}
UNKNOWN_COLOR = "#d9d9d9"
_DENOMINATOR = {rate: den for rate, (_, den) in ALL_RATES.items()}
_NUMERATOR = {rate: num for rate, (num, _) in ALL_RATES.items()}
MAX_LABEL = 28


def shorten(text: Any, width: int = MAX_LABEL) -> str:
    """``text`` for an axis label: plain text, emoji dropped, cut to ``width`` characters.

    Matplotlib's default font has no emoji (they would show as boxes, with a
    warning each time); the full text stays in the data. A ``$`` is escaped,
    so ``"R$ 20 off, R$ 50 min"`` is drawn as written, never as mathtext.

    Parameters
    ----------
    text : object
        The label (``str()`` of it is used).
    width : int, default 28
        The most characters kept; a cut label ends in an ellipsis.

    Returns
    -------
    str
        The label without emoji, runs of whitespace made one space, cut to
        ``width``.
    """
    s = "".join(c for c in str(text) if not _is_emoji(c)).strip()
    s = " ".join(s.split())
    s = s if len(s) <= width else s[: width - 1] + "…"
    return plain(s)


def label_text(text: Any) -> str:
    """Text from the data for a title: plain text, emoji dropped, never cut.

    Parameters
    ----------
    text : object
        A sentence that names campaigns (a verdict ...).

    Returns
    -------
    str
    """
    s = " ".join("".join(c for c in str(text) if not _is_emoji(c)).split())
    return plain(s)


def label_text_wrapped(text: Any, width: int = 70) -> str:
    """:func:`label_text`, wrapped at ``width`` characters (a long title on several lines).

    Parameters
    ----------
    text : object
        A sentence from the data.
    width : int
        The longest line.

    Returns
    -------
    str
    """
    return "\n".join(textwrap.wrap(label_text(text), width))


def describe_figure(fig: Figure) -> str:
    """A figure's alternative text, from what it draws: its axes' titles and axis labels.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A chart of this module.

    Returns
    -------
    str
        E.g. ``"Chart: Delivery failures by error code (x: messages)"``; the
        ``$`` escapes of :func:`plain` undone, lines joined.
    """
    parts = []
    for ax in fig.axes:
        title = " ".join(ax.get_title(loc).replace("\\$", "$") for loc in ("left", "center"))
        title = " ".join(title.split())
        if not title:
            continue
        axis = [f"{n}: {lab}" for n, lab in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if lab]
        parts.append(title + (f" ({'; '.join(axis)})" if axis else ""))
    return "Chart: " + (". ".join(parts) if parts else "untitled")


def plain(text: str) -> str:
    """Text drawn as written: every ``$`` escaped, so matplotlib never parses mathtext.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    return str(text).replace("\\$", "$").replace("$", "\\$")


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return (
        code >= 0x1F000  # pictographs, emoticons, transport, supplemental symbols
        or 0x2600 <= code <= 0x27BF  # miscellaneous symbols and dingbats
        or code in (0xFE0F, 0x200D)  # variation selector and zero-width joiner
    )


def _ax(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.gca()


def _labels(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> tuple[list[str], str]:
    """Row labels from the grouping columns (everything before ``rows``)."""
    cols = list(frame.columns)
    stop = cols.index("rows") if "rows" in cols else 1
    keys = [c for c in cols[:stop] if c not in exclude]
    if not keys:
        return ["all"] * len(frame), ""
    return _joined(frame, keys), " · ".join(keys).replace("_", " ")


def _joined(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """Each row's ``keys`` values joined with " · ", shortened for an axis."""
    texts = [" · ".join(map(str, row)) for row in zip(*(frame[k] for k in keys), strict=True)]
    return [shorten(t) for t in texts]


def _legend(ax: Axes, **kwargs: Any) -> None:
    """A legend, when something drawn has a label."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, **kwargs)


def _no_data(ax: Axes, title: str, what: str = "No messages to show") -> Axes:
    """An empty chart that says so (``what``: what is missing), with its title."""
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(plain(title))
    return ax


#: Ticks of a time-since-sent axis, in hours, and how they read.
_DURATION_TICKS = (
    (1 / 60, "1 min"),
    (10 / 60, "10 min"),
    (1, "1 h"),
    (6, "6 h"),
    (24, "1 day"),
    (168, "7 days"),
    (720, "30 days"),
)


def _duration_ticks(axis: Any, longest: float) -> None:
    """Label a time axis (in hours) in minutes, hours and days, never 10^-2 hours."""
    ticks = [(0.0, "0")] + [(h, t) for h, t in _DURATION_TICKS if h <= max(longest, 1 / 60)]
    axis.set_ticks([h for h, _ in ticks], [t for _, t in ticks])
    axis.set_minor_locator(plt.NullLocator())


def _percent_axis(axis: Any) -> None:
    # decimals=None: as many as the ticks need (2.5% steps read 2.5%, 5.0%, 7.5% ...)
    axis.set_major_formatter(PercentFormatter(1.0, decimals=None))


def _top_groups(frame: pd.DataFrame, top: int) -> tuple[list[str], pd.DataFrame, str]:
    """The groups by size (rows), the largest first; past ``top``, the rest as one "others"."""
    labels, title_by = _labels(frame)
    order = np.argsort(-frame["rows"].to_numpy(), kind="stable")
    data = frame.iloc[order].reset_index(drop=True)
    labels = [labels[i] for i in order]
    if len(data) > top:
        rest = data.iloc[top - 1 :]
        counts = [c for c in (*COUNT_COLUMNS, "converted", "negative") if c in data.columns]
        others = rest[counts].sum().to_frame().T
        data = pd.concat([data.iloc[: top - 1][counts], others], ignore_index=True)
        labels = [*labels[: top - 1], f"others ({len(rest):,})"]
    return labels, data, title_by


@shared_docs
def plot_funnel(
    funnel: pd.DataFrame,
    *,
    stages: Sequence[str] | None = None,
    normalize: bool = False,
    top: int = 10,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Horizontal grouped bars: messages reaching each stage, per group, the largest on top.

    Readable from 1 to hundreds of groups: the ``top`` largest are drawn,
    the others pooled in one "others (n)" bar; a figure needs about 0.3
    inches per group shown. The main matplotlib call is ``Axes.barh``, once
    per stage.

    Parameters
    ----------
    funnel : DataFrame
        :func:`connectly_nb.metrics.funnel`'s result.
    stages : sequence of str, optional
        Count columns to draw, in order; by default sent, delivered, read,
        clicked (and converted, when the funnel has it).
    normalize : bool
        Show each stage as a share of the group's sent messages.
    top : int
        The most groups drawn (the last one being "others" when there are more).
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    if stages is None:
        stages = [s for s in ("sent", "delivered", "read", "clicked", "converted") if s in funnel]
    labels, data, title_by = _top_groups(funnel, top) if len(funnel) else ([], funnel, "")
    title = "Campaign funnel" + (f" by {title_by}" if title_by else "")
    if funnel.empty:
        return _no_data(ax, title)
    y = np.arange(len(data))[::-1]  # the first (largest) group on top
    height = 0.8 / max(len(stages), 1)
    for i, stage in enumerate(stages):
        values = data[stage].to_numpy(dtype=float)
        if normalize:
            with np.errstate(invalid="ignore", divide="ignore"):
                values = values / data["sent"].to_numpy(dtype=float)
        ax.barh(
            y + ((len(stages) - 1) / 2 - i) * height,
            values,
            height,
            label=stage.replace("_", " "),
            color=STAGE_COLORS.get(stage),
            **kwargs,
        )
    ax.set_yticks(y, [shorten(lbl) for lbl in labels])
    if normalize:
        _percent_axis(ax.xaxis)
        ax.set_xlabel("share of sent messages")
    else:
        ax.set_xlabel("messages")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(title)
    # beside the bars, never over them
    _legend(ax, title="stage", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


@shared_docs
def plot_errors(
    errors: pd.DataFrame, *, top: int = 10, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Horizontal bars: failed messages per error code, coloured by category.

    Takes :func:`connectly_nb.metrics.errors`'s result (without ``by``). The
    main matplotlib call is ``Axes.barh``.

    Parameters
    ----------
    errors : pandas.DataFrame
        :func:`connectly_nb.metrics.errors`'s result; with ``by``, each code's
        counts are added up over the groups.
    top : int, default 10
        Draw the ``top`` codes with the most failures.
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    if errors.empty:
        return _no_data(ax, "Delivery failures by error code", "No failed messages")
    data = (
        errors.groupby(["error_code", "title", "category"], sort=False, observed=True)["count"]
        .sum()
        .reset_index()
        .sort_values("count", ascending=False, kind="stable")
        .head(top)
    )
    data = data.iloc[::-1]
    labels = [
        f"{shorten(c, 40)} · {shorten(t, 34)}"
        for c, t in zip(data["error_code"], data["title"], strict=True)
    ]
    colors = [CATEGORY_COLORS.get(str(c).split("/")[0], UNKNOWN_COLOR) for c in data["category"]]
    bars = ax.barh(np.arange(len(data)), data["count"], color=colors, **kwargs)
    ax.set_yticks(np.arange(len(data)), labels)
    ax.bar_label(bars, labels=[f"{v:,}" for v in data["count"]], padding=3)
    ax.set_xlabel("failed messages")
    ax.set_title("Delivery failures by error code")
    seen = dict.fromkeys(str(c).split("/")[0] for c in data["category"])
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=CATEGORY_COLORS.get(c, UNKNOWN_COLOR)) for c in seen
    ]
    if handles:
        ax.legend(
            handles, [plain(c) for c in seen], title="category", frameon=False, loc="lower right"
        )
    return ax


@shared_docs
def plot_timeline(timeline: pd.DataFrame, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Cumulative share of sent messages reaching each stage vs time since sending.

    With a clock-time result (``timeline(..., freq=...)``), events per bucket.
    The main matplotlib call is ``Axes.step`` (since sending) or ``Axes.plot``
    (per bucket), once per line.

    Parameters
    ----------
    timeline : pandas.DataFrame
        :func:`connectly_nb.metrics.timeline`'s result, either form.
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    if timeline.empty or ("sent" in timeline.columns and not timeline["sent"].gt(0).any()):
        return _no_data(ax, "When messages are delivered, read and clicked")
    if "time" in timeline.columns:
        for event, g in timeline.groupby("event", observed=True, sort=True):
            g = g.groupby("time")["count"].sum()
            ax.plot(
                g.index,
                g.to_numpy(),
                marker="o",
                ms=3,
                label=str(event).replace("_", " "),
                color=STAGE_COLORS.get(str(event)),
                **kwargs,
            )
        ax.set_ylabel("messages per bucket")
        ax.set_xlabel(f"time ({timeline['time'].dt.tz})" if len(timeline) else "time")
        ax.set_title("Events over time")
        _legend(ax, frameon=False)
        plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
        return ax
    group_cols = [
        c for c in timeline.columns if c not in ("stage", "elapsed", "reached", "sent", "share")
    ]
    hours = timeline["elapsed"].dt.total_seconds() / 3600
    styles = ["-", "--", ":", "-."]
    for gi, (key, g) in enumerate(timeline.groupby(group_cols, observed=True, sort=True)):
        name = " · ".join(map(str, key if isinstance(key, tuple) else (key,)))
        for stage, s in g.groupby("stage", observed=True, sort=True):
            label = str(stage) if name == "all" else f"{shorten(name, 20)} · {stage}"
            ax.step(
                hours[s.index],
                s["share"],
                where="post",
                color=STAGE_COLORS.get(str(stage)),
                linestyle=styles[gi % len(styles)],
                label=label,
                **kwargs,
            )
    ax.set_xscale("symlog", linthresh=1 / 60)
    _duration_ticks(ax.xaxis, hours.max() if len(hours) else 1)
    ax.set_xlabel("time since sent (log scale)")
    _percent_axis(ax.yaxis)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of sent messages")
    ax.set_title("When messages are delivered, read and clicked")
    _legend(ax, frameon=False, fontsize="small")
    return ax


@shared_docs
def plot_latency(latency: pd.DataFrame, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Median (bar) and 90th percentile (tick) of time to deliver, read and first click.

    The main matplotlib call is ``Axes.barh`` (the medians), once per stage.

    Parameters
    ----------
    latency : pandas.DataFrame
        :func:`connectly_nb.metrics.latency`'s result.
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    if not latency["n"].gt(0).any():
        return _no_data(ax, "Time to deliver, read and first click")
    group_cols = [
        c for c in latency.columns if c not in ("stage", "n", "median", "p90", "mean", "n_negative")
    ]
    groups = latency[group_cols].astype(str).agg(" · ".join, axis=1)
    names = list(dict.fromkeys(groups))
    stages = (
        [str(s) for s in latency["stage"].cat.categories]
        if hasattr(latency["stage"], "cat")
        else (list(dict.fromkeys(latency["stage"])))
    )
    width = 0.8 / max(len(stages), 1)
    y = np.arange(len(names))
    for i, stage in enumerate(stages):
        sel = latency[latency["stage"].astype(str) == stage]
        pos = {n: k for k, n in enumerate(names)}
        idx = np.array([pos[g] for g in groups[sel.index]])
        med = sel["median"].dt.total_seconds().to_numpy() / 60
        p90 = sel["p90"].dt.total_seconds().to_numpy() / 60
        offs = idx + (i - (len(stages) - 1) / 2) * width
        bars = ax.barh(
            offs, med, width, color=STAGE_COLORS.get(stage), label=f"{stage}: median", **kwargs
        )
        ax.errorbar(
            p90, offs, fmt="|", color="black", ms=8, label="90th percentile" if i == 0 else None
        )
        ax.bar_label(
            bars, labels=[format_duration(v * 60) for v in med], padding=2, fontsize="small"
        )
    ax.set_yticks(y, [shorten(n) for n in names])
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("minutes after sending (log scale)")
    ax.set_title("Time to deliver, read and first click")
    _legend(ax, frameon=False, fontsize="small")
    return ax


_EVENT_NOUNS = {"sent": "sends", "delivered": "deliveries", "read": "reads", "clicked": "clicks"}


def _heatmap_title(heatmap: pd.DataFrame) -> str:
    what = _EVENT_NOUNS.get(heatmap.attrs.get("event", ""), "events").capitalize()
    tz = heatmap.attrs.get("tz")
    return f"{what} by weekday and hour" + (f" ({tz})" if tz else "")


@shared_docs
def plot_activity_heatmap(
    heatmap: pd.DataFrame, *, ax: Axes | None = None, cmap: str = "Greens", **kwargs: Any
) -> Axes:
    """Weekday x hour grid of event counts (:func:`metrics.activity_heatmap`).

    The main matplotlib call is ``Axes.imshow``; a colour bar is added to the
    Axes' figure.

    Parameters
    ----------
    heatmap : pandas.DataFrame
        :func:`connectly_nb.metrics.activity_heatmap`'s result.
    {ax}
    cmap : str, default "Greens"
        A matplotlib colour map name.
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    if not heatmap["count"].sum():
        return _no_data(ax, _heatmap_title(heatmap))
    grid = heatmap.pivot_table(
        index="weekday", columns="hour", values="count", observed=False, aggfunc="sum"
    ).reindex(columns=range(24), fill_value=0)
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap=cmap, **kwargs)
    ax.set_yticks(range(len(grid.index)), [str(d) for d in grid.index])
    ax.set_xticks(range(0, 24, 3), [f"{h:02d}h" for h in range(0, 24, 3)])
    ax.set_xlabel(
        f"hour of day ({heatmap.attrs['tz']})" if "tz" in heatmap.attrs else "hour of day"
    )
    ax.set_title(_heatmap_title(heatmap))
    what = _EVENT_NOUNS.get(heatmap.attrs.get("event", ""), "events")
    ax.figure.colorbar(image, ax=ax, label=what)
    return ax


def _plot_clicks(table: pd.DataFrame, what: str, top: int, ax: Axes | None, **kwargs: Any) -> Axes:
    ax = _ax(ax)
    if table.empty:
        return _no_data(
            ax, f"{what} clicks: total and unique clickers", f"No {what.lower()} clicks"
        )
    data = table.head(top).iloc[::-1]
    y = np.arange(len(data))
    labels = [shorten(n) for n in data["name"]]
    ax.barh(
        y - 0.2, data["clicks"], 0.4, color=STAGE_COLORS["clicked"], label="total clicks", **kwargs
    )
    ax.barh(
        y + 0.2, data["unique_clickers"], 0.4, color=STAGE_COLORS["read"], label="unique clickers"
    )
    ax.set_yticks(y, labels)
    ax.set_xlabel("clicks / customers")
    ax.set_title(f"{what} clicks: total and unique clickers")
    _legend(ax, frameon=False)
    return ax


@shared_docs
def plot_buttons(
    buttons: pd.DataFrame, *, top: int = 10, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Total clicks and unique clickers per button (:func:`metrics.buttons`).

    The main matplotlib call is ``Axes.barh`` of the total clicks.

    Parameters
    ----------
    buttons : pandas.DataFrame
        :func:`connectly_nb.metrics.buttons`'s result.
    top : int, default 10
        Draw the first ``top`` rows (the result is sorted by clicks).
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    return _plot_clicks(buttons, "Button", top, ax, **kwargs)


@shared_docs
def plot_links(
    links: pd.DataFrame, *, top: int = 10, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Total clicks and unique clickers per link (:func:`metrics.links`).

    The main matplotlib call is ``Axes.barh`` of the total clicks.

    Parameters
    ----------
    links : pandas.DataFrame
        :func:`connectly_nb.metrics.links`'s result.
    top : int, default 10
        Draw the first ``top`` rows (the result is sorted by clicks).
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    return _plot_clicks(links, "Link", top, ax, **kwargs)


def _rate_bars(
    frame: pd.DataFrame, labels: list[str], rate: str, ax: Axes, color: str, **kwargs: Any
) -> None:
    y = np.arange(len(frame))
    value = frame[rate].to_numpy(dtype=float)
    err = np.vstack(
        [
            value - frame[f"{rate}_low"].to_numpy(dtype=float),
            frame[f"{rate}_high"].to_numpy(dtype=float) - value,
        ]
    )
    ax.barh(y, value, xerr=err, color=color, capsize=3, **kwargs)
    ax.set_yticks(y, labels)
    _percent_axis(ax.xaxis)
    num, den = _NUMERATOR[rate], _DENOMINATOR[rate]
    ax.set_xlabel(f"{rate.replace('_', ' ')} = {num.replace('_', ' ')} / {den} (95% interval)")


@shared_docs
def plot_rates(
    frame: pd.DataFrame,
    *,
    rate: str = "click_rate",
    by: str | Sequence[str] | None = None,
    top: int | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """One rate per group, with its 95% interval: a horizontal bar each, first row on top.

    Works on any result frame with funnel columns (:func:`~connectly_nb.metrics.funnel`,
    :func:`~connectly_nb.metrics.segment`, :func:`~connectly_nb.metrics.fatigue`,
    :func:`~connectly_nb.metrics.countries` ...). Each label says the group and
    the rate's denominator (``n=``). The main matplotlib call is ``Axes.barh``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Holds ``rate``, ``{rate}_low``, ``{rate}_high`` and the rate's denominator.
    rate : str
        One of :data:`connectly_nb.schema.ALL_RATES`.
    by : str, list of str or None
        The columns that name each bar; by default the columns before ``rows``.
    top : int, optional
        Draw only the first ``top`` rows.
    title : str, optional
        By default "<Rate> by <by columns>".
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    data = frame if top is None else frame.head(top)
    if data.empty:
        return _no_data(ax, title or f"{rate.replace('_', ' ').capitalize()}")
    if by is None:
        names, by_text = _labels(data)
    else:
        cols = [by] if isinstance(by, str) else list(by)
        names = _joined(data, cols)
        by_text = " · ".join(cols).replace("_", " ")
    labels = [
        f"{shorten(name)} (n={n:,})"
        for name, n in zip(names, data[_DENOMINATOR[rate]], strict=True)
    ]
    _rate_bars(data.iloc[::-1], labels[::-1], rate, ax, STAGE_COLORS[_NUMERATOR[rate]], **kwargs)
    default = f"{rate.replace('_', ' ').capitalize()} by {by_text or 'group'}"
    ax.set_title(label_text(title) if title is not None else default)
    return ax


@shared_docs
def plot_trend(
    trend: pd.DataFrame,
    *,
    rate: str = "read_rate",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """One rate over time, with its 95% interval (is it getting better or worse?).

    Per sendout (:func:`connectly_nb.metrics.trend` without ``every``): one
    point per sendout at its first send, a line and a colour per campaign
    (the eight largest; the others grey). Per period (``every=``): one line
    over the periods, the interval as a band.

    Parameters
    ----------
    trend : pandas.DataFrame
        :func:`connectly_nb.metrics.trend`'s result.
    rate : str
        One of :data:`connectly_nb.schema.ALL_RATES`.
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    what = rate.replace("_", " ").capitalize()
    per_sendout = "first_sent" in trend.columns
    title = f"{what} by sendout, in time order" if per_sendout else f"{what} by period"
    if trend.empty or trend[rate].isna().all():
        return _no_data(ax, title)
    color = STAGE_COLORS.get(_NUMERATOR[rate], "#0072B2")
    if per_sendout:
        _trend_per_campaign(trend, rate, ax, **kwargs)
    else:
        x = trend["period"]
        ax.plot(x, trend[rate], marker="o", color=color, label=what.lower(), **kwargs)
        ax.fill_between(
            x, trend[f"{rate}_low"], trend[f"{rate}_high"], color=color, alpha=0.2, lw=0
        )
    _percent_axis(ax.yaxis)
    num, den = _NUMERATOR[rate], _DENOMINATOR[rate]
    ax.set_ylabel(f"{num.replace('_', ' ')} / {den} (95% interval)")
    ax.set_title(title)
    times = pd.Series(trend["first_sent" if per_sendout else "period"]).dropna()
    if len(times) and times.max() - times.min() < pd.Timedelta(hours=1):
        # one moment (one sendout, one period): a day either side, not a zero-width axis
        ax.set_xlim(times.min() - pd.Timedelta(days=1), times.min() + pd.Timedelta(days=1))
    # minticks 3 (not 5): four or five daily periods get a tick a day, not a failed
    # search among hours that warns "unable to pick an appropriate interval"
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return ax


def _trend_per_campaign(trend: pd.DataFrame, rate: str, ax: Axes, **kwargs: Any) -> None:
    """One line of sendouts per campaign: the eight largest in colour, the others grey."""
    sizes = trend.groupby("campaign_name", observed=True)["rows"].sum()
    shown = list(sizes.sort_values(ascending=False, kind="stable").index[:8])
    palette = [*CATEGORY_COLORS.values(), "#009E73", "#F0E442", "#000000"]
    others_labelled = False
    for name, g in trend.groupby("campaign_name", observed=True, sort=False):
        if name in shown:
            color, label = palette[shown.index(name) % len(palette)], shorten(name)
        else:
            color, label = UNKNOWN_COLOR, None if others_labelled else "others"
            others_labelled = True
        err = [g[rate] - g[f"{rate}_low"], g[f"{rate}_high"] - g[rate]]
        ax.errorbar(
            g["first_sent"],
            g[rate],
            yerr=err,
            marker="o",
            capsize=3,
            color=color,
            label=label,
            **kwargs,
        )
    _legend(ax, frameon=False, fontsize="small", title="campaign")


@shared_docs
def plot_segment(
    segment: pd.DataFrame, *, rate: str = "click_rate", ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """One rate per variable value, with its 95% interval (:func:`metrics.segment`).

    Drawn by :func:`plot_rates`.

    Parameters
    ----------
    segment : pandas.DataFrame
        :func:`connectly_nb.metrics.segment`'s result.
    rate : str
        One of :data:`connectly_nb.schema.ALL_RATES`.
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    return plot_rates(segment, rate=rate, ax=ax, **kwargs)


@shared_docs
def plot_countries(
    countries: pd.DataFrame,
    *,
    rate: str = "read_rate",
    top: int = 12,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """One rate per country with its interval (:func:`metrics.countries`).

    Drawn by :func:`plot_rates`, each bar named by country and calling code.

    Parameters
    ----------
    countries : pandas.DataFrame
        :func:`connectly_nb.metrics.countries`'s result.
    rate : str
        One of :data:`connectly_nb.schema.ALL_RATES`.
    top : int
        The first ``top`` countries (the result is sorted by messages).
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    data = countries.head(top).copy()
    if len(data):
        data["country"] = (data["country"] + " " + data["calling_code"]).str.strip()
    return plot_rates(data, rate=rate, by="country", title=None, ax=ax, **kwargs)


@shared_docs
def plot_compare(comparison: pd.DataFrame, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Two groups' rates with 95% intervals and the verdict (:func:`metrics.compare`).

    The main matplotlib call is ``Axes.barh``; the verdict is the title.

    Parameters
    ----------
    comparison : pandas.DataFrame
        :func:`connectly_nb.metrics.compare`'s result (its first row is drawn).
    {ax}
    {kwargs}

    Returns
    -------
    {axes}
    """
    ax = _ax(ax)
    row = comparison.iloc[0]
    rate = row["rate"]
    y = np.array([1, 0])
    values = np.array([row["rate_a"], row["rate_b"]], dtype=float)
    lows = np.array([row["low_a"], row["low_b"]], dtype=float)
    highs = np.array([row["high_a"], row["high_b"]], dtype=float)
    color = STAGE_COLORS.get(_NUMERATOR[rate], "#0072B2")
    ax.barh(
        y, values, xerr=np.vstack([values - lows, highs - values]), color=color, capsize=4, **kwargs
    )
    ax.set_yticks(
        y,
        [
            f"{shorten(row['label_a'])} (n={row['n_a']:,})",
            f"{shorten(row['label_b'])} (n={row['n_b']:,})",
        ],
    )
    _percent_axis(ax.xaxis)
    ax.set_xlabel(
        f"{rate.replace('_', ' ')} = {_NUMERATOR[rate].replace('_', ' ')} / "
        f"{_DENOMINATOR[rate]} (95% interval)"
    )
    # the whole verdict, wrapped: never cut off with an ellipsis
    ax.set_title(label_text_wrapped(row["verdict"]), fontsize="medium", loc="left")
    return ax
