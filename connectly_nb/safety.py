"""Keeping data data: phone-number masking, pseudonyms, and spreadsheet-safe CSV.

One masking function for every place that shows ids (the dashboard's message
table, reports), one for phone numbers and emails inside free text, a
consistent hash to follow a customer without showing the number, and the CSV
writer every "save" in the toolkit uses: text that a spreadsheet would run as
a formula (a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return, or ``=``, ``+``, ``-``, ``@`` after a ``;``, tab or line break inside
a cell) is neutralised with ``'``, header names included, and every field is
quoted; phone numbers ``+<digits>`` in the id column keep their ``+``.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import re
import secrets
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectly_nb._fs import atomic_write
from connectly_nb._phones import MIN_HIDDEN_DIGITS as MIN_HIDDEN_DIGITS  # re-exported
from connectly_nb._phones import PHONE, mask_many, mask_one, strict
from connectly_nb._progress import Progress, interactive
from connectly_nb.exceptions import PrivacyWarning
from connectly_nb.schema import DERIVED_COLUMNS, EXPORT_COLUMNS, TIMESTAMP_COLUMNS

__all__ = [
    "hash_ids",
    "mask_columns",
    "mask_phone",
    "mask_text",
    "neutralize",
    "write_safe_csv",
    "write_safe_table",
]

_PHONE = PHONE
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a formula character after a character a spreadsheet may split cells on
_INNER_FORMULA = re.compile(r"([;\t\r\n])([=+\-@])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+((?:@|%40)(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
# "+" (or "%2B" in a URL) and a run of digits, spaces, dots, dashes, brackets
_PLUS_RUN = re.compile(r"(?:\+|%2[Bb])\d[\d .()-]{4,24}\d")
# a bare run of 10 to 15 digits that is no part of a word, a number or an id
_DIGIT_RUN = re.compile(r"(?<![\w.-])\d{10,15}(?![\w-]|\.\d)")
_FEW_DIGITS = 7  # text with fewer digits holds no phone number
#: Rows write_safe_csv converts and writes at a time.
CHUNK_ROWS = 20_000
_BIG_SAVE = 200_000  # from this many rows, a save shows a progress bar
_YEAR_1000, _YEAR_10000 = np.datetime64("1000-01-01", "us"), np.datetime64("10000-01-01", "us")
# the cells neutralize may change: a formula character first, or after a separator
_MAY_BE_FORMULA = r"^[=+\-@\t\r]|[;\t\r\n][=+\-@]"


def mask_phone(ids: Iterable[object] | pd.Series) -> pd.Series:
    """Mask phone numbers for display, keeping the country, area code and last 4 digits.

    ``+5511987654321`` becomes ``+55 11 *****-4321``. When that would hide
    fewer than 5 digits (short numbers, some countries' plans), or when the
    number cannot be parsed (``+999123456789``), or the id is not a phone
    number at all, only the last two characters are kept
    (``***********89``). Blank stays blank.

    Parameters
    ----------
    ids : iterable or Series
        Customer ids as text.

    Returns
    -------
    pandas.Series
        Masked text, same length and index (when a Series is given).
    """
    series = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype=object)
    lookup = mask_many(pd.unique(series.astype(object)))  # ids repeat across sendouts
    return series.astype(object).map(lookup)


def _phone_spans(text: str) -> list[tuple[int, int]]:
    """Where phone-number-shaped text is: phonenumbers' matcher, "+" runs, long digit runs."""
    import phonenumbers

    spans = []
    if "+" in text or "\uff0b" in text:  # without a region, phonenumbers reads only after a plus
        spans = [
            (m.start, m.end)
            for m in phonenumbers.PhoneNumberMatcher(
                text, None, leniency=phonenumbers.Leniency.POSSIBLE
            )
        ]
    for pattern in (_PLUS_RUN, _DIGIT_RUN):
        spans += [
            m.span()
            for m in pattern.finditer(text)
            if sum(ch.isdigit() for ch in m.group()) >= _FEW_DIGITS
        ]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _mask_free_text(text: str) -> str:
    text = _EMAIL.sub(lambda m: "***" + m.group(1), text)
    if sum(map(str.isdigit, text)) < _FEW_DIGITS:
        return text
    out, done = [], 0
    for start, end in _phone_spans(text):
        found = text[start:end]
        plain = "+" + found[3:] if found[:3].lower() == "%2b" else found
        masked = mask_one(plain) or ""
        out += [text[done:start], masked if plain is found else strict(found)]
        done = end
    return "".join(out) + text[done:]


def _replace(text: pd.Series, change: Callable[[str], str], values: Iterable[object]) -> pd.Series:
    """``text`` (object) with each text cell among ``values`` replaced by ``change`` of it.

    ``change`` runs once per distinct text; only the cells it changes are
    replaced (a text never equals a value of another type, so ``isin`` finds them).
    """
    changed: dict[str, str] = {}
    for value in values:
        if isinstance(value, str):
            new = change(value)
            if new != value:
                changed[value] = new
    out = text.copy()
    if changed:
        hit = text.isin(list(changed)).to_numpy()
        out[hit] = [changed[v] for v in text.to_numpy()[hit]]
    return out


def mask_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`mask_text` applied to the free-text ``columns`` it has.

    Parameters
    ----------
    frame : pandas.DataFrame
        A result frame or a page of messages.
    columns : iterable of str
        Free-text columns (error messages, variable values, link URLs ...);
        absent ones are skipped.

    Returns
    -------
    pandas.DataFrame
    """
    out = frame.copy()
    for c in columns:
        if c in out.columns and len(out):
            out[c] = mask_text(out[c])
    return out


def mask_text(values: pd.Series) -> pd.Series:
    """Mask phone numbers and email addresses found inside free text.

    For error messages, variable values and link URLs shown while phone
    numbers are hidden. Phone-number-shaped text (what ``phonenumbers``
    finds in international format; ``+`` or ``%2B`` followed by 7 to 15
    digits with spaces, dots, dashes or brackets; a bare run of 10 to 15
    digits that is not part of a word or an id) is masked by the rule of
    :func:`mask_phone`. The user part of an email address (``@`` or ``%40``)
    becomes ``***``, the domain stays. Other text, and cells that are not
    text, are unchanged.

    Parameters
    ----------
    values : pandas.Series
        Free-text cells (object, string or categorical).

    Returns
    -------
    pandas.Series
        An object Series, same index; masked text where something was found.

    Examples
    --------
    >>> mask_text(pd.Series(["+5511987654321 is not on WhatsApp", "ana@x.com"])).tolist()
    ['+55 11 *****-4321 is not on WhatsApp', '***@x.com']
    """
    text = values.astype(object)
    # the type Series.map would give: text where every cell is text or blank
    return _replace(text, _mask_free_text, pd.unique(text)).infer_objects()


def _salt(salt: str | None) -> str:
    """The salt given, or ``CONNECTLY_NB_SALT``, or this process's random one (with a warning)."""
    chosen = salt if salt is not None else os.environ.get("CONNECTLY_NB_SALT", "")
    if chosen:
        return chosen
    warnings.warn(
        "hash_ids without a salt: using a random salt for this Python process, so the "
        "pseudonyms cannot be reversed, and will differ in the next session. To follow "
        "customers across sessions, set CONNECTLY_NB_SALT (keep it private) or pass salt=",
        PrivacyWarning,
        stacklevel=3,
    )
    return _process_salt()


@functools.cache
def _process_salt() -> str:
    return secrets.token_hex(16)


def hash_ids(
    ids: Iterable[object] | pd.Series, *, salt: str | None = None, length: int = 12
) -> pd.Series:
    """Consistent pseudonyms: the same id gives the same hash, the number is not shown.

    Parameters
    ----------
    ids : iterable or Series
        Customer ids (any values; compared as text).
    salt : str, optional
        Mixed into the hash so pseudonyms cannot be looked up from a list of
        numbers; keep it private and reuse it to follow customers across
        reports. Defaults to the ``CONNECTLY_NB_SALT`` environment variable.
        Without either (or with an empty one) a random salt made once per
        Python process is used, with a :class:`~connectly_nb.exceptions.PrivacyWarning`:
        unsalted hashes of phone numbers are reversed in minutes by trying
        every number of an area code.
    length : int
        Hex characters kept.

    Returns
    -------
    pandas.Series
        ``"c_"`` followed by ``length`` hex characters; blank stays blank.

    Warns
    -----
    PrivacyWarning
        No salt was given or set: the random per-process salt is used.
    """
    key = _salt(salt).encode()
    series = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype=object)
    uniques = pd.unique(series.astype(object))
    lookup = {
        u: None
        if u is None or (isinstance(u, float) and np.isnan(u))
        else "c_" + hashlib.sha256(key + str(u).encode()).hexdigest()[:length]
        for u in uniques
    }
    return series.astype(object).map(lookup)


def neutralize(values: pd.Series, *, phone_ids: bool = False) -> pd.Series:
    """Prefix with ``'`` every formula a spreadsheet could find in a text cell.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
    (OWASP's list for CSV injection) are neutralised. So is ``=``, ``+``,
    ``-`` or ``@`` right after a ``;``, a tab or a line break inside a cell:
    a spreadsheet told to split on ``;`` or tab (semicolon locales: pt-BR, most
    of Europe) may start a new cell there (``Promo;=1+1`` becomes
    ``Promo;'=1+1``). With ``phone_ids``, values that are phone numbers
    (``+<digits>``) are left as they are.

    Parameters
    ----------
    values : pandas.Series
        Cells of any type; only text cells can be changed.
    phone_ids : bool, default False
        Leave phone numbers (``+`` and 6 to 15 digits) as they are.

    Returns
    -------
    pandas.Series
        A new object Series, same index; other cells unchanged.
    """
    text = values.astype(object)
    if values.dtype.kind in "biufcmM":  # numbers, booleans, times: no text cell
        candidates: Iterable[object] = ()
    elif isinstance(values.dtype, pd.CategoricalDtype):
        candidates = values.cat.categories  # a few names, many rows
    else:
        candidates = pd.unique(text[_may_be_formulas(values, text)])
    return _replace(text, functools.partial(_neutral, phone_ids=phone_ids), candidates)


def _neutral(value: str, *, phone_ids: bool) -> str:
    """One text cell with a ``'`` before each formula a spreadsheet could find in it."""
    safe = _INNER_FORMULA.sub(r"\1'\2", value)
    if safe.startswith(FORMULA_START) and not (phone_ids and _PHONE.match(safe)):
        safe = "'" + safe
    return safe


def _may_be_formulas(values: pd.Series, text: pd.Series) -> np.ndarray:
    """The cells :func:`_neutral` may change (at least those), found by Arrow's regex engine."""
    try:
        if isinstance(values.dtype, pd.StringDtype):
            found = values.str.contains(_MAY_BE_FORMULA, regex=True, na=False)
            return found.to_numpy(dtype=bool)
        cells = pa.array(text.to_numpy(), type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):  # not only text: look at every cell
        return np.ones(len(text), dtype=bool)
    found = pc.match_substring_regex(cells, _MAY_BE_FORMULA).fill_null(False)
    return found.to_numpy(zero_copy_only=False)


def write_safe_csv(
    data: Any,
    path: str | os.PathLike[str],
    *,
    progress: bool | None = None,
    on_chunk: Callable[[int, int], object] | None = None,
) -> Path:
    """Write messages as a CSV that opens safely in Excel and reads back as an export.

    The 15 export columns (and any extra ones) are written in the export's
    own format: timestamps in UTC as ``2024-05-10 20:13:50.682000``, JSON
    cells as they were. Formula-like text is neutralised (see
    :func:`neutralize`), in the header names too, and every field is quoted,
    so a spreadsheet splitting on ``;`` or tab finds no formula either; the
    file is UTF-8 with a BOM so Excel shows accents. Rows are converted and
    written :data:`CHUNK_ROWS` at a time, so a big file shows its progress and
    memory holds one chunk of text, not the whole file's.
    The file is written whole or not at all (:func:`connectly_nb._fs.atomic_write`).

    Parameters
    ----------
    data : Export or DataFrame
        An Export (its ``messages``) or a messages frame.
    path : str or path-like
        The CSV file to write.
    progress : bool, optional
        Show a progress bar (tqdm's: a widget in Jupyter, text in a terminal).
        By default it shows from 200,000 rows when someone is watching.
    on_chunk : callable, optional
        Called as ``on_chunk(rows_written, rows)`` after each chunk (a
        dashboard's own progress bar).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    FileNotFoundError
        The folder of ``path`` does not exist.
    """
    messages = data if isinstance(data, pd.DataFrame) else data.messages
    extra = [
        c
        for c in messages.columns
        if c not in EXPORT_COLUMNS and c not in DERIVED_COLUMNS and not c.startswith("_")
    ]
    columns = [*EXPORT_COLUMNS, *extra]
    header = neutralize(pd.Series(columns, dtype=object)).tolist()
    n = len(messages)
    path = Path(path)
    if progress is None:
        progress = n >= _BIG_SAVE and interactive()
    bar = Progress(n, "saving CSV", enabled=progress, unit="rows")
    try:
        with atomic_write(path, mode="w", encoding="utf-8-sig", newline="") as fh:
            for start in range(0, max(n, 1), CHUNK_ROWS):  # an empty frame: the header
                out = _safe_cells(messages.iloc[start : start + CHUNK_ROWS], columns)
                out.columns = header
                text = io.StringIO()  # one chunk, encoded at once (not row by row)
                out.to_csv(
                    text,
                    index=False,
                    header=start == 0,
                    lineterminator="\r\n",
                    quoting=csv.QUOTE_ALL,
                )
                fh.write(text.getvalue())
                done = min(start + CHUNK_ROWS, n)
                bar.to(done)
                if on_chunk is not None:
                    on_chunk(done, n)
    finally:
        bar.close()
    return path


def _safe_cells(messages: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``messages`` as the CSV shows them: object columns, formulas neutralised."""
    out = {}
    for c in columns:
        col = messages[c] if c in messages.columns else pd.Series(None, index=messages.index)
        if c in TIMESTAMP_COLUMNS:
            out[c] = _utc_text(col.dt.tz_convert("UTC"))
        else:
            out[c] = neutralize(col, phone_ids=c == "customer_external_id").to_numpy()
    return pd.DataFrame(out, columns=columns, dtype=object)


def _utc_text(utc: pd.Series) -> np.ndarray:
    """UTC times as strftime writes them (``2024-05-10 20:13:50.682000``; ``""`` for none)."""
    missing = utc.isna().to_numpy()
    naive = utc.dt.tz_localize(None).to_numpy()
    present = naive[~missing]
    if naive.dtype in (np.dtype("M8[s]"), np.dtype("M8[ms]"), np.dtype("M8[us]")) and (
        len(present) == 0 or (present.min() >= _YEAR_1000 and present.max() < _YEAR_10000)
    ):  # numpy's ISO text, "T" made " ": the same as strftime, 20 times faster
        iso = np.datetime_as_string(naive.astype("M8[us]"), unit="us")
        if len(iso):
            iso.view(np.uint32).reshape(len(iso), -1)[:, 10] = ord(" ")
        text = iso.astype(object)
    else:  # four-digit years only: strftime pads none of the others
        text = utc.dt.strftime("%Y-%m-%d %H:%M:%S.%f").to_numpy(dtype=object, copy=True)
    text[missing] = ""
    return text


def write_safe_table(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    phone_columns: Iterable[str] = ("customer_external_id",),
) -> Path:
    """Write a result table (a suppression list ...) as a CSV that opens safely in Excel.

    Text is neutralised as by :func:`neutralize` (phone numbers in
    ``phone_columns`` keep their ``+``), times are written in UTC as
    ``2024-05-10 20:13:50``, every field is quoted, the file is UTF-8 with a
    BOM, and it is written whole or not at all.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its index is not written.
    path : str or path-like
        The CSV file to write.
    phone_columns : iterable of str
        Columns whose ``+<digits>`` values are phone numbers, not formulas.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    phones = set(phone_columns)
    out = pd.DataFrame(index=frame.index)
    for c in frame.columns:
        col = frame[c]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            utc = col.dt.tz_convert("UTC")
            out[c] = utc.dt.strftime("%Y-%m-%d %H:%M:%S").astype(object).where(utc.notna(), "")
        elif pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            out[c] = col
        else:
            out[c] = neutralize(col, phone_ids=c in phones)
    out.columns = neutralize(pd.Series([str(c) for c in out.columns], dtype=object)).tolist()
    path = Path(path)
    with atomic_write(path, mode="w", encoding="utf-8-sig", newline="") as fh:
        out.to_csv(fh, index=False, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    return path
