"""The curated notebooks: one template, executed on the current code, with a kernelspec.

nbval (``make notebooks-test``, part of ``make test``) re-runs them and compares
the outputs; these checks catch what nbval cannot: a notebook committed
unexecuted, without a kernelspec, or executed on an older version of the code.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from connectly_nb._notebooks import source_hash

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    *sorted((ROOT / "notebooks").glob("*.ipynb")),
    ROOT / "tests" / "notebooks" / "report.ipynb",
]
EXPECTED = {
    "00_quickstart.ipynb",
    "01_campaign_overview.ipynb",
    "02_delivery_errors.ipynb",
    "03_engagement.ipynb",
    "04_variables_and_replies.ipynb",
    "05_compare_campaigns.ipynb",
    "06_history.ipynb",
    "report.ipynb",
}


def test_every_curated_notebook_is_there():
    assert {p.name for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_template_and_is_freshly_executed(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "no kernelspec"
    cells = nb.cells
    assert cells[0].cell_type == "markdown"
    assert cells[0].source.startswith("# ")
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged parameters (papermill)"
    # the source to read, None for the bundled data (a store's notebook reads daily reports)
    assert "EXPORT = None" in params[0].source or "REPORTS = None" in params[0].source
    for line in params[0].source.splitlines():
        if "=" in line and not line.startswith("#"):
            assert "#" in line, f"parameter without a comment: {line!r}"
    code = [c for c in cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert None not in counts, "a code cell was never executed: run make notebooks"
    assert counts == list(range(1, len(code) + 1)), "cells executed out of order"
    stamp = nb.metadata.get("connectly_nb", {}).get("source_hash")
    assert stamp == source_hash(), (
        f"{path.name} was executed on another version of connectly_nb: run make notebooks"
    )
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    # a warning on stderr carries this machine's paths: nbval fails it on a clean clone,
    # and an analyst reading the notebook should not meet it either
    stderr = [o for c in code for o in c.outputs if o.get("name") == "stderr"]
    assert not stderr, f"stderr output in {path.name}: {stderr[0]['text'][:300]}"
    for c in code:
        assert "sys.path" not in c.source
        assert "import os" not in c.source


def test_report_notebook_is_the_packaged_template_executed():
    from connectly_nb.report import template_path

    executed = nbformat.read(next(p for p in NOTEBOOKS if p.name == "report.ipynb"), as_version=4)
    template = nbformat.read(template_path(), as_version=4)

    def shape(nb):
        return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]

    assert shape(executed) == shape(template), (
        "tests/notebooks/report.ipynb drifted: make notebooks"
    )
    # the packaged template carries no outputs: reports are rendered by papermill
    assert not any(c.get("outputs") or c.get("execution_count") for c in template.cells)
    assert "connectly_nb" not in template.metadata
    assert template.metadata.get("kernelspec", {}).get("name") == "python3"


def test_strip_never_writes_through_a_planted_link(tmp_path):
    # issue 14, item 3: every writer of the package goes through the one atomic writer
    from connectly_nb._notebooks import strip

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"})]
    nb.cells.append(cell)
    victim = tmp_path / "victim.ipynb"
    nbformat.write(nb, victim)
    before = victim.read_bytes()
    target = tmp_path / "n.ipynb"
    target.symlink_to(victim)
    strip(target)
    assert victim.read_bytes() == before
    assert not target.is_symlink()
    assert nbformat.read(target, as_version=4).cells[0].outputs == []


def test_a_misspelt_conversion_stops_notebook_01_with_the_names_there_are(tmp_path):
    # funnel() counts no conversion for a name no click has; the notebook checks first
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "01_campaign_overview.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"CONVERSIONS": ["Ver oferta"]},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(ROOT / "notebooks"),
        )
    assert info.value.ename == "SelectionError"
    assert "'Ver oferta' (did you mean 'Ver ofertas'?)" in info.value.evalue
