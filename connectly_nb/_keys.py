"""Grouping keys and names: the blank rule and name matching, each written once.

Every message belongs to a group. A grouping value that is missing (null,
NaN, ``pd.NA``) or only spaces is *blank*, and blank values form one group
shown as :data:`BLANK`, so the groups of a table always add up to its total.

A name given by a user (a campaign, a sendout, an error code) selects the
values written exactly so; when none is, it selects the values equal to it
but for letter case, surrounding spaces and Unicode normalisation form
("promo " finds "Promo"). :data:`BLANK` selects the blank values.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = ["BLANK", "blank_categories", "blank_filled", "is_blank", "match_names", "name_key"]

#: The group of messages whose grouping value is blank.
BLANK: Final = "(blank)"


def is_blank(value: Any) -> bool:
    """Whether a grouping value is blank: missing (``None``, NaN, ``pd.NA``) or only spaces.

    Parameters
    ----------
    value : object
        One cell.

    Returns
    -------
    bool

    Examples
    --------
    >>> [is_blank(v) for v in (None, float("nan"), pd.NA, " ", "", "A", 0)]
    [True, True, True, True, True, False, False]
    """
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array: not a scalar, not blank
        return False


def blank_categories(categories: Sequence[Any]) -> np.ndarray:
    """Which categories are blank, plus a last ``True`` for code -1 (missing).

    Index the result with a categorical's codes: ``blank_categories(c)[codes]``.

    Parameters
    ----------
    categories : sequence
        A categorical's categories.

    Returns
    -------
    numpy.ndarray of bool
        ``len(categories) + 1`` values.
    """
    return np.array([is_blank(c) for c in categories] + [True], dtype=bool)


def blank_filled(col: pd.Series) -> pd.Series:
    """A grouping column whose blank values are :data:`BLANK`.

    Parameters
    ----------
    col : pandas.Series
        Categorical, text or object; other dtypes (numbers, times) are
        returned as they are, with missing values left missing.

    Returns
    -------
    pandas.Series
        Same index and name; categorical stays categorical.

    Examples
    --------
    >>> blank_filled(pd.Series(["A", " ", None, float("nan")])).tolist()
    ['A', '(blank)', '(blank)', '(blank)']
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        names = list(col.cat.categories)
        blank = blank_categories(names)
        codes = col.cat.codes.to_numpy()
        if not blank[codes].any():
            return col
        kept = [c for c, b in zip(names, blank[:-1], strict=True) if not b]
        if BLANK not in kept:
            kept.append(BLANK)
        where = {c: i for i, c in enumerate(kept)}
        remap = np.array(
            [where[BLANK] if b else where[c] for c, b in zip(names, blank[:-1], strict=True)]
            + [where[BLANK]],
            dtype=np.int64,
        )
        filled = pd.Categorical.from_codes(remap[codes], categories=kept, ordered=col.cat.ordered)
        return pd.Series(filled, index=col.index, name=col.name)
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        values = col.astype(object)
        return values.where(~values.map(is_blank).astype(bool), BLANK)
    return col


def name_key(text: Any) -> str:
    """How names are compared when no value is written exactly so.

    Unicode's composed form, surrounding spaces and letter case ignored.

    Parameters
    ----------
    text : object
        A name.

    Returns
    -------
    str

    Examples
    --------
    >>> name_key(" Reativac\u0327a\u0303o ") == name_key("reativação")
    True
    """
    return unicodedata.normalize("NFC", str(text)).strip().casefold()


def match_names(categories: Sequence[Any], values: Iterable[Any]) -> tuple[np.ndarray, list[Any]]:
    """Which categories the names ``values`` select, and the names that select none.

    Each value selects the categories written exactly as it is; failing
    that, those equal to it by :func:`name_key`; :data:`BLANK` selects the
    blank categories and the missing cells.

    Parameters
    ----------
    categories : sequence
        A categorical's categories.
    values : iterable
        The names asked for.

    Returns
    -------
    selected : numpy.ndarray of bool
        ``len(categories) + 1`` values, the last for code -1 (missing): index
        it with the codes.
    unknown : list
        The values that matched nothing.

    Examples
    --------
    >>> sel, unknown = match_names(["Promo", "promo", "Sale"], ["promo", "SALE ", "x"])
    >>> sel.tolist(), unknown
    ([False, True, True, False], ['x'])
    """
    names = [str(c) for c in categories]
    exact: dict[str, list[int]] = {}
    folded: dict[str, list[int]] = {}
    for i, c in enumerate(names):
        exact.setdefault(c, []).append(i)
        folded.setdefault(name_key(c), []).append(i)
    selected = np.zeros(len(names) + 1, dtype=bool)
    unknown = []
    for value in values:
        if str(value) == BLANK:
            selected |= blank_categories(categories)
            selected[exact.get(BLANK, [])] = True
        elif str(value) in exact:
            selected[exact[str(value)]] = True
        elif name_key(value) in folded:
            selected[folded[name_key(value)]] = True
        else:
            unknown.append(value)
    return selected, unknown
