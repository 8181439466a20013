"""The :class:`Store`: a version of a store, filtered or not, queried partition by partition.

Nothing is read when a Store is opened but its manifest; the cube is read on
first use. A filter resolves its names against the whole store, prunes the
partitions that cannot hold its messages (by sendout day and by the
partitions' ``sent_at`` range) and is applied to each partition read.
Metrics (:mod:`connectly_nb.metrics`) run on it through :meth:`Store.map_partitions`
(partial counts per partition, added up) and :meth:`Store.map_customers`
(rows sent to one task per hash of the customer, for what needs a customer's
whole history), or answer from the cube.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from connectly_nb import display
from connectly_nb._problems import empty_problems
from connectly_nb._time import Bound, check_tz, localize, naive_utc
from connectly_nb.exceptions import SelectionTooLargeError, StoreError
from connectly_nb.export import Export
from connectly_nb.schema import (
    ACCOUNTING_COLUMNS,
    CLICK_TABLE_COLUMNS,
    PROBLEM_TABLE_COLUMNS,
    VARIABLE_TABLE_COLUMNS,
)
from connectly_nb.store._cube import Cube, Selection
from connectly_nb.store._layout import MANIFEST, Place
from connectly_nb.store._parts import empty_export, read_partition, stable_hash

__all__ = ["MAX_MESSAGES", "Store", "is_store", "open_store"]

#: The most messages :meth:`Store.to_export` loads unless told otherwise.
MAX_MESSAGES = 2_000_000
#: Messages per task when rows are sent to tasks by customer.
CUSTOMER_TASK_ROWS = 1_000_000
_FILTER_COLUMNS = ("campaign_name", "sendout_id", "error_code", "sent_at", "is_failed")
_EMPTY = {
    "clicks": CLICK_TABLE_COLUMNS,
    "variables": VARIABLE_TABLE_COLUMNS,
}


def open_store(
    store: Any,
    *,
    tz: str = "UTC",
    client: Any = None,
    use_cube: bool = True,
    max_messages: int = MAX_MESSAGES,
) -> Store:
    """Open a store of daily reports (made by :func:`~connectly_nb.store.ingest`).

    Parameters
    ----------
    store : str or path-like
        The store's folder or fsspec URL.
    tz : str, default "UTC"
        Time zone to show times in and to read bare dates of filters in.
    client : dask.distributed.Client, optional
        Where queries run. By default the current Dask client if there is
        one, else Dask's threaded scheduler in this process.
    use_cube : bool, default True
        Answer counts from the cube when a query allows it; ``False`` reads
        the partitions every time (the cube's answers are the same).
    max_messages : int, default 2,000,000
        The most messages :meth:`Store.to_export` loads as an Export.

    Returns
    -------
    Store
        The store's current version; ingests after this do not change it.

    Raises
    ------
    StoreNotFoundError
        The folder holds no store.
    TimeZoneError
        ``tz`` is not a time zone name.
    """
    place = Place(store)
    return Store(
        place,
        place.manifest(),
        tz=check_tz(tz),
        client=client,
        use_cube=use_cube,
        max_messages=max_messages,
    )


def is_store(source: Any) -> bool:
    """Whether ``source`` is the folder (or URL) of a store: it holds a ``manifest.json``.

    Parameters
    ----------
    source : any
        A path or URL (anything else is not a store).

    Returns
    -------
    bool
        True when :func:`open_store` would find a store there.
    """
    if not isinstance(source, str | os.PathLike):
        return False
    try:
        place = Place(source)
        return bool(place.fs.isfile(place.path(MANIFEST)))
    except (OSError, ValueError, ImportError, StoreError):  # a file, or no fsspec for the URL
        return False


class Store:
    """A store of daily reports as one export: lazy tables, a filter, a cube of counts.

    Made by :func:`open_store`. It reads like an :class:`~connectly_nb.export.Export`
    of every report ingested (``read_export`` of them all): the metrics of
    :mod:`connectly_nb.metrics` take it in place of an Export, and
    :meth:`to_export` turns a selection into an ordinary Export.

    Parameters
    ----------
    place : Place
        Where the store is.
    manifest : dict
        The version read.
    tz : str
        Time zone to show times in.
    client : dask.distributed.Client or None
        Where queries run (None: the current client, or threads).
    use_cube : bool
        Answer counts from the cube when possible.
    max_messages : int
        The most messages :meth:`to_export` loads.
    selection : Selection, optional
        The filter of this view (none by default).
    cube : Cube, optional
        The version's cube, shared by the views of one store.

    Attributes
    ----------
    tz : str
        Time zone times are shown in.
    selection : Selection
        Which messages this view keeps.
    version : int
        The store version read (one more per ingest that changed it).
    """

    def __init__(
        self,
        place: Place,
        manifest: dict[str, Any],
        *,
        tz: str,
        client: Any,
        use_cube: bool,
        max_messages: int,
        selection: Selection | None = None,
        cube: Cube | None = None,
    ) -> None:
        self.place = place
        self.manifest = manifest
        self.tz = tz
        self.client = client
        self.use_cube = use_cube
        self.max_messages = max_messages
        self.selection = selection or Selection()
        self.version = int(manifest["version"])
        self._cube = cube

    # ------------------------------------------------------------------ views

    def _view(self, selection: Selection) -> Store:
        return Store(
            self.place,
            self.manifest,
            tz=self.tz,
            client=self.client,
            use_cube=self.use_cube,
            max_messages=self.max_messages,
            selection=selection,
            cube=self.cube_object,
        )

    @property
    def cube_object(self) -> Cube:
        """The version's cube (read on first use).

        Returns
        -------
        Cube
            Counts by sendout, slot, code and state.
        """
        if self._cube is None:
            self._cube = Cube(self.place, self.manifest["cube"])
        return self._cube

    def filter(
        self,
        *,
        campaigns: Iterable[str] | str | None = None,
        sendouts: Iterable[str] | str | None = None,
        error_codes: Iterable[str | None] | str | None = None,
        start: Bound | None = None,
        end: Bound | None = None,
        failed: bool | None = None,
    ) -> Store:
        """A view of the messages kept by :meth:`Export.filter`'s arguments.

        Nothing is read: the names are checked against the store's, and the
        partitions that cannot hold the selection are left out of every query.

        Parameters
        ----------
        campaigns, sendouts, error_codes, start, end, failed
            As for :meth:`Export.filter` (names matched whatever their case,
            spaces or Unicode form; bare dates are local days in ``tz``;
            ``failed=True`` keeps the failed messages, ``False`` the others).

        Returns
        -------
        Store
            The filtered view (filters of a filtered view add up).

        Raises
        ------
        SelectionError
            A campaign, sendout or error code the store does not have.
        ValueError
            A bound that is not ISO 8601, or an end before the start.
        """
        chosen = Selection.resolve(
            self.cube_object.names(),
            self.tz,
            campaigns=campaigns,
            sendouts=sendouts,
            error_codes=error_codes,
            start=start,
            end=end,
            failed=failed,
        )
        return self._view(self.selection.and_(chosen))

    def cube_rows(self, table: str = "cube") -> pd.DataFrame | None:
        """The cube's rows of this view, or None when the cube cannot answer it exactly.

        Parameters
        ----------
        table : {"cube", "failures", "sendouts"}
            The counts by state, the failed messages by code and message, or
            the sendouts' first sends (the last is not filtered).

        Returns
        -------
        pandas.DataFrame or None
            None when the view's date bounds are off the 15-minute grid or
            ``use_cube`` is off.
        """
        cube = self.cube_object
        if not self.use_cube or not self.selection.on_grid:
            return None
        if table == "cube":
            return cube.rows(self.selection)
        if table == "failures":
            return cube.failure_rows(self.selection)
        return cube.sendouts

    @property
    def cube(self) -> pd.DataFrame:
        """The cube: message counts by day, business, campaign, sendout, slot, code and state.

        Returns
        -------
        pandas.DataFrame
            ``day`` (the partition's), ``business_id``, ``campaign_name``,
            ``sendout_id``, ``slot`` (``sent_at`` floored to 15 minutes, UTC),
            ``error_code``, the six stage flags, ``n``; this view's rows when
            its bounds are on the grid, else all rows.
        """
        rows = self.cube_rows()
        return self.cube_object.counts if rows is None else rows

    # ------------------------------------------------------------------ partitions

    def partitions(self) -> list[dict[str, Any]]:
        """The partitions this view reads (the others cannot hold its messages).

        Returns
        -------
        list of dict
            The manifest's entries (``path``, ``day``, ``bucket``, ``rows``,
            ``sent_min``, ``sent_max``, ``sources``), by day and bucket.
        """
        parts = sorted(self.manifest["partitions"].values(), key=lambda p: (p["day"], p["bucket"]))
        days = self.cube_object.days(self.selection)
        sel = self.selection
        out = []
        for p in parts:
            if days is not None and p["day"] not in days:
                continue
            lo, hi = p["sent_min"], p["sent_max"]
            if sel.lo is not None and (hi is None or pd.Timestamp(hi) < sel.lo):
                continue
            if sel.hi is not None and (lo is None or pd.Timestamp(lo) >= sel.hi):
                continue
            out.append(p)
        return out

    def _compute(self, tasks: list[Any]) -> list[Any]:
        import dask

        if not tasks:
            return []
        if self.client is not None:
            return list(dask.compute(*tasks, scheduler=self.client))
        return list(dask.compute(*tasks))

    def map_partitions(
        self,
        func: Callable[[Export], Any],
        *,
        tables: tuple[str, ...] = ("messages",),
        columns: list[str] | None = None,
    ) -> list[Any]:
        """``func`` of each partition's selected messages (as an Export), in Dask tasks.

        The way metrics count a store: ``func`` returns partial counts that
        add up across partitions.

        Parameters
        ----------
        func : callable
            Export -> anything small; it runs on a worker.
        tables : tuple of str, default ("messages",)
            Tables to read (``messages``, ``clicks``, ``variables``).
        columns : list of str, optional
            Only these columns of ``messages`` (plus those the filter needs).

        Returns
        -------
        list
            One result per partition read, by day and bucket.
        """
        from dask import delayed

        tasks = [
            delayed(_apply, pure=False)(
                self.place, p["path"], tables, columns, self.selection, func
            )
            for p in self.partitions()
        ]
        return self._compute(tasks)

    def map_customers(
        self,
        prepare: Callable[[Export], pd.DataFrame],
        finish: Callable[[pd.DataFrame], Any],
        *,
        tables: tuple[str, ...] = ("messages",),
        columns: list[str] | None = None,
        tasks: int | None = None,
    ) -> list[Any]:
        """``finish`` of all rows of each group of customers: a shuffle by customer.

        ``prepare`` turns each partition into rows with a
        ``customer_external_id``; the rows are sent by a stable hash of it to
        one of ``tasks`` groups, so each customer's whole history is in one
        task, and ``finish`` counts each group (exact distinct customers,
        positions in a customer's history).

        Parameters
        ----------
        prepare : callable
            Export -> DataFrame with a ``customer_external_id`` column.
        finish : callable
            DataFrame (a group's rows) -> anything small.
        tables : tuple of str, default ("messages",)
            Tables ``prepare`` needs.
        columns : list of str, optional
            Only these columns of ``messages``.
        tasks : int, optional
            Groups of customers; by default one per million messages.

        Returns
        -------
        list
            One result per group.
        """
        from dask import delayed

        parts = self.partitions()
        k = tasks or max(1, math.ceil(sum(p["rows"] for p in parts) / CUSTOMER_TASK_ROWS))
        split = [
            delayed(_split, pure=False, nout=k)(
                self.place, p["path"], tables, columns, self.selection, prepare, k
            )
            for p in parts
        ]
        groups = [delayed(_finish, pure=False)([s[j] for s in split], finish) for j in range(k)]
        return self._compute(groups)

    # ------------------------------------------------------------------ tables

    def count(self) -> int:
        """Messages in this view (from the cube when it can tell).

        Returns
        -------
        int
            The number of messages.
        """
        rows = self.cube_rows()
        if rows is not None:
            return int(rows["n"].sum()) if len(rows) else 0
        return int(sum(self.map_partitions(_rows, columns=[])))

    def to_export(
        self,
        *,
        max_messages: int | None = None,
        customers: Iterable[str] | None = None,
        **filters: Any,
    ) -> Export:
        """The selected messages as an ordinary :class:`~connectly_nb.export.Export`.

        Parameters
        ----------
        max_messages : int, optional
            Refuse a selection of more messages (default: the store's
            ``max_messages``).
        customers : iterable of str, optional
            Keep only the messages of these ``customer_external_id`` values
            (e.g. a customer's whole history).
        **filters
            :meth:`filter`'s arguments, applied first.

        Returns
        -------
        Export
            Messages, clicks and variables of the selection (``message_id``
            counted from 0); the store's accounting; problems at the selected
            messages' records and the files' own (built on first access).

        Raises
        ------
        SelectionTooLargeError
            The selection holds more than ``max_messages`` messages; the
            message gives the count.
        SelectionError, ValueError
            As for :meth:`filter`.
        """
        view = self.filter(**filters) if filters else self
        limit = view.max_messages if max_messages is None else max_messages
        tables = ("messages", "clicks", "variables")
        if customers is not None:
            ids = frozenset(str(c) for c in customers)
            parts = view.map_partitions(functools.partial(_of_customers, ids=ids), tables=tables)
            _check_size(sum(len(p.messages) for p in parts), limit)
        else:
            _check_size(view.count(), limit)
            parts = view.map_partitions(_identity, tables=tables)
        return _concat(parts, view.tz, view.accounting, view._problems_of)

    def _problems_of(self, messages: pd.DataFrame) -> pd.DataFrame:
        """The store's problems at these messages' records, and the files' own."""
        p = self.problems
        at = pd.MultiIndex.from_arrays(
            [messages["source"].astype(object), messages["line"].to_numpy(dtype=np.int64)]
        )
        where = pd.MultiIndex.from_arrays(
            [p["source"].astype(object), p["line"].fillna(-1).to_numpy(dtype=np.int64)]
        )
        pos = at.get_indexer(where) if at.is_unique else np.full(len(p), -1)
        keep = (pos >= 0) | p["line"].isna().to_numpy()
        out = p[keep].copy()
        mid = pd.array(pos[keep], dtype="Int64")
        mid[pos[keep] < 0] = pd.NA
        out["message_id"] = mid
        return out.reset_index(drop=True)

    @property
    def messages(self) -> Any:
        """The messages of this view as a lazy Dask DataFrame, one partition per store partition.

        Returns
        -------
        dask.dataframe.DataFrame
            The columns of ``Export.messages`` (times in UTC), plus
            ``partition``; ``message_id`` is counted within each partition.
        """
        return self._lazy("messages")

    @property
    def clicks(self) -> Any:
        """The clicks of this view as a lazy Dask DataFrame.

        Returns
        -------
        dask.dataframe.DataFrame
            The columns of ``Export.clicks`` plus ``partition``
            (``message_id`` is counted within each partition).
        """
        return self._lazy("clicks")

    def _lazy(self, table: str) -> Any:
        import dask.dataframe as dd

        parts = self.partitions()
        if not parts:
            return dd.from_pandas(_frame_of(self, table, None, 0), npartitions=1)
        meta = _frame_of(self, table, parts[0]["path"], 0).iloc[:0]
        return dd.from_map(
            _frame_of,
            [self] * len(parts),
            [table] * len(parts),
            [p["path"] for p in parts],
            list(range(len(parts))),
            meta=dd.utils.clear_known_categories(meta),
            enforce_metadata=False,
        )

    @property
    def files(self) -> pd.DataFrame:
        """The catalogue of ingested files.

        Returns
        -------
        pandas.DataFrame
            ``source``, ``sha1`` (content), ``ingest`` (the version that
            added it), ``records_read``, ``as_of``, ``problems`` (rows), in
            the order they were merged.
        """
        files = self.manifest["files"]
        out = pd.DataFrame(
            {
                "source": [f["source"] for f in files],
                "sha1": [f["sha1"] for f in files],
                "ingest": pd.array([f["ingest"] for f in files], dtype=np.int64),
                "records_read": pd.array([f["records_read"] for f in files], dtype=np.int64),
                "as_of": _times([f["as_of"] for f in files], self.tz),
                "problems": pd.array([sum(f["problems"].values()) for f in files], dtype=np.int64),
            }
        )
        return out

    @property
    def accounting(self) -> pd.DataFrame:
        """Per file: records read = rows kept + duplicates merged, as ``Export.accounting``.

        Returns
        -------
        pandas.DataFrame
            :data:`connectly_nb.schema.ACCOUNTING_COLUMNS`; ``rows_kept`` counts
            the messages whose newest record is in the file (whole store, not
            the view).
        """
        files = self.manifest["files"]
        kept: dict[str, int] = {}
        for p in self.manifest["partitions"].values():
            for name, n in p["sources"].items():
                kept[name] = kept.get(name, 0) + n
        rows = []
        for f in files:
            row = {c: f.get(c) for c in ACCOUNTING_COLUMNS}
            row["rows_kept"] = kept.get(f["source"], 0)
            row["duplicates_merged"] = f["records_read"] - row["rows_kept"]
            rows.append(row)
        out = pd.DataFrame(rows, columns=list(ACCOUNTING_COLUMNS))
        out["as_of"] = _times(out["as_of"].tolist(), self.tz)
        for c in ("records_read", "rows_kept", "duplicates_merged", "repeated_headers"):
            out[c] = out[c].astype(np.int64)
        out["blank_lines"] = out["blank_lines"].astype(np.int64)
        return out

    @property
    def problems(self) -> pd.DataFrame:
        """Every problem found in the ingested files and in merging them.

        Returns
        -------
        pandas.DataFrame
            :data:`connectly_nb.schema.PROBLEM_TABLE_COLUMNS` (``message_id``
            blank: :meth:`to_export` ties them to its messages), by file and line.
            ``event_without_sent`` reflects the merged state;
            ``merged_duplicate`` names the record that replaced it when it was
            merged (which a later report may have replaced in turn).
        """
        names = [f["source"] for f in self.manifest["files"]]
        rels = [f["problems_path"] for f in self.manifest["files"]] + self.manifest["problems"]
        rels += [f"{p['path']}/problems.parquet" for p in self.manifest["partitions"].values()]
        frames = [self.place.read_frame(r) for r in rels]
        empty = empty_problems(names)
        frames = [f.drop(columns="message_id", errors="ignore") for f in frames if len(f)]
        if not frames:
            return empty
        out = pd.concat(frames, ignore_index=True)
        out["source"] = pd.Categorical(out["source"].astype(object), categories=names)
        out["message_id"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out = out.sort_values(["source", "line", "column", "problem"], na_position="first")
        out = out[list(PROBLEM_TABLE_COLUMNS)].astype(empty.dtypes.to_dict())
        return out.reset_index(drop=True)

    def problem_summary(self) -> pd.DataFrame:
        """How many problems of each kind, most severe first, with what each means.

        Returns
        -------
        pandas.DataFrame
            ``severity``, ``problem``, ``rows``, ``meaning``.
        """
        from connectly_nb._problems import problem_summary

        return problem_summary(self.problems)

    # ------------------------------------------------------------------ summaries

    def summary(self) -> dict[str, Any]:
        """Key facts of this view: messages, campaigns, sendouts, dates, files.

        Returns
        -------
        dict
            ``rows``, ``campaigns``, ``sendouts``, ``first_sent``,
            ``last_sent`` (Timestamps or None), ``files``, ``records_read``,
            ``duplicates_merged``, ``version``.
        """
        counts = self.cube_rows()
        counts = self.cube_object.counts if counts is None else counts
        acc = self.accounting
        slots = counts["slot"].dropna() if len(counts) else pd.Series([], dtype=object)
        parts = self.partitions()
        sent = [pd.Timestamp(p[k]) for p in parts for k in ("sent_min", "sent_max") if p[k]]
        return {
            "rows": self.count(),
            "campaigns": int(counts["campaign_name"].nunique()) if len(counts) else 0,
            "sendouts": int(counts["sendout_id"].nunique()) if len(counts) else 0,
            "first_sent": min(sent).tz_convert(self.tz) if sent and len(slots) else None,
            "last_sent": max(sent).tz_convert(self.tz) if sent and len(slots) else None,
            "files": len(acc),
            "records_read": int(acc["records_read"].sum()),
            "duplicates_merged": int(acc["duplicates_merged"].sum()),
            "version": self.version,
        }

    def __repr__(self) -> str:
        return display.store_summary_text(self.summary(), self.tz)

    def _repr_html_(self) -> str:
        return display.store_summary_html(self.summary(), self.tz)


# ---------------------------------------------------------------------- tasks


def _load(
    place: Place,
    path: str,
    tables: tuple[str, ...],
    columns: list[str] | None,
    selection: Selection,
) -> Export:
    """One partition's tables, cut to the selection."""
    need = None
    if columns is not None:
        extra = [] if selection.everything else list(_FILTER_COLUMNS)
        need = list(dict.fromkeys([*columns, *extra]))
    ex = read_partition(place, path, tables, need)
    if selection.everything:
        return ex
    keep = selection.mask(ex.messages)
    if keep.all():
        return ex
    if tables == ("messages",):  # nothing else to cut
        return ex.replace(messages=ex.messages[keep])
    return ex.subset(keep)


def _apply(
    place: Place,
    path: str,
    tables: tuple[str, ...],
    columns: list[str] | None,
    selection: Selection,
    func: Callable[[Export], Any],
) -> Any:
    return func(_load(place, path, tables, columns, selection))


def _split(
    place: Place,
    path: str,
    tables: tuple[str, ...],
    columns: list[str] | None,
    selection: Selection,
    prepare: Callable[[Export], pd.DataFrame],
    k: int,
) -> tuple[pd.DataFrame, ...]:
    rows = prepare(_load(place, path, tables, columns, selection))
    if k == 1:
        return (rows,)
    ids = pa.array(rows["customer_external_id"].array, type=pa.large_string())
    group = (stable_hash(ids) % np.uint64(k)).astype(np.int64)
    return tuple(rows[group == j] for j in range(k))


def _finish(pieces: list[pd.DataFrame], finish: Callable[[pd.DataFrame], Any]) -> Any:
    pieces = [p for p in pieces if len(p)] or pieces[:1]
    rows = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
    return finish(_categories_united(rows, pieces))


def _categories_united(rows: pd.DataFrame, pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """Categorical columns that concatenation turned to text, categorical again."""
    if not pieces:
        return rows
    for c in pieces[0].columns:
        if isinstance(pieces[0][c].dtype, pd.CategoricalDtype) and not isinstance(
            rows[c].dtype, pd.CategoricalDtype
        ):
            rows[c] = _united([p[c] for p in pieces])
    return rows


def _check_size(n: int, limit: int) -> None:
    if n > limit:
        raise SelectionTooLargeError(
            f"the selection holds {n:,} messages, more than the {limit:,} allowed in "
            "memory: narrow it (campaigns=, sendouts=, error_codes=, start=, end=) or "
            "raise max_messages=, or measure it on the store itself (the metrics take it)",
            count=n,
            limit=limit,
        )


def _of_customers(ex: Export, ids: frozenset[str]) -> Export:
    keep = ex.messages["customer_external_id"].isin(ids).to_numpy()
    return ex if keep.all() else ex.subset(keep)


def _rows(ex: Export) -> int:
    return len(ex.messages)


def _identity(ex: Export) -> Export:
    return ex


def _frame_of(store: Store, table: str, path: str | None, index: int) -> pd.DataFrame:
    """One partition's table for the lazy frames, times in UTC, with its partition number."""
    if path is None:
        frame = pd.DataFrame(columns=list(_EMPTY.get(table, ())))
    else:
        ex = _load(store.place, path, ("messages", table), None, store.selection)
        frame = getattr(ex, table)
    return frame.assign(partition=index)


def _times(values: list[Any], tz: str) -> pd.Series:
    stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    return stamps.dt.tz_convert(tz)


# ---------------------------------------------------------------------- to_export


def _united(columns: list[pd.Series]) -> pd.Categorical:
    """Categoricals of several partitions as one (sorted categories, or the shared ordered ones)."""
    first = columns[0].dtype
    values = pd.concat([c.astype(object) for c in columns], ignore_index=True)
    if isinstance(first, pd.CategoricalDtype) and first.ordered:
        return pd.Categorical(values, dtype=first)
    names = sorted({str(v) for v in values.dropna()})
    return pd.Categorical(values.where(values.notna(), None), categories=names)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of several partitions as one (categoricals united, index counted from 0)."""
    out = pd.concat(frames, ignore_index=True)
    for c in frames[0].columns:
        if any(isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames):
            out[c] = _united([f[c] for f in frames])
    return out


def _concat(
    parts: list[Export],
    tz: str,
    accounting: pd.DataFrame,
    problems_of: Callable[[pd.DataFrame], pd.DataFrame],
) -> Export:
    """Partitions' Exports as one Export (message ids counted from 0, times shown in ``tz``)."""
    if not parts:
        return empty_export().replace(accounting=accounting, tz=tz)
    offsets = np.cumsum([0] + [len(p.messages) for p in parts])
    tables: dict[str, pd.DataFrame] = {}
    tables["messages"] = _stack([p.messages for p in parts]).rename_axis("message_id")
    for name in ("clicks", "variables"):
        frames = []
        for p, offset in zip(parts, offsets, strict=False):
            t = getattr(p, name)
            mid = offset + p.messages.index.get_indexer(t["message_id"].to_numpy())
            frames.append(t.assign(message_id=mid))
        tables[name] = _stack(frames)
    _show_in(tables, tz)
    messages = tables["messages"]
    return Export(
        messages=messages,
        clicks=tables["clicks"],
        variables=tables["variables"],
        problems=lambda: problems_of(messages),
        accounting=accounting,
        tz=tz,
    )


def _show_in(tables: dict[str, pd.DataFrame], tz: str) -> None:
    """Timestamps shown in ``tz`` (the store keeps UTC)."""
    for name, frame in tables.items():
        for c in frame.columns:
            if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
                frame[c] = localize(naive_utc(frame[c]), tz)
        tables[name] = frame
