"""JupyterLab in a real browser: the dashboard renders, follows clicks, shows the right numbers."""

from __future__ import annotations

import pytest

from connectly_nb import metrics as M
from connectly_nb.datasets import sample_export
from connectly_nb.schema import describe_error
from tests.browser.conftest import shot

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return k && k.status === 'idle';
}"""
HEADER = (
    "Array.from(document.querySelectorAll('.widget-html-content'))"
    ".map(e => e.innerText).find(t => t.includes('read (lower bound)')) || ''"
)
CHART = (
    "() => { const i = document.querySelector('.widget-output img'); "
    "return i ? i.getAttribute('src') : ''; }"
)
CHANGED = (
    "(src) => { const i = document.querySelector('.widget-output img'); "
    "return i && i.getAttribute('src') !== src; }"
)


def expected_header(f) -> list[str]:
    """What the key figures must show for a one-row funnel."""
    row = f.iloc[0]
    return [
        f"{int(row['rows']):,}",
        f"{row['delivered'] / row['sent']:.1%}",
        f"{int(row['delivered']):,} of {int(row['sent']):,} sent",
        f"{int(row['read']):,} of {int(row['delivered']):,} delivered",
        f"{int(row['failed']):,} of {int(row['rows']):,} rows",
    ]


@pytest.fixture(scope="module")
def ex():
    return sample_export()


def test_dashboard_follows_campaign_and_error_filters(lab, page, ex, golden):
    page.goto(lab.format("01_campaign_overview.ipynb"))
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".widget-output img", timeout=60_000)
    page.wait_for_function(f"() => ({HEADER}).length > 0", timeout=30_000)
    header = page.evaluate(HEADER)
    for text in expected_header(M.funnel(ex, by=None)):
        assert text in header
    first_chart = page.evaluate(CHART)
    assert page.evaluate("() => document.querySelector('.widget-output img').naturalWidth") > 0
    dashboard = (
        page.locator(".jp-OutputArea-output").filter(has_text="Connectly campaign explorer").first
    )
    shot(dashboard, "lab_dashboard_all")

    # a click in the campaign list
    campaign = "Carrinho abandonado"
    rows = golden["campaigns"][campaign]["rows"]
    assert (ex.messages["campaign_name"] == campaign).sum() == rows
    label = f"{campaign} ({rows:,})"
    page.locator(".widget-select-multiple select").nth(0).select_option(label=label)
    page.wait_for_function(CHANGED, arg=first_chart, timeout=20_000)
    page.wait_for_function(f"(n) => ({HEADER}).includes(n)", arg=f"{rows:,}", timeout=20_000)
    header = page.evaluate(HEADER)
    for text in expected_header(M.funnel(ex, by=None, where={"campaigns": campaign})):
        assert text in header
    shot(dashboard, "lab_dashboard_campaign")

    # then an error code, through the error list (the third multi-select), whose counts
    # now follow the campaign chosen
    code = "131026"
    in_campaign = ex.messages["campaign_name"] == campaign
    n = int((ex.messages["error_code"][in_campaign] == code).sum())
    chart = page.evaluate(CHART)
    page.locator(".widget-select-multiple select").nth(2).select_option(
        label=f"{code} · {describe_error(code).title} ({n:,})"
    )
    page.wait_for_function(CHANGED, arg=chart, timeout=20_000)
    want = M.funnel(ex, by=None, where={"campaigns": campaign, "error_codes": [code]})
    page.wait_for_function(
        f"(n) => ({HEADER}).includes(n)",
        arg=f"{int(want['failed'].iloc[0]):,} of {int(want['rows'].iloc[0]):,} rows",
        timeout=20_000,
    )
    header = page.evaluate(HEADER)
    for text in expected_header(want):
        assert text in header
    shot(dashboard, "lab_dashboard_campaign_error")
    assert page.dialogs == []
