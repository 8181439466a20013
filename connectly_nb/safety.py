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
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb._fs import atomic_write
from connectly_nb.schema import DERIVED_COLUMNS, EXPORT_COLUMNS, TIMESTAMP_COLUMNS

__all__ = ["hash_ids", "mask_phone", "neutralize", "write_safe_csv"]

_PHONE = re.compile(r"^\+\d{6,15}$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a formula character after a character a spreadsheet may split cells on
_INNER_FORMULA = re.compile(r"([;\t\r\n])([=+\-@])")


def _mask_one(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    if not _PHONE.match(text.replace(" ", "")):
        # not a phone number we can read: keep the last 2 characters at most
        keep = 2 if len(text) > 4 else 0
        return "*" * (len(text) - keep) + text[len(text) - keep :]
    try:
        import phonenumbers

        number = phonenumbers.parse(text, None)
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        formatted = text
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
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(formatted))


def mask_phone(ids: Iterable[object] | pd.Series) -> pd.Series:
    """Mask phone numbers for display, keeping the country, area code and last 4 digits.

    ``+5511987654321`` becomes ``+55 11 *****-4321``. An id that is not a
    phone number keeps only its last two characters. Blank stays blank.

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
        reports. Defaults to the ``CONNECTLY_NB_SALT`` environment variable,
        else no salt.
    length : int
        Hex characters kept.

    Returns
    -------
    pandas.Series
        ``"c_"`` followed by ``length`` hex characters; blank stays blank.
    """
    key = (salt if salt is not None else os.environ.get("CONNECTLY_NB_SALT", "")).encode()
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
