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
import sys
from collections.abc import Sequence
from typing import Any

from connectly_nb import cache as _cache
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


def _read(inputs: Sequence[Input], *, tz: str, dedupe: bool, progress: bool | None) -> Export:
    """Read each input, then tidy them all, with a progress bar for big loads."""
    total = sum(i.size for i in inputs)
    if progress is None:
        progress = (total >= _BIG_BYTES or len(inputs) >= _MANY_FILES) and _interactive()
    bar = _progress_bar(total, enabled=bool(progress))
    raws: list[RawFile] = []
    try:
        for inp in inputs:
            bar.set_postfix_str(_short(inp.name))
            raws.append(read_raw(inp))
            release_memory()  # the parser's block buffers
            bar.update(inp.size)
        return tidy(raws, tz=tz, dedupe=dedupe, step=bar.set_postfix_str)
    finally:
        bar.close()


def _short(name: str, width: int = 30) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def _interactive() -> bool:
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _NoBar:
    """Stands in for tqdm when no bar is shown (importing tqdm.auto is not free)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "") -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, *, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="reading export", leave=False)
