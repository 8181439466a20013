"""A Parquet cache of tidy exports, keyed by the source files' content.

``read_export(..., cache=True)`` stores the five tables of the Export as
Parquet under a key made of the files' content hash (SHA-1: a cache key, not a
security boundary), their names, the package version and the load options;
the next load of unchanged files reads the Parquet files instead of parsing
the CSV again. A changed file gives another key; a corrupt cache entry is
rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from connectly_nb.tidy import Export

__all__ = ["CacheWarning", "cache_dir", "cache_key", "load_cached", "store"]

TABLES = ("messages", "clicks", "variables", "problems", "accounting")
FORMAT = 1  # bump when the stored layout changes


class CacheWarning(UserWarning):
    """A cache entry could not be used and was rebuilt."""


def cache_dir(cache: bool | str | os.PathLike[str]) -> Path:
    """The cache folder: the one given, ``$CONNECTLY_NB_CACHE``, or ``~/.cache/connectly_nb``."""
    if cache is True:
        default = os.environ.get("CONNECTLY_NB_CACHE") or Path.home() / ".cache" / "connectly_nb"
        return Path(default)
    return Path(cache)


def cache_key(inputs: list[Any], *, tz: str, dedupe: bool) -> str:
    """Content hash of the inputs (in order, with their names) and the load options."""
    from connectly_nb import __version__

    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(json.dumps([FORMAT, __version__, tz, dedupe]).encode())
    for inp in inputs:
        digest.update(inp.name.encode() + b"\0")
        if inp.data is not None:
            digest.update(inp.data)
        else:
            with inp.path.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha1").digest())
    return digest.hexdigest()


def load_cached(folder: Path, key: str) -> Export | None:
    """The cached Export for ``key``, or None (missing, or corrupt: removed with a warning)."""
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
    """Write ``export`` under ``key``, atomically (a temporary folder renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder))
    try:
        for name in TABLES:
            getattr(export, name).to_parquet(tmp / f"{name}.parquet")
        (tmp / "meta.json").write_text(json.dumps({"tz": export.tz, "format": FORMAT}))
        entry = folder / key
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        tmp.rename(entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder / key
