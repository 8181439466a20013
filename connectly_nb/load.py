"""Read export files into raw string tables, one per file, with their problems.

This is the byte-level half of loading: finding the files, the encoding, the
delimiter and the header, and parsing the records with their line numbers.
Every cell comes out as text (``None`` for blank); typing and tidying are
:mod:`connectly_nb.tidy`'s job.

Two parsers give the same result. The fast one is pyarrow's CSV reader with
every column pinned to ``string``; its line numbers are derived from the
newlines inside values and checked against the file's newline count. When
that check fails, or pyarrow meets a record with the wrong number of fields,
the file is parsed again with Python's :mod:`csv` module, which reports the
line of every record and keeps short or long records (padded or cut, with an
error in the problems table) instead of dropping them.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob
import hashlib
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeAlias, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from connectly_nb._parse import take_rows
from connectly_nb._problems import problem as _problem
from connectly_nb.display import format_number_of
from connectly_nb.exceptions import ExportFormatError, ExportNotFoundError, OverwriteError
from connectly_nb.schema import EXPORT_COLUMNS, REQUIRED_COLUMNS, column_key

__all__ = [
    "ExportNotFoundError",
    "Input",
    "RawFile",
    "Source",
    "check_not_an_input",
    "natural_key",
    "read_raw",
    "resolve_sources",
]

#: What ``read_export`` accepts as a source.
Source: TypeAlias = Union[str, os.PathLike, IO[bytes], IO[str], Iterable["Source"]]  # noqa: UP007

DELIMITERS = (",", ";", "\t", "|")
_PARKING = [chr(c) for c in range(0xE000, 0xE100)]  # private-use characters
SAMPLE_BYTES = 1 << 16
#: Most columns read; a header naming more is an ExportFormatError (an export has 15).
MAX_COLUMNS = 1_000
#: Longest header line read (bytes); a longer first line is an ExportFormatError.
MAX_HEADER_BYTES = 4 << 20
#: Lines decoded as Windows-1252 listed one by one; more are counted in one row.
MAX_LINE_PROBLEMS = 1_000
_BLOCK_BYTES = 1 << 16  # the bytes checked as UTF-8 at once (a failing block goes by line)


@dataclass
class RawFile:
    """One file's records as text, before typing.

    Parameters
    ----------
    source : str
        The file's name as given (path, or the file object's ``name``).
    table : pyarrow.Table
        The 15 export columns (missing ones all null) then any extra
        columns, all ``string``, plus ``line`` (int64): the 1-based line of
        each record's first physical line, the header being line 1.
    problems : list of dict
        File-level problems (encoding, header, field counts, skipped lines).
    extra_columns : list of str
        Names of the columns kept beyond the 15 known ones.
    repeated_headers, blank_lines : int, default 0
        Lines skipped because they repeat the header or hold no value.
    records_swallowed : int, default 0
        Records held inside a runaway quoted field (a stray quote), so not
        read as records; each such field is a ``runaway_quote`` problem.
    encoding, delimiter, parser : str
        What was detected and which parser read the file (``"pyarrow"`` or
        ``"python"``); by default ``"utf-8"``, ``","`` and ``"pyarrow"``.
        A UTF-8 file with some lines in Windows-1252 is ``"utf-8+cp1252"``.
    """

    source: str
    table: pa.Table
    problems: list[dict[str, Any]] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    repeated_headers: int = 0
    blank_lines: int = 0
    records_swallowed: int = 0
    encoding: str = "utf-8"
    delimiter: str = ","
    parser: str = "pyarrow"


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Input:
    """One file to read: a path on disk, or the bytes of a file object.

    Parameters
    ----------
    name : str
        How the file is named in problems and accounting.
    path : pathlib.Path or None, optional
        The file on disk.
    data : bytes or None, optional
        The content, for a file object (``path`` is then None).
    """

    name: str
    path: Path | None = None
    data: bytes | None = None

    @property
    def size(self) -> int:
        """Size in bytes.

        Returns
        -------
        int
            The length of ``data``, or the file's size on disk.
        """
        if self.data is not None:
            return len(self.data)
        return self._path().stat().st_size

    def _path(self) -> Path:
        if self.path is None:
            raise ValueError(f"{self.name}: an input has a path or data")
        return self.path

    def read_bytes(self) -> bytes:
        """The whole content.

        Returns
        -------
        bytes
            ``data``, or the file's bytes read now.
        """
        return self.data if self.data is not None else self._path().read_bytes()

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes.

        Parameters
        ----------
        n : int
            How many bytes at most.

        Returns
        -------
        bytes
            The first ``n`` bytes (fewer for a shorter file).

        Raises
        ------
        ExportNotFoundError
            The file cannot be opened.
        """
        if self.data is not None:
            return self.data[:n]
        try:
            with self._path().open("rb") as fh:
                return fh.read(n)
        except OSError as exc:
            raise ExportNotFoundError(
                f"{self.name}: cannot be read ({exc.strerror or exc})"
            ) from exc

    def update_digest(self, digest: Any) -> None:
        """Feed the name and the content to a :mod:`hashlib` object.

        A file on disk is fed as the SHA-1 digest of its content, not the
        content itself.

        Parameters
        ----------
        digest : hashlib hash object
            Updated in place (anything with an ``update(bytes)`` method).
        """
        digest.update(self.name.encode() + b"\0")
        if self.data is not None:
            digest.update(self.data)
        else:
            with self._path().open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha1").digest())


def natural_key(name: str) -> tuple[tuple[int, Any], ...]:
    """Sort key that reads numbers as numbers: ``day2.csv`` before ``day10.csv``.

    Parameters
    ----------
    name : str
        A file name.

    Returns
    -------
    tuple
        Compares like the name, but runs of digits compare by their value.

    Examples
    --------
    >>> sorted(["day10.csv", "day2.csv", "Day1.csv"], key=natural_key)
    ['Day1.csv', 'day2.csv', 'day10.csv']
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.casefold()) for p in parts if p)


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def check_not_an_input(
    output: str | os.PathLike[str], sources: Source | None, *, what: str
) -> None:
    """Refuse an output file that is one of the export files read (any spelling, or a link).

    Parameters
    ----------
    output : path
        The file about to be written.
    sources : what :func:`resolve_sources` reads, or None
        The exports read (None: the bundled sample, never an output).
    what : str
        What the output is, for the message (``"the report"``).

    Raises
    ------
    OverwriteError
        ``output`` is one of the exports.
    """
    output = Path(output)
    if sources is None or not output.exists():
        return
    for inp in resolve_sources(sources):
        if inp.path is not None and (
            inp.path.resolve() == output.resolve() or os.path.samefile(inp.path, output)
        ):
            raise OverwriteError(
                f"{what} {output} is one of the exports read ({inp.name}); "
                "name another file with -o"
            )


def resolve_sources(source: Source) -> list[Input]:
    """Turn what the user passed into a list of inputs, in reading order.

    Parameters
    ----------
    source : path, str, folder, glob pattern, file object, or a list of these
        A folder contributes every ``*.csv`` in it, a glob pattern its
        matches, both in natural order of the names (``day2`` before
        ``day10``). A file object is read whole (text is encoded as UTF-8).

    Returns
    -------
    list of Input
        One entry per file; a file named twice is read once (file objects
        are each read).

    Raises
    ------
    ExportNotFoundError
        A path does not exist, a folder or pattern matches no CSV file, or
        the list of sources is empty.
    TypeError
        ``source`` (or an item of it) is none of the kinds above.
    """
    out: list[Input] = []
    seen: set[Path] = set()

    def add_path(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(Input(name=str(p), path=p))

    def visit(src: Any) -> None:
        if hasattr(src, "read"):
            data = src.read()
            if isinstance(data, str):
                data = data.encode("utf-8")
            out.append(Input(name=str(getattr(src, "name", "<stream>")), data=bytes(data)))
            return
        if isinstance(src, (str, os.PathLike)):
            p = Path(src).expanduser()
            if p.is_dir():
                files = sorted(
                    (f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".csv"),
                    key=lambda f: natural_key(f.name),
                )
                if not files:
                    raise ExportNotFoundError(
                        f"{p}: the folder holds no .csv file; "
                        "put the exports there or name the files"
                    )
                for f in files:
                    add_path(f)
            elif p.is_file():
                add_path(p)
            elif _is_glob(str(src)):
                matches = sorted(
                    (Path(m) for m in glob.glob(os.fspath(p)) if Path(m).is_file()),
                    key=lambda m: natural_key(str(m)),
                )
                if not matches:
                    raise ExportNotFoundError(f"{src}: the pattern matches no file")
                for m in matches:
                    add_path(m)
            else:
                raise ExportNotFoundError(f"{p}: no such file or folder")
            return
        if isinstance(src, Iterable) and not isinstance(src, (bytes, bytearray)):
            for item in src:
                visit(item)
            return
        raise TypeError(
            "source must be a path, a folder, a glob pattern, an open file or a list of these; "
            f"got {type(src).__name__}"
        )

    visit(source)
    if not out:
        raise ExportNotFoundError("no export file given (the list of sources is empty)")
    return out


# --------------------------------------------------------------------------- helpers


def _decode_sample(sample: bytes) -> tuple[str, str]:
    """Decode the first bytes of a file; return (text, encoding)."""
    if sample.startswith(codecs.BOM_UTF8):
        enc = "utf-8-sig"
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16"
    else:
        enc = "utf-8"
    try:
        text = codecs.getincrementaldecoder(enc)().decode(sample, final=False)
    except UnicodeDecodeError:
        enc = "cp1252"
        text = sample.decode(enc, errors="replace")
    return text.lstrip("\ufeff"), enc


def _first_record(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False))
    except (StopIteration, csv.Error):
        return []


def _detect(text: str, name: str) -> tuple[str, list[str]]:
    """Pick the delimiter that makes the header name the most known columns."""
    best: tuple[int, int, str, list[str]] | None = None
    known = set(EXPORT_COLUMNS)
    for d in DELIMITERS:
        header = _first_record(text, d)
        score = (len({column_key(h) for h in header} & known), len(header))
        if best is None or score > best[:2]:
            best = (*score, d, header)
    assert best is not None
    n_known, _, delimiter, header = best
    if n_known == 0:
        first = text.splitlines()[0] if text.strip() else ""
        if len(first) > 120:
            first = first[:120] + "…"
        raise ExportFormatError(
            f"{name}: not a Connectly campaign export: its first line names none of the export "
            f"columns ({', '.join(REQUIRED_COLUMNS)}, ...). First line: {first!r}. "
            "Download the campaign report from Connectly's Analytics tab ('Download CSV')."
        )
    return delimiter, header


@dataclass
class _Header:
    names: list[str]  # final column name per position
    extras: list[str]
    problems: list[dict[str, Any]]


def _map_header(header: list[str], name: str) -> _Header:
    """Each field of the header as an export column (spaces and case aside) or an extra."""
    if len(header) > MAX_COLUMNS:
        raise ExportFormatError(
            f"{name}: the header has {len(header):,} columns; at most {MAX_COLUMNS:,} columns "
            "are read (a campaign export has 15). Is this the export file?"
        )
    mapped = _Header([], [], [])
    used: set[str] = set()
    for pos, raw in enumerate(header):
        norm = column_key(raw)
        if norm in EXPORT_COLUMNS and norm not in used:
            used.add(norm)
            mapped.names.append(norm)
            if raw != norm:
                message = f"header {raw!r} read as column {norm!r}"
                mapped.problems.append(_problem(name, 1, norm, raw, "renamed_column", message))
            continue
        final = _extra_name(raw, pos, used)
        used.add(final)
        mapped.names.append(final)
        mapped.extras.append(final)
        mapped.problems.append(_extra_problem(name, raw, norm, final, pos))
    _check_required(header, used, name)
    mapped.problems += [
        _problem(
            name, 1, c, None, "missing_column", f"optional column {c!r} is absent; added as empty"
        )
        for c in EXPORT_COLUMNS
        if c not in used
    ]
    return mapped


def _extra_name(raw: str, pos: int, used: set[str]) -> str:
    """A name for a column kept as extra: as written, made unique with ``.1``, ``.2`` ..."""
    base = raw.strip() or f"column_{pos + 1}"
    final = base
    k = 1
    while final in used or final in EXPORT_COLUMNS:
        final = f"{base}.{k}"
        k += 1
    return final


def _extra_problem(name: str, raw: str, norm: str, final: str, pos: int) -> dict[str, Any]:
    if norm in EXPORT_COLUMNS:
        return _problem(
            name,
            1,
            final,
            raw,
            "duplicate_column",
            f"column {norm!r} appears more than once; the first is used, "
            f"this copy (field {pos + 1}) is kept as {final!r}",
        )
    return _problem(
        name,
        1,
        final,
        raw,
        "extra_column",
        f"column {raw!r} is not one of the 15 export columns; kept as text",
    )


def _check_required(header: list[str], used: set[str], name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in used]
    if missing:
        found = ", ".join(repr(h) for h in header[:20]) + (" ..." if len(header) > 20 else "")
        raise ExportFormatError(
            f"{name}: not a Connectly campaign export: missing required column(s) "
            f"{', '.join(missing)}. Found columns: {found}. "
            f"The export's columns are: {', '.join(EXPORT_COLUMNS)}."
        )


# --------------------------------------------------------------------------- parsers


class _SlowPath(Exception):
    """The fast parser's result cannot be trusted for this file."""


_COUNT_CHUNK = 1 << 24


def _count_newlines(inp: Input, data: bytes | None = None) -> tuple[int, bool]:
    """Newlines in the file (or in ``data``) and whether it ends with one.

    numpy compares 16 MiB at a time: about twice as fast as ``bytes.count``.
    """
    n = 0
    last = -1
    data = data if data is not None else inp.data
    if data is not None:
        view = np.frombuffer(data, dtype=np.uint8)
        for lo in range(0, len(view), _COUNT_CHUNK):
            n += int(np.count_nonzero(view[lo : lo + _COUNT_CHUNK] == 10))
        return n, bool(len(view)) and int(view[-1]) == 10
    buf = bytearray(_COUNT_CHUNK)
    arr = np.frombuffer(buf, dtype=np.uint8)
    with inp._path().open("rb", buffering=0) as fh:
        while k := fh.readinto(buf):
            n += int(np.count_nonzero(arr[:k] == 10))
            last = int(arr[k - 1])
    return n, last == 10


def _parse_fast(
    inp: Input, data: bytes | None, delimiter: str, width: int
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Parse with pyarrow: the records (header row removed), their lines, those with breaks.

    The third value holds the positions of the records whose values hold a
    line break (they span more than one line). The first try assumes no
    newline inside values, which lets pyarrow parse blocks in parallel; a
    record split by such a newline has the wrong number of fields or breaks
    the line count, and the second try allows them.
    """
    newlines, ends_with_newline = _count_newlines(inp, data)
    physical = newlines + (0 if ends_with_newline else 1)
    for multiline in (False, True):
        try:
            table = _arrow_csv(inp, data, delimiter, width, multiline=multiline)
            lines = _lines(table, physical)[1:]
            following = np.append(lines[1:], physical + 1)  # where the next record starts
            return table.slice(1), lines, np.flatnonzero(following - lines > 1)
        except (_SlowPath, pa.ArrowInvalid) as exc:
            if multiline or _not_utf8(exc):
                raise
    raise AssertionError("unreachable")


def _not_utf8(exc: Exception) -> bool:
    """Whether pyarrow failed on bytes that are not UTF-8."""
    return isinstance(exc, pa.ArrowInvalid) and "utf8" in str(exc).lower()


def _arrow_csv(
    inp: Input, data: bytes | None, delimiter: str, width: int, *, multiline: bool
) -> pa.Table:
    """Every field as text, by pyarrow's CSV reader.

    A record with the wrong number of fields raises ``ArrowInvalid`` (no
    invalid-row handler: pyarrow decodes a rejected row as UTF-8 before
    calling it, which fails on Windows-1252 bytes).
    """
    names = [f"f{i}" for i in range(width)]
    source: Any = pa.BufferReader(data) if data is not None else str(inp.path)
    return pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=multiline,
            ignore_empty_lines=False,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )


def _lines(table: pa.Table, physical: int) -> np.ndarray:
    """Line of each row's first physical line, checked against the file's count."""
    n_rows = table.num_rows  # header included
    if physical == n_rows:
        return np.arange(1, n_rows + 1, dtype=np.int64)
    embedded = np.zeros(n_rows, dtype=np.int64)
    for col in table.columns:
        counts = pc.count_substring(col, "\n").to_numpy(zero_copy_only=False)
        embedded += np.nan_to_num(counts, nan=0).astype(np.int64)
    if int(embedded.sum()) + n_rows != physical:
        raise _SlowPath("line count does not match")
    lines = np.empty(n_rows, dtype=np.int64)
    lines[0] = 1
    np.cumsum(1 + embedded[:-1], out=lines[1:])
    lines[1:] += 1
    return lines


def _parse_slow(
    text: str, delimiter: str, width: int, name: str, problems: list[dict[str, Any]]
) -> tuple[pa.Table, np.ndarray, int]:
    r"""Python csv parse: exact line numbers, wrong-width records kept.

    Lines are counted as ``\n`` characters, as ``wc -l`` and the fast path
    count them; a file whose records end in a bare ``\r`` (old Mac
    exports) is read with universal newlines instead.
    """
    with _no_field_limit():
        if "\n" not in text:  # records end in a bare \r
            return _csv_records(text, delimiter, width, name, problems, newline="")
        # A bare \r inside a line is data (Python's csv refuses it unquoted):
        # park it in a private-use character while parsing.
        park = next(c for c in _PARKING if c not in text)
        parked = re.sub(r"\r(?!\n)", park, text)
        table, lines, blank = _csv_records(parked, delimiter, width, name, problems, newline="\n")
        if parked is not text:
            table = pa.table(
                {c: pc.replace_substring(table[c], park, "\r") for c in table.column_names}
            )
            for p in problems:
                if p["problem"] == "wrong_field_count" and isinstance(p["value"], str):
                    p["value"] = p["value"].replace(park, "\r")
        return table, lines, blank


def _csv_records(
    text: str,
    delimiter: str,
    width: int,
    name: str,
    problems: list[dict[str, Any]],
    *,
    newline: str,
) -> tuple[pa.Table, np.ndarray, int]:
    found: list[dict[str, Any]] = []
    reader = csv.reader(io.StringIO(text, newline=newline), delimiter=delimiter, strict=False)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    blank = 0
    prev = 0
    first = True
    for record in reader:
        start, prev = prev + 1, reader.line_num
        if first:  # the header
            first = False
            continue
        if not record or (len(record) == 1 and not record[0].strip("\r")):
            blank += 1
            continue
        if len(record) != width:
            found.append(
                _problem(
                    name,
                    start,
                    None,
                    delimiter.join(record),
                    "wrong_field_count",
                    f"record has {len(record)} fields, the header has {width}; "
                    + (
                        "missing fields left blank"
                        if len(record) < width
                        else "fields past the last column dropped"
                    ),
                )
            )
            record = (record + [""] * width)[:width]
        for col, value in zip(columns, record, strict=True):
            col.append(value if value != "" else None)
        lines.append(start)
    problems.extend(found)
    table = pa.table({f"f{i}": pa.array(c, type=pa.string()) for i, c in enumerate(columns)})
    return table, np.asarray(lines, dtype=np.int64), blank


def read_raw(inp: Input) -> RawFile:
    """Read one input into a :class:`RawFile`: the header, then the records, then clean-ups.

    Parameters
    ----------
    inp : Input
        One of :func:`resolve_sources`' results.

    Returns
    -------
    RawFile
        The records as text, with the file-level problems and what was
        detected.

    Raises
    ------
    ExportFormatError
        The file is empty, or is not a campaign export (no header naming the
        required columns).
    ExportNotFoundError
        The file cannot be opened.
    """
    sample = _check_not_empty(inp)
    text, encoding = _decode_sample(sample)
    delimiter, header_fields = _detect(text, inp.name)
    header = _map_header(header_fields, inp.name)
    problems = list(header.problems)
    parsed = _parse_records(inp, encoding, delimiter, len(header_fields), problems)
    table = parsed.table.rename_columns(header.names)
    swallowed = 0
    if parsed.breaks is None or len(parsed.breaks):
        swallowed = _find_runaway_quotes(table, parsed, delimiter, inp.name, problems)
        _point_at_records(problems, parsed.lines)
    table, lines, blank = _drop_blank_records(table, parsed.lines)
    table, lines, repeated = _drop_repeated_headers(table, lines, inp.name, problems)
    blank += parsed.blank
    if blank:
        problems.append(
            _problem(
                inp.name,
                None,
                None,
                None,
                "blank_lines",
                f"{format_number_of(blank, 'line')} without any value skipped",
            )
        )
    return RawFile(
        source=inp.name,
        table=_in_export_order(table, lines, header.extras),
        problems=problems,
        extra_columns=list(header.extras),
        repeated_headers=repeated,
        blank_lines=blank,
        records_swallowed=swallowed,
        encoding=parsed.encoding,
        delimiter=delimiter,
        parser=parsed.parser,
    )


def _check_not_empty(inp: Input) -> bytes:
    """The first bytes of the file, the whole header line included; an empty file is an error.

    At least :data:`SAMPLE_BYTES`; more while the first line goes on, up to
    :data:`MAX_HEADER_BYTES` (a longer first line is no export's header).
    """
    sample = inp.head(SAMPLE_BYTES)
    if not sample.strip():
        raise ExportFormatError(
            f"{inp.name}: the file is empty ({len(sample)} bytes); expected a CSV export whose "
            f"first line names the columns ({', '.join(REQUIRED_COLUMNS)}, ...)"
        )
    size = len(sample)
    while b"\n" not in sample and len(sample) == size < MAX_HEADER_BYTES:
        size = min(size * 4, MAX_HEADER_BYTES)
        sample = inp.head(size)
    if b"\n" not in sample and len(sample) == MAX_HEADER_BYTES:
        raise ExportFormatError(
            f"{inp.name}: not a Connectly campaign export: its first line is longer than "
            f"{MAX_HEADER_BYTES >> 20} MiB (an export's header is 15 column names)"
        )
    return sample


@dataclass
class _Parsed:
    """Every record of a file as text (header removed), and how it was read."""

    table: pa.Table
    lines: np.ndarray
    breaks: np.ndarray | None  # records whose values hold line breaks (None: not known)
    encoding: str
    parser: str
    blank: int = 0


def _parse_records(
    inp: Input, encoding: str, delimiter: str, width: int, problems: list[dict[str, Any]]
) -> _Parsed:
    """The fallback chain: the fast parser, on UTF-8 or transcoded text, then Python's csv.

    1. pyarrow on the file as it is (UTF-8), or on the text transcoded to
       UTF-8 when the first bytes showed another encoding;
    2. if pyarrow finds a byte that is not UTF-8: decode line by line (each
       line that is not UTF-8 as Windows-1252) and try pyarrow again;
    3. if pyarrow's records cannot be trusted (wrong field count, a line count
       that does not add up): Python's csv module, which keeps every record.
    """
    data: bytes | None = inp.data
    if encoding == "utf-16":
        data = _transcode_utf16(inp.read_bytes(), inp.name, problems)
    elif encoding == "cp1252":
        data, encoding = _decode_lines(inp.read_bytes(), inp.name, problems, "cp1252")
    try:
        return _Parsed(*_parse_fast(inp, data, delimiter, width), encoding, "pyarrow")
    except (_SlowPath, pa.ArrowInvalid) as exc:
        if _not_utf8(exc) and encoding in ("utf-8", "utf-8-sig"):
            raw = data if data is not None else inp.read_bytes()
            data, encoding = _decode_lines(raw, inp.name, problems, encoding)
            try:
                return _Parsed(*_parse_fast(inp, data, delimiter, width), encoding, "pyarrow")
            except (_SlowPath, pa.ArrowInvalid):
                pass
    raw = data if data is not None else inp.read_bytes()
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        data, encoding = _decode_lines(raw, inp.name, problems, encoding)
        decoded = data.decode("utf-8")
    table, lines, blank = _parse_slow(decoded, delimiter, width, inp.name, problems)
    return _Parsed(table, lines, None, encoding, "python", blank)


def _drop_blank_records(table: pa.Table, lines: np.ndarray) -> tuple[pa.Table, np.ndarray, int]:
    """Records whose every field is null (pyarrow reads blank lines as such records)."""
    if not table.num_rows:
        return table, lines, 0
    empty = None
    for col in table.columns:
        nulls = col.is_null()
        empty = nulls if empty is None else pc.and_(empty, nulls)
    n_empty = int(pc.sum(empty).as_py() or 0)
    if not n_empty:
        return table, lines, 0
    keep = pc.invert(empty)
    return table.filter(keep), lines[keep.to_numpy(zero_copy_only=False)], n_empty


def _drop_repeated_headers(
    table: pa.Table, lines: np.ndarray, name: str, problems: list[dict[str, Any]]
) -> tuple[pa.Table, np.ndarray, int]:
    """The header repeated inside the file (daily reports concatenated with ``cat``)."""
    if not table.num_rows:
        return table, lines, 0
    # cheap length test first (a phone number is shorter than the name);
    # exact comparison only on the candidates
    same = pc.greater_equal(
        pc.binary_length(table["customer_external_id"]), len("customer_external_id")
    )
    if pc.any(same).as_py():
        same = pc.and_(
            same,
            pc.and_(
                _names_equal(table["customer_external_id"], "customer_external_id"),
                _names_equal(table["campaign_name"], "campaign_name"),
            ),
        )
    same = pc.fill_null(same, False)
    repeated = int(pc.sum(same).as_py() or 0)
    if not repeated:
        return table, lines, 0
    mask = same.to_numpy(zero_copy_only=False)
    for line in lines[mask]:
        problems.append(
            _problem(
                name,
                int(line),
                None,
                None,
                "repeated_header",
                "the header line appears again here (files concatenated?); skipped",
            )
        )
    return table.filter(pc.invert(same)), lines[~mask], repeated


def _names_equal(cells: pa.ChunkedArray, column: str) -> Any:
    """Cells that spell the column's name (a byte-order mark, spaces, quotes and case aside).

    The second of two exports joined with ``cat`` starts with its own BOM.
    """
    clean = pc.utf8_trim_whitespace(pc.replace_substring(cells, "\ufeff", ""))
    clean = pc.utf8_trim_whitespace(pc.utf8_trim(clean, characters='"'))
    return pc.equal(pc.utf8_lower(clean), column)


def _find_runaway_quotes(
    table: pa.Table, parsed: _Parsed, delimiter: str, name: str, problems: list[dict[str, Any]]
) -> int:
    """Quoted fields that hold whole records (a stray quote): a problem each; how many records.

    A value with a line break is a runaway quoted field when a line after its
    first parses as a record with the header's number of fields; every line
    from its second on began a record that is not read (the count is in
    ``accounting.records_swallowed``). Only the records spanning more than
    one line are searched.
    """
    rows = parsed.breaks
    if rows is None:  # Python's csv read the file: find the records with line breaks
        spans = np.zeros(table.num_rows, dtype=np.int64)
        for col in table.columns:
            spans += pc.fill_null(pc.count_substring(col, "\n"), 0).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(spans)
    if not len(rows):
        return 0
    sub = take_rows(table, rows)  # a few rows: sliced, not taken (which joins the chunks)
    breaks = [
        pc.fill_null(pc.count_substring(col, "\n"), 0).to_numpy(zero_copy_only=False)
        for col in sub.columns
    ]
    swallowed = 0
    for pos, column in enumerate(sub.column_names):
        for k in np.flatnonzero(breaks[pos]):
            text = sub.column(pos)[int(k)].as_py()
            inside = _records_inside(text, delimiter, sub.num_columns)
            if not inside:
                continue
            start = int(parsed.lines[rows[k]]) + int(sum(b[k] for b in breaks[:pos]))
            end = start + text.rstrip("\r\n").count("\n")
            message = (
                f"a quoted field runs over lines {start}-{end} and holds "
                f"{format_number_of(inside, 'record')}, "
                f"which are not read: a stray '\"' in {column}? Fix the quote and load again"
            )
            line = int(parsed.lines[rows[k]])
            problems.append(_problem(name, line, column, text, "runaway_quote", message))
            swallowed += inside
    return swallowed


def _point_at_records(problems: list[dict[str, Any]], lines: np.ndarray) -> None:
    """A line decoded alone inside a multi-line record: its problem names the record's first line.

    Every problem's line is the line a record starts on, as ``messages.line`` is.
    """
    if not len(lines):
        return
    for p in problems:
        if p["problem"] == "not_utf8" and p["line"] is not None and p["line"] > lines[0]:
            start = int(lines[np.searchsorted(lines, p["line"], side="right") - 1])
            if start != p["line"]:
                p["message"] += f" (line {p['line']}, in the record that starts on line {start})"
                p["line"] = start


def _records_inside(text: str, delimiter: str, width: int) -> int:
    """Records in the lines of a value after its first, if one of them is a whole record."""
    rest = text.split("\n", 1)[1] if "\n" in text else ""
    with _no_field_limit():
        reader = csv.reader(io.StringIO(rest, newline=""), delimiter=delimiter, strict=False)
        records = [r for r in reader if any(f.strip() for f in r)]
    return len(records) if any(len(r) == width for r in records) else 0


@contextlib.contextmanager
def _no_field_limit() -> Iterator[None]:
    """Python's csv with no limit on a field's size (128 KiB by default)."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old_limit)


def _in_export_order(table: pa.Table, lines: np.ndarray, extras: list[str]) -> pa.Table:
    """The 15 columns in order (missing ones all null), then extras, then ``line``."""
    n = table.num_rows
    columns = {
        c: (table[c] if c in table.column_names else pa.nulls(n, pa.string()))
        for c in EXPORT_COLUMNS
    }
    for c in extras:
        columns[c] = table[c]
    columns["line"] = pa.array(lines, type=pa.int64())
    return pa.table(columns)


def _transcode_utf16(raw: bytes, name: str, problems: list[dict[str, Any]]) -> bytes:
    """A UTF-16 file (Excel's "Unicode text") as UTF-8 bytes, noting the problem."""
    text = raw.decode("utf-16", errors="replace")
    problems.append(
        _problem(
            name,
            None,
            None,
            None,
            "not_utf8",
            "the file is not UTF-8; decoded as UTF-16 (Excel's 'Unicode text')",
        )
    )
    return text.lstrip("\ufeff").encode("utf-8")


def _decode_lines(
    raw: bytes, name: str, problems: list[dict[str, Any]], encoding: str
) -> tuple[bytes, str]:
    """The file as UTF-8 bytes, each line that is not UTF-8 decoded as Windows-1252.

    Blocks of about 64 KiB that are UTF-8 (nearly all of a UTF-8 file) are
    kept as they are; only a block that is not goes line by line. Each line
    decoded as Windows-1252 is a ``not_utf8`` problem (the first
    :data:`MAX_LINE_PROBLEMS`; one more row counts the rest). Returns the bytes
    and the encoding to report: ``"cp1252"`` when the first bytes were already
    Windows-1252, else ``"utf-8+cp1252"`` (or the encoding given, when every
    line was UTF-8).
    """
    raw = raw.removeprefix(codecs.BOM_UTF8)
    out: list[bytes] = []
    fixed: list[tuple[int, str]] = []  # (line, text) of the lines decoded as cp1252
    pos, line = 0, 1
    while pos < len(raw):
        end = raw.find(b"\n", min(pos + _BLOCK_BYTES, len(raw)))
        end = len(raw) if end < 0 else end + 1
        block = raw[pos:end]
        try:
            block.decode("utf-8")
            out.append(block)
        except UnicodeDecodeError:
            out.append(_decode_block_lines(block, line, fixed))
        line += block.count(b"\n")
        pos = end
    if not fixed:
        return raw, encoding
    _note_cp1252_lines(fixed, name, problems)
    return b"".join(out), "cp1252" if encoding == "cp1252" else "utf-8+cp1252"


def _decode_block_lines(block: bytes, first_line: int, fixed: list[tuple[int, str]]) -> bytes:
    pieces = block.split(b"\n")
    for i, piece in enumerate(pieces):
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            text = piece.decode("cp1252", errors="replace")
            fixed.append((first_line + i, text))
            pieces[i] = text.encode("utf-8")
    return b"\n".join(pieces)


def _note_cp1252_lines(
    fixed: list[tuple[int, str]], name: str, problems: list[dict[str, Any]]
) -> None:
    message = "line is not UTF-8; decoded as Windows-1252 (an Excel round trip?)"
    for line, text in fixed[:MAX_LINE_PROBLEMS]:
        problems.append(_problem(name, line, None, text.rstrip("\r"), "not_utf8", message))
    if len(fixed) > MAX_LINE_PROBLEMS:
        problems.append(
            _problem(
                name,
                None,
                None,
                None,
                "not_utf8",
                f"{len(fixed) - MAX_LINE_PROBLEMS:,} more lines are not UTF-8 "
                f"({len(fixed):,} in all); each decoded as Windows-1252",
            )
        )
