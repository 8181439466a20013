"""A Parquet cache of tidy exports, keyed by the source files' content.

``read_export(..., cache=True)`` stores the five tables of the Export as
Parquet under a key made of the files' content hash (SHA-1: a cache key, not a
security boundary), their names, a hash of the package's code
(:func:`connectly_nb._version.source_hash`) and the load options; the next
load of unchanged files reads the Parquet files instead of parsing the CSV
again. A changed file, or other code, gives another key.

What is read back is checked: every table must have every column of
:data:`connectly_nb.schema.TABLE_SCHEMAS` with its dtype family; an entry that
cannot be read or does not match is rebuilt with a :class:`CacheWarning`.
Entries are written whole by :func:`connectly_nb._fs.atomic_directory` and
removed by renaming them away first, so concurrent loads (threads or
processes) never see half an entry and never remove one another's good entry.

The cache holds the exports' personal data (full phone numbers) until it is
cleared: after each store, entries unused for ``CONNECTLY_NB_CACHE_MAX_DAYS``
days (default 30) are removed, then the least recently used ones until the
cache holds at most ``CONNECTLY_NB_CACHE_MAX_MB`` MiB (default 2048);
``connectly-nb cache clear`` (:func:`clear`) removes them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from connectly_nb._fs import atomic_directory
from connectly_nb._version import source_hash
from connectly_nb.exceptions import CacheWarning
from connectly_nb.export import Export
from connectly_nb.load import Input
from connectly_nb.schema import TABLE_SCHEMAS

__all__ = ["CacheWarning", "cache_dir", "cache_key", "clear", "load_cached", "prune", "store"]

TABLES = ("messages", "clicks", "variables", "problems", "accounting")
FORMAT = 3  # bump when the stored layout changes (3: accounting.records_swallowed)
DEFAULT_MAX_MB = 2048.0
DEFAULT_MAX_DAYS = 30.0
_ENTRY = re.compile(r"^[0-9a-f]{40}$")
_TEMPORARY = re.compile(r"^\.[0-9a-f]{40}\..+\.(partial|trash)$")
_STALE_TEMPORARY = 24 * 3600.0  # a temporary folder this old was left by a crash


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
    """The cached Export for ``key``, or None (missing, or unusable: removed with a warning).

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
        readable entry whose tables match the schema.

    Warns
    -----
    CacheWarning
        The entry exists but cannot be read, or a table lacks a column or
        holds it with another type; it is removed (and rebuilt by the caller).
    """
    entry = folder / key
    try:
        before = os.lstat(entry)
    except OSError:
        return None
    if not stat.S_ISDIR(before.st_mode) or not (entry / "meta.json").is_file():
        return None  # no entry (a link is not one), or one being removed
    try:
        export = _read_entry(entry)
    except Exception as exc:  # any unusable entry is rebuilt, and said so
        if not _same_entry(entry, before):
            return None  # removed or replaced by another load while read: not corrupt
        warnings.warn(
            f"the cached export in {entry} could not be read ({type(exc).__name__}: {exc}); "
            "reading the CSV files again and rebuilding it",
            CacheWarning,
            stacklevel=3,
        )
        _remove(entry, before)
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # last used: the limits drop the least recently used entries
    return export


def _read_entry(entry: Path) -> Export:
    meta = json.loads((entry / "meta.json").read_text())
    tables = {name: pd.read_parquet(entry / f"{name}.parquet") for name in TABLES}
    for where, kept in meta.get("categories", {}).items():
        name, column = where.split(".", 1)
        categories = pd.Index(kept["categories"], dtype=kept["dtype"])
        dtype = pd.CategoricalDtype(categories, ordered=kept.get("ordered", False))
        tables[name][column] = pd.Categorical(tables[name][column], dtype=dtype)
    wrong = [problem for name in TABLES for problem in _mismatches(name, tables[name])]
    if wrong:
        raise ValueError("; ".join(wrong))
    return Export(tz=meta["tz"], **tables)


def _blank_categories(export: Export) -> dict[str, dict[str, Any]]:
    """The categories of categorical columns without a value, which Parquet does not keep.

    A column with no value (an empty table, an export without error codes)
    comes back from Parquet without its categories, or as a column of nulls.
    """
    kept = {}
    for name in TABLES:
        frame = getattr(export, name)
        for column in frame.columns:
            values = frame[column]
            if isinstance(values.dtype, pd.CategoricalDtype) and values.isna().all():
                categories = values.cat.categories
                kept[f"{name}.{column}"] = {
                    "categories": categories.tolist(),
                    "dtype": str(categories.dtype),
                    "ordered": bool(values.cat.ordered),
                }
    return kept


def _family(dtype: Any) -> str:
    """A dtype's family, as :data:`connectly_nb.schema.TABLE_SCHEMAS` names them."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
        return "text"
    return str(dtype)


def _mismatches(name: str, frame: pd.DataFrame) -> list[str]:
    """Each column of the table's schema that is missing or of another family."""
    out = []
    for column, family in TABLE_SCHEMAS[name].items():
        if column not in frame.columns:
            out.append(f"{name} has no column {column!r}")
        elif (found := _family(frame[column].dtype)) != family:
            out.append(f"{name}.{column} is {found}, expected {family}")
    return out


def _same_entry(entry: Path, before: os.stat_result) -> bool:
    try:
        now = os.lstat(entry)
    except OSError:
        return False
    return (now.st_ino, now.st_dev) == (before.st_ino, before.st_dev)


def _remove(entry: Path, before: os.stat_result | None = None) -> None:
    """Rename the entry away (readers see all of it or none), then delete it.

    With ``before``, only the very folder that was read is removed, never
    one another load put in its place meanwhile.
    """
    trash = entry.with_name(f".{entry.name}.{secrets.token_hex(4)}.trash")
    if before is not None and not _same_entry(entry, before):
        return
    try:
        os.rename(entry, trash)
    except OSError:
        return  # gone already
    shutil.rmtree(trash, ignore_errors=True)


def store(folder: Path, key: str, export: Export) -> Path:
    """Write ``export`` under ``key``, whole or not at all; then keep the cache to its limits.

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
        meta = {"tz": export.tz, "format": FORMAT, "categories": _blank_categories(export)}
        (tmp / "meta.json").write_text(json.dumps(meta))
    prune(folder, keep=key)
    return folder / key


def _limit(variable: str, default: float) -> float:
    text = os.environ.get(variable, "")
    if not text:
        return default
    try:
        value = float(text)
        if value > 0:
            return value
    except ValueError:
        pass
    warnings.warn(
        f"{variable}={text!r} is not a positive number; using {default:g}",
        CacheWarning,
        stacklevel=4,
    )
    return default


def _entries(folder: Path) -> list[tuple[Path, float, int]]:
    """Every entry of the cache folder: (folder, last used, bytes), most recently used first."""
    found = []
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        for item in it:
            if _ENTRY.match(item.name) and item.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    size = sum(f.stat().st_size for f in os.scandir(item.path) if f.is_file())
                    found.append((Path(item.path), item.stat().st_mtime, size))
    return sorted(found, key=lambda e: e[1], reverse=True)


def prune(folder: Path, *, keep: str | None = None) -> list[Path]:
    """Remove entries past the cache's age and size limits, and temporaries left by crashes.

    Entries unused for more than ``CONNECTLY_NB_CACHE_MAX_DAYS`` days
    (default 30) go, then the least recently used ones until the rest
    hold at most ``CONNECTLY_NB_CACHE_MAX_MB`` MiB (default 2048).

    Parameters
    ----------
    folder : pathlib.Path
        The cache folder.
    keep : str, optional
        An entry never removed (the one just stored).

    Returns
    -------
    list of pathlib.Path
        The entries removed.
    """
    max_bytes = _limit("CONNECTLY_NB_CACHE_MAX_MB", DEFAULT_MAX_MB) * 2**20
    max_age = _limit("CONNECTLY_NB_CACHE_MAX_DAYS", DEFAULT_MAX_DAYS) * 86400
    now = time.time()
    found = _entries(folder)
    found.sort(key=lambda e: e[0].name != keep)  # the kept one counts first
    removed, total = [], 0
    for entry, used, size in found:
        if entry.name != keep and (now - used > max_age or total + size > max_bytes):
            _remove(entry)
            removed.append(entry)
        else:
            total += size
    _remove_temporaries(folder, older_than=_STALE_TEMPORARY)
    return removed


def _remove_temporaries(folder: Path, *, older_than: float) -> None:
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        for item in it:
            if _TEMPORARY.match(item.name) and item.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if now - item.stat().st_mtime >= older_than:
                        shutil.rmtree(item.path, ignore_errors=True)


def clear(folder: Path) -> tuple[int, int]:
    """Remove every cached export from ``folder`` (and nothing else in it).

    Only folders named like entries (40 hex digits) and the package's own
    temporary folders are removed: a cache folder set by mistake to a folder
    holding other files loses none of them.

    Parameters
    ----------
    folder : pathlib.Path
        The cache folder (see :func:`cache_dir`).

    Returns
    -------
    tuple of int
        How many entries were removed, and their size in bytes.
    """
    found = _entries(folder)
    for entry, _, _ in found:
        _remove(entry)
    _remove_temporaries(folder, older_than=0)
    return len(found), sum(size for _, _, size in found)
