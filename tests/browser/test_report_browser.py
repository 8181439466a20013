"""The rendered report in a browser with the network cut: charts load, nothing leaks."""

from __future__ import annotations

import re

import pytest

from connectly_nb.datasets import sample_export
from connectly_nb.report import render_report
from tests.browser.conftest import shot
from tests.conftest import row

HOSTILE = ('<script>alert("pwned")</script>', "<img src=x onerror=alert(2)>")


def open_offline(page, path):
    """Open a file:// page; every other request is aborted and recorded."""
    attempted: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return attempted


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    return render_report(None, tmp_path_factory.mktemp("r") / "report.html", progress=False)


def test_sample_report_offline_every_chart_loads_no_request_no_phone(page, sample_report):
    attempted = open_offline(page, sample_report)
    widths = page.evaluate("() => Array.from(document.images).map(i => i.naturalWidth)")
    assert len(widths) >= 4
    assert all(w > 0 for w in widths)
    assert attempted == []
    text = page.inner_text("body")
    ids = set(sample_export().messages["customer_external_id"].astype(str))
    assert not set(re.findall(r"\+\d{10,15}", text)) & ids
    assert "*****" in text
    shot(page, "report_sample")


def test_hostile_campaign_name_shows_as_text_and_runs_nothing(page, write_export, tmp_path):
    path = write_export(
        [
            row(campaign_name=HOSTILE[0], customer_external_id="+5511987654321"),
            row(campaign_name=HOSTILE[1], customer_external_id="+5511987654322"),
        ]
    )
    report = render_report([path], tmp_path / "hostile.html", progress=False)
    attempted = open_offline(page, report)
    text = page.inner_text("body")
    assert HOSTILE[0] in text
    assert HOSTILE[1] in text
    assert page.dialogs == []
    assert attempted == []  # the img src=x in the name was never an element
    shot(page, "report_hostile")


def test_the_offline_check_catches_a_cdn_script(page, sample_report, tmp_path):
    tampered = tmp_path / "tampered.html"
    tampered.write_text(
        sample_report.read_text(encoding="utf-8").replace(
            "</head>", '<script src="https://cdn.example.com/lib.js"></script></head>', 1
        ),
        encoding="utf-8",
    )
    attempted = open_offline(page, tampered)
    assert attempted == ["https://cdn.example.com/lib.js"]


@pytest.fixture(scope="module")
def manager_report(tmp_path_factory):
    return render_report(
        None,
        tmp_path_factory.mktemp("r") / "manager.html",
        progress=False,
        conversions=["Ver ofertas", "https://shop.example/"],
        title="November campaigns",
    )


def test_the_report_reads_on_a_phone(page, manager_report):
    # issue 15: the report must read at 390 px: nothing wider than the screen but the
    # tables, which scroll in their own box
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        attempted = open_offline(page, manager_report)
        assert attempted == []
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= 400, overflow
        images = page.evaluate(
            "() => Array.from(document.images).map(i => i.getBoundingClientRect().width)"
        )
        assert images
        assert max(images) <= 390
        text = page.inner_text("body")
        assert "converted" in text
        assert "Best campaign" in text
        shot(page, "report_phone_390")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1400})


#: Printable width of each paper at 96 CSS px an inch, inside Chromium's default 1 cm margins.
PAPER_WIDTH = {"A4": round((210 - 20) / 25.4 * 96), "Letter": round((8.5 - 20 / 25.4) * 96)}


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_report_prints_to_pdf(page, manager_report, paper):
    open_offline(page, manager_report)
    page.emulate_media(media="print")
    pdf = page.pdf(format=paper, print_background=True)
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 3 <= pages <= 30, pages
    # the page as the printer lays it out: the paper's printable width, print styles
    width = PAPER_WIDTH[paper]
    page.set_viewport_size({"width": width, "height": 1400})
    try:
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= width, (paper, overflow, width)  # nothing cut at the right edge
        # paper cannot scroll: every table fits the page (none cut inside a scroll box)
        rights = page.evaluate(
            "() => Array.from(document.querySelectorAll('table'))"
            ".map(t => t.getBoundingClientRect().right)"
        )
        assert rights
        assert max(rights) <= width, (paper, max(rights), width)
        path = shot(page, f"report_print_{paper}")
        (path.parent / f"report_{paper}.pdf").write_bytes(pdf)  # to open and look at
    finally:
        page.set_viewport_size({"width": 1400, "height": 1400})
