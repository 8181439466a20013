"""Charts checked through their artists (bar heights, labels), never pixels."""

from __future__ import annotations

import itertools
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from connectly_nb import metrics as M
from connectly_nb import plots as P
from connectly_nb import read_export
from tests.conftest import row


@pytest.fixture
def ex(sample):
    """The bundled sample."""
    return sample


def bar_values(ax: Axes, *, horizontal: bool = False) -> list[float]:
    return [p.get_width() if horizontal else p.get_height() for p in ax.patches]


def test_funnel_bars_equal_the_counts_with_stage_colours(ex):
    f = M.funnel(ex)
    _, ax = plt.subplots()
    out = P.plot_funnel(f, ax=ax)
    assert out is ax
    # horizontal bars, the largest campaign on top
    by_size = f.sort_values("rows", ascending=False, kind="stable")
    widths = bar_values(ax, horizontal=True)
    expected = [v for s in ("sent", "delivered", "read", "clicked") for v in by_size[s]]
    assert widths == expected
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["sent", "delivered", "read", "clicked"]
    for container, stage in zip(
        ax.containers, ["sent", "delivered", "read", "clicked"], strict=True
    ):
        assert {tuple(p.get_facecolor()) for p in container} == {
            tuple(plt.matplotlib.colors.to_rgba(P.STAGE_COLORS[stage]))
        }
    assert "campaign name" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        P.shorten(c) for c in by_size["campaign_name"]
    ]


def test_funnel_normalised_is_a_share_of_sent(ex):
    f = M.funnel(ex, by=None)
    _, ax = plt.subplots()
    P.plot_funnel(f, normalize=True, ax=ax)
    widths = bar_values(ax, horizontal=True)
    assert widths[0] == 1.0
    assert widths[1] == pytest.approx(f["delivered"].iloc[0] / f["sent"].iloc[0])
    assert ax.get_xlabel() == "share of sent messages"
    ax.figure.canvas.draw()
    assert ax.xaxis.get_major_formatter()(0.5, 0) == "50%"


def test_uses_current_axes_and_forwards_kwargs(ex):
    _, ax = plt.subplots()
    out = P.plot_funnel(M.funnel(ex), alpha=0.5)
    assert out is ax
    assert all(p.get_alpha() == 0.5 for p in ax.patches)


def test_errors_bars_and_labels(ex):
    e = M.errors(ex)
    _, ax = plt.subplots()
    P.plot_errors(e, top=3, ax=ax)
    top3 = e.sort_values("count", ascending=False, kind="stable").head(3)
    assert bar_values(ax, horizontal=True) == top3["count"].tolist()[::-1]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith(str(top3["error_code"].iloc[0]))
    assert ax.get_xlabel() == "failed messages"


def test_timeline_curves_follow_the_shares(ex):
    t = M.timeline(ex)
    _, ax = plt.subplots()
    P.plot_timeline(t, ax=ax)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"delivered", "read", "clicked"}
    read = t[t["stage"] == "read"]
    assert np.allclose(lines["read"].get_ydata(), read["share"].to_numpy())
    assert ax.get_ylim() == (0, 1)
    clock = M.timeline(ex, freq="1D")
    _, ax = plt.subplots()
    P.plot_timeline(clock, ax=ax)
    sent = dict(zip(*[ax.get_lines()[0].get_xdata(), ax.get_lines()[0].get_ydata()], strict=True))
    assert sum(sent.values()) == ex.messages["is_sent"].sum()


def test_latency_bars_are_medians_in_minutes(ex):
    lat = M.latency(ex, by=None)
    _, ax = plt.subplots()
    P.plot_latency(lat, ax=ax)
    medians = lat.set_index("stage")["median"].dt.total_seconds() / 60
    assert bar_values(ax, horizontal=True) == pytest.approx(medians.tolist())


def test_heatmap_image_holds_the_counts(ex):
    h = M.activity_heatmap(ex, event="read")
    _, ax = plt.subplots()
    P.plot_activity_heatmap(h, ax=ax)
    grid = ax.images[0].get_array()
    assert grid.shape == (7, 24)
    assert grid.sum() == h["count"].sum() == ex.messages["read_at"].notna().sum()


def test_buttons_and_links_bars(ex):
    b = M.buttons(ex)
    _, ax = plt.subplots()
    P.plot_buttons(b, top=3, ax=ax)
    values = bar_values(ax, horizontal=True)
    assert values[:3] == b["clicks"].head(3).tolist()[::-1]
    assert values[3:] == b["unique_clickers"].head(3).tolist()[::-1]
    _, ax = plt.subplots()
    P.plot_links(M.links(ex), ax=ax)
    assert "Link" in ax.get_title()


def test_segment_countries_and_compare_show_rates_with_denominators(ex):
    s = M.segment(ex, "segment")
    _, ax = plt.subplots()
    P.plot_segment(s, rate="read_rate", ax=ax)
    # drawn bottom-up, so the first row is the top bar
    assert bar_values(ax, horizontal=True) == pytest.approx(s["read_rate"].tolist()[::-1])
    assert ax.get_yticklabels()[-1].get_text().startswith(str(s["value"].iloc[0]))
    assert ax.get_xlabel().startswith("read rate = read / delivered")
    assert all("n=" in t.get_text() for t in ax.get_yticklabels())
    c = M.countries(ex)
    _, ax = plt.subplots()
    P.plot_countries(c, ax=ax)
    assert bar_values(ax, horizontal=True) == pytest.approx(c["read_rate"].tolist()[::-1])
    cmp = M.compare(ex, "Black Friday 2024 🎉", "Carrinho abandonado")
    _, ax = plt.subplots()
    P.plot_compare(cmp, ax=ax)
    assert bar_values(ax, horizontal=True) == pytest.approx(
        [cmp["rate_a"].iloc[0], cmp["rate_b"].iloc[0]]
    )
    assert ax.get_title(loc="left").startswith(("No significant", "Too few", "Black", "Carrinho"))


def test_plot_rates_draws_each_rate_with_its_interval_first_row_on_top(ex, golden):
    f = M.funnel(ex)
    _, ax = plt.subplots()
    out = P.plot_rates(f, rate="delivery_rate", ax=ax)
    assert out is ax
    assert bar_values(ax, horizontal=True) == pytest.approx(f["delivery_rate"].tolist()[::-1])
    names = sorted(golden["campaigns"])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{P.shorten(n)} (n={golden['campaigns'][n]['sent']:,})" for n in names][::-1]
    assert ax.get_title() == "Delivery rate by campaign name"
    assert ax.get_xlabel() == "delivery rate = delivered / sent (95% interval)"
    assert ax.xaxis.get_major_formatter()(0.5, 0) == "50%"
    (errorbars,) = next(c for c in ax.containers if hasattr(c, "has_xerr")).lines[2]
    lows = [seg[0][0] for seg in errorbars.get_segments()]
    highs = [seg[1][0] for seg in errorbars.get_segments()]
    assert lows == pytest.approx(f["delivery_rate_low"].tolist()[::-1])
    assert highs == pytest.approx(f["delivery_rate_high"].tolist()[::-1])


def test_plot_rates_top_by_title_and_colour(ex):
    f = M.funnel(ex, by=["campaign_name", "sendout_id"])
    _, ax = plt.subplots()
    P.plot_rates(f, rate="read_rate", by="sendout_id", top=3, title="Mine", ax=ax)
    assert len(ax.patches) == 3
    assert bar_values(ax, horizontal=True) == pytest.approx(f["read_rate"].head(3).tolist()[::-1])
    assert ax.get_title() == "Mine"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == f"{P.shorten(f['sendout_id'].iloc[0])} (n={f['delivered'].iloc[0]:,})"
    colour = plt.matplotlib.colors.to_rgba(P.STAGE_COLORS["read"])
    assert {tuple(p.get_facecolor()) for p in ax.patches} == {colour}
    _, ax = plt.subplots()
    P.plot_rates(M.funnel(ex, by=None), ax=ax)
    assert ax.get_title() == "Click rate by group"
    assert ax.get_yticklabels()[0].get_text().startswith("all (n=")


def test_long_names_are_shortened_on_the_axis_only():
    f = pd.DataFrame(
        {
            "campaign_name": ["x" * 60],
            "rows": [1],
            "sent": [1],
            "delivered": [1],
            "read": [0],
            "clicked": [0],
        }
    )
    _, ax = plt.subplots()
    P.plot_funnel(f, ax=ax)
    label = ax.get_yticklabels()[0].get_text()
    assert len(label) == P.MAX_LABEL
    assert label.endswith("…")
    assert f["campaign_name"].iloc[0] == "x" * 60


def test_importing_plots_changes_no_global_style():
    import importlib

    before = dict(plt.rcParams)
    importlib.reload(P)
    assert dict(plt.rcParams) == before


def test_emoji_are_dropped_from_axis_labels_without_warnings(recwarn):
    f = pd.DataFrame(
        {
            "campaign_name": ["Black Friday 🎉 2024"],
            "rows": [1],
            "sent": [1],
            "delivered": [1],
            "read": [0],
            "clicked": [0],
        }
    )
    _, ax = plt.subplots()
    P.plot_funnel(f, ax=ax)
    ax.figure.canvas.draw()
    assert ax.get_yticklabels()[0].get_text() == "Black Friday 2024"
    assert not [w for w in recwarn if "Glyph" in str(w.message)]


EMPTY_PLOTS = {
    "plot_funnel": lambda e, ax: P.plot_funnel(M.funnel(e), ax=ax),
    "plot_errors": lambda e, ax: P.plot_errors(M.errors(e), ax=ax),
    "plot_timeline": lambda e, ax: P.plot_timeline(M.timeline(e), ax=ax),
    "plot_timeline by clock": lambda e, ax: P.plot_timeline(M.timeline(e, freq="1h"), ax=ax),
    "plot_latency": lambda e, ax: P.plot_latency(M.latency(e, by=None), ax=ax),
    "plot_activity_heatmap": lambda e, ax: P.plot_activity_heatmap(M.activity_heatmap(e), ax=ax),
    "plot_buttons": lambda e, ax: P.plot_buttons(M.buttons(e), ax=ax),
    "plot_links": lambda e, ax: P.plot_links(M.links(e), ax=ax),
    "plot_segment": lambda e, ax: P.plot_segment(M.segment(e, "segment"), ax=ax),
    "plot_countries": lambda e, ax: P.plot_countries(M.countries(e), ax=ax),
    "plot_rates": lambda e, ax: P.plot_rates(M.fatigue(e), rate="opt_out_rate", ax=ax),
}


EMPTY_TEXT = {
    "plot_errors": "No failed messages",
    "plot_buttons": "No button clicks",
    "plot_links": "No link clicks",
}


@pytest.mark.parametrize("name", list(EMPTY_PLOTS))
def test_every_chart_says_so_for_an_empty_selection(ex, name, recwarn):
    empty = ex.subset(np.zeros(len(ex.messages), dtype=bool))
    _, ax = plt.subplots()
    assert EMPTY_PLOTS[name](empty, ax) is ax
    texts = [t.get_text() for t in ax.texts]
    if name == "plot_timeline by clock":
        assert not ax.lines  # nothing to draw: an empty frame of buckets
    else:  # says what is missing: a chart of failures or clicks says so of them
        assert EMPTY_TEXT.get(name, "No messages to show") in texts
    assert ax.get_title()
    ax.figure.canvas.draw()
    assert not [w for w in recwarn if "legend" in str(w.message)]


@pytest.mark.parametrize("name", ["Save $$$ today", "R$ 20 off, R$ 50 min", "$x^2$"])
def test_dollar_signs_in_names_are_drawn_as_written(write_export, name):
    # issue 14: '$' in a campaign name crashed the report (mathtext) or garbled the label
    ex = read_export(write_export([row(campaign_name=name)]), progress=False)
    _, ax = plt.subplots()
    P.plot_funnel(M.funnel(ex), ax=ax)
    P.plot_rates(M.funnel(ex), ax=plt.subplots()[1])
    ax.figure.canvas.draw()  # mathtext would raise here, or render "R20*off*"
    label = ax.get_yticklabels()[0]
    assert label.get_text().replace("\\$", "$") == name
    _, is_math = label._preprocess_math(label.get_text())
    assert is_math is False


@pytest.mark.parametrize("n", [1, 50, 200])
def test_the_funnel_stays_readable_from_1_to_200_campaigns(n):
    # issue 15: with 24 campaigns the labels overlapped into an unreadable block
    rng = np.random.default_rng(n)
    rows = rng.integers(10, 1000, n)
    f = pd.DataFrame(
        {
            "campaign_name": [f"Campaign number {i}" for i in range(n)],
            "rows": rows,
            "sent": rows,
            "delivered": rows // 2,
            "read": rows // 3,
            "clicked": rows // 10,
        }
    )
    fig, ax = plt.subplots(figsize=(8, 0.35 * min(n, 10) + 1.5))
    P.plot_funnel(f, ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == min(n, 10)
    if n > 10:
        assert labels[-1] == f"others ({n - 9:,})"  # the bottom bar pools the rest
        assert sum(bar_values(ax, horizontal=True)[:10]) == rows.sum()  # sent adds up
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_yticklabels()]
    for a, b in itertools.pairwise(boxes):
        assert not a.overlaps(b)  # labels never overlap


def test_a_trend_of_one_sendout_draws_without_a_date_warning(ex):
    # review: one sendout put AutoDateLocator's warning (a server path) into the report twice
    one = ex.filter(campaigns="Carrinho abandonado")
    for trend in (M.trend(one), M.trend(one, every="M")):
        _, ax = plt.subplots()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            P.plot_trend(trend, ax=ax)
            ax.figure.canvas.draw()
        lo, hi = ax.get_xlim()
        assert hi - lo == pytest.approx(2.0)  # a day either side of the one point, in days
        assert len(ax.collections) + len(ax.lines) > 0


def test_a_figure_is_described_by_its_titles_and_axis_labels(ex):
    _, ax = plt.subplots()
    P.plot_errors(M.errors(ex), ax=ax)
    text = P.describe_figure(ax.figure)
    assert text.startswith("Chart: Delivery failures by error code (x: ")
    _, ax = plt.subplots()
    ax.set_title(P.plain("R$ 20 off"))
    assert P.describe_figure(ax.figure) == "Chart: R$ 20 off"  # the escape undone


@pytest.mark.parametrize("days", [2, 3, 4, 5, 6, 10, 45, 400, 1100])
def test_a_trend_over_any_number_of_periods_draws_without_a_date_warning(days):
    # notebook 06: five daily periods made AutoDateLocator search the hours and warn
    periods = pd.date_range("2024-11-01", periods=days, freq="D", tz="UTC")
    rate = np.linspace(0.4, 0.6, days)
    trend = pd.DataFrame(
        {
            "period": periods,
            "read_rate": rate,
            "read_rate_low": rate - 0.05,
            "read_rate_high": rate + 0.05,
            "rows": 100,
        }
    )
    _, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P.plot_trend(trend, rate="read_rate", ax=ax)
        ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert 2 <= len(ticks) <= 8
