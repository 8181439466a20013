"""Rendered reports: the report notebook executed with papermill, then HTML without code.

``render_report`` checks the export and the options first (a bad file or a
bad option is a clear error before anything runs), executes
``templates/report.ipynb`` with papermill, and converts the result with
nbconvert's HTML exporter, code cells left out. The template draws static
charts (PNG embedded in the page) and tables, so the page needs nothing from
any other host: MathJax and require.js are not loaded, and a check refuses to
write a page that would fetch a script, style or image from the network.
"""

from __future__ import annotations

import datetime as dt
import html
import html.parser
import os
import re
import shlex
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb import display, metrics
from connectly_nb._fs import atomic_write, check_writable
from connectly_nb._keys import blank_filled
from connectly_nb._stages import key_figures, stage_bits
from connectly_nb._time import check_tz, parse_date
from connectly_nb.conversions import ClickSet
from connectly_nb.datasets import load_or_sample
from connectly_nb.exceptions import ReportError
from connectly_nb.export import Export
from connectly_nb.load import check_not_an_input
from connectly_nb.schema import describe_error

__all__ = [
    "REPORT_CSS",
    "ReportError",
    "campaign_comparison",
    "comparison_html",
    "header_html",
    "key_figures_html",
    "local_kernel_manager",
    "message_sample",
    "next_steps_html",
    "quality_table",
    "render_report",
    "resolve_negatives",
    "selection_html",
    "style_html",
    "summary_html",
    "table",
    "use_alt_texts",
]

KERNEL = "python3"
# What makes a browser fetch without a click: an element and its URL attributes ...
_FETCH_ATTRS = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "source": ("src", "srcset"),
    "track": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    "feimage": ("href", "xlink:href"),
}
# ... a <link> of these kinds ...
_FETCH_RELS = frozenset(
    [
        "stylesheet",
        "icon",
        "shortcut",
        "apple-touch-icon",
        "mask-icon",
        "preload",
        "prefetch",
        "modulepreload",
        "preconnect",
        "dns-prefetch",
        "manifest",
        "import",
    ]
)
# ... and CSS pointing at another host.
_CSS_REMOTE = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I)


def template_path() -> Path:
    """The report notebook that ``render_report`` executes.

    Returns
    -------
    pathlib.Path
        ``templates/report.ipynb`` inside the installed package.
    """
    return Path(str(resources.files("connectly_nb").joinpath("templates", "report.ipynb")))


# --------------------------------------------------------------------------- cell helpers


def header_html(export: Export, *, title: str) -> str:
    """The report's title and what it covers, escaped.

    Parameters
    ----------
    export : Export
        The selection the report shows.
    title : str
        The report's title.

    Returns
    -------
    str
        HTML.
    """
    s = export.summary()
    n = display.format_number_of
    if s["first_sent"] is not None:
        span = (
            f"sent {s['first_sent']:%d %b %Y %H:%M} – {s['last_sent']:%d %b %Y %H:%M} ({export.tz})"
        )
    else:
        span = "no sent messages"
    files = ", ".join(os.path.basename(str(x)) for x in export.accounting["source"])
    empty = (
        "<p><strong>No messages match the selection.</strong> The sections below are "
        "empty; check the campaigns, error codes and dates asked for.</p>"
        if not s["rows"]
        else ""
    )
    return (
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{n(s['rows'], 'message')} in {n(_n_campaigns(export), 'campaign')} and "
        f"{n(s['sendouts'], 'sendout')}; {html.escape(span)}. "
        f"From: {html.escape(files)}.</p>{empty}"
    )


def key_figures_html(export: Export, *, conversions: Any = None, negatives: Any = None) -> str:
    """Messages and key rates with their denominators, as an HTML table.

    Parameters
    ----------
    export : Export
        The selection the report shows.
    conversions, negatives : optional
        As for :func:`connectly_nb.metrics.funnel`: adds converted / said no.

    Returns
    -------
    str
        HTML (see :func:`connectly_nb.display.key_figures_html`).
    """
    counts = key_figures(stage_bits(export.messages))
    f = metrics.funnel(export, by=None, conversions=conversions, negatives=negatives).iloc[0]
    for name in ("converted", "negative"):
        if name in f:
            counts[name] = int(f[name])
    return display.key_figures_html(counts)


def resolve_negatives(export: Export, negatives: Any) -> ClickSet | None:
    """The report's ``NEGATIVES`` parameter: ``"auto"`` suggests them from button names.

    Parameters
    ----------
    export : Export
        Where the buttons come from.
    negatives : "auto", None, or what :meth:`ClickSet.of` reads
        ``"auto"``: :func:`connectly_nb.conversions.suggest_negatives`.

    Returns
    -------
    ClickSet or None
    """
    from connectly_nb.conversions import suggest_negatives

    if negatives == "auto":
        return suggest_negatives(export.clicks)
    return ClickSet.of(negatives, label="negative")


def campaign_comparison(
    export: Export, *, conversions: Any = None, negatives: Any = None
) -> pd.DataFrame | None:
    """The best campaign against the weakest, adjusted for having picked them.

    :func:`connectly_nb.metrics.best_and_worst` by campaign, on the conversion
    rate with ``conversions``, else the click rate.

    Parameters
    ----------
    export : Export
        The selection the report shows.
    conversions, negatives : optional
        As for :func:`connectly_nb.metrics.funnel`.

    Returns
    -------
    pandas.DataFrame or None
        The comparison's row; None with fewer than two campaigns to rank
        (:func:`comparison_html` says why).
    """
    c = metrics.best_and_worst(export, conversions=conversions, negatives=negatives)
    return None if c.empty else c


def comparison_html(
    export: Export, comparison: pd.DataFrame | None, *, conversions: Any = None
) -> str:
    """What the comparison of campaigns ranked, and what it left out, in words.

    Parameters
    ----------
    export : Export
        The selection the report shows.
    comparison : pandas.DataFrame or None
        :func:`campaign_comparison`'s result.
    conversions : optional
        What counts as a conversion (to name the rate).

    Returns
    -------
    str
        HTML: a paragraph.
    """
    what = "conversions" if ClickSet.of(conversions) else "clicks"
    need = f"at least {metrics.MIN_MESSAGES} delivered messages and at least one {what[:-1]}"
    if comparison is None:
        n = (
            int(export.messages["campaign_name"].nunique(dropna=False))
            if len(export.messages)
            else 0
        )
        text = (
            f"Fewer than two campaigns have {need}: nothing to compare "
            f"({display.format_number_of(n, 'campaign')} in the selection)."
        )
        return f"<p class='{display.NO_MATH}'>{html.escape(text)}</p>"
    row = comparison.iloc[0]
    text = (
        f"Ranked: {display.format_number_of(int(row['groups']), 'campaign')} with {need}. "
        "Picking the best and the weakest after seeing the rates is like testing every "
        f"pair ({display.format_number_of(int(row['pairs']), 'pair')}), so the p-value is "
        "adjusted for that: equal campaigns are called different at most 5% of the time."
    )
    if row["left_out"]:
        text += (
            f" Not ranked, with no {what} at all (they may not offer it): "
            + ", ".join(row["left_out"])
            + "."
        )
    return f"<p class='{display.NO_MATH}'>{html.escape(text)}</p>"


def table(frame: pd.DataFrame) -> Any:
    """A result frame shown without its index, every cell escaped (for the report).

    Parameters
    ----------
    frame : pandas.DataFrame
        A metric's result.

    Returns
    -------
    IPython.display.HTML
        :func:`connectly_nb.display.html_table` of the frame.
    """
    from IPython.display import HTML

    return HTML(display.html_table(frame))


def message_sample(
    export: Export, *, rows: int = 10, show_phone_numbers: bool = False
) -> pd.DataFrame:
    """The first messages, phone numbers masked unless asked otherwise.

    Parameters
    ----------
    export : Export
        The selection the report shows.
    rows : int
        How many.
    show_phone_numbers : bool
        Show full customer ids.

    Returns
    -------
    pandas.DataFrame
        See :func:`connectly_nb.display.message_sample`.
    """
    return display.message_sample(export.messages, rows=rows, show_phone_numbers=show_phone_numbers)


#: The report's own style: the page width on a screen, a phone at 390 px, and paper.
REPORT_CSS = """
body { max-width: 1100px; margin: 0 auto; padding: 0 16px; }
.jp-Cell, .jp-OutputArea-output { max-width: 100%; }
img { max-width: 100%; height: auto; }
table.dataframe { font-size: 0.9em; }
.summary { font-size: 1.1em; line-height: 1.5; background: #f4f6f8; padding: 8px 14px; }
details > summary { cursor: pointer; color: #555; }
@media (max-width: 600px) {
  body { padding: 0 6px; }
  h1 { font-size: 1.4em; }
  .summary { font-size: 1em; }
}
@media print {
  @page { size: auto; margin: 14mm; }
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  img, table { break-inside: avoid; }
  details { display: block; }
  /* paper cannot scroll: tables shrink to the page instead of being cut at its edge */
  div[style*="overflow-x"] { overflow: visible !important; }
  table.dataframe { font-size: 0.7em; }
  table.dataframe th, table.dataframe td { padding: 2px 4px; }
}
"""


def style_html() -> str:
    """The report's CSS, as an HTML ``style`` element (nothing is fetched).

    Returns
    -------
    str
    """
    return f"<style>{REPORT_CSS}</style>"


def selection_html(
    *,
    campaigns: Sequence[str] | None,
    error_codes: Sequence[str] | None,
    start: str | None,
    end: str | None,
    tz: str,
    conversions: Any = None,
    negatives: Any = None,
    negatives_suggested: bool = False,
) -> str:
    """The filters the report was asked for, in words (not only the data's range).

    Parameters
    ----------
    campaigns, error_codes : sequence of str or None
        As asked for (``None``: all).
    start, end : str or None
        The first and last sent dates asked for.
    tz : str
        The time zone of the dates and times shown.
    conversions : ClickSet, list of str or None
        What counts as a conversion.
    negatives : ClickSet, list of str or None
        The buttons counted as saying no.
    negatives_suggested : bool
        The negatives were suggested from the buttons' names (``"auto"``),
        not named by the user: the page says so.

    Returns
    -------
    str
        HTML.
    """
    parts = [
        "campaigns: " + (", ".join(campaigns) if campaigns else "all"),
        "error codes: " + (", ".join(error_codes) if error_codes else "all"),
        f"sent: {start or 'from the first'} to {end or 'the last'} ({tz})",
    ]
    spec = ClickSet.of(conversions)
    parts.append("conversion: " + (spec.describe() if spec else "not defined (every click counts)"))
    said_no = ClickSet.of(negatives, label="negative")
    if said_no:
        how = " (suggested from the buttons' names)" if negatives_suggested else ""
        parts.append(f"said no: {said_no.describe()}{how}")
    return (
        f"<p class='{display.NO_MATH}'><small>Selection: "
        + html.escape("; ".join(parts))
        + ".</small></p>"
    )


def summary_html(export: Export, *, conversions: Any = None, negatives: Any = None) -> str:
    """Two to four sentences a manager reads first, generated from the numbers.

    How many were reached, the conversion (or click) rate with its interval,
    the best and the weakest campaign and whether their difference could be
    chance (as :func:`campaign_comparison` decides it), and the largest
    failure with what to do about it (and the largest the business can fix,
    when that is another one). A rate whose denominator is zero is not
    written: "none of the 96 messages was delivered".

    Parameters
    ----------
    export : Export
        The selection the report shows.
    conversions, negatives : optional
        As for :func:`connectly_nb.metrics.funnel`.

    Returns
    -------
    str
        HTML (a ``div`` of class ``summary``).
    """
    if not len(export.messages):
        return "<div class='summary'>No messages match the selection.</div>"
    f = metrics.funnel(export, by=None, conversions=conversions, negatives=negatives).iloc[0]
    text = _reach(f, export) + _best_and_worst(export, conversions, negatives)
    text += _top_failure(export)
    body = " ".join(html.escape(t) for t in text)
    return f"<div class='summary {display.NO_MATH}'>{body}</div>"


def _reach(f: pd.Series, export: Export) -> list[str]:
    """How many were sent, delivered and read, and the conversion (or click) rate."""
    n = display.format_number_of
    sent, delivered = int(f["sent"]), int(f["delivered"])
    campaigns = n(_n_campaigns(export), "campaign")
    if not sent:
        return [f"None of the {n(int(f['rows']), 'message')} in {campaigns} was sent."]
    if not delivered:
        return [f"{n(sent, 'message')} were sent in {campaigns}; none was delivered."]
    rate = "conversion_rate" if "conversion_rate" in f else "click_rate"
    what = "converted" if rate == "conversion_rate" else "clicked"
    pct = display.format_percent
    return [
        f"{n(sent, 'message')} {'was' if sent == 1 else 'were'} sent in {campaigns}; "
        f"{pct(f['delivery_rate'])} were delivered ({delivered:,}) and at least "
        f"{pct(f['read_rate'])} of those were read.",
        f"{pct(f[rate])} of the delivered messages {what} "
        f"(95% interval {pct(f[rate + '_low'])}–{pct(f[rate + '_high'])}).",
    ]


def _n_campaigns(export: Export) -> int:
    """How many campaigns, as the funnel groups them (blank names are one)."""
    return int(blank_filled(export.messages["campaign_name"]).nunique())


def _best_and_worst(export: Export, conversions: Any, negatives: Any) -> list[str]:
    c = campaign_comparison(export, conversions=conversions, negatives=negatives)
    if c is None:
        return []
    row = c.iloc[0]
    pct = display.format_percent
    pair = (
        f"Best campaign: {row['label_b']} ({pct(row['rate_b'])}); "
        f"weakest: {row['label_a']} ({pct(row['rate_a'])})"
    )
    p = display.format_p_value(row["p_adjusted"])
    adjusted = f"{p}, allowing for the {int(row['pairs'])} possible pairs"
    verdict = {
        "significant": f"a real difference ({adjusted}).",
        "not significant": f"the gap could be chance ({adjusted}).",
        "too few": "too few messages to tell whether the gap is real.",
        "equal": "every ranked campaign has the same rate.",
    }[row["outcome"]]
    return [f"{pair}: {verdict}"]


def _top_failure(export: Export) -> list[str]:
    e = metrics.errors(export)
    if e.empty:
        return ["No message failed."]

    def sentence(what: str, top: pd.Series) -> str:
        return (
            f"{what} is {top['error_code']} ({top['title']}: "
            f"{display.format_number_of(int(top['count']), 'message')}, "
            f"{display.format_percent(top['share_of_failed'])} of failures): {top['advice']}"
        )

    top = e.iloc[0]
    if top["fixable"]:
        return [sentence("The largest group of failures, and one you can fix,", top)]
    out = [sentence("The largest group of failures", top)]
    fixable = e[e["fixable"].to_numpy(dtype=bool)]
    if len(fixable):
        out.append(sentence("The largest you can fix", fixable.iloc[0]))
    else:
        out.append("None of the failures has a cause the business can fix.")
    return out


def next_steps_html(
    export: Export,
    *,
    sources: Sequence[str] | None = None,
    everything: Export | None = None,
) -> str:
    """Who to stop messaging and which templates to fix, with the command that does it.

    Parameters
    ----------
    export : Export
        The selection the report shows (the templates to fix).
    sources : sequence of str, optional
        The export files (for the command line shown); the sample when None.
    everything : Export, optional
        Every message of the files, whatever the selection: who to suppress
        is decided on all of them, as ``connectly-nb suppress`` does
        (default: ``export``).

    Returns
    -------
    str
        HTML.
    """
    everything = export if everything is None else everything
    sup = metrics.suppression_list(everything)
    files = " ".join(shlex.quote(os.path.basename(str(x))) for x in (sources or []))
    command = f"connectly-nb suppress {files or '--sample'} -o suppress.csv"
    where = " (in the folder of the export files)" if sources else ""
    scope = " across every campaign of the files" if everything is not export else ""
    if len(sup):
        who = (
            f"<b>{html.escape(display.format_number_of(len(sup), 'customer'))}</b>{scope} "
            "should not be messaged again (opted out, or a failure that means it). "
            f"Write the list{where}: <code>{html.escape(command)}</code>"
        )
    else:  # no list to write
        who = f"No customer{scope} needs suppressing (nobody opted out or failed for good)."
    items = [f"<li>{who}{_unreadable_note(everything)}</li>"]
    items += _fixes(export)
    return f"<ul class='{display.NO_MATH}'>" + "".join(items) + "</ul>"


def _unreadable_note(export: Export) -> str:
    n = int(metrics.unreadable_ids(export).sum())
    if not n:
        return ""
    return (
        f"<br><small>{html.escape(display.format_number_of(n, 'message'))} with a blank id or "
        "one Excel rewrote cannot be judged: re-export them from Connectly.</small>"
    )


def _fixes(export: Export) -> list[str]:
    """The templates to fix, and the other failures the business can fix, by campaign."""
    e = metrics.errors(export, by="campaign_name")
    e = e[e["fixable"].to_numpy(dtype=bool)]
    if e.empty:
        return ["<li>No template or business error to fix.</li>"]
    template = np.array([describe_error(str(c)).template for c in e["error_code"]], dtype=bool)
    out = []
    for heading, part in (("Templates to fix", e[template]), ("Other fixes", e[~template])):
        if part.empty:
            continue
        fixes = []
        for (code, title, advice), g in part.groupby(
            ["error_code", "title", "advice"], sort=False, observed=True
        ):
            pairs = zip(g["campaign_name"], g["count"], strict=True)
            where = ", ".join(f"{c} ({n:,})" for c, n in pairs)
            fixes.append(
                f"<li>{html.escape(f'{code} {title}')}: {html.escape(advice)} "
                f"<small>{html.escape(where)}</small></li>"
            )
        out.append(f"<li><b>{heading}</b>:<ul>{''.join(fixes)}</ul></li>")
    return out


def quality_table(export: Export) -> Any:
    """The data-quality appendix: each kind of problem in plain words, and each file read.

    Parameters
    ----------
    export : Export
        The selection the report shows.

    Returns
    -------
    IPython.display.HTML
        Two tables; files by name only (never the folders they were in).
    """
    from IPython.display import HTML

    # a problem is about a record (a line of a file), not a message
    summary = export.problem_summary()[["meaning", "rows", "severity"]].rename(
        columns={"rows": "records"}
    )
    acc = export.accounting.assign(
        source=[os.path.basename(str(x)) for x in export.accounting["source"]]
    )[["source", "records_read", "rows_kept", "duplicates_merged", "as_of"]]
    problems = (
        display.html_table(summary) if len(summary) else "<p>No problem found in the files.</p>"
    )
    return HTML(problems + "<h4>Files read</h4>" + display.html_table(acc))


# --------------------------------------------------------------------------- rendering


def render_report(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    output: str | os.PathLike[str],
    *,
    campaigns: Sequence[str] | None = None,
    error_codes: Sequence[str] | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    tz: str = "UTC",
    title: str = "Connectly campaign report",
    show_phone_numbers: bool = False,
    progress: bool = True,
    keep_notebook: str | os.PathLike[str] | None = None,
    conversions: Sequence[str] | None = None,
    negatives: Sequence[str] | str | None = "auto",
) -> Path:
    """Execute the report notebook on an export and write a self-contained HTML page.

    Parameters
    ----------
    sources : path, list of paths, or None
        The export file(s), folder or pattern; ``None`` renders the bundled sample.
    output : path
        The HTML file to write (written whole or not at all).
    campaigns, error_codes : sequence of str, optional
        The selection, as for :meth:`Export.filter`.
    start, end : str or datetime.date, optional
        The selection, as for :meth:`Export.filter` (checked before anything
        runs).
    tz : str
        Time zone of the times shown.
    title : str
        The report's title.
    show_phone_numbers : bool
        Show full phone numbers in the message sample (masked by default).
    progress : bool
        Show papermill's progress bar.
    keep_notebook : path, optional
        Also keep the executed notebook there.
    conversions : sequence of str, optional
        Button names and link URLs (or URL prefixes) that count as a
        conversion (:class:`connectly_nb.conversions.ClickSet`).
    negatives : "auto", sequence of str or None
        Buttons that say no; ``"auto"`` suggests them from their names.

    Returns
    -------
    pathlib.Path
        The HTML file.

    Raises
    ------
    ExportFormatError, ExportNotFoundError
        The export cannot be read (checked before anything runs).
    ValueError
        A bad option (time zone, date).
    IsADirectoryError, FileNotFoundError
        ``output`` is a folder, or its folder does not exist (checked first).
    OverwriteError
        ``output`` is one of the export files (checked first: the export is
        never overwritten).
    ReportError
        The notebook failed, or the page would load something from the network.
    """
    output = check_writable(output, what="the report")
    check_not_an_input(output, sources, what="the report")
    if keep_notebook is not None:
        keep = check_writable(keep_notebook, what="keep_notebook")
        check_not_an_input(keep, sources, what="keep_notebook")
    with tempfile.TemporaryDirectory(prefix="connectly-report-") as tmp:
        parameters = _parameters(
            sources,
            cache=Path(tmp) / "cache",
            campaigns=campaigns,
            error_codes=error_codes,
            start=start,
            end=end,
            tz=tz,
            title=title,
            show_phone_numbers=show_phone_numbers,
            conversions=conversions,
            negatives=negatives,
        )
        nb = _execute(parameters, Path(tmp), progress=progress)
    page = _to_html(nb, title=title)
    with atomic_write(output, mode="w", encoding="utf-8") as fh:
        fh.write(page)
    if keep_notebook is not None:
        import nbformat

        with atomic_write(keep_notebook, mode="w", encoding="utf-8") as fh:
            nbformat.write(nb, fh)
    return output


def _parameters(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    *,
    cache: Path,
    **options: Any,
) -> dict[str, Any]:
    """Check the options and the export before anything runs; papermill's parameters.

    The export read here is kept in ``cache`` (a folder of the run), where
    the notebook finds it instead of reading the files a second time.
    """
    tz = check_tz(options["tz"])
    for name, option in (("start", "--start"), ("end", "--end")):
        if options[name] is not None:
            parse_date(options[name], option=option)
    paths: list[str] | None = None
    if sources is not None:
        items = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
        paths = [str(Path(p).resolve()) if Path(p).exists() else str(p) for p in items]
    # a bad export, an unknown campaign or error code fail here, clearly, before any work
    export = load_or_sample(paths, tz=tz, progress=False, cache=cache)
    start, end = options["start"], options["end"]
    export.selection(
        campaigns=options["campaigns"] or None,
        error_codes=options["error_codes"] or None,
        start=start,
        end=end,
    )
    negatives = _negatives_parameter(options["negatives"])
    for spec, label in ((options["conversions"], "converted"), (negatives, "negative")):
        if spec != "auto":
            clicks = ClickSet.of(spec, label=label)
            if clicks is not None:
                clicks.check(export.clicks)
    return {
        "EXPORT": paths,
        "CAMPAIGNS": list(options["campaigns"]) if options["campaigns"] else None,
        "ERROR_CODES": list(options["error_codes"]) if options["error_codes"] else None,
        "START": str(start) if start is not None else None,
        "END": str(end) if end is not None else None,
        "TZ": tz,
        "TITLE": options["title"],
        "SHOW_PHONE_NUMBERS": bool(options["show_phone_numbers"]),
        "CONVERSIONS": list(options["conversions"]) if options["conversions"] else None,
        "NEGATIVES": negatives,
        "CACHE": str(cache) if paths is not None else None,
    }


def _negatives_parameter(negatives: Any) -> Any:
    if negatives in ("auto", None):
        return negatives
    if isinstance(negatives, str):
        return "auto" if negatives == "auto" else None if negatives == "none" else [negatives]
    return list(negatives)


def _execute(parameters: dict[str, Any], workdir: Path, *, progress: bool) -> Any:
    """The report notebook executed by papermill with ``parameters``."""
    import nbformat
    import papermill

    executed = workdir / "report.ipynb"
    try:
        papermill.execute_notebook(
            str(template_path()),
            str(executed),
            parameters=parameters,
            kernel_name=KERNEL,
            progress_bar=progress,
            cwd=str(workdir),
            kernel_manager_class=local_kernel_manager(),
        )
    except papermill.PapermillExecutionError as exc:
        raise ReportError(
            f"the report notebook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        ) from None
    return nbformat.read(executed, as_version=4)


def local_kernel_manager() -> type:
    """A kernel manager whose kernel talks over local (IPC) sockets, not TCP.

    Nothing listens on a network port while a report runs, and the kernel has
    no reason to warn "running over TCP without encryption" into the terminal.

    Returns
    -------
    type
        A subclass of jupyter_client's ``AsyncKernelManager``.
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import default

    class LocalKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("transport")
        def _local(self) -> str:
            return "ipc"

        @default("ip")
        def _socket_path(self) -> str:
            # absolute: the kernel may run in another folder than its client
            folder = Path(jupyter_runtime_dir())
            folder.mkdir(parents=True, exist_ok=True)
            return str(folder / f"connectly-ipc-{os.getpid()}-{id(self)}")

    return LocalKernelManager


def _to_html(nb: Any, *, title: str) -> str:
    """The executed notebook as a page without code that needs nothing from the network."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {"template-only"}
    config.TagRemovePreprocessor.enabled = True
    exporter = HTMLExporter(
        config=config,
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.mathjax_url = ""
    body, _ = exporter.from_notebook_node(
        _with_alt_texts(nb), resources={"metadata": {"name": title}}
    )
    body = _strip_remote(body)
    remote = _remote_resources(body)
    if remote:
        raise ReportError(
            f"the page would load {display.format_number_of(len(remote), 'resource')} from the "
            "network: " + "; ".join(remote[:3])
        )
    return body


def use_alt_texts() -> None:
    """Give every matplotlib figure shown from now on an alternative text.

    Called by the report template: each figure's PNG output carries
    :func:`connectly_nb.plots.describe_figure` in its metadata (``alt``),
    which :func:`render_report` writes into the page's ``<img>`` elements, so a
    screen reader says "Chart: Delivery failures by error code" rather than
    nbconvert's "No description has been provided".
    """
    from IPython import get_ipython
    from matplotlib.figure import Figure

    from connectly_nb.plots import describe_figure

    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    png = formatter.lookup_by_type(Figure)

    def with_alt(fig: Figure) -> Any:
        data = png(fig)
        return (data, {"alt": describe_figure(fig)}) if data is not None else None

    formatter.for_type(Figure, with_alt)


def _with_alt_texts(nb: Any) -> Any:
    """A copy of ``nb`` whose figures with an ``alt`` are ``<img alt=...>`` HTML outputs.

    nbconvert's templates ignore the outputs' metadata and write "No
    description has been provided" (with a warning) for every image.
    """
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            alt = out.get("metadata", {}).get("image/png", {}).get("alt")
            if "image/png" in data and alt:
                png = "".join(data["image/png"].split())
                out["data"] = {
                    "text/html": f'<img alt="{html.escape(alt, quote=True)}" '
                    f'src="data:image/png;base64,{png}">'
                }
                out["metadata"] = {}
    return nb


def _strip_remote(page: str) -> str:
    """Drop every ``<script>`` element of the page, found by parsing it.

    nbconvert's template adds MathJax's configuration and a module script
    that imports mermaid from a CDN when a diagram is on the page; the report
    shows no maths, no diagram and no widget, so the page holds no script.
    """
    finder = _ScriptFinder()
    finder.feed(page)
    finder.close()
    starts = [0, *(m.end() for m in re.finditer("\n", page))]
    out, done = [], 0
    for (l0, c0), (l1, c1) in finder.spans:
        begin = starts[l0 - 1] + c0
        end = page.index(">", starts[l1 - 1] + c1) + 1 if l1 else len(page)
        out.append(page[done:begin])
        done = end
    out.append(page[done:])
    return "".join(out)


class _ScriptFinder(html.parser.HTMLParser):
    """Where each ``<script>`` element starts and where its end tag starts (line, column)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
        self._open: tuple[int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and self._open is None:
            self._open = self.getpos()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and self._open is None:
            self.spans.append((self.getpos(), self.getpos()))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open is not None:
            self.spans.append((self._open, self.getpos()))
            self._open = None

    def close(self) -> None:
        super().close()
        if self._open is not None:  # a script never closed runs to the end of the page
            self.spans.append((self._open, (0, 0)))


def _remote_resources(page: str) -> list[str]:
    """What in ``page`` would make a browser fetch something, found in its parsed elements.

    Text is never a resource, whatever it mentions. Reported: any
    ``<script>``; an element's URL attribute (``img[src]``, ``srcset``,
    ``iframe``, ``video``/``audio``/``source``, ``object[data]``, SVG
    ``image``/``use`` ...) that is not a ``data:`` URL or a ``#`` fragment; a
    ``<link>`` to a stylesheet, an icon or a preload; ``url(...)`` or
    ``@import`` to another host in a ``style`` attribute or a ``<style>``
    element; a ``<base>``; a ``<meta>`` refresh to a URL.
    """
    checker = _FetchChecker()
    checker.feed(page)
    checker.close()
    return checker.found


def _embedded(url: str) -> bool:
    value = url.strip().lower()
    return not value or value.startswith(("data:", "#"))


class _FetchChecker(html.parser.HTMLParser):
    """Collects the elements of a page that would fetch something (see ``_remote_resources``)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def _add(self, tag: str, what: str) -> None:
        self.found.append(f"<{tag}> {what[:80]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "script":
            self._add(tag, values.get("src") or "inline script")
        for name in _FETCH_ATTRS.get(tag, ()):
            if name in values and not _embedded(values[name]):
                self._add(tag, f"{name}={values[name]!r}")
        rels = set(values.get("rel", "").lower().split())
        if tag == "link" and rels & _FETCH_RELS and not _embedded(values.get("href", "")):
            self._add(tag, f"href={values.get('href')!r}")
        if tag == "base" and values.get("href"):
            self._add(tag, f"href={values['href']!r}")
        refresh = values.get("http-equiv", "").lower() == "refresh"
        if tag == "meta" and refresh and "url" in values.get("content", "").lower():
            self._add(tag, f"refresh {values.get('content')!r}")
        if _CSS_REMOTE.search(values.get("style", "")):
            self._add(tag, f"style={values['style']!r}")
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and _CSS_REMOTE.search(data):
            self._add("style", _CSS_REMOTE.search(data).group(0))
