"""The work done on Dask workers: a file tidied and cut into pieces, a partition merged.

Both steps call the package's own code: :func:`connectly_nb.load.read_raw` and
:func:`connectly_nb.tidy.tidy` read a file exactly as :func:`read_export`
would; :func:`connectly_nb.tidy.merge_exports` merges a partition's state with
the new pieces by the same rule. Everything a step returns to the client is
small (counts, the partition's share of the cube, the problems merging found);
the tables themselves go to Parquet files in the store.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectly_nb._merge import text_hash
from connectly_nb._parse import to_numpy_bool
from connectly_nb._problems import empty_problems
from connectly_nb._stages import count_combinations
from connectly_nb.export import Export
from connectly_nb.load import Input, read_raw
from connectly_nb.schema import (
    ACCOUNTING_COLUMNS,
    CLICK_TABLE_COLUMNS,
    EXPORT_COLUMNS,
    FLAG_COLUMNS,
    PROBLEM_TABLE_COLUMNS,
    VARIABLE_TABLE_COLUMNS,
)
from connectly_nb.store._layout import Place
from connectly_nb.tidy import merge_exports, release_memory, tidy

__all__ = [
    "SLOT",
    "TABLES",
    "FileSummary",
    "Piece",
    "bucket_of",
    "cube_fragments",
    "empty_export",
    "merge_partition",
    "read_partition",
    "stable_hash",
    "stage_file",
]

#: The tables of a partition, each a Parquet file in its folder.
TABLES = ("messages", "clicks", "variables")
#: The cube's time grain: every real time zone's offset is a multiple of it.
SLOT = "15min"
#: The tables of a partition's share of the cube.
FRAGMENTS = ("cube", "failures", "sendouts")
#: Problems that depend on the merged state: recomputed with each partition.
STATE_PROBLEMS = ("event_without_sent",)
#: Problems merging finds (kept from each merge).
MERGE_PROBLEMS = ("merged_duplicate", "not_merged")


def bucket_of(messages: pd.DataFrame, buckets: int) -> np.ndarray:
    """The hash bucket of each message: a stable hash of (sendout_id, customer_external_id).

    Every record of a message has the same key, so it lands in the same
    bucket whatever file it comes from; a big sendout spreads over all buckets.

    Parameters
    ----------
    messages : pandas.DataFrame
        Holds ``sendout_id`` and ``customer_external_id``.
    buckets : int
        How many buckets.

    Returns
    -------
    numpy.ndarray of int64
        ``0 .. buckets - 1`` for each row.
    """
    if buckets <= 1 or not len(messages):
        return np.zeros(len(messages), dtype=np.int64)
    sendout = messages["sendout_id"]
    names = np.asarray([str(c) for c in sendout.cat.categories], dtype=object)
    per_name = np.r_[pd.util.hash_array(names), np.uint64(0)] if len(names) else np.zeros(1, "u8")
    h = per_name[sendout.cat.codes.to_numpy()]  # code -1 (blank) takes the last slot
    h ^= stable_hash(pa.array(messages["customer_external_id"].array, type=pa.large_string()))
    return (h % np.uint64(buckets)).astype(np.int64)


def stable_hash(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A hash of each text cell that is the same in every process (0 for null).

    Parameters
    ----------
    arr : pyarrow.Array or pyarrow.ChunkedArray
        Text cells (``string`` or ``large_string``).

    Returns
    -------
    numpy.ndarray of uint64
        One hash per cell.

    Notes
    -----
    :func:`connectly_nb._merge.text_hash` reads cells of up to 16 bytes from
    Arrow's buffers (a phone number is one); longer cells, which it tells
    apart by a code valid only within its call, are hashed by pandas here.
    """
    h, null = text_hash(arr)
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    long = np.flatnonzero(to_numpy_bool(pc.fill_null(pc.greater(pc.binary_length(a), 16), False)))
    if len(long):
        texts = np.asarray(a.take(pa.array(long)).to_pylist(), dtype=object)
        h[long] = pd.util.hash_array(texts)
    h[null] = 0
    return h


@dataclass(frozen=True)
class Piece:
    """The messages of one file with one sendout and bucket: a row group of its staged files.

    Parameters
    ----------
    sendout : str or None
        The ``sendout_id`` (None for records without one).
    bucket : int
        The hash bucket.
    group : int
        The row group in the file's staged tables.
    rows : int
        Messages in the piece.
    first_sent : str or None
        The earliest ``sent_at`` (ISO, UTC) among them.
    """

    sendout: str | None
    bucket: int
    group: int
    rows: int
    first_sent: str | None


@dataclass
class FileSummary:
    """What the client needs to know of a staged file.

    Parameters
    ----------
    name : str
        The file's name, as its rows' ``source`` shows it.
    sha1 : str
        Its content hash.
    staged : str
        The folder of its staged tables, relative to the store.
    accounting : dict
        Its row of ``Export.accounting`` (``as_of`` as ISO text or None).
    problems : dict of str to int
        Problems of the file, by code.
    pieces : list of Piece
        Its messages, cut by sendout and bucket.
    """

    name: str
    sha1: str
    staged: str
    accounting: dict[str, Any]
    problems: dict[str, int]
    pieces: list[Piece]


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).tz_convert("UTC").isoformat()


def stage_file(inp: Input, sha1: str, place: Place, staged: str, buckets: int) -> FileSummary:
    """Read and tidy one file, keep its problems, and stage its tables cut into pieces.

    Parameters
    ----------
    inp : Input
        The file (a path the worker can read, or its bytes).
    sha1 : str
        Its content hash (names its problems file).
    place : Place
        The store.
    staged : str
        Folder for the staged tables, relative to the store.
    buckets : int
        The store's hash buckets per day.

    Returns
    -------
    FileSummary
        Its accounting, problem counts and pieces.
    """
    ex = tidy([read_raw(inp)], tz="UTC")
    release_memory()
    problems = ex.problems
    problems = problems[~problems["problem"].isin(STATE_PROBLEMS).to_numpy()]
    place.write_frame(f"problems/{sha1}.parquet", problems.drop(columns="message_id"))
    counts = problems["problem"].astype(str).value_counts()
    accounting = ex.accounting.iloc[0].to_dict()
    accounting["as_of"] = _iso(accounting["as_of"])
    pieces = _write_pieces(ex, place, staged, buckets)
    return FileSummary(
        name=str(accounting["source"]),
        sha1=sha1,
        staged=staged,
        accounting={k: _plain(v) for k, v in accounting.items()},
        problems={str(k): int(v) for k, v in counts.items() if v},
        pieces=pieces,
    )


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_pieces(ex: Export, place: Place, staged: str, buckets: int) -> list[Piece]:
    """Sort the tables by (sendout, bucket) and write one row group per piece."""
    m = ex.messages
    sendout = m["sendout_id"].cat.codes.to_numpy().astype(np.int64)
    bucket = bucket_of(m, buckets)
    order = np.lexsort((np.arange(len(m)), bucket, sendout))
    new_id = np.empty(len(m), dtype=np.int64)
    new_id[order] = np.arange(len(m))
    messages = m.iloc[order].reset_index(drop=True)
    key = sendout[order] * buckets + bucket[order]
    bounds = np.flatnonzero(np.r_[True, key[1:] != key[:-1], True]) if len(m) else np.array([0])
    starts, stops = bounds[:-1], bounds[1:]
    tables = {"messages": messages}
    for name in ("clicks", "variables"):
        t = getattr(ex, name)
        t = t.assign(message_id=new_id[t["message_id"].to_numpy()])
        tables[name] = t.sort_values("message_id", kind="stable").reset_index(drop=True)
    sent = messages["sent_at"]
    pieces = []
    for g, (a, b) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        s = messages["sendout_id"].iloc[a]
        pieces.append(
            Piece(
                None if pd.isna(s) else str(s),
                int(bucket[order][a]),
                g,
                b - a,
                _iso(sent.iloc[a:b].min()),
            )
        )
    for name, t in tables.items():
        _write_groups(place, f"{staged}/{name}.arrow", t, starts, stops, name != "messages")
    return pieces


def _write_groups(
    place: Place,
    rel: str,
    frame: pd.DataFrame,
    starts: np.ndarray,
    stops: np.ndarray,
    child: bool,
) -> None:
    """Write ``frame`` with one row group per piece (a child table's rows by message_id)."""
    if child:  # the rows of each piece's messages, and message_id counted within the piece
        mid = frame["message_id"].to_numpy()
        lo, hi = np.searchsorted(mid, starts), np.searchsorted(mid, stops)
        piece = np.searchsorted(starts, mid, side="right") - 1
        frame = frame.assign(message_id=mid - starts[piece] if len(mid) else mid)
    else:
        lo, hi = starts, stops
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path = place.path(rel)
    place.fs.makedirs(path.rpartition("/")[0], exist_ok=True)
    # Arrow IPC, one record batch per piece: written and read back without conversion
    with place.fs.open(path, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            part = table.slice(a, b - a)
            writer.write_batch(
                pa.RecordBatch.from_arrays(
                    [c.combine_chunks() for c in part.columns], schema=table.schema
                )
            )


def read_pieces(place: Place, staged: str, groups: list[int]) -> Export:
    """The pieces ``groups`` of a staged file, as one Export (message ids renumbered).

    Parameters
    ----------
    place : Place
        The store.
    staged : str
        The file's staged folder.
    groups : list of int
        Row groups to read (pieces of one partition).

    Returns
    -------
    Export
        Their messages, clicks and variables.
    """
    tables = {}
    for name in TABLES:
        with place.fs.open(place.path(f"{staged}/{name}.arrow"), "rb") as fh:
            reader = pa.ipc.open_file(fh)
            batches = [reader.get_batch(g) for g in groups]
            table = pa.Table.from_batches(batches, schema=reader.schema)
            tables[name] = (table.to_pandas(), [b.num_rows for b in batches])
    messages, sizes = tables["messages"]
    starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)  # each piece's first row, as read
    out = {"messages": messages.rename_axis("message_id")}
    for name in ("clicks", "variables"):
        frame, child_sizes = tables[name]
        piece = np.repeat(np.arange(len(groups)), child_sizes)
        out[name] = frame.assign(message_id=frame["message_id"].to_numpy() + starts[piece])
    return _export(out)


@functools.cache
def _empty(name: str) -> pd.DataFrame:
    """An empty table (shared: Exports never change their tables)."""
    if name == "problems":
        return empty_problems()
    columns = {
        "clicks": CLICK_TABLE_COLUMNS,
        "variables": VARIABLE_TABLE_COLUMNS,
        "accounting": ACCOUNTING_COLUMNS,
    }[name]
    return pd.DataFrame(columns=list(columns))


def _export(tables: dict[str, pd.DataFrame]) -> Export:
    return Export(
        messages=tables["messages"],
        clicks=tables["clicks"] if "clicks" in tables else _empty("clicks"),
        variables=tables["variables"] if "variables" in tables else _empty("variables"),
        problems=tables["problems"] if "problems" in tables else _empty("problems"),
        accounting=_empty("accounting"),
    )


def empty_export() -> Export:
    """An Export of no messages, every table with its usual columns and types.

    Returns
    -------
    Export
        What ``read_export`` gives for a file holding only the header.
    """
    header = (",".join(EXPORT_COLUMNS) + "\n").encode()
    ex = tidy([read_raw(Input(name="(no messages)", data=header))], tz="UTC")
    return ex.replace(problems=empty_problems(), accounting=ex.accounting.iloc[:0])


def read_partition(
    place: Place,
    path: str,
    tables: tuple[str, ...] = TABLES,
    columns: list[str] | None = None,
) -> Export:
    """A partition's tables as an Export (``message_id`` counted within the partition).

    Parameters
    ----------
    place : Place
        The store.
    path : str
        The partition's folder.
    tables : tuple of str
        Which of ``messages``, ``clicks``, ``variables``, ``problems`` to read
        (the others are empty).
    columns : list of str, optional
        Only these columns of ``messages``.

    Returns
    -------
    Export
        The tables read.
    """
    out = {}
    for name in tables:
        frame = place.read_frame(f"{path}/{name}.parquet", columns if name == "messages" else None)
        out[name] = frame.rename_axis("message_id") if name == "messages" else frame
    return _export(out)


def merge_partition(
    place: Place,
    day: str,
    before: list[tuple[str, list[int]]],
    existing: str | None,
    after: list[tuple[str, list[int]]],
    target: str,
) -> dict[str, Any]:
    """Merge a partition's state with new pieces, write the new partition, summarise it.

    Parameters
    ----------
    place : Place
        The store.
    day : str
        The partition's day (``2024-11-01``, or ``undated``).
    before : list of (staged folder, row groups)
        Pieces of reports older than the store's newest (merged beneath its state).
    existing : str or None
        The partition's folder now, if it has one.
    after : list of (staged folder, row groups)
        Pieces of newer reports, oldest first.
    target : str
        The new partition's folder.

    Returns
    -------
    dict
        ``rows``, ``sent_min``, ``sent_max``, ``sources`` (messages per
        source), ``fragments`` (its share of the cube) and ``problems`` (the
        file of what merging found, or None).
    """
    parts = [read_pieces(place, s, g) for s, g in before]
    if existing is not None:
        parts.append(read_partition(place, existing))
    parts += [read_pieces(place, s, g) for s, g in after]
    merged = merge_exports(parts, tz="UTC")
    del parts
    found = merged.problems
    state = found[found["problem"].isin(STATE_PROBLEMS).to_numpy()]
    found = found[found["problem"].isin(MERGE_PROBLEMS).to_numpy()]
    if existing is not None:  # warnings about rows already in the store were given before
        old = read_partition(place, existing, ("messages",), ["source", "line"]).messages
        seen = pd.MultiIndex.from_frame(old.astype({"source": object}))
        again = pd.MultiIndex.from_frame(found[["source", "line"]].astype({"source": object}))
        found = found[~(again.isin(seen) & (found["problem"] == "not_merged").to_numpy())]
    m = merged.messages
    for name in TABLES:
        place.write_frame(f"{target}/{name}.parquet", getattr(merged, name))
    place.write_frame(f"{target}/problems.parquet", state)
    fragments = cube_fragments(m, day)
    for name, frame in fragments.items():
        place.write_frame(f"{target}/{name}.parquet", frame)
    sent = m["sent_at"]
    found_at = None
    if len(found):  # written here: as many as the merged records, too many for the client
        found_at = f"problems/merge-{target.rpartition('/')[2]}.parquet"
        place.write_frame(found_at, found[list(PROBLEM_TABLE_COLUMNS[:-1])])
    release_memory()  # a worker runs many of these: hand Arrow's freed blocks back
    return {
        "rows": len(m),
        "sent_min": _iso(sent.min()),
        "sent_max": _iso(sent.max()),
        "sources": {str(k): int(v) for k, v in m["source"].value_counts().items() if v},
        "fragments": fragments,
        "problems": found_at,
    }


def cube_fragments(m: pd.DataFrame, day: str) -> dict[str, pd.DataFrame]:
    """A partition's share of the cube: message counts by sendout, slot, code and state.

    Parameters
    ----------
    m : pandas.DataFrame
        The partition's messages.
    day : str
        The partition's day (a column of each table, so a day's rows can be replaced).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``cube``: ``day``, ``business_id``, ``campaign_name``, ``sendout_id``,
        ``slot`` (``sent_at`` floored to :data:`SLOT`, UTC; NaT when not
        sent), ``error_code``, the six stage flags and ``n`` (messages);
        ``failures``: the failed messages by ``day`` ... ``error_code`` and
        ``error_msg``, ``n``; ``sendouts``: per ``sendout_id`` and
        ``campaign_name``, ``first_sent`` and ``n``.
    """
    slot = m["sent_at"].dt.floor(SLOT)
    dims = {c: m[c] for c in ("business_id", "campaign_name", "sendout_id")}
    dims["slot"] = slot
    dims["error_code"] = m["error_code"]
    cube = count_combinations({**dims, **{f: m[f] for f in FLAG_COLUMNS}})
    failed = m["is_failed"].to_numpy()
    fail = {c: v[failed] for c, v in dims.items()}
    fail["error_msg"] = m["error_msg"][failed]
    failures = count_combinations(fail)
    sendouts = (
        m.groupby(["sendout_id", "campaign_name"], observed=True, dropna=False)["sent_at"]
        .agg(["min", "size"])
        .rename(columns={"min": "first_sent", "size": "n"})
    )
    out = {}
    for name, t in (("cube", cube), ("failures", failures), ("sendouts", sendouts.reset_index())):
        t.insert(0, "day", day)
        out[name] = t.astype({"n": np.int64})
    return out
