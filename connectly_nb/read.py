"""``read_export``: sources -> cache lookup -> each file read -> tidy -> cache store.

The entry point of the package. It resolves what the user passed into
files (:func:`connectly_nb.load.resolve_sources`), answers from the Parquet
cache when asked to and the files are unchanged (:mod:`connectly_nb.cache`),
reads each file into raw text records (:func:`connectly_nb.load.read_raw`),
and tidies them into an :class:`~connectly_nb.export.Export`
(:func:`connectly_nb.tidy.tidy`), with a progress bar for big loads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from connectly_nb import cache as _cache
from connectly_nb._progress import Progress, interactive
from connectly_nb._time import check_tz
from connectly_nb.export import Export
from connectly_nb.load import Input, RawFile, Source, read_raw, resolve_sources
from connectly_nb.tidy import release_memory, tidy

__all__ = ["read_export"]

_BIG_BYTES = 20 << 20  # show progress by default past this many bytes ...
_MANY_FILES = 10  # ... or this many files


def read_export(
    source: Source,
    *,
    tz: str = "UTC",
    dedupe: bool = True,
    progress: bool | None = None,
    cache: bool | str | os.PathLike[str] = False,
) -> Export:
    """Read one or more Connectly campaign exports into an :class:`Export`.

    Parameters
    ----------
    source : path, str, folder, glob pattern, open file, or a list of these
        A folder contributes every ``*.csv`` in it, sorted by name. Several
        files are read as one export, in the order given.
    tz : str, default "UTC"
        Time zone to show timestamps in. The export's own timestamps carry no
        zone and are read as UTC.
    dedupe : bool, default True
        Merge records with the same (sendout_id, customer_external_id) into
        one row holding the most advanced state (later files win; clicks are
        united; variables merged by key). Each merge is an info problem.
    progress : bool, optional
        Show a progress bar. By default it shows for big or many files.
    cache : bool or path, default False
        Keep the tidy tables as Parquet (in this folder, or with ``True`` in
        ``$CONNECTLY_NB_CACHE`` or ``~/.cache/connectly_nb``), keyed by the
        files' content, the package's code and these options; loading the
        same files again reads the cache. See :mod:`connectly_nb.cache`.

    Returns
    -------
    Export
        The tidy tables; see :class:`Export`.

    Raises
    ------
    ExportFormatError
        A file is empty or is not a campaign export (a required column is
        missing); the message names the file and the columns found.
    ExportNotFoundError
        A path, folder or pattern names no file.
    TimeZoneError
        ``tz`` is not a time zone name.
    TypeError
        ``source`` is none of the kinds above.

    Examples
    --------
    >>> from connectly_nb import read_export
    >>> ex = read_export("reports/")                     # doctest: +SKIP
    >>> ex.problem_summary()                             # doctest: +SKIP
    """
    tz = check_tz(tz)
    inputs = resolve_sources(source)
    if cache is False:
        return _read(inputs, tz=tz, dedupe=dedupe, progress=progress)
    folder = _cache.cache_dir(cache)
    key = _cache.cache_key(inputs, tz=tz, dedupe=dedupe)
    cached = _cache.load_cached(folder, key)
    if cached is not None:
        return cached
    export = _read(inputs, tz=tz, dedupe=dedupe, progress=progress)
    _cache.store(folder, key, export)
    return export


#: Share of a load's time each stage takes (measured at 1,000,000 rows): the bar's scale.
_STAGES = {
    "checking and parsing cells": 0.45,
    "merging duplicates": 0.75,
    "building tables": 0.80,
    "finishing": 0.97,
}
_READING = 0.45  # reading the files: the first 45% of the bar


def _read(inputs: Sequence[Input], *, tz: str, dedupe: bool, progress: bool | None) -> Export:
    """Read each input, then tidy them all, with a progress bar for big loads."""
    total = sum(i.size for i in inputs)
    if progress is None:
        progress = (total >= _BIG_BYTES or len(inputs) >= _MANY_FILES) and interactive()
    bar = Progress(100, "reading export", enabled=bool(progress))
    raws: list[RawFile] = []
    done = 0
    try:
        for inp in inputs:
            bar.to(100 * _READING * done / max(total, 1), f"parsing {_short(inp.name)}")
            raws.append(read_raw(inp))
            release_memory()  # the parser's block buffers
            done += inp.size

        def step(name: str) -> None:
            bar.to(100 * _STAGES.get(name, bar.done / 100), name)

        export = tidy(raws, tz=tz, dedupe=dedupe, step=step)
        bar.to(100)
        return export
    finally:
        bar.close()


def _short(name: str, width: int = 30) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]
