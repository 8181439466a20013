"""Repeated records: daily reports that repeat a message, merged into one row.

Records with the same (sendout_id, customer_external_id) are one message seen
more than once (a later daily report repeats it with more events filled in).
The merge rule, written once here: the message stays where it first
appeared; each column holds the last non-blank value among its records (a
later report wins, a blank never erases); it shows the source and line of its
latest record; clicks are united; variables are merged by key, the later
record winning.

Finding the repeats is the costly part on a big load: each record's key is
hashed straight from Arrow's buffers (:func:`text_hash`), and only records
whose hash repeats are compared by their exact text (:func:`merge_plan`), so
a hash collision never merges two messages.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectly_nb._parse import take_rows, to_numpy_bool

__all__ = [
    "STR",
    "STR_TYPES",
    "ChildRows",
    "MergePlan",
    "RecordMap",
    "apply_merge",
    "drop_rows",
    "merge_plan",
    "repeat_candidates",
    "text_hash",
    "unmatched_mangled",
]

#: The text dtype of the tidy tables (Arrow-backed, NaN for blank).
STR = pd.StringDtype("pyarrow", na_value=np.nan)
#: Arrow text types -> :data:`STR`, for ``Table.to_pandas(types_mapper=STR_TYPES.get)``.
STR_TYPES = {pa.string(): STR, pa.large_string(): STR}


def _patch(col: pa.ChunkedArray, rows: np.ndarray, values: pa.Array) -> pa.ChunkedArray:
    """``col`` with ``values`` at ``rows`` (ascending); shares the untouched data."""
    if len(rows) > 1_000:  # many changes: one copy of the column is cheaper than many chunks
        mask = np.zeros(len(col), dtype=bool)
        mask[rows] = True
        return pa.chunked_array(
            [pc.replace_with_mask(col.combine_chunks(), pa.array(mask), values)]
        )
    pieces = []
    prev = 0
    for i, r in enumerate(rows.tolist()):
        pieces.extend(col.slice(prev, r - prev).chunks)
        pieces.append(values.slice(i, 1))
        prev = r + 1
    pieces.extend(col.slice(prev).chunks)
    return pa.chunked_array([p for p in pieces if len(p)], type=col.type)


def drop_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table`` without ``rows``; zero-copy slices when they are few.

    Parameters
    ----------
    table : pyarrow.Table
        The table to drop rows from.
    rows : numpy.ndarray of int
        Positions of the rows to drop, ascending and without repeats.

    Returns
    -------
    pyarrow.Table
        The other rows, in their order.
    """
    if len(rows) > 10_000:
        keep = np.ones(table.num_rows, dtype=bool)
        keep[rows] = False
        return table.filter(pa.array(keep))
    bounds = np.concatenate([[-1], rows, [table.num_rows]])
    pieces = [table.slice(a + 1, b - a - 1) for a, b in itertools.pairwise(bounds)]
    return pa.concat_tables([p for p in pieces if p.num_rows] or [table.slice(0, 0)])


@dataclass(frozen=True)
class MergePlan:
    """Records that repeat a (sendout_id, customer_external_id) pair.

    ``members`` are those records in order; ``first`` and ``latest`` give, for
    each, the first and the last record of its group.

    Parameters
    ----------
    members : numpy.ndarray of int64
        The records (positions in the raw table) whose key repeats, ascending.
    first : numpy.ndarray of int64
        For each member, the first record of its group (the one that keeps the row).
    latest : numpy.ndarray of int64
        For each member, the last record of its group (whose source and line
        the row shows).
    """

    members: np.ndarray
    first: np.ndarray
    latest: np.ndarray


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the 64 output bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def text_hash(arr: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of each text cell, and which cells are null.

    Read straight from Arrow's buffers: a cell of up to 16 bytes is fully
    described by its first 8 bytes, its last 8 bytes and its length; longer
    cells also mix in a dictionary code. Equal texts always get equal hashes;
    unequal texts may rarely collide, so callers confirm what a hash groups.
    About 3x faster than dictionary-encoding a column of phone numbers.

    Parameters
    ----------
    arr : pyarrow.ChunkedArray or pyarrow.Array
        A ``string`` or ``large_string`` column.

    Returns
    -------
    hash : numpy.ndarray of uint64
        The hash of each cell (meaningless where the cell is null).
    null : numpy.ndarray of bool
        Which cells are null.
    """
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    n = len(a)
    null = to_numpy_bool(pc.is_null(a)) if a.null_count else np.zeros(n, dtype=bool)
    wide = a.type == pa.large_string()
    offsets = np.frombuffer(a.buffers()[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[a.offset : a.offset + n + 1]
    start = offsets[:-1].astype(np.int64)
    length = np.diff(offsets).astype(np.int64)
    data = a.buffers()[2]
    padded = np.zeros(8 + (data.size if data is not None else 0) + 8, dtype=np.uint8)
    if data is not None:
        padded[8:-8] = np.frombuffer(data, dtype=np.uint8)
    window = np.lib.stride_tricks.sliding_window_view(padded, 8)  # window[p] = bytes p..p+7
    head = window[start + 8].view("<u8").ravel()  # the first 8 bytes (and what follows)
    tail = window[start + length].view("<u8").ravel()  # the 8 bytes ending at the cell's end
    short = np.minimum(length, 8).astype(np.uint64)
    keep = np.where(
        short == 8, ~np.uint64(0), (np.uint64(1) << (np.uint64(8) * short)) - np.uint64(1)
    )
    head &= keep  # little-endian: the cell's own bytes are the low ones
    drop = np.uint64(8) * (np.uint64(8) - short)  # bytes before the cell, in the low end
    tail = np.where(short == 8, tail, (tail >> np.minimum(drop, np.uint64(63))) & keep)
    h = _mix(head) ^ _mix(tail + np.uint64(0x9E3779B97F4A7C15)) ^ _mix(length.astype(np.uint64))
    long = np.flatnonzero(length > 16)
    if len(long):
        enc = pc.dictionary_encode(a.take(pa.array(long)))
        code = pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False).astype(np.uint64)
        h[long] ^= _mix(code + np.uint64(0x632BE59BD9B4E019))
    return h, null


def repeat_candidates(sendout_codes: np.ndarray, customers: pa.ChunkedArray) -> np.ndarray:
    """Records whose (sendout_id, customer_external_id) hash repeats, ascending.

    Every record of a repeated key is among them (equal texts, equal hashes);
    a hash collision can add a few more, which :func:`merge_plan` sorts out.
    A record without its key (either cell blank) never merges.

    Parameters
    ----------
    sendout_codes : numpy.ndarray of int
        Each record's ``sendout_id`` as a category code; negative when blank.
    customers : pyarrow.ChunkedArray
        Each record's ``customer_external_id`` text.

    Returns
    -------
    numpy.ndarray of int64
        Positions of the candidate records, ascending.
    """
    h, null = text_hash(customers)
    h ^= _mix(sendout_codes.astype(np.uint64) + np.uint64(0xD1B54A32D192ED03))
    keyed = np.flatnonzero(~null & (sendout_codes >= 0))
    return keyed[pd.Series(h[keyed]).duplicated(keep=False).to_numpy()]


def merge_plan(
    sendout_codes: np.ndarray,
    customers: pa.ChunkedArray,
    candidates: np.ndarray,
    *,
    seq: np.ndarray | None = None,
    mangled: np.ndarray | None = None,
    sessions: pa.ChunkedArray | None = None,
) -> MergePlan | None:
    """Group the records by (sendout_id, customer_external_id); ``None`` when no key repeats.

    ``candidates`` (from :func:`repeat_candidates`) holds every record that
    may repeat a key; the groups are formed from their exact texts, so a hash
    collision never merges. A record whose id Excel mangled (``mangled``) is
    one of many customers sharing that text: it merges only with records of
    the same sendout, the same mangled text and the same non-blank
    ``cnt_session_id`` (``sessions``); without a session it merges with none.
    ``seq`` orders the records from the oldest report to the newest (default:
    record order); ``latest`` is the newest record of each group.

    Parameters
    ----------
    sendout_codes : numpy.ndarray of int
        Each record's ``sendout_id`` as a category code, as for
        :func:`repeat_candidates`.
    customers : pyarrow.ChunkedArray
        Each record's ``customer_external_id`` text.
    candidates : numpy.ndarray of int64
        :func:`repeat_candidates`'s result (ascending).
    seq : numpy.ndarray of int64, optional
        Each record's place from the oldest report to the newest.
    mangled : numpy.ndarray of bool, optional
        Records whose customer id Excel rewrote.
    sessions : pyarrow.ChunkedArray, optional
        Each record's ``cnt_session_id`` text.

    Returns
    -------
    MergePlan or None
        The records of the repeated keys; ``None`` when no key repeats.
    """
    if mangled is not None and sessions is not None and len(candidates):
        candidates, session = _sessions_of_mangled(candidates, mangled, sessions)
    else:
        session = None
    if not len(candidates):
        return None
    exact = pd.DataFrame(
        {
            "sendout": sendout_codes[candidates],
            "customer": take_rows(customers, candidates).to_numpy(zero_copy_only=False),
        }
    )
    keys = ["sendout", "customer"]
    if session is not None:
        exact["session"] = session
        keys.append("session")
    group = exact.groupby(keys, sort=False).ngroup().to_numpy()
    repeated = pd.Series(group).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return None
    members = candidates[repeated]  # ascending: candidates are
    group = group[repeated]
    order = np.arange(len(members)) if seq is None else np.argsort(seq[members], kind="stable")
    members, group = members[order], group[order]  # oldest report first
    grouped = pd.Series(members).groupby(group)
    return MergePlan(
        members=members,
        first=grouped.transform("min").to_numpy(),
        latest=grouped.transform("last").to_numpy(),
    )


def _sessions_of_mangled(
    candidates: np.ndarray, mangled: np.ndarray, sessions: pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates that may merge, and the extra key of each: the session of a mangled id."""
    bad = np.flatnonzero(mangled[candidates])
    session = np.full(len(candidates), "", dtype=object)
    if not len(bad):
        return candidates, session
    texts = take_rows(sessions, candidates[bad]).to_pylist()
    keep = np.ones(len(candidates), dtype=bool)
    for i, text in zip(bad.tolist(), texts, strict=True):
        if text is None or not text.strip():
            keep[i] = False  # nothing else tells these customers apart
        else:
            session[i] = "\0" + text  # never equal to a plain record's ""
    return candidates[keep], session[keep]


def unmatched_mangled(
    sendout_codes: np.ndarray,
    customers: pa.ChunkedArray,
    candidates: np.ndarray,
    mangled: np.ndarray,
    where: RecordMap,
) -> list[tuple[int, list[int]]]:
    """Mangled-id records kept apart from other records showing the same text.

    Parameters
    ----------
    sendout_codes : numpy.ndarray of int
        Each record's ``sendout_id`` as a category code.
    customers : pyarrow.ChunkedArray
        Each record's ``customer_external_id`` text.
    candidates : numpy.ndarray of int64
        :func:`repeat_candidates`'s result (ascending).
    mangled : numpy.ndarray of bool
        Records whose customer id Excel rewrote.
    where : RecordMap
        Where each record ended up after merging.

    Returns
    -------
    list of (record, others)
        Each record with a mangled id that shares (sendout_id, id text) with
        other records it was not merged with, and those other records.
    """
    bad = candidates[mangled[candidates]] if len(candidates) else candidates
    if not len(bad):
        return []
    same = pd.DataFrame(
        {
            "rid": candidates,
            "sendout": sendout_codes[candidates],
            "customer": take_rows(customers, candidates).to_numpy(zero_copy_only=False),
        }
    )
    out = []
    for _, group in same.groupby(["sendout", "customer"], sort=False):
        if len(group) < 2:
            continue
        rids = group["rid"].to_numpy()
        for r in rids[mangled[rids]]:
            others = [int(o) for o in rids if where.survivor[o] != where.survivor[r]]
            if others:
                out.append((int(r), others))
    return sorted(out)


def apply_merge(raw: pa.Table, arrays: dict[str, np.ndarray], plan: MergePlan) -> pa.Table:
    """Give each group's first record the last non-blank value of each column.

    ``arrays`` (timestamps with NaT, category codes with -1) are updated in
    place; the text columns of ``raw`` are patched and the new table returned.

    Parameters
    ----------
    raw : pyarrow.Table
        The records as text; its ``line`` and ``_src`` columns are left as they are.
    arrays : dict of str to numpy.ndarray
        Columns already parsed, one value per record, updated in place:
        ``datetime64`` arrays (NaT for blank) or integer codes (-1 for blank).
    plan : MergePlan
        The groups of records to merge (:func:`merge_plan`).

    Returns
    -------
    pyarrow.Table
        ``raw`` with each group's first record holding the merged text values
        (the other records are still there: drop them with :func:`drop_rows`).
    """
    survivors = np.unique(plan.first)
    sub = take_rows(raw, plan.members).to_pandas(types_mapper=STR_TYPES.get)
    sub.index = np.arange(len(sub))
    for c, values in arrays.items():
        v = values[plan.members]
        sub[c] = v if v.dtype.kind == "M" else np.where(v < 0, np.nan, v)
    # members go from the oldest report to the newest: groupby's last() is the newest
    # non-blank value
    last = sub.groupby(plan.first, sort=True).last().reindex(survivors)
    for c, values in arrays.items():
        merged = last[c].to_numpy()
        values[survivors] = (
            merged.astype(values.dtype)
            if values.dtype.kind == "M"
            else np.nan_to_num(merged, nan=-1).astype(values.dtype)
        )
    own = take_rows(raw, survivors).to_pandas(types_mapper=STR_TYPES.get)
    columns = {}
    for name in raw.column_names:
        col = raw[name]
        if name in ("line", "_src"):
            columns[name] = col
            continue
        merged = last[name]
        same = (merged.isna().to_numpy() & own[name].isna().to_numpy()) | (
            merged.to_numpy(dtype=object) == own[name].to_numpy(dtype=object)
        )
        if same.all():  # most columns: the first record already holds the merged value
            columns[name] = col
            continue
        changed = survivors[~same]
        values = pa.array(merged[~same].to_numpy(dtype=object, na_value=None), type=col.type)
        columns[name] = _patch(col, changed, values)
    return pa.table(columns)


class ChildRows:
    """A child table (clicks, variables) as arrays, until it becomes a DataFrame.

    ``rid`` is the record each row was read from; merging points rows at
    their survivor and drops repeats, and :meth:`frame` builds the DataFrame
    with one take per column.

    Parameters
    ----------
    rid : numpy.ndarray of int64
        The record (position in the raw table) each row was read from.
    columns : dict of str to array
        The child table's columns, one value per row: numpy arrays or Arrow
        text arrays.
    origin : (numpy.ndarray, numpy.ndarray), optional
        Each row's own source (a code of the ``names`` given to :meth:`frame`)
        and line, when it differs from its record's: rows of tables already
        tidied, whose record is a merged message. By default a row shows the
        source and line of the record it was read from.
    """

    def __init__(
        self,
        rid: np.ndarray,
        columns: dict[str, Any],
        origin: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.read_from = rid  # where each row was read: its source and line
        self.rid = rid
        self.columns = columns
        self.origin = origin
        self.keep = np.ones(len(rid), dtype=bool)

    def merge(
        self,
        rid_to_survivor: np.ndarray,
        subset: list[str],
        *,
        keep: str,
        seq: np.ndarray | None = None,
    ) -> None:
        """Point rows at survivors and drop the repeats among them.

        ``keep="first"`` unites (clicks); ``keep="last"`` lets the newer
        record win (variables merged by key), records ordered by ``seq``
        (oldest report first; default: record order).

        Parameters
        ----------
        rid_to_survivor : numpy.ndarray of int64
            Record -> the record whose row holds its message
            (:attr:`RecordMap.survivor`).
        subset : list of str
            Columns that, with the survivor, identify a repeated row.
        keep : {"first", "last"}
            Which of the repeated rows stays, records ordered by ``seq``.
        seq : numpy.ndarray of int64, optional
            Each record's place from the oldest report to the newest (default:
            the order the records were read).
        """
        new_rid = rid_to_survivor[self.rid]
        moved = new_rid != self.rid
        self.rid = new_rid
        if not moved.any():
            return
        involved = np.flatnonzero(np.isin(new_rid, np.unique(new_rid[moved])))
        when = self.read_from[involved] if seq is None else seq[self.read_from[involved]]
        order = involved[np.argsort(when, kind="stable")]
        part = pd.DataFrame({"rid": new_rid[order]})
        for name in subset:
            col = self.columns[name]
            part[name] = (
                col.take(pa.array(order)).to_pandas() if isinstance(col, pa.Array) else col[order]
            )
        repeat = part.duplicated(["rid", *subset], keep=keep).to_numpy()
        self.keep[order[repeat]] = False

    def frame(
        self,
        rid_to_message: np.ndarray,
        src: np.ndarray,
        line: np.ndarray,
        names: list[str],
        *,
        order: tuple[str, ...],
    ) -> pd.DataFrame:
        """The DataFrame, sorted by message, then ``order`` columns, then record.

        Parameters
        ----------
        rid_to_message : numpy.ndarray of int64
            Record -> ``message_id`` (:meth:`RecordMap.to_message`).
        src : numpy.ndarray of int
            Record -> the code of its source file in ``names``.
        line : numpy.ndarray of int
            Record -> its line in its source file.
        names : list of str
            The source names, the categories of the ``source`` column.
        order : tuple of str
            Columns of small non-negative codes to sort by within a message.

        Returns
        -------
        pandas.DataFrame
            ``message_id``, the child columns, then ``source`` and ``line`` of
            the record each row was read from (or its ``origin``); dropped
            repeats left out.
        """
        idx = np.flatnonzero(self.keep)
        mid = rid_to_message[self.rid[idx]]
        key = mid.astype(np.int64)
        for c in order:  # small codes (kind, direction): a few values each
            codes = self.columns[c][idx].astype(np.int64)
            key = key * (int(codes.max(initial=0)) + 1) + codes
        idx = idx[np.argsort(key, kind="stable")]  # runs already sorted: cheap
        mid = rid_to_message[self.rid[idx]]
        data: dict[str, Any] = {"message_id": mid}
        take = pa.array(idx)
        for name, col in self.columns.items():
            data[name] = (
                pd.array(col.take(take), dtype=STR) if isinstance(col, pa.Array) else col[idx]
            )
        if self.origin is None:
            row_src, row_line = src[self.read_from[idx]], line[self.read_from[idx]]
        else:
            row_src, row_line = self.origin[0][idx], self.origin[1][idx]
        data["source"] = pd.Categorical.from_codes(row_src, categories=names)
        data["line"] = row_line
        return pd.DataFrame(data)


@dataclass(frozen=True)
class RecordMap:
    """Where each record read ended up, after merging.

    Parameters
    ----------
    survivor : numpy.ndarray of int64
        Record -> the record whose row holds its message (itself if not merged).
    shown : numpy.ndarray of int64
        Record -> the record whose source and line its row shows (the latest).
    merged_away : numpy.ndarray of bool
        Records folded into a later one (a ``merged_duplicate`` problem each).
    """

    survivor: np.ndarray
    shown: np.ndarray
    merged_away: np.ndarray

    @classmethod
    def of(cls, n: int, plan: MergePlan | None) -> RecordMap:
        """The map of ``n`` records under ``plan`` (``None``: nothing merged).

        Parameters
        ----------
        n : int
            How many records were read.
        plan : MergePlan or None
            :func:`merge_plan`'s result.

        Returns
        -------
        RecordMap
            The map; with ``plan=None`` every record is its own survivor.
        """
        identity = np.arange(n, dtype=np.int64)
        merged_away = np.zeros(n, dtype=bool)
        if plan is None:
            return cls(identity, identity, merged_away)
        survivor = identity.copy()
        survivor[plan.members] = plan.first
        shown = identity.copy()
        shown[plan.members] = plan.latest
        merged_away[plan.members] = plan.members != plan.latest
        return cls(survivor, shown, merged_away)

    @property
    def dropped(self) -> np.ndarray:
        """The records merged into an earlier row, ascending.

        Returns
        -------
        numpy.ndarray of int64
            Positions of those records.
        """
        return np.flatnonzero(self.survivor != np.arange(len(self.survivor)))

    @property
    def kept(self) -> np.ndarray:
        """The records that keep a row of their own, ascending.

        Returns
        -------
        numpy.ndarray of int64
            Positions of those records.
        """
        return np.flatnonzero(self.survivor == np.arange(len(self.survivor)))

    def to_message(self) -> np.ndarray:
        """Record -> ``message_id`` (the row of its survivor among the kept records).

        Returns
        -------
        numpy.ndarray of int64
            One ``message_id`` per record read.
        """
        out = np.full(len(self.survivor), -1, dtype=np.int64)
        kept = self.kept
        out[kept] = np.arange(len(kept))
        return out[self.survivor]
