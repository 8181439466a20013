"""JupyterLab in a real browser: the dashboard renders, follows clicks, shows the right numbers."""

from __future__ import annotations

from pathlib import Path

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
        f"{int(row['failed']):,} of {int(row['rows']):,} messages",
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
        arg=f"{int(want['failed'].iloc[0]):,} of {int(want['rows'].iloc[0]):,} messages",
        timeout=20_000,
    )
    header = page.evaluate(HEADER)
    for text in expected_header(want):
        assert text in header
    shot(dashboard, "lab_dashboard_campaign_error")
    assert page.dialogs == []


def _run_notebook(page, lab, name: str) -> None:
    page.goto(lab.format(name))
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".widget-output img", timeout=90_000)
    page.wait_for_function(f"() => ({HEADER}).length > 0", timeout=60_000)


def _notebook(lab, name: str, code: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, lab.root / name)


def test_conversions_and_the_download_in_the_browser(lab, page, ex):
    # issue 15: conversions beside clicks, and "Save filtered CSV" downloads through the browser
    _notebook(lab, "explore_sample.ipynb", "from connectly_nb import explore\nexplore()")
    _run_notebook(page, lab, "explore_sample.ipynb")
    assert "said no" in page.evaluate(HEADER)
    page.locator(".jupyter-widget-Collapse-header").filter(
        has_text="What counts as a conversion"
    ).first.click()
    shot(page, "lab_conversion_picker_open")
    # the first list of the picker: "Converted" (the second, "Says no", lists buttons too)
    conversions = page.locator(".widget-select-multiple select").nth(3)
    conversions.wait_for(timeout=20_000)
    options = conversions.evaluate("s => Array.from(s.options).map(o => o.textContent)")
    options = [o.replace("\xa0", " ") for o in options]  # ipywidgets keeps spaces as nbsp
    index = next(i for i, o in enumerate(options) if o.startswith("button · Ver ofertas"))
    conversions.select_option(index=index)
    shot(page, "lab_conversion_chosen")
    want = M.funnel(ex, by=None, conversions=["Ver ofertas"]).iloc[0]
    page.wait_for_function(
        f"(n) => ({HEADER}).includes(n)",
        arg=f"{int(want['converted']):,} of {int(want['delivered']):,} delivered",
        timeout=20_000,
    )
    dashboard = (
        page.locator(".jp-OutputArea-output").filter(has_text="Connectly campaign explorer").first
    )
    shot(dashboard, "lab_dashboard_conversions")
    page.get_by_text("Save filtered CSV").click()
    link = page.get_by_text("Download connectly_filtered_1.csv")
    link.wait_for(timeout=60_000)
    with page.expect_download(timeout=30_000) as download:
        link.click()
    saved = download.value.path()
    text = Path(saved).read_text(encoding="utf-8-sig")
    assert text.count("\n") == len(ex.messages) + 1  # every selected message, one line each
    assert "*****" in text  # phone numbers masked: "show phone numbers" was not ticked
    shot(page, "lab_download")


def test_fifty_campaigns_stay_readable_in_the_dashboard(lab, page):
    # issue 15: with 24 campaigns the funnel's labels overlapped into an unreadable block
    from tests.conftest import csv_text, row

    rows = [
        row(
            customer_external_id=f"+55119{i:08d}",
            campaign_name=f"Campanha número {i // 20:02d} — oferta",
            sendout_id=f"s-{i // 20}",
            delivered_at="2024-05-10 20:20:00" if i % 3 else "",
        )
        for i in range(50 * 20)
    ]
    (lab.root / "fifty.csv").write_text(csv_text(rows), encoding="utf-8")
    _notebook(lab, "fifty.ipynb", "from connectly_nb import explore\nexplore('fifty.csv')")
    _run_notebook(page, lab, "fifty.ipynb")
    header = page.evaluate(HEADER)
    assert "1,000" in header
    size = page.evaluate(
        "() => { const i = document.querySelector('.widget-output img');"
        " return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert size[1] > 300  # a bar per campaign shown, labels at their own height
    dashboard = (
        page.locator(".jp-OutputArea-output").filter(has_text="Connectly campaign explorer").first
    )
    shot(dashboard, "lab_dashboard_50_campaigns")


def test_a_saved_notebook_shows_key_figures_before_it_runs(lab, page, ex):
    # issue 15: opened before running, the dashboard's place showed "Dashboard(children=..."
    page.goto(lab.format("00_quickstart.ipynb"))
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    cell = page.locator(".jp-CodeCell").filter(has_text="explore(ex)").last
    cell.scroll_into_view_if_needed()
    page.wait_for_timeout(2000)
    text = cell.inner_text()
    shot(cell, "lab_saved_notebook_fallback")
    assert "Dashboard(children" not in text
    assert f"{len(ex.messages):,}" in text
    assert "run the cell to explore" in text


def test_the_download_link_works_from_a_notebook_in_a_subfolder(lab, page, ex):
    # the link is relative: JupyterLab resolves it against the notebook's folder and serves
    # it through /files/ (a file:// link would be refused by the browser)
    (lab.root / "team").mkdir(exist_ok=True)
    code = (
        "from connectly_nb.datasets import sample_export\n"
        "from connectly_nb.widgets import Dashboard\n"
        "dash = Dashboard(sample_export(), save_dir='my saves #1')\ndash"
    )
    _notebook(lab, "team/save_here.ipynb", code)
    _run_notebook(page, lab, "team/save_here.ipynb")
    page.get_by_text("Save filtered CSV").click()
    link = page.get_by_text("Download connectly_filtered_1.csv")
    link.wait_for(timeout=60_000)
    with page.expect_download(timeout=30_000) as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.count("\n") == len(ex.messages) + 1
    assert (lab.root / "team" / "my saves #1" / "connectly_filtered_1.csv").exists()
