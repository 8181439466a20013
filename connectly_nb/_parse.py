"""Vectorised cell parsers: timestamps, click arrays and variable objects.

Private helpers of :mod:`connectly_nb.tidy`. Each takes an Arrow string
column and returns plain arrays plus the positions of the cells it could not
read, so the caller can put them in the problems table. Also the small Arrow
helpers the tidying steps share (:func:`take_rows`, :func:`to_numpy_bool`,
:func:`encode_categories`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

NAT = np.datetime64("NaT", "us")
#: Instants before this, or from this on, are not read: an exporter's zero time
#: (``0001-01-01``, ``1970-01-01``) or a far-future sentinel (``9999-12-31``) is no
#: event, and pandas' timedelta arithmetic overflows on such instants.
EARLIEST = np.datetime64("2000-01-01T00:00:00", "us")
LATEST = np.datetime64("2100-01-01T00:00:00", "us")
_NAIVE = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$"
_ISO = (
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d{1,9})?)?)?"
    r" ?([Zz]|[+-]\d{2}(:?\d{2})?|UTC)?$"
)
#: Cells longer than this (characters) are not parsed as JSON.
MAX_JSON_CHARS = 1 << 20
#: JSON nested deeper than this is not read (orjson stops at 1024 anyway).
MAX_JSON_DEPTH = 64
_BLOCK = 200_000  # JSON cells parsed by Arrow at once; a failing block is halved
_SMALL_BLOCK = 1_000  # below this a failing block is parsed cell by cell
_TS_SLICE = 1 << 16
_AWKWARD_CHARS = 4096  # longer cells skip the bulk JSON parser


_FEW_ROWS = 1_000


def take_rows(data: Any, rows: np.ndarray) -> Any:
    """``data.take(rows)`` for an Arrow table or (chunked) array.

    For a few rows of a column in many chunks, one slice per row is far
    cheaper than ``take`` (which concatenates the chunks first: 30-160 ms
    for 10 rows of a 1,000,000-row export, against 0.2 ms).

    Parameters
    ----------
    data : pyarrow.Table, pyarrow.ChunkedArray or pyarrow.Array
        The rows to take from.
    rows : numpy.ndarray of int
        Positions of the rows to take, in the order wanted.

    Returns
    -------
    pyarrow.Table, pyarrow.ChunkedArray or pyarrow.Array
        Those rows, of the same kind as ``data``.
    """
    chunked = isinstance(data, (pa.ChunkedArray, pa.Table))
    if not chunked or len(rows) > _FEW_ROWS:
        return data.take(pa.array(rows, type=pa.int64()))
    pieces = [data.slice(int(r), 1) for r in rows]
    if isinstance(data, pa.Table):
        return pa.concat_tables(pieces) if pieces else data.slice(0, 0)
    return pa.chunked_array([c for p in pieces for c in p.chunks], type=data.type)


def to_numpy_bool(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow boolean column as a numpy array, null as ``False``.

    Parameters
    ----------
    arr : pyarrow.ChunkedArray or pyarrow.Array
        Booleans, possibly with nulls.

    Returns
    -------
    numpy.ndarray of bool
        One value per cell.
    """
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def encode_categories(arr: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Category codes (int32, -1 for blank) and the sorted categories of a text column.

    Parameters
    ----------
    arr : pyarrow.ChunkedArray or Array
        Text cells; null is blank.

    Returns
    -------
    codes : numpy.ndarray of int32
        Each cell's position in ``categories``; -1 for a null cell.
    categories : list of str
        Sorted, so equal inputs give equal codes whatever their order.
    """
    if isinstance(arr, pa.ChunkedArray) and arr.num_chunks > 1:
        encoded = pc.dictionary_encode(arr)  # no chunks at all when every chunk is empty
        chunks = pa.chunked_array(encoded.chunks, type=encoded.type).unify_dictionaries().chunks
        if not chunks:
            chunks = [pa.array([], type=encoded.type)]
        enc = pa.DictionaryArray.from_arrays(
            pa.concat_arrays([c.indices for c in chunks]), chunks[0].dictionary
        )
    else:
        enc = pc.dictionary_encode(
            arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        )
    names = enc.dictionary.to_pylist()
    order = (
        np.argsort(np.asarray(names, dtype=object), kind="stable") if names else np.empty(0, int)
    )
    remap = np.empty(len(names) + 1, dtype=np.int32)
    remap[order] = np.arange(len(names), dtype=np.int32)
    remap[-1] = -1  # index -1 (blank) stays -1
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    return remap[idx], [names[i] for i in order]


def parse_timestamps(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse ISO-8601 text to UTC instants.

    Parameters
    ----------
    arr : pyarrow.ChunkedArray or pyarrow.Array
        Text cells; null or blank is blank.

    Returns
    -------
    values : numpy.ndarray of datetime64[us]
        UTC instants; NaT for blank or unreadable cells, and for instants
        before :data:`EARLIEST` (2000-01-01) or from :data:`LATEST`
        (2100-01-01) on. Text without an offset is taken as UTC.
    bad : numpy.ndarray of bool
        Non-blank cells that could not be read, or were out of that range.
    """
    n = len(arr)
    out = np.full(n, NAT)
    bad = np.zeros(n, dtype=bool)
    # the common case: every cell of a slice in the vendor's format, or blank
    for lo in range(0, n, _TS_SLICE):
        part = arr.slice(lo, _TS_SLICE)
        try:
            ts = pc.cast(part, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out[lo : lo + len(part)], bad[lo : lo + len(part)] = _parse_messy(part)
        else:
            out[lo : lo + len(part)] = ts.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    outside = (out < EARLIEST) | (out >= LATEST)  # NaT compares False
    if outside.any():
        out[outside] = NAT
        bad |= outside
    return out, bad


def _parse_messy(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    n = len(arr)
    s = pc.utf8_trim_whitespace(arr)
    present = to_numpy_bool(pc.not_equal(s, ""))
    out = np.full(n, NAT)
    naive = to_numpy_bool(pc.match_substring_regex(s, _NAIVE)) & present
    done = np.zeros(n, dtype=bool)
    if naive.any():
        sub = s.filter(pa.array(naive))
        try:
            vals = pc.cast(pc.replace_substring(sub, "T", " "), pa.timestamp("us"))
            out[naive] = vals.to_numpy(zero_copy_only=False).astype("datetime64[us]")
            done = naive
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # an impossible date among them: let pandas sort them out below
    rest = present & ~done
    if rest.any():
        sub = s.filter(pa.array(rest))
        shaped = to_numpy_bool(pc.match_substring_regex(sub, _ISO))
        texts = pd.Series(sub.to_pylist(), dtype=object)
        texts[~shaped] = None
        parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
        out[rest] = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    bad = present & np.isnat(out)
    return out, bad


def _scalar_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return orjson.dumps(v).decode()


def _depth_ok(text: str) -> bool:
    """Whether JSON text nests at most MAX_JSON_DEPTH levels (cheap test first)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return True
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _nonempty_mask(arr: pa.ChunkedArray | pa.Array, empty: str) -> Any:
    """Arrow mask of the cells holding more than blanks, ``null`` or ``empty``."""
    keep = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(pc.utf8_is_space(arr), False)))
    for e in ("", "null", empty):
        keep = pc.and_(keep, pc.not_equal(arr, e))
    return keep


def _load(text: str) -> tuple[Any, str | None, str | None]:
    """orjson.loads with limits; returns (value, problem code, why)."""
    if len(text) > MAX_JSON_CHARS:
        return None, "too_large", f"cell of {len(text):,} characters exceeds {MAX_JSON_CHARS:,}"
    if not _depth_ok(text):
        return None, "too_large", f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        return orjson.loads(text), None, None
    except orjson.JSONDecodeError as exc:
        return None, "bad_json", f"invalid JSON ({exc})"


def _json_cells(
    texts: list[str], rows: np.ndarray, out: ParsedClicks | ParsedVariables
) -> Iterator[tuple[int, Any]]:
    """(row, value) of every cell that is JSON and not null, parsed one by one.

    Cells too large or too deep, and invalid JSON, go to ``out``'s problem lists.
    """
    for row, text in zip(rows.tolist(), texts, strict=True):
        value, code, why = _load(text)
        if code == "too_large":
            out.too_large.append((row, why or ""))
        elif code:
            out.bad_json.append((row, why or ""))
        elif value is not None:
            yield row, value


def _lines_buffer(cells: pa.Array, prefix: str = "", suffix: str = "") -> pa.Buffer | None:
    """The cells as newline-delimited text, built without leaving Arrow."""
    typ = cells.type
    lines = pc.binary_join_element_wise(
        pa.scalar(prefix, typ), cells, pa.scalar(suffix + "\n", typ), pa.scalar("", typ)
    )
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if typ not in (pa.string(), pa.large_string()) or lines.null_count:
        return None
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int64 if typ == pa.large_string() else np.int32
    )[lines.offset : lines.offset + len(lines) + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    return lines.buffers()[2].slice(start, stop - start)


def _read_lines(buf: pa.Buffer, schema: pa.Schema | None = None) -> pa.Table | None:
    opts = (
        pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        if schema
        else None
    )
    try:
        return pajson.read_json(
            pa.BufferReader(buf),
            read_options=pajson.ReadOptions(block_size=1 << 22),
            parse_options=opts,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _split(arr: pa.ChunkedArray | pa.Array, empty: str) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Non-empty cells, their rows, and which of them need the careful path."""
    keep = _nonempty_mask(arr, empty)
    rows = np.flatnonzero(to_numpy_bool(keep))
    # filter works chunk by chunk; take would first concatenate the chunks
    cells = arr.filter(keep) if len(rows) < len(arr) else arr
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    awkward = pc.binary_length(cells).to_numpy(zero_copy_only=False) > _AWKWARD_CHARS
    if _has_line_break(cells):
        awkward |= to_numpy_bool(pc.match_substring_regex(cells, "[\r\n]"))
    return cells, rows, awkward


def _has_line_break(cells: pa.Array) -> bool:
    """Whether any cell holds a CR or LF: a scan of the text, 1 MiB at a time.

    Small pieces keep the comparison's temporary in the allocator's reach
    (one 60 MiB temporary costs more in page faults than the scan itself).
    """
    data = cells.buffers()[2]
    if data is None:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 20
    return any(
        (part == 10).any() or (part == 13).any()
        for part in (raw[lo : lo + step] for lo in range(0, len(raw), step))
    )


def _shaped(cells: pa.Array, open_: str, close: str) -> np.ndarray:
    """Cells that start with ``open_`` and end with ``close`` (JSON arrays or objects)."""
    return to_numpy_bool(pc.and_(pc.starts_with(cells, open_), pc.ends_with(cells, close)))


def _in_blocks(cells: pa.Array, rows: np.ndarray, eligible: np.ndarray, parse: Any) -> np.ndarray:
    """Run a bulk parser over blocks of the eligible cells, halving the blocks it rejects.

    Returns the positions (into ``cells``) of the eligible cells left for the
    cell-by-cell parser: those in small blocks the bulk parser still rejected.
    Cells are sorted into shapes first (see :func:`_shaped`), so a rejected
    block is rare: invalid JSON inside a well-shaped cell, or values of an
    unexpected type.
    """
    slow = [np.empty(0, dtype=np.int64)]
    simple = np.flatnonzero(eligible)
    todo = [simple[lo : lo + _BLOCK] for lo in range(0, len(simple), _BLOCK)]
    while todo:
        block = todo.pop(0)
        if not len(block):
            continue
        contiguous = block[-1] - block[0] + 1 == len(block)
        piece = (
            cells.slice(int(block[0]), len(block)) if contiguous else cells.take(pa.array(block))
        )
        if parse(piece, rows[block]):
            continue
        if len(block) <= _SMALL_BLOCK:
            slow.append(block)
        else:
            half = len(block) // 2
            todo[:0] = [block[:half], block[half:]]
    return np.concatenate(slow)


@dataclass
class ParsedClicks:
    """Clicks of one column: one entry per click, and the cells that failed.

    The parsers append to the lists one piece per block of cells parsed;
    :meth:`arrays` joins them.

    Parameters
    ----------
    row : list of numpy.ndarray of int64
        The row (position in the column) of each click.
    id, name, ts : list of pyarrow.Array
        The click's ``id``, ``name`` and ``ts`` as text (null when absent), in
        step with ``row``.
    bad_json : list of (int, str)
        Cells that are not valid JSON: (row, why).
    bad_click : list of (int, str)
        Cells or click entries that are not click objects: (row, why).
    too_large : list of (int, str)
        Cells too long or nested too deep to parse: (row, why).
    """

    row: list[np.ndarray] = field(default_factory=list)
    id: list[pa.Array] = field(default_factory=list)
    name: list[pa.Array] = field(default_factory=list)
    ts: list[pa.Array] = field(default_factory=list)
    bad_json: list[tuple[int, str]] = field(default_factory=list)  # (row, why)
    bad_click: list[tuple[int, str]] = field(default_factory=list)
    too_large: list[tuple[int, str]] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, pa.Array, pa.Array, pa.Array]:
        """The clicks as four arrays, sorted by row (stable).

        Returns
        -------
        row : numpy.ndarray of int64
            The row of each click.
        id, name, ts : pyarrow.StringArray
            The click's fields as text.
        """
        if not self.row:
            empty = pa.array([], type=pa.string())
            return np.empty(0, np.int64), empty, empty, empty
        row = np.concatenate(self.row)
        order = pa.array(np.argsort(row, kind="stable"))

        def cat(parts: list[pa.Array]) -> pa.Array:
            return pa.concat_arrays([p.cast(pa.string()) for p in parts]).take(order)

        return row[np.asarray(order)], cat(self.id), cat(self.name), cat(self.ts)


_CLICK = pa.struct([("id", pa.string()), ("name", pa.string()), ("ts", pa.string())])
_CLICK_SCHEMAS = (
    pa.schema([("c", pa.list_(_CLICK))]),  # an array of clicks, as documented
    pa.schema([("c", _CLICK)]),  # one bare click object, as in the vendor's example
)


def _arrow_clicks(cells: pa.Array, rows: np.ndarray, out: ParsedClicks, schema: pa.Schema) -> bool:
    buf = _lines_buffer(cells, '{"c":', "}")
    if buf is None:
        return False
    table = _read_lines(buf, schema)
    if table is None or table.num_rows != len(rows):
        return False
    col = table["c"].combine_chunks()
    if pa.types.is_list(col.type):
        parents = pc.list_parent_indices(col).to_numpy()
        items = pc.list_flatten(col)
    else:
        parents = np.flatnonzero(to_numpy_bool(pc.is_valid(col)))
        items = col.filter(pc.is_valid(col))
    null_items = to_numpy_bool(pc.is_null(items))
    for p in np.flatnonzero(null_items):
        out.bad_click.append((int(rows[parents[p]]), "click entry is null, not an object"))
    if null_items.any():
        keep = pa.array(~null_items)
        items = items.filter(keep)
        parents = parents[~null_items]
    out.row.append(rows[parents])
    out.id.append(items.field("id"))
    out.name.append(items.field("name"))
    out.ts.append(items.field("ts"))
    return True


def parse_clicks(arr: pa.ChunkedArray | pa.Array) -> ParsedClicks:
    """Parse a click column: JSON arrays of ``{id, name, ts}`` (or one bare object).

    Arrow's JSON reader parses blocks of cells at once, arrays and bare
    objects apart; a block it cannot read (invalid JSON, ids that are
    numbers) is halved until the cells at fault are parsed one by one, so
    they are reported and the rest kept.

    Parameters
    ----------
    arr : pyarrow.ChunkedArray or pyarrow.Array
        The click column as text. Null, blank, ``null`` and ``[]`` cells hold
        no click.

    Returns
    -------
    ParsedClicks
        The clicks and the cells that could not be read.
    """
    out = ParsedClicks()
    cells, rows, awkward = _split(arr, "[]")
    slow = []
    left = ~awkward  # cells for the bulk parser, until one of the shapes takes them
    for (open_, close), schema in zip((("[", "]"), ("{", "}")), _CLICK_SCHEMAS, strict=True):
        eligible = left & _shaped(cells, open_, close)
        left &= ~eligible
        slow.append(
            _in_blocks(cells, rows, eligible, lambda c, r, s=schema: _arrow_clicks(c, r, out, s))
        )
    positions = np.sort(np.concatenate([*slow, np.flatnonzero(awkward | left)]))
    if len(positions):
        _slow_clicks(cells.take(pa.array(positions)).to_pylist(), rows[positions], out)
    return out


def _slow_clicks(texts: list[str], rows: np.ndarray, out: ParsedClicks) -> None:
    r_out: list[int] = []
    fields: tuple[list[str | None], ...] = ([], [], [])
    for row, value in _json_cells(texts, rows, out):
        items = [value] if isinstance(value, dict) else value
        if not isinstance(items, list):
            out.bad_click.append(
                (row, f"expected a JSON array of clicks, got {type(value).__name__}")
            )
            continue
        for item in items:
            if not isinstance(item, dict):
                kind = "null" if item is None else type(item).__name__
                out.bad_click.append((row, f"click entry is {kind}, not an object"))
                continue
            r_out.append(row)
            for f, k in zip(fields, ("id", "name", "ts"), strict=True):
                f.append(_scalar_text(item.get(k)))
    if r_out:
        out.row.append(np.asarray(r_out, dtype=np.int64))
        out.id.append(pa.array(fields[0], type=pa.string()))
        out.name.append(pa.array(fields[1], type=pa.string()))
        out.ts.append(pa.array(fields[2], type=pa.string()))


@dataclass
class ParsedVariables:
    """Variables of one column in long form, and the cells that failed.

    The parsers append to the lists one piece per block of cells parsed;
    :meth:`arrays` joins them.

    Parameters
    ----------
    keys : dict of str to int
        Key name -> code; may be shared by several columns.
    row : list of numpy.ndarray of int64
        The row (position in the column) of each (key, value) pair.
    key : list of numpy.ndarray of int32
        The pair's key, as a code into ``keys``.
    value : list of pyarrow.Array
        The pair's value as text.
    bad_json : list of (int, str)
        Cells that are not valid JSON or not a JSON object: (row, why).
    too_large : list of (int, str)
        Cells too long or nested too deep to parse: (row, why).
    """

    keys: dict[str, int] = field(default_factory=dict)  # key name -> code, shared
    row: list[np.ndarray] = field(default_factory=list)
    key: list[np.ndarray] = field(default_factory=list)  # codes into ``keys``
    value: list[pa.Array] = field(default_factory=list)
    bad_json: list[tuple[int, str]] = field(default_factory=list)
    too_large: list[tuple[int, str]] = field(default_factory=list)

    def code(self, key: str) -> int:
        """The code of ``key`` in :attr:`keys`, adding it if new.

        Parameters
        ----------
        key : str
            A variable name.

        Returns
        -------
        int
            Its code.
        """
        return self.keys.setdefault(key, len(self.keys))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        """The pairs as three arrays, in the order they were parsed (not sorted).

        Returns
        -------
        row : numpy.ndarray of int64
            The row of each pair.
        key : numpy.ndarray of int32
            The key's code in :attr:`keys`.
        value : pyarrow.StringArray
            The value as text.
        """
        if not self.row:
            return np.empty(0, np.int64), np.empty(0, np.int32), pa.array([], type=pa.string())
        return (
            np.concatenate(self.row),
            np.concatenate(self.key),
            pa.concat_arrays([v.cast(pa.string()) for v in self.value]),
        )


_SIMPLE = (pa.string(), pa.large_string(), pa.bool_(), pa.int64())


def _arrow_variables(cells: pa.Array, rows: np.ndarray, out: ParsedVariables) -> bool:
    buf = _lines_buffer(cells)
    table = None if buf is None else _read_lines(buf)
    if table is None or table.num_rows != len(rows):
        return False
    if any(c.type != pa.null() and c.type not in _SIMPLE for c in table.columns):
        return False
    for key, col in zip(table.column_names, table.columns, strict=True):
        if col.type == pa.null() or col.null_count == len(col):
            continue
        valid = pc.is_valid(col)
        picked = to_numpy_bool(valid)
        values = pc.cast(col.filter(valid), pa.string())
        out.row.append(rows[picked])
        out.key.append(np.full(int(picked.sum()), out.code(key), dtype=np.int32))
        out.value.append(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    return True


def parse_variables(
    arr: pa.ChunkedArray | pa.Array, keys: dict[str, int] | None = None
) -> ParsedVariables:
    """Parse a variables column (JSON objects) into (row, key, value) triples.

    Values are kept as text: strings as they are, ``true``/``false``,
    integers as written; floats and nested values take the careful path
    (Python's repr / compact JSON). A ``null`` value is treated as absent.
    Key codes index ``keys``, which is extended and may be shared between
    columns.

    Parameters
    ----------
    arr : pyarrow.ChunkedArray or pyarrow.Array
        The variables column as text. Null, blank, ``null`` and ``{}`` cells
        hold no variable.
    keys : dict of str to int, optional
        Key name -> code, extended in place with the new keys; a new dict by
        default.

    Returns
    -------
    ParsedVariables
        The (row, key, value) triples and the cells that could not be read.
    """
    out = ParsedVariables(keys={} if keys is None else keys)
    cells, rows, awkward = _split(arr, "{}")
    objects = ~awkward & _shaped(cells, "{", "}")
    failed = _in_blocks(cells, rows, objects, lambda c, r: _arrow_variables(c, r, out))
    positions = np.sort(np.concatenate([failed, np.flatnonzero(~objects)]))
    if len(positions):
        _slow_variables(cells.take(pa.array(positions)).to_pylist(), rows[positions], out)
    return out


def _slow_variables(texts: list[str], rows: np.ndarray, out: ParsedVariables) -> None:
    r_out: list[int] = []
    k_out: list[int] = []
    v_out: list[str] = []
    for row, value in _json_cells(texts, rows, out):
        if not isinstance(value, dict):
            out.bad_json.append((row, f"expected a JSON object, got {type(value).__name__}"))
            continue
        for k, v in value.items():
            t = _scalar_text(v)
            if t is not None:
                r_out.append(row)
                k_out.append(out.code(str(k)))
                v_out.append(t)
    if r_out:
        out.row.append(np.asarray(r_out, dtype=np.int64))
        out.key.append(np.asarray(k_out, dtype=np.int32))
        out.value.append(pa.array(v_out, type=pa.string()))
