"""Rendered reports: self-contained, masked, escaped, and clear about bad input."""

from __future__ import annotations

import html
import re

import pytest

from connectly_nb import read_export
from connectly_nb.cli import main
from connectly_nb.report import (
    _remote_resources,
    campaign_comparison,
    comparison_html,
    next_steps_html,
    render_report,
    resolve_negatives,
    selection_html,
    summary_html,
)
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
    assert _remote_resources(sample_page) == []
    scripts = [a for t, a in page.elements if t == "script"]
    assert all("src" not in a for a in scripts)
    assert not [
        a
        for t, a in page.elements
        if t == "link" and "stylesheet" in a.get("rel", "") and "//" in a.get("href", "")
    ]


def test_sample_report_shows_the_numbers_and_no_code(sample_page, golden):
    text = " ".join(parse_html(sample_page).text)
    assert f"{golden['rows']:,} messages in {len(golden['campaigns'])} campaigns" in text
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
    assert "0 messages in 0 campaigns" in text
    assert "No messages match the selection" in text
    assert "Traceback" not in text


def test_outputs_are_checked_before_the_notebook_runs(write_export, tmp_path, capsys, monkeypatch):
    # issue 14, item 4: `report in.csv -o in.csv` overwrote the export with HTML; a folder or
    # a missing folder as -o failed only after the notebook ran
    import connectly_nb.report as report

    def no_run(*args, **kwargs):
        raise AssertionError("the notebook ran")

    monkeypatch.setattr(report, "_execute", no_run)
    path = write_export([row()], name="in.csv")
    before = path.read_bytes()
    link = tmp_path / "link.html"
    link.symlink_to(path)
    same_file = [str(path), str(tmp_path / "sub" / ".." / "in.csv"), str(link)]
    (tmp_path / "sub").mkdir()
    for output in same_file:
        assert main(["report", str(path), "-o", output]) == 2
        err = capsys.readouterr().err
        assert "is one of the exports" in err
        assert "Traceback" not in err
    assert main(["report", str(tmp_path), "-o", str(path)]) == 2  # the folder holds it
    assert "is one of the exports" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["report", str(path), "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["report", str(path), "-o", str(tmp_path / "nope" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.partial"))


# --------------------------------------------------------------------------- remote resources
# issue 14, item 8: the check reads the parsed page, not its text; no script is left


def notebook_with(*markup: str):
    """A notebook whose cells show ``markup`` as HTML outputs."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for html_text in markup:
        cell = nbformat.v4.new_code_cell("x")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html_text})]
        nb.cells.append(cell)
    return nb


def test_escaped_text_that_mentions_urls_is_not_a_remote_resource():
    from connectly_nb.report import _to_html

    shown = html.escape("<script src=//evil.example/x.js></script> href=https://evil.example")
    text = "url(//evil.example/a.png) src='https://cdn.example/x.js'"
    page = _to_html(notebook_with(f"<p>{shown}</p>", f"<pre>{html.escape(text)}</pre>"), title="t")
    assert "src=//evil.example/x.js" in html.unescape(page)  # still shown, as text


def test_the_page_holds_no_script_not_even_nbconverts_mermaid_loader():
    from connectly_nb.report import _to_html

    page = _to_html(notebook_with("<p>hello</p>"), title="t")
    assert "script" not in parse_html(page).tags
    assert "cdnjs" not in page
    assert "import(" not in page


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="https://evil.example/pixel.gif">',
        '<img src="//evil.example/pixel.gif">',
        '<img srcset="https://evil.example/a.png 2x">',
        '<iframe src="https://evil.example/"></iframe>',
        '<video src="https://evil.example/v.mp4"></video>',
        '<video poster="https://evil.example/p.png"></video>',
        '<audio src="https://evil.example/a.mp3"></audio>',
        '<video><source src="https://evil.example/v.mp4"></video>',
        '<object data="https://evil.example/x.swf"></object>',
        '<embed src="https://evil.example/x.swf">',
        '<link rel="stylesheet" href="https://evil.example/a.css">',
        '<link rel="icon" href="//evil.example/favicon.ico">',
        '<link rel="preload" href="https://evil.example/font.woff2" as="font">',
        '<div style="background: url(https://evil.example/bg.png)">x</div>',
        "<div style=\"background-image:URL( '//evil.example/bg.png' )\">x</div>",
        '<style>body { background: url("https://evil.example/bg.png") }</style>',
        '<style>@import "https://evil.example/a.css";</style>',
        '<meta http-equiv="refresh" content="0; url=https://evil.example/">',
        '<base href="https://evil.example/">',
        '<svg><image href="https://evil.example/i.png"/></svg>',
    ],
)
def test_any_element_that_would_fetch_is_refused(markup):
    from connectly_nb.report import ReportError, _remote_resources, _to_html

    assert _remote_resources(f"<html><body>{markup}</body></html>")
    with pytest.raises(ReportError, match="from the network"):
        _to_html(notebook_with(markup), title="t")


def test_scripts_that_would_fetch_are_found_in_a_page():
    from connectly_nb.report import _remote_resources

    assert _remote_resources('<script src="https://cdn.example/x.js"></script>')
    assert _remote_resources('<script type="module">import("https://cdn.example/m.mjs")</script>')
    assert not _remote_resources(
        '<img src="data:image/png;base64,AAAA"><a href="https://x.example">x</a>'
    )


def test_the_kept_notebook_is_written_whole_and_never_through_a_link(
    write_export, tmp_path, monkeypatch, planted_links
):
    import nbformat

    import connectly_nb.report as report

    monkeypatch.setattr(report, "_execute", lambda *a, **k: notebook_with("<p>done</p>"))
    kept = tmp_path / "kept.ipynb"
    check = planted_links(kept)
    render_report([write_export([row()])], tmp_path / "r.html", progress=False, keep_notebook=kept)
    check()
    assert "done" in nbformat.read(kept, as_version=4).cells[0].outputs[0]["data"]["text/html"]


def test_link_urls_in_the_report_are_masked_unless_asked(write_export, tmp_path):
    url = "https://shop.example/?phone=%2B5521912345678"
    path = write_export(
        [
            row(
                delivered_at="2024-05-10 20:14:00",
                link_clicks=f'[{{"id": "l1", "name": "{url}", "ts": "2024-05-10 20:20:00"}}]',
            )
        ]
    )
    masked = render_report([path], tmp_path / "m.html", progress=False).read_text("utf-8")
    assert "shop.example" in masked
    assert "912345678" not in masked
    full = render_report([path], tmp_path / "f.html", progress=False, show_phone_numbers=True)
    assert url in full.read_text("utf-8")


# --------------------------------------------------------------------------- review findings


def _text(markup: str) -> str:
    return " ".join(" ".join(parse_html(markup).text).split())


def _campaign_rows(spec: dict[str, tuple[int, int]]) -> list[dict[str, str]]:
    """Rows of campaigns with (delivered, clicked) messages each."""
    rows, i = [], 0
    for name, (delivered, clicked) in spec.items():
        for j in range(delivered):
            i += 1
            r = row(
                customer_external_id=f"+55119{i:08d}",
                campaign_name=name,
                delivered_at="2024-05-10 20:14:00",
            )
            if j < clicked:
                r["button_clicks"] = '[{"id": "b1", "name": "Sim", "ts": "2024-05-10 20:20:00"}]'
            rows.append(r)
    return rows


@pytest.mark.parametrize(
    "spec",
    [{"": (150, 40), "B": (150, 10)}, {"Promo": (150, 40), "promo": (150, 10)}],
    ids=["blank best", "case variants"],
)
def test_the_summary_compares_the_blank_and_case_variant_campaigns(write_export, spec):
    # review: "report failed in cell 3: SelectionError: unknown campaign: '(blank)'" and
    # "'promo' and 'Promo' share 300 messages"
    ex = read_export(write_export(_campaign_rows(spec)), progress=False)
    text = _text(summary_html(ex))
    best, worst = list(spec)
    assert f"Best campaign: {best or '(blank)'} (26.7%); weakest: {worst} (6.7%)" in text
    assert "a real difference (p < 0.001, allowing for the 1 possible pairs)" in text


def test_the_summary_and_the_comparison_section_give_one_verdict(sample):
    # review: the summary said "a real difference" while the chart said "Too few messages"
    comparison = campaign_comparison(sample, conversions=["Ver ofertas"])
    row_ = comparison.iloc[0]
    text = _text(summary_html(sample, conversions=["Ver ofertas"]))
    said = {
        "significant": "a real difference",
        "not significant": "could be chance",
        "too few": "too few messages",
        "equal": "same rate",
    }[row_["outcome"]]
    assert said in text
    section = _text(comparison_html(sample, comparison, conversions=["Ver ofertas"]))
    # the campaigns without a conversion button are named, not ranked last
    assert "Not ranked, with no conversions at all" in section
    assert "with at least 100 delivered messages and at least one conversion." in section
    assert "Carrinho abandonado" in section
    assert "Carrinho abandonado" not in (row_["label_a"], row_["label_b"])


def test_the_summary_of_messages_never_delivered_writes_no_empty_rate(sample):
    # review: "0.0% were delivered and at least – of those read. – of the delivered ..."
    none = sample.filter(error_codes="131026")
    text = _text(summary_html(none))
    assert "none was delivered" in text
    assert "–" not in text
    assert "campaign(s)" not in text


def test_the_summary_names_the_top_failure_and_the_top_fixable_one(sample):
    text = _text(summary_html(sample))
    assert "The largest group of failures is 131026" in text
    assert "stop messaging a number after repeated failures" in text
    assert "The largest you can fix is 131047" in text
    assert "what to do: not at once" not in text  # the retry column's shorthand


def test_next_steps_show_a_command_that_exists_and_counts_every_campaign(sample, tmp_path):
    one = sample.filter(campaigns="Carrinho abandonado")
    page = next_steps_html(one, sources=["exports/a b.csv"], everything=sample)
    text = _text(page)
    command = re.search(r"connectly-nb suppress (.+?) -o suppress\.csv", text)
    assert command is not None
    assert command.group(1) == "'a b.csv'"  # quoted for a shell; folders left out
    assert "67 customers across every campaign of the files" in text
    # the command the sample's page prints runs
    sample_page_command = _text(next_steps_html(sample))
    assert "connectly-nb suppress --sample -o suppress.csv" in sample_page_command
    assert main(["suppress", "--sample", "-o", str(tmp_path / "suppress.csv")]) == 0
    written = (tmp_path / "suppress.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(written) == 1 + 67


def test_templates_to_fix_are_template_errors_only(sample):
    text = _text(next_steps_html(sample))
    templates, other = text.split("Templates to fix")[1].split("Other fixes")
    assert "132000" in templates
    assert "131047" not in templates  # the 24 h window: not a template defect
    assert "131047" in other


def test_the_selection_line_names_the_buttons_counted_as_no(sample):
    negatives = resolve_negatives(sample, "auto")
    text = _text(
        selection_html(
            campaigns=None,
            error_codes=None,
            start=None,
            end=None,
            tz="UTC",
            negatives=negatives,
            negatives_suggested=True,
        )
    )
    assert (
        "said no: clicks on button 'Não tenho interesse' or 'Parar promoções' "
        "(suggested from the buttons' names)" in text
    )


def test_a_one_sendout_report_has_no_warning_and_every_chart_has_alt_text(tmp_path):
    # review: AutoDateLocator's warning, with the server's site-packages path, printed twice
    out = render_report(
        None, tmp_path / "one.html", campaigns=["Carrinho abandonado"], progress=False
    )
    markup = out.read_text(encoding="utf-8")
    assert "Warning" not in markup
    assert "site-packages" not in markup
    alts = re.findall(r'<img [^>]*alt="([^"]*)"', markup)
    assert alts
    assert all(a.startswith("Chart: ") for a in alts), alts
    assert any("by sendout, in time order" in a for a in alts)


def test_a_misspelt_conversion_is_named_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--sample", "-o", str(out), "--conversion", "Ver oferta"]) == 2
    err = capsys.readouterr().err
    assert "no click in the export matches converted 'Ver oferta'" in err
    assert "did you mean 'Ver ofertas'?" in err
    assert not out.exists()


def test_next_steps_offer_no_list_to_write_when_nobody_is_to_suppress(sample):
    # seen in the hostile report's screenshot: "0 customers ... Write the list: ..."
    delivered = sample.filter(campaigns="Carrinho abandonado", failed=False)
    fine = delivered.subset((~delivered.messages["is_opted_out"]).to_numpy())
    text = _text(next_steps_html(fine, sources=["a.csv"]))
    assert "No customer needs suppressing" in text
    assert "connectly-nb suppress" not in text
