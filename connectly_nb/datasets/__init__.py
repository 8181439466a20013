"""The bundled sample export, and the generator that made it.

>>> from connectly_nb.datasets import sample_export
>>> ex = sample_export()
>>> len(ex.messages)
6000
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path
from typing import Any

from connectly_nb.datasets.generator import (
    export_text,
    generate_daily_reports,
    generate_export,
    write_daily_reports,
    write_export,
)
from connectly_nb.export import Export
from connectly_nb.read import read_export

__all__ = [
    "DAILY_DAYS",
    "DAILY_ROWS_PER_DAY",
    "DAILY_SEED",
    "SAMPLE_ROWS",
    "SAMPLE_SEED",
    "daily_paths",
    "daily_reports",
    "export_text",
    "generate_daily_reports",
    "generate_export",
    "sample_export",
    "sample_path",
    "write_daily_reports",
    "write_export",
]

#: How the bundled sample was generated: ``write_export(path, rows=SAMPLE_ROWS, seed=SAMPLE_SEED)``.
SAMPLE_ROWS = 6000
SAMPLE_SEED = 7


#: How the bundled daily reports were generated: ``write_daily_reports(folder,
#: days=DAILY_DAYS, rows_per_day=DAILY_ROWS_PER_DAY, seed=DAILY_SEED)``.
DAILY_DAYS = 5
DAILY_ROWS_PER_DAY = 700
DAILY_SEED = 11


def daily_paths() -> list[Path]:
    """Paths of the bundled daily reports: five days of one business (notebook 06).

    One business, one pool of customers, one to three sendouts a day; each
    day's report repeats the earlier messages whose state moved on (3,525
    records, 3,250 messages once merged).

    Returns
    -------
    list of pathlib.Path
        ``daily/campaign_daily_2024-11-0{1..5}.csv`` in the installed package,
        in date order.
    """
    folder = Path(str(resources.files("connectly_nb.datasets").joinpath("daily")))
    return sorted(folder.glob("campaign_daily_*.csv"))


def daily_reports() -> list[io.BytesIO]:
    """The bundled daily reports as in-memory files named by their file names.

    What ``read_export`` and :func:`connectly_nb.store.ingest` show as each
    record's source is then ``campaign_daily_2024-11-01.csv``, not a path of
    this installation (so notebook outputs are the same everywhere).

    Returns
    -------
    list of io.BytesIO
        One per day, in date order, each with a ``name``.
    """
    files = []
    for path in daily_paths():
        data = io.BytesIO(path.read_bytes())
        data.name = path.name
        files.append(data)
    return files


def sample_path() -> Path:
    """Path of the bundled sample export (a CSV file inside the package).

    Returns
    -------
    pathlib.Path
        ``sample_export.csv`` in the installed package.
    """
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
        The sample, read without a progress bar; its source is named
        ``sample_export.csv``.
    """
    data = io.BytesIO(sample_path().read_bytes())
    data.name = "sample_export.csv"  # shown as the source: no install path in outputs
    return read_export(data, tz=tz, progress=False)


def load_or_sample(source: Any = None, *, tz: str = "UTC", **kwargs: Any) -> Export:
    """``read_export(source)``, or the bundled sample when ``source`` is None.

    The notebooks' parameter ``EXPORT = None`` means "the sample": pointing
    it at a file is the only edit an analyst needs.

    Parameters
    ----------
    source : path, str, folder, glob pattern, open file, list of these, or None
        What to read (as for :func:`~connectly_nb.read.read_export`); ``None``
        for the bundled sample.
    tz : str, default "UTC"
        Time zone to show timestamps in.
    **kwargs
        Passed to :func:`~connectly_nb.read.read_export` (``dedupe``,
        ``progress``, ``cache``); ignored for the sample.

    Returns
    -------
    Export
        The export read, or :func:`sample_export`'s.

    Raises
    ------
    ExportFormatError, ExportNotFoundError, TimeZoneError
        As for :func:`~connectly_nb.read.read_export`.
    """
    if source is None:
        return sample_export(tz=tz)
    return read_export(source, tz=tz, **kwargs)
