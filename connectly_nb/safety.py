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
import os
import re
import secrets
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb._fs import atomic_write
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

_PHONE = re.compile(r"^\+\d{6,15}$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a formula character after a character a spreadsheet may split cells on
_INNER_FORMULA = re.compile(r"([;\t\r\n])([=+\-@])")
#: Fewest digits a mask hides; a mask hiding fewer is replaced by the strict one.
MIN_HIDDEN_DIGITS = 5
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+((?:@|%40)(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
# "+" (or "%2B" in a URL) and a run of digits, spaces, dots, dashes, brackets
_PLUS_RUN = re.compile(r"(?:\+|%2[Bb])\d[\d .()-]{4,24}\d")
# a bare run of 10 to 15 digits that is no part of a word, a number or an id
_DIGIT_RUN = re.compile(r"(?<![\w.-])\d{10,15}(?![\w-]|\.\d)")
_FEW_DIGITS = 7  # text with fewer digits holds no phone number


def _strict(text: str) -> str:
    """Everything but the last 2 characters hidden (all of it up to 4 characters)."""
    keep = 2 if len(text) > 4 else 0
    return "*" * (len(text) - keep) + text[len(text) - keep :]


def _mask_one(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    if not _PHONE.match(text.replace(" ", "")):
        return _strict(text)  # not a phone number we can read
    import phonenumbers

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return _strict(text)
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    digits = [i for i, ch in enumerate(formatted) if ch.isdigit()]
    groups = formatted.split(" ")
    # keep the calling code, a short area code (a second group of at most two
    # digits, followed by more groups) and the last four digits
    keep: set[int] = set(digits[-4:])
    pos = 0
    for gi, group in enumerate(groups):
        if gi == 0 or (gi == 1 and len(groups) > 2 and len(group) <= 2):
            keep.update(range(pos, pos + len(group)))
        pos += len(group) + 1
    if len(set(digits) - keep) < MIN_HIDDEN_DIGITS:
        return _strict(text)
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(formatted))


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
    uniques = pd.unique(series.astype(object))
    lookup = {u: _mask_one(u) for u in uniques}
    return series.astype(object).map(lookup)


def _phone_spans(text: str) -> list[tuple[int, int]]:
    """Where phone-number-shaped text is: phonenumbers' matcher, "+" runs, long digit runs."""
    import phonenumbers

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
    if sum(ch.isdigit() for ch in text) < _FEW_DIGITS:
        return text
    out, done = [], 0
    for start, end in _phone_spans(text):
        found = text[start:end]
        plain = "+" + found[3:] if found[:3].lower() == "%2b" else found
        masked = _mask_one(plain) or ""
        out += [text[done:start], masked if plain is found else _strict(found)]
        done = end
    return "".join(out) + text[done:]


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
    lookup = {u: _mask_free_text(u) for u in pd.unique(text) if isinstance(u, str) and u.strip()}
    return text.map(lambda v: lookup.get(v, v) if isinstance(v, str) else v)


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
    out = text.copy()
    lookup: dict[str, str] = {}
    for value in pd.unique(text[text.map(lambda v: isinstance(v, str))]):
        safe = _INNER_FORMULA.sub(r"\1'\2", value)
        if safe.startswith(FORMULA_START) and not (phone_ids and _PHONE.match(safe)):
            safe = "'" + safe
        if safe != value:
            lookup[value] = safe
    if lookup:
        changed = text.map(lambda v: isinstance(v, str) and v in lookup)
        out[changed] = text[changed].map(lookup)
    return out


def write_safe_csv(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write messages as a CSV that opens safely in Excel and reads back as an export.

    The 15 export columns (and any extra ones) are written in the export's
    own format: timestamps in UTC as ``2024-05-10 20:13:50.682000``, JSON
    cells as they were. Formula-like text is neutralised (see
    :func:`neutralize`), in the header names too, and every field is quoted,
    so a spreadsheet splitting on ``;`` or tab finds no formula either; the
    file is UTF-8 with a BOM so Excel shows accents.
    The file is written whole or not at all (:func:`connectly_nb._fs.atomic_write`).

    Parameters
    ----------
    data : Export or DataFrame
        An Export (its ``messages``) or a messages frame.
    path : str or path-like
        The CSV file to write.

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
    out = pd.DataFrame(index=messages.index)
    for c in (*EXPORT_COLUMNS, *extra):
        col = messages[c] if c in messages.columns else pd.Series(None, index=messages.index)
        if c in TIMESTAMP_COLUMNS:
            utc = col.dt.tz_convert("UTC")
            out[c] = utc.dt.strftime("%Y-%m-%d %H:%M:%S.%f").astype(object).where(utc.notna(), "")
        else:
            out[c] = neutralize(col, phone_ids=c == "customer_external_id")
    out.columns = neutralize(pd.Series(list(out.columns), dtype=object)).tolist()
    path = Path(path)
    with atomic_write(path, mode="w", encoding="utf-8-sig", newline="") as fh:
        out.to_csv(fh, index=False, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    return path


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
