"""Masking phone numbers: one number at a time, or many with few calls to phonenumbers.

A mask shows the calling code, a short area code and the last four digits
of the number as phonenumbers formats it (``+55 11 *****-4321``); where that
would hide fewer than :data:`MIN_HIDDEN_DIGITS` digits, or the number cannot be
read, only the last two characters stay. :func:`mask_one` does it for one value
(parse, format, mask: about 0.1 ms). :func:`mask_many` gives the same masks for
many values, faster.

How :func:`mask_many` stays exact: for a number written ``+<digits>``,
phonenumbers decides everything (the calling code, whether a national prefix is
stripped, which format and which groups) with regular expressions anchored at
the start of the national number, plus its length. Reading those expressions
(the calling code's metadata) tells how many leading digits they can test: past
that depth they accept any digit. Numbers with the same calling code, the same
leading digits up to that depth and the same length therefore go through the
same steps and come out with the same shape; only the digits differ. One number
of each such group is masked by phonenumbers, the others follow its shape. Where
the reading is unsure (a construct it does not know, a national prefix that
matches, a format whose first match does not span the number) every number of
the group is masked on its own.

This reads phonenumbers' own code path for ``+<digits>`` (``parse``: calling
code by its first 1-3 digits, national prefix stripped only when
``national_prefix_for_parsing`` matches; ``format_number``: the last
leading-digits pattern, a full match of the format's pattern, ``re.sub``), as
of phonenumbers 9.0. ``tests/test_safety.py`` checks the result equals
:func:`mask_one` on 430,000 numbers over every calling code and length, on
hypothesis-drawn numbers, and that the same check fails when the reading is
made too shallow.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["MIN_HIDDEN_DIGITS", "mask_formatted", "mask_many", "mask_one", "strict"]

#: Fewest digits a mask hides; a mask hiding fewer is replaced by the strict one.
MIN_HIDDEN_DIGITS = 5
PHONE = re.compile(r"^\+\d{6,15}$")
_DIGITS = frozenset(range(ord("0"), ord("9") + 1))


def strict(text: str) -> str:
    """Everything but the last 2 characters hidden (all of it up to 4 characters).

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    keep = 2 if len(text) > 4 else 0
    return "*" * (len(text) - keep) + text[len(text) - keep :]


def _formatted(text: str) -> str | None:
    """The international format of ``text`` (phonenumbers); ``None`` when unreadable."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_formatted(text: str, formatted: str | None) -> str:
    """The mask of ``text`` given its international format (``None``: unreadable).

    Parameters
    ----------
    text : str
        The number as written.
    formatted : str or None
        ``text`` in phonenumbers' international format.

    Returns
    -------
    str
    """
    if formatted is None:
        return strict(text)
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
        return strict(text)
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(formatted))


def mask_one(value: object) -> str | None:
    """The mask of one id: ``None`` for a blank, the strict mask for what is no phone number.

    Parameters
    ----------
    value : object
        An id (compared as text).

    Returns
    -------
    str or None
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    if not PHONE.match(text.replace(" ", "")):
        return strict(text)  # not a phone number we can read
    return mask_formatted(text, _formatted(text))


# --------------------------------------------------------------------------- how deep a regex looks

_INF = math.inf


def _free(op: Any, av: Any) -> bool:
    """Whether a one-character item accepts every ASCII digit alike."""
    from re import _constants as c  # type: ignore[attr-defined]

    if op is c.ANY:
        return True
    if op is not c.IN:
        return False
    accepted: set[int] = set()
    for item, arg in av:
        if item is c.NEGATE:
            return False
        if item is c.CATEGORY and arg is c.CATEGORY_DIGIT:
            return True
        if item is c.LITERAL:
            accepted.add(arg)
        elif item is c.RANGE:
            accepted.update(range(arg[0], arg[1] + 1))
    return accepted >= _DIGITS


def _walk(items: Any, lo: float, hi: float, depth: float) -> tuple[float, float, float]:
    """Offsets after ``items`` (from ``lo``..``hi``) and the depth: first offset never tested."""
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in items:
        if op in (c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY):
            if not _free(op, av):
                depth = max(depth, hi + 1)
            lo, hi = lo + 1, hi + 1
        elif op is c.SUBPATTERN:
            lo, hi, depth = _walk(av[-1], lo, hi, depth)
        elif op is c.BRANCH:
            ends = [_walk(alt, lo, hi, depth) for alt in av[1]]
            lo, hi = min(e[0] for e in ends), max(e[1] for e in ends)
            depth = max(e[2] for e in ends)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            least, most, sub = av
            most = _INF if most is c.MAXREPEAT else most
            sub_lo, sub_hi, sub_depth = _walk(sub, 0, 0, 0)
            if sub_hi == _INF or sub_depth == _INF:  # unknown inside (0 * inf would be nan)
                return lo, _INF, _INF
            if sub_depth and most:
                depth = max(depth, hi + (most - 1) * sub_hi + sub_depth)
            lo, hi = lo + least * sub_lo, hi + (most * sub_hi if sub_hi else 0)
        elif op is c.AT and av in (
            c.AT_BEGINNING,
            c.AT_END,
            c.AT_BEGINNING_STRING,
            c.AT_END_STRING,
        ):
            pass  # the start, or the end: the length decides
        else:  # anything else (lookarounds, back references ...): unknown
            return lo, _INF, _INF
    return lo, hi, depth


def _depth(pattern: str | None) -> float:
    """How many leading characters a match of ``pattern`` at the start can tell apart."""
    if not pattern:
        return 0
    from re import _parser  # type: ignore[attr-defined]

    return _walk(_parser.parse(pattern), 0, 0, 0)[2]


class _Plan(NamedTuple):
    """What decides the mask of a calling code's numbers."""

    depth: int  # leading national digits that decide parsing and formatting
    national_prefix: re.Pattern[str] | None  # stripped when it matches
    formats: tuple[re.Pattern[str], ...]  # the international formats' patterns


@functools.cache
def _plan(calling_code: int) -> _Plan | None:
    """How deep the calling code's patterns look; ``None`` when they cannot be read."""
    try:
        import phonenumbers

        region = phonenumbers.region_code_for_country_code(calling_code)
        meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
            calling_code, region.upper()
        )
        if meta is None:
            return None
        formats = meta.intl_number_format or meta.number_format
        depth = _depth(meta.national_prefix_for_parsing)
        for fmt in formats:
            depth = max(depth, _depth(fmt.pattern))
            if fmt.leading_digits_pattern:
                depth = max(depth, _depth(fmt.leading_digits_pattern[-1]))
        prefix = meta.national_prefix_for_parsing
        plan = _Plan(
            int(depth) if depth < _INF else -1,
            re.compile(prefix) if prefix else None,
            tuple(re.compile(fmt.pattern) for fmt in formats),
        )
    except Exception:  # patterns or metadata not as expected: mask one by one
        return None
    return plan if plan.depth >= 0 else None


@functools.cache
def _calling_code(digits: str) -> int | None:
    """The calling code starting ``digits`` (its first three), as phonenumbers finds it."""
    import phonenumbers

    if digits.startswith("0"):
        return None
    for n in range(1, 4):
        if int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return int(digits[:n])
    return None


_Shape = tuple[tuple[str, int, int], ...]  # pieces (literal, start, end): literal + text[start:end]
_STRICT: _Shape = ()  # the strict mask


def _shape(text: str, plan: _Plan, national: str) -> _Shape | None:
    """How the mask of ``text`` is made of its characters; ``None`` when unsure."""
    if plan.national_prefix is not None and plan.national_prefix.match(national):
        return None  # a national prefix may be stripped: not followed here
    for pattern in plan.formats:  # re.sub formats the number: its first match must span it
        if pattern.fullmatch(national):
            first = pattern.match(national)
            if first is None or first.end() != len(national):
                return None
    formatted = _formatted(text)
    masked = mask_formatted(text, formatted)
    if formatted is None or masked == strict(text):
        return _STRICT
    if re.sub(r"[^0-9]", "", formatted) != text[1:] or len(masked) != len(formatted):
        return None  # not the number's digits in order
    pieces: list[tuple[str, int, int]] = []
    literal, k = "", 0  # k: where in text the digit being read is
    for f, shown in zip(formatted, masked, strict=True):
        if f.isdigit():
            k += 1
            if shown.isdigit():  # kept: taken from the number
                if pieces and not literal and pieces[-1][2] == k:
                    pieces[-1] = (pieces[-1][0], pieces[-1][1], k + 1)
                else:
                    pieces.append((literal, k, k + 1))
                    literal = ""
                continue
        literal += shown
    pieces.append((literal, 0, 0))
    return tuple(pieces)


_WIDTH = 16  # "+" and at most 15 digits


def _e164(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code points (a row of 16 per text), lengths, and which texts are "+" and 6-15 digits."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.array(texts, dtype=f"<U{_WIDTH}").view(np.uint32).reshape(len(texts), _WIDTH)
    inside = np.arange(_WIDTH) < lengths[:, None]
    inside[:, 0] = False
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    ok = (codes[:, 0] == ord("+")) & (lengths >= 7) & np.all(digit | ~inside, axis=1)
    return codes, lengths, ok


def _groups(codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each number's group (same calling code, leading digits that decide, length), or -1.

    Returns the group of each row (``-1``: no plan, mask it on its own) and the
    calling code of each row.
    """
    digits = codes.astype(np.int64) - ord("0")
    first3 = digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    calling_of, end_of = np.zeros(1000, dtype=np.int64), np.full(1000, -1, dtype=np.int64)
    for three in np.unique(first3):
        code = _calling_code(f"{three:03d}")
        plan = _plan(code) if code is not None else None
        if code is not None and plan is not None:
            calling_of[three] = code
            end_of[three] = 1 + len(str(code)) + plan.depth  # "+", calling code, depth
    calling, end = calling_of[first3], end_of[first3]
    pos = np.arange(_WIDTH)
    decides = (pos >= 1) & (pos < np.minimum(end, lengths)[:, None])
    weights = 10 ** np.maximum(_WIDTH - 1 - pos, 0)  # the leading digits as one number
    key = (np.where(decides, digits, 0) @ weights) * 1024 + np.minimum(end, lengths) * 32 + lengths
    _, group = np.unique(key, return_inverse=True)
    return np.where(end > 0, group, -1), calling


def _paste(shape: _Shape, codes: np.ndarray) -> list[str]:
    """``shape`` filled with the rows of ``codes``: literals and slices, column by column."""
    width = sum(len(lit) + b - a for lit, a, b in shape)
    out = np.empty((len(codes), width), dtype=np.uint32)
    col = 0
    for lit, a, b in shape:
        out[:, col : col + len(lit)] = [ord(ch) for ch in lit]
        col += len(lit)
        out[:, col : col + b - a] = codes[:, a:b]
        col += b - a
    return out.view(f"<U{width}").ravel().tolist()


def mask_many(values: Iterable[object]) -> dict[object, str | None]:
    """The mask of each distinct value, as :func:`mask_one` gives it.

    Parameters
    ----------
    values : iterable
        Distinct ids.

    Returns
    -------
    dict
        Each value to its mask.
    """
    values = list(values)
    texts = [v for v in values if type(v) is str and len(v) <= _WIDTH]
    out: dict[object, str | None] = {}
    if texts:
        codes, lengths, ok = _e164(texts)
        rows = np.flatnonzero(ok)
        group, calling = _groups(codes[rows], lengths[rows])
        # the first number of each group is masked by phonenumbers; its shape, by id
        shapes: list[_Shape | None] = [None]  # id 0: mask one by one
        ids = {None: 0}
        of_group = np.zeros(int(group.max(initial=-1)) + 2, dtype=np.int64)  # group -1 -> slot 0
        _, first = np.unique(group, return_index=True)
        for i in first[group[first] >= 0]:
            text, code = texts[rows[i]], int(calling[i])
            plan = _plan(code)
            shape = _shape(text, plan, text[1 + len(str(code)) :]) if plan else None
            of_group[group[i] + 1] = ids.setdefault(shape, len(ids))
            if len(shapes) < len(ids):
                shapes.append(shape)
        of_row = of_group[group + 1]
        for sid, shape in enumerate(shapes):
            members = rows[of_row == sid]
            chosen = [texts[r] for r in members]
            if shape is None:
                masks = [mask_one(t) for t in chosen]
            elif shape == _STRICT:
                masks = [strict(t) for t in chosen]
            else:
                masks = _paste(shape, codes[members])
            out.update(zip(chosen, masks, strict=True))
    for value in values:
        if value not in out:
            out[value] = mask_one(value)
    return out
