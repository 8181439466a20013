"""Rendered reports: self-contained, masked, escaped, and clear about bad input."""

from __future__ import annotations

import re

import pytest

from connectly_nb.cli import main
from connectly_nb.report import _REMOTE, render_report
from tests.conftest import parse_html, row

PHONE = re.compile(r"\+\d{10,15}")


PLANTED = {}


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    out = folder / "report.html"
    # issue 14, item 3: links planted at the old fixed temporary name and at the target
    victim = folder / "victim.txt"
    victim.write_text("precious")
    (folder / ".report.html.partial").symlink_to(victim)
    out.symlink_to(folder / "victim2.txt")
    render_report(None, out, progress=False, title="Sample <b>report</b>")
    PLANTED.update(folder=folder, out=out)
    return out.read_text(encoding="utf-8")


def test_the_report_never_writes_through_a_planted_link(sample_page):
    folder, out = PLANTED["folder"], PLANTED["out"]
    assert (folder / "victim.txt").read_text() == "precious"
    assert not (folder / "victim2.txt").exists()
    assert (folder / ".report.html.partial").is_symlink()
    assert not out.is_symlink()
    assert out.read_text(encoding="utf-8") == sample_page


def test_sample_report_is_self_contained(sample_page):
    page = parse_html(sample_page)
    images = [a for t, a in page.elements if t == "img"]
    assert len(images) >= 4
    assert all(a["src"].startswith("data:image/png;base64,") for a in images)
    assert not _REMOTE.findall(sample_page)
    scripts = [a for t, a in page.elements if t == "script"]
    assert all("src" not in a for a in scripts)
    assert not [
        a
        for t, a in page.elements
        if t == "link" and "stylesheet" in a.get("rel", "") and "//" in a.get("href", "")
    ]


def test_sample_report_shows_the_numbers_and_no_code(sample_page, golden):
    text = " ".join(parse_html(sample_page).text)
    assert f"{golden['rows']:,} messages in {len(golden['campaigns'])} campaign(s)" in text
    assert f"{golden['delivered'] / golden['sent']:.1%}" in text  # delivered / sent: 95.8%
    assert f"{golden['delivered']:,} of {golden['sent']:,} sent" in text
    assert f"{golden['read']:,} of {golden['delivered']:,} delivered" in text
    assert "load_or_sample(" not in sample_page  # code cells are left out
    assert "Campaign report template" not in text  # the template's own notes too


def test_sample_report_masks_every_phone_number(sample_page, sample):
    ids = set(sample.messages["customer_external_id"].astype(str))
    found = set(PHONE.findall(sample_page))
    assert not (found & ids)
    assert "*****" in sample_page


def test_title_and_data_are_escaped(sample_page, write_export, tmp_path):
    assert "Sample &lt;b&gt;report&lt;/b&gt;" in sample_page
    hostile = '<script>alert(1)</script> =HYPERLINK("x")'
    path = write_export(
        [
            row(campaign_name=hostile, customer_external_id="+5511987654321"),
            row(campaign_name="ok", customer_external_id="+5511987654322"),
        ]
    )
    out = render_report([path], tmp_path / "r.html", progress=False, show_phone_numbers=True)
    markup = out.read_text(encoding="utf-8")
    page = parse_html(markup)
    assert not [a for t, a in page.elements if t == "script" and "alert" in str(a)]
    assert "<script>alert(1)</script>" not in markup
    assert any("<script>alert(1)</script>" in t for t in page.text)  # shown as text
    assert "+5511987654321" in markup  # asked for


def test_cli_report_bad_input_exits_2_without_traceback(write_export, tmp_path, capsys):
    bad = write_export(text="not,an,export\n")
    assert main(["report", str(bad), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "not a Connectly campaign export" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.html").exists()
    good = write_export([row()])
    assert main(["report", str(good), "-o", str(tmp_path / "y.html"), "--tz", "Moon/Base"]) == 2
    assert "unknown time zone" in capsys.readouterr().err
    assert main(["report", str(good), "-o", str(tmp_path / "y.html"), "--start", "soon"]) == 2
    assert "--start" in capsys.readouterr().err
    assert main(["report", "-o", str(tmp_path / "y.html")]) == 2
    assert "--sample" in capsys.readouterr().err


def test_an_unknown_campaign_is_named_before_anything_runs(tmp_path, capsys):
    # issue 13: "the report notebook failed in cell 5: AttributeError: 'DataFrame' object has
    # no attribute 'tolist'" for a campaign name typed without its emoji
    out = tmp_path / "r.html"
    code = main(["report", "--sample", "-o", str(out), "--campaign", "Black Friday 2024"])
    assert code == 2
    err = capsys.readouterr().err
    assert "did you mean 'Black Friday 2024 🎉'" in err
    assert "notebook failed" not in err
    assert not out.exists()
    assert main(["report", "--sample", "-o", str(out), "--start", "01/11/2024"]) == 2
    assert "2024-11-01 or 2024-01-11" in capsys.readouterr().err


def test_a_valid_but_empty_selection_gives_a_report_that_says_so(tmp_path):
    out = render_report(None, tmp_path / "r.html", error_codes=["131021"], progress=False)
    text = " ".join(parse_html(out.read_text(encoding="utf-8")).text)
    assert "0 messages in 0 campaign(s)" in text
    assert "No messages match the selection" in text
    assert "Traceback" not in text
