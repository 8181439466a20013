"""Raw export records -> :class:`~connectly_nb.export.Export`: typed, checked, merged, derived.

:func:`tidy` is a short list of named steps; reading it top to bottom is
reading the load. Every record read ends up either as a row of
``Export.messages`` or merged into one (with an info problem), and every cell
that could not be read is a row of ``Export.problems``.

Memory: ``tidy`` takes the records over. The text of a column is dropped as
soon as the column is typed (categories, timestamps), Arrow's freed blocks
are handed back after each stage, and the variables cells stay as text until
``Export.variables`` or ``Export.problems`` is first asked for.

Old import paths keep working: ``connectly_nb.tidy.Export`` and
``connectly_nb.tidy.TimeZoneError`` are imported here from their new homes
(:mod:`~connectly_nb.export`, :mod:`~connectly_nb.exceptions`), and
``connectly_nb.tidy.read_export`` is set by the package's ``__init__``
(:mod:`~connectly_nb.read` sits above this module, which must not import it).
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectly_nb import _merge, _parse
from connectly_nb._merge import STR_TYPES, ChildRows, RecordMap
from connectly_nb._problems import ProblemCollector
from connectly_nb._progress import Progress, interactive
from connectly_nb._stages import stage_flags
from connectly_nb._time import NAT_INT, check_tz, localize, naive_utc, since
from connectly_nb.display import format_number_of
from connectly_nb.exceptions import TimeZoneError
from connectly_nb.export import Export
from connectly_nb.load import RawFile
from connectly_nb.schema import (
    ACCOUNTING_COLUMNS,
    CATEGORICAL_COLUMNS,
    CLICK_KINDS,
    CLICK_TABLE_COLUMNS,
    DERIVED_COLUMNS,
    ERROR_COLUMNS,
    EXPORT_COLUMNS,
    ID_COLUMNS,
    MANGLED_ID,
    STAGES,
    TIMESTAMP_COLUMNS,
    VARIABLE_COLUMNS,
    VARIABLE_TABLE_COLUMNS,
)

__all__ = ["Export", "TimeZoneError", "merge_exports", "release_memory", "tidy"]

_DIRECTIONS = ("input", "output")  # the variables columns, in order
_THREADED_ROWS = 50_000  # loads at least this big run their column tasks on two threads
_BIG_DEFERRED = 200_000  # from this many records, reading the variables shows a progress bar


def release_memory() -> None:
    """Give the memory Arrow freed back to the system.

    Arrow's allocator keeps freed blocks for reuse; the text columns a load
    drops would otherwise stay in the process until it ends (about 100 MiB
    of the peak for a 1,000,000-row export). Takes about a millisecond.
    """
    pa.default_memory_pool().release_unused()


# --------------------------------------------------------------------------- the steps


def tidy(
    raws: Sequence[RawFile],
    *,
    tz: str = "UTC",
    dedupe: bool = True,
    step: Callable[[str], Any] | None = None,
) -> Export:
    """Type, check, merge and derive: raw files -> :class:`Export`.

    Parameters
    ----------
    raws : sequence of RawFile
        What :func:`connectly_nb.load.read_raw` returned, in file order.
    tz : str
        Time zone to show timestamps in.
    dedupe : bool
        Merge repeated (sendout_id, customer_external_id) records.
    step : callable, optional
        Called with the name of each stage (for a progress display).

    Returns
    -------
    Export
        The tidy tables; ``variables`` and ``problems`` are completed on
        first access (see :class:`~connectly_nb.export.Export`).

    Raises
    ------
    TimeZoneError
        ``tz`` is not a time zone name.
    ValueError
        ``raws`` is empty.

    Notes
    -----
    ``tidy`` takes the records over: each RawFile's ``table`` is emptied, so
    the text of columns that become typed can be freed during the load.
    """
    tz = check_tz(tz)
    note = step or (lambda _s: None)
    records = _concat_records(raws)
    problems = ProblemCollector(records.names, records.src, records.line)
    problems.add_rows(p for r in raws for p in r.problems)
    note("checking and parsing cells")
    cells = _parse_cells(records, problems, dedupe=dedupe)
    _normalise_categories(cells, records.names, problems)
    as_of, seq = _report_order(cells.stamps, records)
    var_cells = _keep_text_only(records)
    note("merging duplicates")
    where = _merge_repeats(records, cells, problems, dedupe=dedupe, seq=seq)
    release_memory()
    note("building tables")
    rid_to_message = where.to_message()
    clicks, click_utc = _clicks_frame(cells.clicks, rid_to_message, records, tz)
    messages = _messages_frame(records, cells, where, clicks, click_utc, tz)
    _report_events_without_sent(messages, where.kept, problems)
    note("finishing")
    deferred = _Deferred(var_cells, problems, where.survivor, rid_to_message, seq)
    return Export(
        messages=messages,
        clicks=clicks,
        variables=deferred.variables,
        problems=deferred.problems,
        accounting=_accounting(raws, records.src, where.merged_away, messages, as_of, tz),
        tz=tz,
    )


@dataclass
class _Records:
    """Every record of every file in one Arrow table, and where each was read."""

    table: pa.Table  # EXPORT_COLUMNS, extras, then line and _src; text until typed
    names: list[str]  # the files, in order
    extras: list[str]  # extra columns of any file, in order of appearance
    src: np.ndarray  # record -> file index
    line: np.ndarray  # record -> 1-based line of its first physical line

    @property
    def n(self) -> int:
        return len(self.src)


def _concat_records(raws: Sequence[RawFile]) -> _Records:
    """One table of every record, in file order; each RawFile's table is emptied."""
    if not raws:
        raise ValueError("tidy needs at least one RawFile")
    extras = list(dict.fromkeys(c for r in raws for c in r.extra_columns))
    tables = []
    for i, r in enumerate(raws):
        t = r.table
        cols = {c: t[c] for c in EXPORT_COLUMNS}
        present = set(t.column_names)  # a set: files may have a thousand extra columns
        for c in extras:
            cols[c] = t[c] if c in present else pa.nulls(t.num_rows, pa.string())
        cols["line"] = t["line"]
        cols["_src"] = pa.array(np.full(t.num_rows, i, dtype=np.int32))
        tables.append(pa.table(cols))
    table = pa.concat_tables(tables)
    del tables, t, cols  # the loop's last table would keep every text column alive
    for r in raws:  # tidy owns the records now: columns it drops can be freed
        r.table = r.table.schema.empty_table()
    return _Records(
        table=table,
        names=[r.source for r in raws],
        extras=extras,
        src=table["_src"].to_numpy(),
        line=table["line"].to_numpy(),
    )


# ------------------------------------------------------------------ cells


@dataclass
class _Cells:
    """The typed columns: category codes, UTC instants, clicks; and the repeat candidates."""

    codes: dict[str, np.ndarray]  # categorical column -> int32 codes (-1 blank)
    categories: dict[str, list[str]]
    stamps: dict[str, np.ndarray]  # timestamp column -> datetime64[us] UTC (NaT blank)
    clicks: ChildRows
    repeats: np.ndarray | None  # records whose key may repeat (None: dedupe off)
    mangled: np.ndarray  # records whose customer id Excel rewrote


def _parse_cells(records: _Records, problems: ProblemCollector, *, dedupe: bool) -> _Cells:
    """Check, type and parse every cell, column by column.

    The column tasks are independent and spend their time in Arrow and numpy
    kernels that release the GIL, so a big load runs them on two threads.
    Each task only adds to ``problems`` (sorted at the end) and returns its
    arrays. The tasks are listed longest first, so the threads finish together.
    """
    raw = records.table
    tasks: dict[str, Callable[[], Any]] = {}
    for column in CLICK_KINDS.values():
        tasks[column] = functools.partial(_parse_clicks, raw[column], column, problems)
    tasks["sendouts"] = functools.partial(  # the sendout codes key the repeats
        _encode_and_repeats, raw["sendout_id"], raw["customer_external_id"], dedupe
    )
    for c in TIMESTAMP_COLUMNS:
        tasks[c] = functools.partial(_parse_timestamps, raw[c], c, problems)
    tasks["ids"] = functools.partial(_check_ids, raw, records.extras, problems)
    for c in CATEGORICAL_COLUMNS:
        if c != "sendout_id":
            tasks[f"encode {c}"] = functools.partial(_parse.encode_categories, raw[c])
    del raw
    done = _run(tasks, threads=2 if records.n >= _THREADED_ROWS else 1)
    del tasks  # they hold the whole table
    codes: dict[str, np.ndarray] = {}
    categories: dict[str, list[str]] = {}
    (codes["sendout_id"], categories["sendout_id"]), repeats = done.pop("sendouts")
    for c in CATEGORICAL_COLUMNS:
        if c != "sendout_id":
            codes[c], categories[c] = done.pop(f"encode {c}")
    parts = [done.pop(column) for column in CLICK_KINDS.values()]
    clicks = ChildRows(
        rid=np.concatenate([p["rid"] for p in parts]),
        columns={
            "kind": np.concatenate([p["kind"] for p in parts]),
            "id": pa.concat_arrays([p["id"] for p in parts]),
            "name": pa.concat_arrays([p["name"] for p in parts]),
            "ts": np.concatenate([p["ts"] for p in parts]),
        },
    )
    stamps = {c: done.pop(c) for c in TIMESTAMP_COLUMNS}
    return _Cells(codes, categories, stamps, clicks, repeats, done.pop("ids"))


def _run(tasks: dict[str, Callable[[], Any]], *, threads: int) -> dict[str, Any]:
    """Run independent tasks, on ``threads`` threads; their results by name.

    The first exception raised by a task is raised here, after every task
    has stopped.
    """
    if threads <= 1:
        return {name: task() for name, task in tasks.items()}
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="connectly") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        concurrent.futures.wait(futures.values())
    return {name: f.result() for name, f in futures.items()}


def _flag(
    problems: ProblemCollector,
    cells: pa.ChunkedArray,
    mask: np.ndarray,
    column: str,
    code: str,
    message: str,
) -> None:
    """A problem for each cell of ``cells`` where ``mask`` is true, the cell as its value."""
    rid = np.flatnonzero(mask)
    if len(rid):
        problems.add_cells(rid, column, _parse.take_rows(cells, rid).to_pylist(), code, message)


def _check_ids(records: pa.Table, extras: list[str], problems: ProblemCollector) -> np.ndarray:
    """Blank required ids, ids Excel rewrote, and text cells over the size cap.

    Returns the records whose customer id Excel rewrote (never a merge key alone).
    """
    for c in ("customer_external_id", "campaign_name", "sendout_id"):
        col = records[c]
        blank = _parse.to_numpy_bool(pc.or_kleene(pc.is_null(col), pc.utf8_is_space(col)))
        _flag(problems, col, blank, c, "missing_value", f"{c} is blank; the row is kept")
    ids = records["customer_external_id"]
    mangled = _mangled_ids(ids)
    _flag(
        problems,
        ids,
        mangled,
        "customer_external_id",
        "mangled_id",
        "id looks like a number Excel rewrote (scientific notation or '.0'); "
        "the original phone number cannot be recovered: re-export from Connectly",
    )
    # a cap on text cells: kept as written, but reported (JSON cells have their own)
    for c in (*ID_COLUMNS, *ERROR_COLUMNS, *extras):
        long = pc.greater(pc.binary_length(records[c]), _parse.MAX_JSON_CHARS)
        if pc.any(long).as_py():
            _flag(
                problems,
                records[c],
                _parse.to_numpy_bool(long),
                c,
                "too_large",
                f"{c} holds more than {_parse.MAX_JSON_CHARS:,} bytes; kept as written",
            )
    return mangled


def _mangled_ids(ids: pa.ChunkedArray) -> np.ndarray:
    """Which customer ids look like numbers Excel rewrote (never a merge key alone)."""
    mangled = np.zeros(len(ids), dtype=bool)
    suspects = np.flatnonzero(~_parse.to_numpy_bool(pc.starts_with(ids, "+")))  # first cut
    if len(suspects):
        found = pc.match_substring_regex(_parse.take_rows(ids, suspects), MANGLED_ID)
        mangled[suspects] = _parse.to_numpy_bool(found)
    return mangled


def _parse_timestamps(cells: pa.ChunkedArray, column: str, problems: ProblemCollector) -> Any:
    """UTC instants of one timestamp column; unreadable cells are problems."""
    values, bad = _parse.parse_timestamps(cells)
    _flag(
        problems,
        cells,
        bad,
        column,
        "bad_timestamp",
        f"{column} is not an ISO-8601 timestamp from 2000-01-01 to 2099-12-31 (expected e.g. "
        "2024-05-10 20:13:50.682000); treated as absent",
    )
    return values


def _parse_clicks(
    cells: pa.ChunkedArray, column: str, problems: ProblemCollector
) -> dict[str, Any]:
    """The clicks of one click column, as arrays; unreadable cells and entries are problems."""
    parsed = _parse.parse_clicks(cells)
    for code, items in (
        ("bad_json", parsed.bad_json),
        ("bad_click", parsed.bad_click),
        ("too_large", parsed.too_large),
    ):
        if items:
            rows = np.asarray([r for r, _ in items], dtype=np.int64)
            why = [f"{w}; counted as no clicks" if code == "bad_json" else w for _, w in items]
            values = _parse.take_rows(cells, rows).to_pylist()
            problems.add_cells(rows, column, values, code, why)
    rows, ids, names, texts = parsed.arrays()
    ts, bad = _parse.parse_timestamps(texts)
    if bad.any():
        problems.add_cells(
            rows[bad],
            column,
            texts.filter(pa.array(bad)).to_pylist(),
            "bad_timestamp",
            "click time is not an ISO-8601 timestamp from 2000-01-01 to 2099-12-31; "
            "the click is kept",
        )
    kind = list(CLICK_KINDS.values()).index(column)
    return {
        "rid": rows,
        "kind": np.full(len(rows), kind, dtype=np.int8),
        "id": ids,
        "name": names,
        "ts": ts,
    }


def _encode_and_repeats(
    sendouts: pa.ChunkedArray, customers: pa.ChunkedArray, dedupe: bool
) -> tuple[tuple[np.ndarray, list[str]], np.ndarray | None]:
    """Sendout codes, and (with ``dedupe``) the records that may repeat a key."""
    encoded = _parse.encode_categories(sendouts)
    return encoded, _merge.repeat_candidates(encoded[0], customers) if dedupe else None


def _normalise_categories(cells: _Cells, names: list[str], problems: ProblemCollector) -> None:
    """One category per name: the NFD and NFC spellings of a name are one value.

    ``"Reativação"`` typed on a Mac (decomposed) and on Windows (composed) is
    one campaign, written in the composed form (an info problem names each
    variant). An error code is read without the spaces around it, and a code
    of only spaces is no code. Names that differ only in letter case or surrounding spaces stay
    apart as written, with an info problem saying so; a filter naming one
    matches all of them.
    """
    for column, categories in cells.categories.items():
        clean = [unicodedata.normalize("NFC", c) for c in categories]
        if column == "error_code":  # a code, not a name: spaces around it are typing noise
            clean = [c.strip() for c in clean]
        if clean != categories:
            _merge_variants(cells, column, clean, problems)
        _report_case_variants(cells, column, problems)


def _merge_variants(
    cells: _Cells, column: str, clean: list[str], problems: ProblemCollector
) -> None:
    """Recode ``column`` so that categories with one ``clean`` form are one; ``""`` is blank."""
    categories = cells.categories[column]
    kept = sorted({c for c in clean if c})
    position = {c: i for i, c in enumerate(kept)}
    remap = np.array([position.get(c, -1) for c in clean] + [-1], dtype=np.int32)
    codes = cells.codes[column]
    for old, (raw, new) in enumerate(zip(categories, clean, strict=True)):
        if raw != new:
            rows = np.flatnonzero(codes == old)
            problems.add_cells(
                rows[:1],
                column,
                [raw],
                "renamed_value",
                f"{column} {raw!r} {_how_renamed(raw, new)}; "
                f"{format_number_of(len(rows), 'record')}",
            )
    cells.codes[column] = remap[codes]  # -1 (blank) indexes the last slot: stays -1
    cells.categories[column] = kept


def _how_renamed(raw: str, new: str) -> str:
    if not new:
        return "is only spaces: read as blank (no code)"
    if unicodedata.normalize("NFC", raw) == new:
        return (
            f"written in Unicode's decomposed form: read as the composed {new!r}, one value with it"
        )
    return f"has spaces around it: read as {new!r}, one value with it"


def _report_case_variants(cells: _Cells, column: str, problems: ProblemCollector) -> None:
    by_key: dict[str, list[int]] = {}
    for i, c in enumerate(cells.categories[column]):
        if c.strip():
            by_key.setdefault(c.strip().casefold(), []).append(i)
    codes = cells.codes[column]
    for group in by_key.values():
        if len(group) < 2:
            continue
        spellings = [cells.categories[column][i] for i in group]
        for i in group[1:]:
            rows = np.flatnonzero(codes == i)[:1]
            problems.add_cells(
                rows,
                column,
                [cells.categories[column][i]],
                "similar_names",
                f"{column} values {', '.join(map(repr, spellings))} differ only in letter case "
                "or surrounding spaces; kept apart as written (a filter naming one matches all)",
            )


def _report_order(
    stamps: dict[str, np.ndarray], records: _Records
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each file's latest event, and the order that makes the newest report win a merge.

    Daily reports are snapshots: the one whose latest event is later holds the
    more advanced state, whatever the files are called or the order they were
    given in. Returns the latest event per file (``datetime64[us]``, NaT for a
    file without any) and, when that order differs from the reading order,
    each record's place in it (``None`` otherwise).
    """
    k = len(records.names)
    latest = np.full(k, NAT_INT, dtype=np.int64)
    counts = np.bincount(records.src, minlength=k)
    nonempty = np.flatnonzero(counts > 0)
    if len(nonempty):
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nonempty]
        for values in stamps.values():
            found = np.maximum.reduceat(values.view(np.int64), starts)
            latest[nonempty] = np.maximum(latest[nonempty], found)
    rank = np.argsort(latest, kind="stable")  # NaT (the smallest int64) first
    as_of = latest.view("datetime64[us]")
    if (rank == np.arange(k)).all():
        return as_of, None
    position = np.empty(k, dtype=np.int64)
    position[rank] = np.arange(k)
    return as_of, position[records.src] * max(records.n, 1) + np.arange(records.n)


def _keep_text_only(records: _Records) -> dict[str, pa.ChunkedArray]:
    """Drop the typed columns' text; the rest as ``large_string``; the variables cells.

    pandas keeps text as large_string: converting once here, column by column
    (each old column freed as its copy is made), lets the messages table and
    the deferred variables share one copy of the text. (Reading these columns
    as large_string in the first place was no faster, 1.07x over 10 paired
    loads, within the noise, and took 35 MiB more.)

    Returns
    -------
    dict
        The variables columns as read, before any merge (parsed on first access).
    """
    raw = records.table.drop_columns([*CATEGORICAL_COLUMNS, *TIMESTAMP_COLUMNS])
    records.table = raw  # the typed columns' text can go now
    release_memory()  # with the JSON reader's buffers
    extras = set(records.extras)
    for name in raw.column_names:
        if name not in extras and raw.schema.field(name).type == pa.string():
            raw = raw.set_column(
                raw.schema.get_field_index(name), name, pc.cast(raw[name], pa.large_string())
            )
            records.table = raw
    if extras:  # all at once: one new table per column would take quadratic time
        raw = pa.table(
            {
                name: pc.cast(col, pa.large_string())
                if name in extras and col.type == pa.string()
                else col
                for name, col in zip(raw.column_names, raw.columns, strict=True)
            }
        )
        records.table = raw
    return {c: raw[c] for c in VARIABLE_COLUMNS}


# ------------------------------------------------------------------ repeated records


def _merge_repeats(
    records: _Records,
    cells: _Cells,
    problems: ProblemCollector,
    *,
    dedupe: bool,
    seq: np.ndarray | None,
) -> RecordMap:
    """Merge repeated records (see :mod:`connectly_nb._merge`) and drop the merged rows.

    Works on the Arrow table and the typed arrays, before pandas: the
    surviving record of each group gets the merged values, the others go.
    """
    plan = None
    candidates = cells.repeats if cells.repeats is not None else np.empty(0, np.int64)
    if dedupe and records.n and len(candidates):
        plan = _merge.merge_plan(
            cells.codes["sendout_id"],
            records.table["customer_external_id"],
            candidates,
            seq=seq,
            mangled=cells.mangled,
            sessions=records.table["cnt_session_id"],
        )
    where = RecordMap.of(records.n, plan)
    if plan is not None:
        records.table = _merge.apply_merge(records.table, {**cells.stamps, **cells.codes}, plan)
        cells.clicks.merge(where.survivor, ["kind", "id", "name", "ts"], keep="first", seq=seq)
        _report_merged(where, records, problems)
    if dedupe and cells.mangled[candidates].any():
        _report_not_merged(cells, candidates, where, records, problems)
    kept = where.kept
    if len(kept) < records.n:
        records.table = _merge.drop_rows(records.table, where.dropped)
        cells.stamps = {c: v[kept] for c, v in cells.stamps.items()}
        cells.codes = {c: v[kept] for c, v in cells.codes.items()}
    return where


def _report_not_merged(
    cells: _Cells,
    candidates: np.ndarray,
    where: RecordMap,
    records: _Records,
    problems: ProblemCollector,
) -> None:
    """A warning for each mangled-id record kept apart from records showing the same id."""
    kept_apart = _merge.unmatched_mangled(
        cells.codes["sendout_id"],
        records.table["customer_external_id"],
        candidates,
        cells.mangled,
        where,
    )
    if not kept_apart:
        return
    rids = np.asarray([r for r, _ in kept_apart], dtype=np.int64)
    messages = [
        "customer_external_id was rewritten by Excel, and "
        + _lines_text(others, records)
        + " of this sendout show the same text; without a matching cnt_session_id "
        "the customers cannot be told apart, so this record is kept as its own message"
        for _, others in kept_apart
    ]
    values = _parse.take_rows(records.table["customer_external_id"], rids).to_pylist()
    problems.add_cells(rids, "customer_external_id", values, "not_merged", messages)


def _lines_text(rids: list[int], records: _Records, most: int = 5) -> str:
    """A few records named by file and line ("file line 7, file line 9 and 2 more")."""
    shown = [f"{records.names[records.src[r]]} line {records.line[r]}" for r in rids[:most]]
    more = f" and {len(rids) - most} more" if len(rids) > most else ""
    return ", ".join(shown) + more


def _report_merged(where: RecordMap, records: _Records, problems: ProblemCollector) -> None:
    """An info problem for each record folded into a later one, naming where it went."""
    lost = np.flatnonzero(where.merged_away)
    into = where.shown[lost]
    messages = [
        f"merged into {records.names[s]} line {ln} (same sendout_id and customer_external_id; "
        "the newest report wins)"
        for s, ln in zip(records.src[into], records.line[into], strict=True)
    ]
    # no value: the line is enough to find it, and the id is a phone number
    problems.add_cells(
        lost, "customer_external_id", [None] * len(lost), "merged_duplicate", messages
    )


# ------------------------------------------------------------------ tables


def _clicks_frame(
    clicks: ChildRows, rid_to_message: np.ndarray, records: _Records, tz: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The clicks table, sorted by message, then kind, then record; and its UTC times."""
    frame = clicks.frame(rid_to_message, records.src, records.line, records.names, order=("kind",))
    frame["kind"] = pd.Categorical.from_codes(
        frame["kind"].to_numpy(), categories=list(CLICK_KINDS)
    )
    utc = frame["ts"].to_numpy()
    frame["ts"] = localize(utc, tz)
    return frame[list(CLICK_TABLE_COLUMNS)], utc


def _messages_frame(
    records: _Records,
    cells: _Cells,
    where: RecordMap,
    clicks: pd.DataFrame,
    click_utc: np.ndarray,
    tz: str,
) -> pd.DataFrame:
    """The messages table, built once with every column: typed, text, derived, source."""
    text_cols = [
        c
        for c in (*EXPORT_COLUMNS, *records.extras)
        if c not in TIMESTAMP_COLUMNS and c not in CATEGORICAL_COLUMNS
    ]
    text = records.table.select(text_cols).to_pandas(types_mapper=STR_TYPES.get)
    data: dict[str, Any] = {}
    for c in (*EXPORT_COLUMNS, *records.extras):
        if c in TIMESTAMP_COLUMNS:
            data[c] = localize(cells.stamps[c], tz)
        elif c in CATEGORICAL_COLUMNS:
            data[c] = pd.Categorical.from_codes(cells.codes[c], categories=cells.categories[c])
        else:
            data[c] = text[c].array
    del text
    msg = records.table["error_msg"]
    code_present = np.array([bool(c.strip()) for c in cells.categories["error_code"]] + [False])
    has_error = code_present[cells.codes["error_code"]] | ~_parse.to_numpy_bool(
        pc.or_kleene(pc.is_null(msg), pc.utf8_is_space(msg))
    )
    data.update(_derive(cells.stamps, has_error, clicks, click_utc, tz))
    kept = where.kept
    data["source"] = pd.Categorical.from_codes(
        records.src[where.shown[kept]], categories=records.names
    )
    data["line"] = records.line[where.shown[kept]]
    return pd.DataFrame(data, index=pd.RangeIndex(len(kept), name="message_id"), copy=False)


def _derive(
    stamps: dict[str, np.ndarray],
    has_error: np.ndarray,
    clicks: pd.DataFrame,
    click_utc: np.ndarray,
    tz: str,
) -> dict[str, Any]:
    """The derived columns of ``messages``: stage flags, stage, click counts, latencies.

    Works on the UTC arrays (datetime64[us], NaT when blank) rather than on
    the frame, so the frame is built once with every column. The flags follow
    the proof rule of :func:`connectly_nb._stages.stage_flags`; the latencies
    are between reported events (receipts and clicks), never a proof's time.
    """
    m = len(has_error)
    click_message = clicks["message_id"].to_numpy()
    is_button = np.asarray(clicks["kind"] == "button", dtype=bool)
    n_button = np.bincount(click_message[is_button], minlength=m)[:m]
    n_link = np.bincount(click_message[~is_button], minlength=m)[:m]
    first = _first_click(click_message, click_utc, m)
    n_clicks = n_button + n_link
    flags = stage_flags(stamps, n_clicks > 0, has_error)
    stage_code = np.zeros(m, dtype=np.int8)
    for code, flag in ((1, "is_sent"), (2, "is_delivered"), (3, "is_read"), (4, "is_clicked")):
        stage_code[flags[flag]] = code
    sent_at = stamps["sent_at"]
    return {
        **flags,
        "stage": pd.Categorical.from_codes(stage_code, categories=list(STAGES), ordered=True),
        "n_button_clicks": n_button.astype(np.int32),
        "n_link_clicks": n_link.astype(np.int32),
        "n_clicks": n_clicks.astype(np.int32),
        "first_click_at": localize(first, tz),
        "time_to_deliver": since(stamps["delivered_at"], sent_at),
        "time_to_read": since(stamps["read_at"], sent_at),
        "time_to_first_click": since(first, sent_at),
    }


def _first_click(click_message: np.ndarray, click_utc: np.ndarray, m: int) -> np.ndarray:
    """The earliest click time of each of ``m`` messages (UTC ``datetime64[us]``, NaT if none)."""
    first = np.full(m, np.datetime64("NaT", "us"))
    if not len(click_message):
        return first
    ts = click_utc.astype("datetime64[us]").view(np.int64)
    valid = ts != NAT_INT
    best = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(best, click_message[valid], ts[valid])
    has = best != np.iinfo(np.int64).max
    first[has] = best[has].view("datetime64[us]")
    return first


def _report_events_without_sent(
    messages: pd.DataFrame, kept: np.ndarray, problems: ProblemCollector
) -> None:
    """A warning for each message proved sent by a later event but without a ``sent_at``."""
    no_sent = messages["is_delivered"].to_numpy() & messages["sent_at"].isna().to_numpy()
    rows = np.flatnonzero(no_sent)
    if len(rows):
        problems.add_cells(
            kept[rows],
            "sent_at",
            [None] * len(rows),
            "event_without_sent",
            "delivered, read, clicked or opted out but sent_at is blank or unreadable; "
            "counted as sent (a later stage proves it), with no time to measure from",
        )


def _accounting(
    raws: Sequence[RawFile],
    src: np.ndarray,
    merged_away: np.ndarray,
    msgs: pd.DataFrame,
    as_of: np.ndarray,
    tz: str,
) -> pd.DataFrame:
    """Per file: records read = rows kept + duplicates merged, what was skipped, its date."""
    k = len(raws)
    return pd.DataFrame(
        {
            "source": [r.source for r in raws],
            "records_read": np.bincount(src, minlength=k),
            "rows_kept": np.bincount(msgs["source"].cat.codes.to_numpy(), minlength=k),
            "duplicates_merged": np.bincount(src[merged_away], minlength=k),
            "records_swallowed": [r.records_swallowed for r in raws],
            "repeated_headers": [r.repeated_headers for r in raws],
            "blank_lines": [r.blank_lines for r in raws],
            "encoding": [r.encoding for r in raws],
            "delimiter": [r.delimiter for r in raws],
            "parser": [r.parser for r in raws],
            "as_of": localize(as_of, tz),
        },
        columns=list(ACCOUNTING_COLUMNS),
    )


# ------------------------------------------------------------------ deferred variables


class _Deferred:
    """The part of a load done on first access: the variables cells.

    Parsing them completes the problems table, so ``variables`` and
    ``problems`` both wait for :meth:`_parse`, which runs once.
    """

    def __init__(
        self,
        cells: dict[str, pa.ChunkedArray],
        problems: ProblemCollector,
        rid_to_survivor: np.ndarray,
        rid_to_message: np.ndarray,
        seq: np.ndarray | None,
    ) -> None:
        self.cells: dict[str, pa.ChunkedArray] | None = cells
        self.collected = problems
        self.rid_to_survivor = rid_to_survivor
        self.rid_to_message = rid_to_message
        self.seq = seq
        self.table: ChildRows | None = None
        self.key_categories: list[str] = []
        self.lock = threading.Lock()

    def _parse(self) -> ChildRows:
        with self.lock:  # two threads asking at once must not parse (and report) twice
            if self.table is None:
                self.table = self._parse_cells()
            return self.table

    def _parse_cells(self) -> ChildRows:
        if self.cells is None:
            raise RuntimeError("the variables cells were already parsed")
        var_rows, var_dir, var_keys, var_values = [], [], [], []
        key_codes: dict[str, int] = {}
        n = len(next(iter(self.cells.values()), []))
        bar = Progress(
            len(self.cells), "reading variables", enabled=n >= _BIG_DEFERRED and interactive()
        )
        for d, (column, cells) in enumerate(self.cells.items()):
            bar.to(d, column)
            parsed = _parse.parse_variables(cells, key_codes)
            for code, items in (("bad_json", parsed.bad_json), ("too_large", parsed.too_large)):
                if items:
                    rows = np.asarray([r for r, _ in items], dtype=np.int64)
                    self.collected.add_cells(
                        rows,
                        column,
                        _parse.take_rows(cells, rows).to_pylist(),
                        code,
                        [f"{w}; no variables read from it" for _, w in items],
                    )
            r, k, v = parsed.arrays()
            var_rows.append(r)
            var_dir.append(np.full(len(r), d, dtype=np.int8))
            var_keys.append(k)
            var_values.append(v)
        bar.close()
        key_names = list(key_codes)
        key_order = np.argsort(np.asarray(key_names, dtype=object), kind="stable")
        remap = np.empty(len(key_names), dtype=np.int32)
        remap[key_order] = np.arange(len(key_names), dtype=np.int32)
        table = ChildRows(
            rid=np.concatenate(var_rows),
            columns={
                "direction": np.concatenate(var_dir),
                "key": remap[np.concatenate(var_keys)],
                "value": pa.concat_arrays(var_values),
            },
        )
        table.merge(self.rid_to_survivor, ["direction", "key"], keep="last", seq=self.seq)
        self.key_categories = [key_names[i] for i in key_order]
        self.cells = None  # the text is not needed again
        return table

    def variables(self) -> pd.DataFrame:
        """The variables table (parsing the cells if not done yet)."""
        c = self.collected
        table = self._parse()
        return _variables_frame(table, self.rid_to_message, c, self.key_categories)

    def problems(self) -> pd.DataFrame:
        """The problems table, complete (parsing the variables cells if not done yet)."""
        self._parse()
        return self.collected.frame(self.rid_to_message)


def _variables_frame(
    table: ChildRows, rid_to_message: np.ndarray, where: Any, key_categories: list[str]
) -> pd.DataFrame:
    """The variables table of merged rows; ``where`` has the records' names, src and line."""
    out = table.frame(rid_to_message, where.src, where.line, where.names, order=("direction",))
    out["direction"] = pd.Categorical.from_codes(
        out["direction"].to_numpy(), categories=list(_DIRECTIONS)
    )
    out["key"] = pd.Categorical.from_codes(out["key"].to_numpy(), categories=key_categories)
    return out[list(VARIABLE_TABLE_COLUMNS)]


# ------------------------------------------------------------------ tidy exports merged


def merge_exports(parts: Sequence[Export], *, tz: str = "UTC") -> Export:
    """Merge tidy Exports of reports, oldest first, by :func:`read_export`'s rule.

    Each part's messages are taken as records read in that order (the
    oldest report first) and go through the same steps as a load's records:
    the merge plan of :mod:`connectly_nb._merge` (same key; an Excel-mangled
    id merges only with the same non-blank session), the newest non-blank
    value of each column, clicks united, variables merged by key (the newest
    wins), then the derived columns. A message keeps the source and line of
    its newest record, and each click and variable those of the record it was
    read from. Merging the per-file Exports of reports, in report order,
    gives the Export of ``read_export`` of all the files (row order aside):
    the rule is associative. This is how :mod:`connectly_nb.store` adds a
    day's report to what it holds.

    Parameters
    ----------
    parts : sequence of Export
        The parts, oldest report first (at least one); their time zones are
        ignored.
    tz : str, default "UTC"
        Time zone to show timestamps in.

    Returns
    -------
    Export
        The merged tables. ``problems`` holds only what merging found:
        ``merged_duplicate`` rows (a part's message folded into a newer one),
        ``not_merged`` and ``event_without_sent`` warnings, each at the
        source and line of the part's message; ``accounting`` counts, per
        source, the parts' messages (``records_read``), those kept and those
        merged.

    Raises
    ------
    ValueError
        ``parts`` is empty.
    TimeZoneError
        ``tz`` is not a time zone name.
    """
    tz = check_tz(tz)
    if not parts:
        raise ValueError("merge_exports needs at least one Export")
    records, cells, variables, keys = _records_of_parts(parts)
    problems = ProblemCollector(records.names, records.src, records.line)
    where = _merge_repeats(records, cells, problems, dedupe=True, seq=None)
    rid_to_message = where.to_message()
    clicks, click_utc = _clicks_frame(cells.clicks, rid_to_message, records, tz)
    messages = _messages_frame(records, cells, where, clicks, click_utc, tz)
    _report_events_without_sent(messages, where.kept, problems)
    variables.merge(where.survivor, ["direction", "key"], keep="last")
    k = len(records.names)
    accounting = pd.DataFrame(
        {
            "source": records.names,
            "records_read": np.bincount(records.src, minlength=k),
            "rows_kept": np.bincount(messages["source"].cat.codes.to_numpy(), minlength=k),
            "duplicates_merged": np.bincount(records.src[where.merged_away], minlength=k),
        }
    )
    return Export(
        messages=messages,
        clicks=clicks,
        variables=_variables_frame(variables, rid_to_message, records, keys),
        problems=problems.frame(rid_to_message),
        accounting=accounting,
        tz=tz,
    )


def _records_of_parts(
    parts: Sequence[Export],
) -> tuple[_Records, _Cells, ChildRows, list[str]]:
    """The parts' messages as records (text, codes, instants), their clicks and variables."""
    frames = [p.messages for p in parts]
    names = _union([str(c) for f in frames for c in _categorical(f["source"]).cat.categories])
    extras = _union([c for f in frames for c in f.columns if c not in _TIDY_COLUMNS])
    offsets = np.cumsum([0] + [len(f) for f in frames])
    src = np.concatenate([_codes_in(f["source"], names) for f in frames]).astype(np.int32)
    line = np.concatenate([f["line"].to_numpy(dtype=np.int64) for f in frames])
    text = [c for c in (*EXPORT_COLUMNS, *extras) if c not in _TYPED_COLUMNS]
    columns: dict[str, Any] = {}
    for c in text:
        columns[c] = pa.chunked_array(
            [_large_text(f[c] if c in f.columns else None, len(f)) for f in frames],
            type=pa.large_string(),
        )
    columns["line"] = pa.array(line)
    columns["_src"] = pa.array(src)
    table = pa.table(columns)
    records = _Records(table=table, names=names, extras=extras, src=src, line=line)
    codes, categories = {}, {}
    for c in CATEGORICAL_COLUMNS:
        found = [str(v) for f in frames for v in _categorical(f[c]).cat.categories]
        categories[c] = sorted(_union(found))
        codes[c] = np.concatenate([_codes_in(f[c], categories[c]) for f in frames])
    stamps = {
        c: np.concatenate([naive_utc(f[c]) for f in frames]).astype("datetime64[us]")
        for c in TIMESTAMP_COLUMNS
    }
    clicks = _child_rows(parts, offsets, names, "clicks", ["kind", "id", "name", "ts"])
    variables, keys = _variable_rows(parts, offsets, names)
    candidates = _merge.repeat_candidates(codes["sendout_id"], table["customer_external_id"])
    mangled = _mangled_ids(table["customer_external_id"])
    cells = _Cells(codes, categories, stamps, clicks, candidates, mangled)
    return records, cells, variables, keys


#: Columns of ``Export.messages`` that are not export columns read as text.
_TIDY_COLUMNS = frozenset((*EXPORT_COLUMNS, *DERIVED_COLUMNS))
_TYPED_COLUMNS = frozenset((*TIMESTAMP_COLUMNS, *CATEGORICAL_COLUMNS))


def _union(values: Sequence[str]) -> list[str]:
    """The distinct values, in order of first appearance."""
    return list(dict.fromkeys(values))


def _categorical(col: pd.Series) -> pd.Series:
    """``col`` as a categorical of text (a column read back without its categories, say)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col
    values = col.astype(object)
    return values.where(values.notna(), None).astype("category")


def _codes_in(col: pd.Series, categories: list[str]) -> np.ndarray:
    """A categorical column's codes among ``categories`` (-1 stays -1)."""
    col = _categorical(col)
    position = {c: i for i, c in enumerate(categories)}
    remap = np.array([position[str(c)] for c in col.cat.categories] + [-1], dtype=np.int32)
    return remap[col.cat.codes.to_numpy()]


def _large_text(col: pd.Series | None, n: int) -> pa.Array:
    """A text column as Arrow ``large_string`` (nulls for a missing column; no copy if Arrow)."""
    if col is None:
        return pa.nulls(n, pa.large_string())
    try:  # Arrow-backed text: its own buffers
        arr = pa.array(col.array, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # object text (an extra column, say)
        arr = pa.array(col.to_numpy(dtype=object, na_value=None), type=pa.large_string())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _child_rows(
    parts: Sequence[Export],
    offsets: np.ndarray,
    names: list[str],
    table: str,
    columns: list[str],
) -> ChildRows:
    """The parts' clicks as rows of their messages' records, each with its own origin."""
    rid, src, line, data = [], [], [], {c: [] for c in columns}
    for part, offset in zip(parts, offsets, strict=False):
        t = getattr(part, table)
        rid.append(offset + part.messages.index.get_indexer(t["message_id"].to_numpy()))
        src.append(_codes_in(t["source"], names))
        line.append(t["line"].to_numpy(dtype=np.int64))
        for c in columns:
            col = t[c]
            if c == "kind":
                data[c].append(_codes_in(col, list(CLICK_KINDS)).astype(np.int8))
            elif c == "ts":
                data[c].append(naive_utc(col).astype("datetime64[us]"))
            else:
                data[c].append(_large_text(col, len(col)).cast(pa.string()))
    values: dict[str, Any] = {
        c: pa.concat_arrays(v) if c in ("id", "name") else np.concatenate(v)
        for c, v in data.items()
    }
    origin = (np.concatenate(src), np.concatenate(line))
    return ChildRows(np.concatenate(rid).astype(np.int64), values, origin=origin)


def _variable_rows(
    parts: Sequence[Export], offsets: np.ndarray, names: list[str]
) -> tuple[ChildRows, list[str]]:
    """The parts' variables as rows of their messages' records; the sorted key names."""
    keys = sorted(
        _union([str(k) for p in parts for k in _categorical(p.variables["key"]).cat.categories])
    )
    rid, src, line, direction, key, value = [], [], [], [], [], []
    for part, offset in zip(parts, offsets, strict=False):
        v = part.variables
        rid.append(offset + part.messages.index.get_indexer(v["message_id"].to_numpy()))
        src.append(_codes_in(v["source"], names))
        line.append(v["line"].to_numpy(dtype=np.int64))
        direction.append(_codes_in(v["direction"], list(_DIRECTIONS)).astype(np.int8))
        key.append(_codes_in(v["key"], keys))
        value.append(_large_text(v["value"], len(v)).cast(pa.string()))
    rows = ChildRows(
        np.concatenate(rid).astype(np.int64),
        {
            "direction": np.concatenate(direction),
            "key": np.concatenate(key),
            "value": pa.concat_arrays(value),
        },
        origin=(np.concatenate(src), np.concatenate(line)),
    )
    return rows, keys
