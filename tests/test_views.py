"""The dashboard's views, one function per tab: an Export in, frames and a Figure out.

Each view is called directly and checked through its result frames and its
figure's artists (bar heights, tick labels, titles), never its pixels.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from connectly_nb import metrics as M
from connectly_nb import read_export
from connectly_nb.plots import shorten
from connectly_nb.widgets import views
from tests.conftest import row

STAGES = ("sent", "delivered", "read", "clicked")


@pytest.fixture
def ex(sample):
    """The bundled sample."""
    return sample


@pytest.fixture
def bare(write_export):
    """One message: not sent, no clicks, no variables, no failure."""
    return read_export(write_export([row(sent_at="", input_variables="")]))


def heights(ax) -> list[list[float]]:
    """Bar lengths, one list per bar container (per stage of a funnel): horizontal bars."""
    return [[p.get_width() for p in c] for c in ax.containers]


def widths(ax) -> list[float]:
    return [p.get_width() for p in ax.patches]


def ticks(ax, axis: str = "x") -> list[str]:
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in labels]


# --------------------------------------------------------------------------- funnel


def test_funnel_view_draws_the_golden_counts_per_campaign(ex, golden):
    view = views.funnel_view(ex)
    assert isinstance(view.figure, Figure)
    assert view.alt == "funnel chart"
    ax = view.figure.axes[0]
    # horizontal bars, the largest campaign on top
    names = sorted(golden["campaigns"], key=lambda n: -golden["campaigns"][n]["rows"])
    assert ticks(ax, "y") == [shorten(n) for n in names]
    assert heights(ax) == [[golden["campaigns"][n][s] for n in names] for s in STAGES]
    assert ax.get_title() == "Campaign funnel by campaign name"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(STAGES)


def test_funnel_view_table_has_one_row_per_sendout(ex, golden):
    table = views.funnel_view(ex).tables[""]
    view = views.funnel_view(ex)
    shown = view.columns[""]
    assert shown[:6] == ["campaign_name", "sendout_id", "sent", "delivered", "read", "clicked"]
    assert set(shown) <= set(table.columns)  # the others are one click away
    assert len(table) == golden["sendouts"]
    assert table["sendout_id"].str.len().eq(9).all()  # 8 characters and an ellipsis
    assert table["sendout_id"].str.endswith("…").all()
    by_campaign = table.groupby("campaign_name", observed=True)[list(STAGES)].sum()
    for name, counts in golden["campaigns"].items():
        assert by_campaign.loc[name].tolist() == [counts[s] for s in STAGES], name
    assert table["sent"].sum() == golden["sent"]


def test_funnel_view_of_one_campaign_and_of_nothing(ex, golden):
    one = views.funnel_view(ex.filter(campaigns="Carrinho abandonado"))
    want = golden["campaigns"]["Carrinho abandonado"]
    assert heights(one.figure.axes[0]) == [[want[s]] for s in STAGES]
    assert set(one.tables[""]["campaign_name"]) == {"Carrinho abandonado"}
    none = views.funnel_view(ex.filter(campaigns=[]))
    assert len(none.figure.axes[0].patches) == 0
    assert none.tables[""].empty


# --------------------------------------------------------------------------- errors


def test_errors_view_draws_the_ten_biggest_codes_biggest_on_top(ex, golden):
    view = views.errors_view(ex)
    ax = view.figure.axes[0]
    top = sorted(golden["error_codes"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert widths(ax) == [n for _, n in top][::-1]
    assert [t.split(" · ")[0] for t in ticks(ax, "y")] == [c for c, _ in top][::-1]
    assert ticks(ax, "y")[-1] == "131026 · Message undeliverable"
    assert ax.get_title() == "Delivery failures by error code"
    assert ax.get_xlabel() == "failed messages"
    pd.testing.assert_frame_equal(view.tables[""], M.errors(ex))
    assert (
        dict(zip(view.tables[""]["error_code"], view.tables[""]["count"], strict=True))
        == (golden["error_codes"])
    )


def test_errors_view_without_failures_says_so(bare):
    view = views.errors_view(bare)
    ax = view.figure.axes[0]
    assert ax.get_title() == "No failures in this selection"
    assert "No failed messages" in [t.get_text() for t in ax.texts]
    assert len(ax.patches) == 0
    assert view.tables[""].empty


# --------------------------------------------------------------------------- engagement


def test_engagement_view_draws_the_timeline_and_the_read_heatmap(ex, golden):
    view = views.engagement_view(ex)
    timeline_ax, heatmap_ax = view.figure.axes[:2]
    lines = {line.get_label(): line for line in timeline_ax.get_lines()}
    assert set(lines) == {"delivered", "read", "clicked"}
    t = M.timeline(ex)
    read = t[t["stage"] == "read"]
    assert np.allclose(lines["read"].get_ydata(), read["share"].to_numpy())
    assert lines["delivered"].get_ydata()[-1] <= golden["delivered"] / golden["sent"]
    grid = heatmap_ax.images[0].get_array()
    assert grid.shape == (7, 24)
    assert grid.sum() == ex.messages["read_at"].notna().sum()
    assert timeline_ax.get_title() == "When messages are delivered, read and clicked"
    assert heatmap_ax.get_title() == "Reads by weekday and hour (UTC)"  # what and where


def test_engagement_view_table_is_the_latency_without_a_group_column(ex):
    (title,) = views.engagement_view(ex).tables
    assert title == "Time from sending (events stamped before the send left out)"
    table = views.engagement_view(ex).tables[title]
    assert "group" not in table.columns
    pd.testing.assert_frame_equal(table, M.latency(ex, by=None).drop(columns="group"))
    assert table["stage"].astype(str).tolist() == ["delivered", "read", "clicked"]


# --------------------------------------------------------------------------- clicks


def test_clicks_view_draws_buttons_and_links_with_their_tables(ex, golden):
    view = views.clicks_view(ex)
    buttons, links = view.tables["Buttons"], view.tables["Links"]
    pd.testing.assert_frame_equal(buttons, M.buttons(ex))
    pd.testing.assert_frame_equal(links, M.links(ex))
    assert buttons["clicks"].sum() + links["clicks"].sum() == golden["clicks"]
    b_ax, l_ax = view.figure.axes
    top = buttons.head(10)
    assert widths(b_ax) == [*top["clicks"].tolist()[::-1], *top["unique_clickers"].tolist()[::-1]]
    assert ticks(b_ax, "y") == [shorten(n) for n in top["name"]][::-1]
    assert b_ax.get_title() == "Button clicks: total and unique clickers"
    assert l_ax.get_title() == "Link clicks: total and unique clickers"
    assert sorted(widths(l_ax)[: len(links.head(10))]) == sorted(links["clicks"].head(10))


# --------------------------------------------------------------------------- variables


def test_variables_view_is_a_table_only(ex, golden):
    view = views.variables_view(ex)
    assert view.figure is None
    table = view.tables[""]
    pd.testing.assert_frame_equal(table, M.variables(ex))
    city = table.set_index(["direction", "key"]).loc[("input", "city")]
    assert city["messages"] == golden["rows"]
    assert city["coverage"] == 1.0


def test_segment_view_draws_the_click_rate_per_value(ex):
    view = views.segment_view(ex, "segment")
    ax = view.figure.axes[0]
    seg = M.segment(ex, "segment", top=12)
    assert widths(ax) == pytest.approx(seg["click_rate"].tolist()[::-1])
    assert ax.get_title() == "Click rate by segment (input variable)"
    assert (
        ticks(ax, "y")
        == [f"{shorten(v)} (n={n:,})" for v, n in zip(seg["value"], seg["delivered"], strict=True)][
            ::-1
        ]
    )
    assert view.alt == "click rate by segment"
    assert view.tables == {}


# --------------------------------------------------------------------------- messages


def test_messages_view_pages_and_masks(ex, golden):
    view, label = views.messages_view(ex, page=0, page_size=10, show_phone_numbers=False)
    assert view.figure is None
    page = view.tables[""]
    assert label == f"rows 1–10 of {golden['rows']:,}"
    assert list(page.columns) == [
        "customer",
        "campaign",
        "sendout",
        "sent_at",
        "stage",
        "error_code",
        "clicks",
        "line",
    ]
    ids = ex.messages["customer_external_id"].iloc[:10].tolist()
    assert not set(ids) & set(page["customer"])
    assert page["line"].tolist() == ex.messages["line"].iloc[:10].tolist()
    shown, label = views.messages_view(ex, page=1, page_size=10, show_phone_numbers=True)
    assert label.startswith("rows 11–20 of")
    assert shown.tables[""]["customer"].tolist() == (
        ex.messages["customer_external_id"].iloc[10:20].tolist()
    )
    last = golden["rows"] // 25
    tail, label = views.messages_view(ex, page=last, page_size=25, show_phone_numbers=False)
    assert label == f"rows {last * 25 + 1:,}–{golden['rows']:,} of {golden['rows']:,}"
    assert len(tail.tables[""]) == golden["rows"] - last * 25


def test_messages_view_of_nothing(ex):
    view, label = views.messages_view(
        ex.filter(campaigns=[]), page=0, page_size=10, show_phone_numbers=False
    )
    assert label == "rows 0–0 of 0"
    assert view.tables[""].empty


# --------------------------------------------------------------------------- figures


def test_views_draw_without_pyplot_and_render_to_png(ex, bare):
    plt.close("all")
    made = [
        views.funnel_view(bare),
        views.errors_view(bare),
        views.engagement_view(bare),
        views.clicks_view(bare),
        views.funnel_view(ex),
    ]
    assert plt.get_fignums() == []  # Figures of their own: nothing left for pyplot to close
    for view in made:
        assert views.figure_png(view.figure).startswith(b"\x89PNG")
    out = views.figure_output(made[-1].figure, "funnel chart")
    assert out["data"]["text/plain"] == "funnel chart"
    assert out["output_type"] == "display_data"
