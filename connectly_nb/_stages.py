"""The stage counter behind every funnel: the funnel, the dashboard's key figures, the report.

Each message's six stage flags (:data:`connectly_nb.schema.STAGE_FLAGS`) are
packed into 6 bits; one :func:`numpy.bincount` of ``group * 64 + bits`` then
counts every stage of every group at once, and a 64 x 6 matrix product turns
the 64 states into the six counts. The packed bits of an export are computed
once and reused for any selection (a boolean mask) or grouping (integer
codes), so no table is copied. The counts add up across pieces, which is what
lets the same code count partitions of a larger store and sum them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from connectly_nb.schema import COUNT_COLUMNS, STAGE_FLAGS

__all__ = [
    "count_combinations",
    "count_stages",
    "key_figures",
    "stage_bits",
    "stage_flags",
    "stage_instants",
]

_N_STATES = 1 << len(STAGE_FLAGS)  # 64
#: state x stage: whether the state has the stage's bit set
_BITS = (np.arange(_N_STATES)[:, None] >> np.arange(len(STAGE_FLAGS))[None, :]) & 1


def stage_bits(messages: pd.DataFrame) -> np.ndarray:
    """The stage flags of each message packed in 6 bits (``int8``, bit i = stage i).

    Parameters
    ----------
    messages : pandas.DataFrame
        Holds the flag columns of :data:`connectly_nb.schema.STAGE_FLAGS`.

    Returns
    -------
    numpy.ndarray
        One small integer per row.
    """
    bits = np.zeros(len(messages), dtype=np.int8)
    for i, flag in enumerate(STAGE_FLAGS.values()):
        bits |= messages[flag].to_numpy(dtype=bool).astype(np.int8) << i
    return bits


def count_stages(
    bits: np.ndarray,
    groups: np.ndarray | None = None,
    n_groups: int = 1,
    weights: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Rows and the count of each stage, per group.

    Parameters
    ----------
    bits : numpy.ndarray
        From :func:`stage_bits` (already cut to a selection, or not).
    groups : numpy.ndarray of int, optional
        Group of each row, ``0 .. n_groups - 1``; rows with a negative group
        are not counted. ``None``: one group of every row.
    n_groups : int
        Number of groups.
    weights : numpy.ndarray of int, optional
        How many messages each row stands for: rows of a table already
        counted (a store's partial counts, its cube). By default one each.

    Returns
    -------
    dict of str to numpy.ndarray
        :data:`connectly_nb.schema.COUNT_COLUMNS` -> int64 array of ``n_groups``.

    Examples
    --------
    >>> bits = np.array([0b000011, 0b000001, 0b010000], dtype=np.int8)
    >>> {k: int(v[0]) for k, v in count_stages(bits).items()}["delivered"]
    1
    """
    state = bits.astype(np.int64)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)  # exact below 2**53
    if groups is None:
        cells = np.bincount(state, weights=w, minlength=_N_STATES)[None, :]
    else:
        valid = groups >= 0
        flat = groups[valid].astype(np.int64) * _N_STATES + state[valid]
        cells = np.bincount(
            flat, weights=None if w is None else w[valid], minlength=n_groups * _N_STATES
        )[: n_groups * _N_STATES]
        cells = cells.reshape(n_groups, _N_STATES)
    if w is not None:
        cells = np.rint(cells).astype(np.int64)
    per_stage = cells @ _BITS
    out = {"rows": cells.sum(axis=1)}
    for i, name in enumerate(STAGE_FLAGS):
        out[name] = per_stage[:, i]
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def key_figures(bits: np.ndarray, mask: np.ndarray | None = None) -> dict[str, int]:
    """Rows and stage counts of a selection, as plain ints.

    Parameters
    ----------
    bits : numpy.ndarray
        From :func:`stage_bits`.
    mask : numpy.ndarray of bool, optional
        The selected rows; ``None`` counts all.

    Returns
    -------
    dict of str to int
        :data:`connectly_nb.schema.COUNT_COLUMNS` -> count.
    """
    counts = count_stages(bits if mask is None else bits[mask])
    return {name: int(counts[name][0]) for name in COUNT_COLUMNS}


def stage_flags(
    stamps: dict[str, np.ndarray], clicked: np.ndarray, has_error: np.ndarray
) -> dict[str, np.ndarray]:
    """The stage flags of each message, by the proof rule of ``docs/metrics.md``.

    A later stage proves every earlier one: a click proves a read, a read or
    an opt-out proves a delivery, a delivery proves a send. A message is
    failed when it carries an error and was not delivered (a later delivery
    clears an earlier failure). So on every row and in every group
    sent >= delivered >= read >= clicked, and delivered >= opted out.

    Parameters
    ----------
    stamps : dict
        ``sent_at``, ``delivered_at``, ``read_at``, ``opt_out_at`` as
        ``datetime64[us]`` arrays (NaT when absent).
    clicked : numpy.ndarray of bool
        At least one valid click.
    has_error : numpy.ndarray of bool
        A non-blank ``error_code`` or ``error_msg``.

    Returns
    -------
    dict of str to numpy.ndarray of bool
        The :data:`connectly_nb.schema.STAGE_FLAGS` columns.
    """
    read = ~np.isnat(stamps["read_at"]) | clicked
    opted = ~np.isnat(stamps["opt_out_at"])
    delivered = ~np.isnat(stamps["delivered_at"]) | read | opted
    sent = ~np.isnat(stamps["sent_at"]) | delivered
    return {
        "is_sent": sent,
        "is_delivered": delivered,
        "is_read": read,
        "is_clicked": clicked,
        "is_failed": has_error & ~delivered,
        "is_opted_out": opted,
    }


def stage_instants(stamps: dict[str, np.ndarray], first_click: np.ndarray) -> dict[str, np.ndarray]:
    """When each message reached each stage: the earliest event that proves it.

    Parameters
    ----------
    stamps : dict
        ``delivered_at``, ``read_at``, ``opt_out_at`` as ``datetime64[us]``
        arrays (NaT when absent).
    first_click : numpy.ndarray of datetime64[us]
        The earliest click of each message.

    Returns
    -------
    dict of str to numpy.ndarray
        ``delivered``, ``read``, ``clicked``: ``datetime64[us]``, NaT where the
        stage was not reached. A read is proved by the receipt or a click, a
        delivery by its receipt, a read or an opt-out.
    """
    read = np.fmin(stamps["read_at"], first_click)
    delivered = np.fmin(np.fmin(stamps["delivered_at"], read), stamps["opt_out_at"])
    return {"delivered": delivered, "read": read, "clicked": first_click}


def count_combinations(
    columns: dict[str, pd.Series], weights: np.ndarray | None = None
) -> pd.DataFrame:
    """Rows counted by the distinct combinations of ``columns`` (blanks kept): the partial counts.

    What a piece of data contributes to a count that adds up across pieces
    (a store's partitions, its cube): a mixed-radix key of each column's
    codes and one :func:`numpy.unique`, a fraction of the time of a
    ``groupby`` over a dozen columns.

    Parameters
    ----------
    columns : dict of str to pandas.Series
        Aligned columns (categorical, boolean, text, datetimes ...).
    weights : numpy.ndarray, optional
        How many each row stands for (rows already counted); one each by default.

    Returns
    -------
    pandas.DataFrame
        One row per distinct combination: the columns (their dtypes kept;
        blank stays blank), then ``n`` (int64).
    """
    codes, uniques = [], []
    for col in columns.values():
        c, u = _codes(col)
        codes.append(c)
        uniques.append(u)
    n_rows = len(next(iter(columns.values()))) if columns else 0
    key = np.zeros(n_rows, dtype=np.int64)
    size = 1
    for c, u in zip(codes, uniques, strict=True):
        key = key * (len(u) + 1) + c
        size *= len(u) + 1
    if size <= _DENSE_KEYS:  # one bincount over every possible combination
        counts = np.bincount(key, weights=weights, minlength=size)
        present = np.flatnonzero(counts)
        counts = counts[present]
    else:
        present, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse, weights=weights, minlength=len(present))
    out = {}
    rest = present.copy()
    for (name, col), u in reversed(list(zip(columns.items(), uniques, strict=True))):
        picked = rest % (len(u) + 1) - 1  # -1: blank
        rest //= len(u) + 1
        if len(u):
            series = pd.Series(u.take(np.maximum(picked, 0)), dtype=col.dtype)
            out[name] = series.where(picked >= 0, None) if (picked < 0).any() else series
        else:
            out[name] = col.iloc[:0].reindex(picked).reset_index(drop=True)
    frame = pd.DataFrame({name: out[name] for name in columns}, index=pd.RangeIndex(len(present)))
    frame["n"] = np.rint(counts).astype(np.int64)
    return frame


_DENSE_KEYS = 1 << 22


def _codes(col: pd.Series) -> tuple[np.ndarray, Any]:
    """Codes of a column's values, 0 for blank, and the values in code order (from 1)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy().astype(np.int64) + 1, col.cat.categories
    if col.dtype == bool:
        return col.to_numpy().astype(np.int64) + 1, np.array([False, True])
    c, u = pd.factorize(col, use_na_sentinel=True)
    return c.astype(np.int64) + 1, u
