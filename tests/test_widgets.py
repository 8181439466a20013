"""Widgets driven from Python, as a user's clicks would: set values, check what is shown."""

from __future__ import annotations

import base64
import datetime as dt
import html.parser

import matplotlib.pyplot as plt
import numpy as np
import pytest

import connectly_nb as cnb
from connectly_nb import metrics as M
from connectly_nb import read_export
from connectly_nb.datasets import sample_export
from connectly_nb.widgets import (
    CampaignFilter,
    Dashboard,
    DateRangeFilter,
    ErrorCodeFilter,
    FilterPanel,
    explore,
)
from tests.conftest import row

HOSTILE = '<script>alert("x")</script>=HYPERLINK("http://evil.example","click")'


@pytest.fixture(scope="module")
def ex():
    return sample_export()


def png(out) -> bytes:
    (item,) = out.outputs
    return base64.b64decode(item["data"]["image/png"])


def html_of(out) -> str:
    (item,) = out.outputs
    return item["data"]["text/html"]


# --------------------------------------------------------------------------- controls


def test_campaign_filter_options_counts_and_sendouts(ex):
    flt = CampaignFilter(ex)
    labels = [label for label, _ in flt._campaigns.options]
    assert "Carrinho abandonado (905)" in labels
    assert flt.value == {"campaigns": (), "sendouts": ()}
    assert len(flt._sendout_select.options) == 8
    flt.value = {"campaigns": ["Reativação de clientes, SP"]}
    assert flt._campaigns.value == ("Reativação de clientes, SP",)
    assert len(flt._sendout_select.options) == 2  # that campaign's sendouts only
    flt._campaigns.value = ("Carrinho abandonado",)  # a click
    assert flt.value["campaigns"] == ("Carrinho abandonado",)
    assert flt.selection() == {"campaigns": ("Carrinho abandonado",), "sendouts": None}


def test_campaign_search_box_appears_for_many_campaigns(write_export):
    rows = [row(customer_external_id=f"+{i}", campaign_name=f"Promo {i:02d}") for i in range(12)]
    flt = CampaignFilter(read_export(write_export(rows)))
    assert flt._search in flt.children
    flt._search.value = "promo 1"
    assert [v for _, v in flt._campaigns.options] == ["Promo 10", "Promo 11"]


def test_error_code_filter_labels_and_quick_choices(ex):
    flt = ErrorCodeFilter(ex)
    labels = [label for label, _ in flt._select.options]
    assert any(label.startswith("131026 · Message undeliverable (") for label in labels)
    assert labels[-1].startswith("no error code (")
    flt._quick.value = "no failures"
    assert flt.value == (None,)
    flt._quick.value = "all failures"
    assert None not in flt.value
    assert set(flt.value) == set(ex.messages["error_code"].dropna().unique())
    flt._quick.value = "category: business-template"
    assert set(flt.value) == {"131047", "132000"}
    flt.value = ()
    assert flt._quick.value == "all messages"
    assert flt.selection() == {"error_codes": None}


def test_date_range_filter_in_the_export_time_zone(ex):
    flt = DateRangeFilter(ex)
    assert flt.value == ()
    assert flt._slider.options[0][1] == dt.date(2024, 11, 4)
    flt.value = (dt.date(2024, 11, 9), dt.date(2024, 11, 9))
    assert flt._slider.value == (dt.date(2024, 11, 9), dt.date(2024, 11, 9))
    sel = flt.selection()
    assert (
        len(ex.filter(**sel).messages)
        == (ex.messages["sent_at"].dt.date == dt.date(2024, 11, 9)).sum()
    )
    sp = DateRangeFilter(sample_export(tz="America/Sao_Paulo"))
    assert "America/Sao_Paulo" in sp._slider.description


def test_filter_panel_value_filtered_and_reset(ex):
    panel = FilterPanel(ex)
    assert panel.value == {}
    panel.controls["campaigns"].value = {"campaigns": ["Carrinho abandonado"]}
    panel.controls["errors"].value = ("131026",)
    assert panel.value == {"campaigns": ("Carrinho abandonado",), "error_codes": ["131026"]}
    expected = ex.filter(campaigns="Carrinho abandonado", error_codes="131026")
    assert len(panel.filtered.messages) == len(expected.messages) > 0
    assert panel.filtered is panel.filtered  # computed once per selection
    assert int(panel.mask.sum()) == len(expected.messages)
    panel.reset()
    assert panel.value == {}
    assert len(panel.filtered.messages) == len(ex.messages)
    with pytest.raises(ValueError, match="unknown controls"):
        FilterPanel(ex, controls=("colour",))


# --------------------------------------------------------------------------- dashboard


def test_dashboard_key_figures_follow_the_campaign_filter(ex):
    dash = Dashboard(ex)
    assert dash.key_figures()["rows"] == 6000
    before = png(dash.outputs["funnel_chart"])
    dash.panel.controls["campaigns"].value = {"campaigns": ["Carrinho abandonado"]}
    f = M.funnel(ex.filter(campaigns="Carrinho abandonado"), by=None).iloc[0]
    k = dash.key_figures()
    assert [
        k[c] for c in ("rows", "sent", "delivered", "read", "clicked", "failed", "opted_out")
    ] == [
        int(f[c]) for c in ("rows", "sent", "delivered", "read", "clicked", "failed", "opted_out")
    ]
    header = dash.header.value
    assert f"{f['delivered'] / f['sent']:.1%}" in header
    assert f"{int(f['delivered']):,} of {int(f['sent']):,} sent" in header
    assert png(dash.outputs["funnel_chart"]) != before  # redrawn
    assert "Carrinho abandonado" in html_of(dash.outputs["funnel_table"])
    assert "905 messages selected" in dash.status.value


def test_dashboard_redraws_only_the_visible_tab_then_the_others_on_opening(ex):
    dash = Dashboard(ex)
    assert dash.outputs["errors_chart"].outputs == ()
    dash.tabs.selected_index = 1
    first = png(dash.outputs["errors_chart"])
    dash.panel.controls["errors"].value = ("131026",)
    assert dash.tabs.selected_index == 1
    second = png(dash.outputs["errors_chart"])
    assert second != first
    table = html_of(dash.outputs["errors_table"])
    assert "131026" in table
    assert "131049" not in table
    stale_engagement = dash.outputs["engagement_chart"].outputs
    assert stale_engagement == ()
    for i in range(6):
        dash.tabs.selected_index = i
        assert "#b00020" not in dash.status.value, dash.status.value  # no error shown
    assert len(png(dash.outputs["engagement_chart"])) > 1000
    assert dash.outputs["messages_table"].outputs


def test_no_pyplot_figure_is_left_open_after_many_changes(ex):
    plt.close("all")
    dash = Dashboard(ex)
    campaigns = list(ex.messages["campaign_name"].cat.categories)
    for i in range(6):
        dash.tabs.selected_index = i
        for c in campaigns:
            dash.panel.controls["campaigns"].value = {"campaigns": [c]}
    assert plt.get_fignums() == []


def test_messages_tab_masks_phone_numbers_by_default_and_pages(ex):
    dash = Dashboard(ex, page_size=10)
    dash.tabs.selected_index = 5
    page = html_of(dash.outputs["messages_table"])
    first_id = ex.messages["customer_external_id"].iloc[0]
    assert first_id not in page
    assert "*****" in page
    assert "rows 1–10 of 6,000" in dash._page_label.value
    dash._next.click()
    assert "rows 11–20" in dash._page_label.value
    dash._show_numbers.value = True
    assert ex.messages["customer_external_id"].iloc[10] in html_of(dash.outputs["messages_table"])


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_hostile_campaign_name_is_text_in_the_dashboard_and_neutral_in_the_csv(
    write_export, tmp_path
):
    ex = read_export(
        write_export(
            [
                row(
                    customer_external_id="+5511987654321",
                    campaign_name=HOSTILE,
                    error_msg="<img src=x onerror=alert(1)>",
                    error_code="131026",
                ),
                row(customer_external_id="+5511987654322", campaign_name="@SUM(1+1)"),
            ]
        )
    )
    dash = Dashboard(ex, save_dir=tmp_path)
    for i in range(6):
        dash.tabs.selected_index = i
        assert "#b00020" not in dash.status.value, dash.status.value
    pages = [
        html_of(o)
        for o in dash.outputs.values()
        if o.outputs and "text/html" in o.outputs[0]["data"]
    ]
    pages += [dash.header.value, dash.status.value]
    for page in pages:
        parser = _Tags()
        parser.feed(page)
        assert "script" not in parser.tags
        assert "img" not in parser.tags
    assert html.escape(HOSTILE, quote=False) in html_of(dash.outputs["funnel_table"])
    path = dash.save_filtered()
    assert path.parent == tmp_path
    assert "Saved 2 messages" in dash.status.value
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    text = raw.decode("utf-8-sig")
    assert "\"'<script>" not in text  # starts with <, not a formula: left as is
    assert "'=HYPERLINK" not in text  # the = is inside the cell, not at its start
    assert "'@SUM(1+1)" in text
    assert "+5511987654321" in text  # phone numbers keep their +
    again = read_export(path)
    assert set(again.messages["campaign_name"]) == {HOSTILE, "'@SUM(1+1)"}
    second = dash.save_filtered()
    assert second.name == "connectly_filtered_2.csv"


def test_errors_in_callbacks_go_to_the_status_line(ex, monkeypatch):
    dash = Dashboard(ex)

    def broken(_ex):
        raise RuntimeError("chart <failed>")

    monkeypatch.setitem(dash._draw_tab, 0, broken)
    dash.panel.controls["errors"].value = ("131026",)
    assert "RuntimeError: chart &lt;failed&gt;" in dash.status.value


def test_explore_loads_a_path_or_takes_an_export(ex, write_export):
    assert cnb.explore is explore
    d1 = explore(ex)
    assert d1.export is ex
    d2 = explore(write_export([row()]), tz="Asia/Tokyo")
    assert d2.export.tz == "Asia/Tokyo"
    assert d2.key_figures()["rows"] == 1


def test_dashboard_on_an_export_without_sends_or_variables(write_export):
    ex = read_export(write_export([row(sent_at="", input_variables="")]))
    dash = Dashboard(ex)
    for i in range(6):
        dash.tabs.selected_index = i
        assert "#b00020" not in dash.status.value, dash.status.value
    assert dash.key_figures()["sent"] == 0
    assert np.isnan(M.funnel(ex, by=None)["delivery_rate"].iloc[0])
