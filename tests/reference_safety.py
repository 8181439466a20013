"""The straightforward masking and CSV writing the fast code in ``safety`` must match.

``connectly_nb/safety.py`` as it was at commit 75ce7aa, before it was made
fast: phonenumbers called for every distinct id, the formula check run on
every distinct text cell, the whole frame converted and written at once.
``tests/test_safety.py`` compares the two on varied and hostile inputs.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb.schema import DERIVED_COLUMNS, EXPORT_COLUMNS, TIMESTAMP_COLUMNS

_PHONE = re.compile(r"^\+\d{6,15}$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a formula character after a character a spreadsheet may split cells on
_INNER_FORMULA = re.compile(r"([;\t\r\n])([=+\-@])")
# Fewest digits a mask hides; a mask hiding fewer is replaced by the strict one.
MIN_HIDDEN_DIGITS = 5
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+((?:@|%40)(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
# "+" (or "%2B" in a URL) and a run of digits, spaces, dots, dashes, brackets
_PLUS_RUN = re.compile(r"(?:\+|%2[Bb])\d[\d .()-]{4,24}\d")
# a bare run of 10 to 15 digits that is no part of a word, a number or an id
_DIGIT_RUN = re.compile(r"(?<![\w.-])\d{10,15}(?![\w-]|\.\d)")
_FEW_DIGITS = 7  # text with fewer digits holds no phone number


def _strict(text: str) -> str:
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
    series = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype=object)
    uniques = pd.unique(series.astype(object))
    lookup = {u: _mask_one(u) for u in uniques}
    return series.astype(object).map(lookup)


def _phone_spans(text: str) -> list[tuple[int, int]]:
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


def mask_text(values: pd.Series) -> pd.Series:
    text = values.astype(object)
    lookup = {u: _mask_free_text(u) for u in pd.unique(text) if isinstance(u, str) and u.strip()}
    return text.map(lambda v: lookup.get(v, v) if isinstance(v, str) else v)


def neutralize(values: pd.Series, *, phone_ids: bool = False) -> pd.Series:
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
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        out.to_csv(fh, index=False, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    return path
