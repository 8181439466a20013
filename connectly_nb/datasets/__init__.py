"""The bundled sample export, and the generator that made it.

>>> from connectly_nb.datasets import sample_export
>>> ex = sample_export()
>>> len(ex.messages)
6000
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from connectly_nb.datasets.generator import export_text, generate_export, write_export
from connectly_nb.tidy import Export, read_export

__all__ = [
    "SAMPLE_ROWS",
    "SAMPLE_SEED",
    "export_text",
    "generate_export",
    "sample_export",
    "sample_path",
    "write_export",
]

#: How the bundled sample was generated: ``write_export(path, rows=SAMPLE_ROWS, seed=SAMPLE_SEED)``.
SAMPLE_ROWS = 6000
SAMPLE_SEED = 7


def sample_path() -> Path:
    """Path of the bundled sample export (a CSV file inside the package)."""
    return Path(str(resources.files("connectly_nb.datasets").joinpath("sample_export.csv")))


def sample_export(*, tz: str = "UTC") -> Export:
    """Load the bundled sample export.

    Four campaigns, eight sendouts, 6,005 records (five repeated by a "later
    daily report" and merged), with a handful of real-world problems: an id
    mangled by Excel, an ``N/A`` timestamp, invalid JSON in a click cell.

    Parameters
    ----------
    tz : str, default "UTC"
        Time zone to show timestamps in.

    Returns
    -------
    Export
    """
    return read_export(sample_path(), tz=tz, progress=False)
