"""Re-execute the curated notebooks in place and stamp them with the code they ran on.

``python -m connectly_nb._notebooks notebooks/0*.ipynb tests/notebooks/report.ipynb``
(``make notebooks``).
Each notebook gets ``metadata.connectly_nb.source_hash``, a hash of the
package's code and bundled data; the test suite compares it with the current
one, so a notebook committed with outputs from an older version of the code
fails the tests until it is re-executed.

``tests/notebooks/report.ipynb`` is the packaged report template, executed (kept
out of the analysts' ``notebooks/`` folder, tested by nbval like the others): it is
rebuilt from ``connectly_nb/templates/report.ipynb`` each time, so the
template in the package stays free of outputs and the two cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from connectly_nb._fs import atomic_write
from connectly_nb._version import source_hash

__all__ = ["execute", "main", "source_hash", "strip"]

REPORT = "report.ipynb"  # in tests/notebooks/: the packaged template, executed


def execute(path: Path, *, timeout: int = 600) -> None:
    """Run every cell of ``path`` in a fresh kernel and write the outputs back.

    ``report.ipynb`` is not read: the packaged template is executed
    in its place. The written notebook is stamped with :func:`source_hash`.

    Parameters
    ----------
    path : pathlib.Path
        The notebook to execute and overwrite.
    timeout : int, default 600
        Seconds each cell may run (nbclient's ``timeout``).
    """
    import nbformat
    from nbclient import NotebookClient

    if path.name == REPORT:
        from connectly_nb.report import template_path

        nb = nbformat.read(template_path(), as_version=4)
    else:
        nb = nbformat.read(path, as_version=4)
    from connectly_nb.report import local_kernel_manager

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.resolve().parent)}},
        kernel_manager_class=local_kernel_manager(),
    )
    client.execute()
    nb.metadata["connectly_nb"] = {"source_hash": source_hash()}
    with atomic_write(path, mode="w", encoding="utf-8") as fh:
        nbformat.write(nb, fh)


def strip(path: Path) -> None:
    """Remove outputs, execution counts and the code stamp (the packaged template).

    Also drops each cell's ``execution`` metadata and the notebook's ``widgets``
    metadata.

    Parameters
    ----------
    path : pathlib.Path
        The notebook to strip, in place.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("connectly_nb", None)
    nb.metadata.pop("widgets", None)
    with atomic_write(path, mode="w", encoding="utf-8") as fh:
        nbformat.write(nb, fh)


def main(argv: list[str]) -> int:
    """Execute the named notebooks in place (``make notebooks``).

    When ``report.ipynb`` is among them, the packaged template is stripped of
    outputs first.

    Parameters
    ----------
    argv : list of str
        Paths of the notebooks, as given on the command line.

    Returns
    -------
    int
        The exit status: 0 (a failing notebook raises instead).
    """
    if any(Path(name).name == REPORT for name in argv):
        from connectly_nb.report import template_path

        strip(template_path())  # an edit saved from JupyterLab leaves outputs in it
    for name in argv:
        path = Path(name)
        print(f"executing {path} ...", flush=True)
        execute(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
