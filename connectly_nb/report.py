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
import os
import re
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from connectly_nb._html import key_figures_html as _key_figures_html
from connectly_nb.errors import ConnectlyError
from connectly_nb.metrics import funnel
from connectly_nb.safety import mask_phone
from connectly_nb.tidy import Export, _check_tz, read_export

__all__ = [
    "ReportError",
    "header_html",
    "key_figures_html",
    "message_sample",
    "render_report",
    "table",
]

KERNEL = "python3"
# a src/href that leaves the file: http(s), protocol-relative //, or a data-less url()
_REMOTE = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE
)


class ReportError(ConnectlyError, RuntimeError):
    """The report could not be rendered (the notebook failed, or the page is unsafe)."""


def template_path() -> Path:
    """The report notebook that ``render_report`` executes."""
    return Path(str(resources.files("connectly_nb").joinpath("templates", "report.ipynb")))


# --------------------------------------------------------------------------- cell helpers


def header_html(export: Export, *, title: str) -> str:
    """The report's title and what it covers, escaped."""
    s = export.summary()
    if s["first_sent"] is not None:
        span = (
            f"sent {s['first_sent']:%d %b %Y %H:%M} – {s['last_sent']:%d %b %Y %H:%M} ({export.tz})"
        )
    else:
        span = "no sent messages"
    files = ", ".join(os.path.basename(str(x)) for x in export.accounting["source"])
    return (
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{s['rows']:,} messages in {s['campaigns']} campaign(s) and {s['sendouts']} "
        f"sendout(s); {html.escape(span)}. From: {html.escape(files)}.</p>"
    )


def key_figures_html(export: Export) -> str:
    """Messages and key rates with their denominators, as an HTML table."""
    row = funnel(export, by=None).iloc[0]
    counts = {
        c: int(row[c])
        for c in ("rows", "sent", "delivered", "read", "clicked", "failed", "opted_out")
    }
    return _key_figures_html(counts)


def table(frame: pd.DataFrame) -> Any:
    """A result frame shown without its index, every cell escaped (for the report)."""
    from IPython.display import HTML

    from connectly_nb.plots import pretty

    return HTML(pretty(frame).to_html(index=False, escape=True, border=0, classes="dataframe"))


def message_sample(
    export: Export, *, rows: int = 10, show_phone_numbers: bool = False
) -> pd.DataFrame:
    """The first messages, phone numbers masked unless asked otherwise."""
    m = export.messages.head(rows)
    ids = m["customer_external_id"]
    return pd.DataFrame(
        {
            "customer": ids.astype(object) if show_phone_numbers else mask_phone(ids),
            "campaign": m["campaign_name"].astype(str),
            "sent_at": m["sent_at"].dt.strftime("%Y-%m-%d %H:%M"),
            "stage": m["stage"].astype(str),
            "error_code": m["error_code"].astype(object).fillna(""),
            "clicks": m["n_clicks"],
        }
    ).reset_index(drop=True)


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
) -> Path:
    """Execute the report notebook on an export and write a self-contained HTML page.

    Parameters
    ----------
    sources : path, list of paths, or None
        The export file(s), folder or pattern; ``None`` renders the bundled sample.
    output : path
        The HTML file to write (written whole or not at all).
    campaigns, error_codes, start, end : optional
        The selection, as for :meth:`Export.filter`.
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
    ReportError
        The notebook failed, or the page would load something from the network.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    tz = _check_tz(tz)
    for value, option in ((start, "--start"), (end, "--end")):
        if value is not None:
            try:
                pd.Timestamp(value)
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"{option}: cannot read {value!r} as a date (use e.g. 2024-11-30)"
                ) from exc
    paths: list[str] | None = None
    if sources is not None:
        items = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
        paths = [str(Path(p).resolve()) if Path(p).exists() else str(p) for p in items]
        read_export(paths, tz=tz, progress=False)  # a bad export fails here, clearly
    parameters = {
        "EXPORT": paths,
        "CAMPAIGNS": list(campaigns) if campaigns else None,
        "ERROR_CODES": list(error_codes) if error_codes else None,
        "START": str(start) if start is not None else None,
        "END": str(end) if end is not None else None,
        "TZ": tz,
        "TITLE": title,
        "SHOW_PHONE_NUMBERS": bool(show_phone_numbers),
    }
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="connectly-report-") as tmp:
        executed = Path(tmp) / "report.ipynb"
        try:
            papermill.execute_notebook(
                str(template_path()),
                str(executed),
                parameters=parameters,
                kernel_name=KERNEL,
                progress_bar=progress,
                cwd=tmp,
            )
        except papermill.PapermillExecutionError as exc:
            raise ReportError(
                f"the report notebook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
            ) from None
        nb = nbformat.read(executed, as_version=4)
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
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        body = _strip_remote(body)
        remote = _REMOTE.findall(body)
        if remote:
            raise ReportError(f"the page would load {len(remote)} resource(s) from the network")
        tmp_html = output.with_name(f".{output.name}.partial")
        tmp_html.write_text(body, encoding="utf-8")
        tmp_html.replace(output)
        if keep_notebook is not None:
            nbformat.write(nb, keep_notebook)
    return output


def _strip_remote(page: str) -> str:
    """Drop the script tags nbconvert's template adds for MathJax and require.js.

    The report shows no maths and no widgets: nothing on the page needs them.
    """
    page = re.sub(
        r"<script[^>]*\bsrc\s*=\s*[\"'](?:(?:https?:)?//[^\"']*)?[\"'][^>]*>\s*</script>",
        "",
        page,
        flags=re.IGNORECASE,
    )
    page = re.sub(
        r"<script type=\"text/x-mathjax-config\">.*?</script>",
        "",
        page,
        flags=re.IGNORECASE | re.DOTALL,
    )
    return re.sub(
        r"<link[^>]*\bhref\s*=\s*[\"'](?:https?:)?//[^>]*>", "", page, flags=re.IGNORECASE
    )
