"""A Parquet cache of tidy exports, keyed by the source files' content.

``read_export(..., cache=True)`` stores the five tables of the Export as
Parquet under a key made of the files' content hash (SHA-1: a cache key, not a
security boundary), their names, a hash of the package's code and the load
options; the next load of unchanged files reads the Parquet files instead of
parsing the CSV again. A changed file, or another version of the code, gives
another key; a corrupt cache entry is rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from connectly_nb._fs import atomic_directory
from connectly_nb._version import source_hash
from connectly_nb.exceptions import CacheWarning
from connectly_nb.export import Export
from connectly_nb.load import Input

__all__ = ["CacheWarning", "cache_dir", "cache_key", "load_cached", "store"]

TABLES = ("messages", "clicks", "variables", "problems", "accounting")
FORMAT = 1  # bump when the stored layout changes


def cache_dir(cache: bool | str | os.PathLike[str]) -> Path:
    """The cache folder: the one given, ``$CONNECTLY_NB_CACHE``, or ``~/.cache/connectly_nb``.

    Parameters
    ----------
    cache : True or path
        ``True`` for the default folder.

    Returns
    -------
    pathlib.Path
        The folder (not created here; ``~`` in a given path is not expanded).
    """
    if cache is True:
        default = os.environ.get("CONNECTLY_NB_CACHE") or Path.home() / ".cache" / "connectly_nb"
        return Path(default)
    return Path(cache).expanduser()


def cache_key(inputs: Sequence[Input], *, tz: str, dedupe: bool) -> str:
    """Content hash of the inputs (in order, with their names), the code and the options.

    Parameters
    ----------
    inputs : sequence of Input
        From :func:`connectly_nb.load.resolve_sources`.
    tz : str
        The time zone option of the load.
    dedupe : bool
        The ``dedupe`` option of the load.

    Returns
    -------
    str
        40 hex digits.
    """
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(json.dumps([FORMAT, source_hash(), tz, dedupe]).encode())
    for inp in inputs:
        inp.update_digest(digest)
    return digest.hexdigest()


def load_cached(folder: Path, key: str) -> Export | None:
    """The cached Export for ``key``, or None (missing, or corrupt: removed with a warning).

    Parameters
    ----------
    folder : pathlib.Path
        The cache folder.
    key : str
        From :func:`cache_key`.

    Returns
    -------
    Export or None
        The Export stored by :func:`store`, or None when there is no
        readable entry.

    Warns
    -----
    CacheWarning
        The entry exists but cannot be read; it is removed.
    """
    entry = folder / key
    if not (entry / "meta.json").exists():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        tables = {name: pd.read_parquet(entry / f"{name}.parquet") for name in TABLES}
        return Export(tz=meta["tz"], **tables)
    except Exception as exc:  # any unreadable entry is rebuilt, and said so
        warnings.warn(
            f"the cached export in {entry} could not be read ({type(exc).__name__}: {exc}); "
            "reading the CSV files again and rebuilding it",
            CacheWarning,
            stacklevel=3,
        )
        shutil.rmtree(entry, ignore_errors=True)
        return None


def store(folder: Path, key: str, export: Export) -> Path:
    """Write ``export`` under ``key``, whole or not at all.

    Parameters
    ----------
    folder : pathlib.Path
        The cache folder (created if needed).
    key : str
        From :func:`cache_key`.
    export : Export
        The tables to keep.

    Returns
    -------
    pathlib.Path
        The entry's folder.
    """
    with atomic_directory(folder / key) as tmp:
        for name in TABLES:
            getattr(export, name).to_parquet(tmp / f"{name}.parquet")
        (tmp / "meta.json").write_text(json.dumps({"tz": export.tz, "format": FORMAT}))
    return folder / key
