"""Intervals and tests on proportions, used by the metrics, the dashboard and the report.

Pure numpy and math, no pandas: computation apart from presentation (the way
seaborn keeps its estimators in ``_statistics.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "LOG_BIN_WIDTH",
    "Z95",
    "bin_quantile",
    "fisher_exact",
    "holm",
    "log_bin",
    "two_proportion_test",
    "wilson_interval",
]

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(
    successes: Any, trials: Any, *, z: float = Z95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proportion and Wilson score interval, vectorised.

    Parameters
    ----------
    successes, trials : array-like of int
        Counts; where ``trials`` is 0 all three results are NaN.
    z : float
        Normal quantile; the default gives a 95% interval.

    Returns
    -------
    rate, low, high : numpy.ndarray
        The proportion and the interval's ends.

    Examples
    --------
    >>> r, lo, hi = wilson_interval(81, 263)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.2553, 0.3662)
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    bad = n <= 0
    low = np.where(k <= 0, 0.0, np.clip(centre - half, 0, 1))  # exact ends, no float dust
    high = np.where(k >= n, 1.0, np.clip(centre + half, 0, 1))
    return np.where(bad, np.nan, p), np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Two-sided two-proportion z-test with pooled variance.

    Parameters
    ----------
    k1, n1 : int
        Successes and trials of the first group.
    k2, n2 : int
        Successes and trials of the second group.

    Returns
    -------
    z, p_value : float
        NaN when either group is empty or the pooled proportion is 0 or 1.

    Examples
    --------
    >>> z, p = two_proportion_test(45, 100, 30, 100)
    >>> round(z, 4), round(p, 4)
    (2.1909, 0.0285)
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return math.nan, math.nan
    z = (k1 / n1 - k2 / n2) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test on two proportions, k1/n1 vs k2/n2.

    The probability, with both totals fixed, of a table at most as likely as
    the observed one (the rule scipy and R use). Exact at any size: the
    hypergeometric probabilities are built by their ratio recurrence in log
    space, so millions of trials cost milliseconds and nothing underflows to
    a wrong answer.

    Parameters
    ----------
    k1, n1 : int
        Successes and trials of the first group.
    k2, n2 : int
        Successes and trials of the second group.

    Returns
    -------
    float
        The p-value; NaN when a group is empty.

    Examples
    --------
    >>> round(fisher_exact(10, 100, 20, 100), 4)
    0.0734
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan
    successes = k1 + k2
    lo, hi = max(0, successes - n2), min(successes, n1)
    x = np.arange(lo, hi)
    # log P(x + 1) - log P(x) for the first group's successes x, hypergeometric
    steps = np.log(successes - x) + np.log(n1 - x) - np.log(x + 1) - np.log(n2 - successes + x + 1)
    logp = np.concatenate([[0.0], np.cumsum(steps)])
    logp -= logp.max()
    p = np.exp(logp)
    p /= p.sum()
    observed = p[k1 - lo]
    return float(min(1.0, p[p <= observed * (1 + 1e-7)].sum()))


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjustment of several p-values (family-wise error rate).

    Parameters
    ----------
    p_values : array-like of float
        NaN values are left out of the family and stay NaN.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the input's order, never below the raw ones
        and never above 1.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out


#: Relative width of a bin of :func:`log_bin` (1%).
LOG_BIN_WIDTH = 0.01
_LOG_BASE = np.log1p(LOG_BIN_WIDTH)


def log_bin(values: np.ndarray) -> np.ndarray:
    """The log-scale bin of each non-negative integer (microseconds): bins 1% wide.

    Bin ``k >= 0`` holds ``[1.01**k, 1.01**(k+1))``; 0 has bin -1. Counts
    per bin add up across pieces of data, so quantiles of a dataset too big
    for one process can be read off the summed histogram (:func:`bin_quantile`).

    Parameters
    ----------
    values : numpy.ndarray of int
        Non-negative values.

    Returns
    -------
    numpy.ndarray of int64
        The bin of each value.
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.full(len(v), -1, dtype=np.int64)
    pos = v >= 1
    out[pos] = np.floor(np.log(v[pos]) / _LOG_BASE).astype(np.int64)
    return out


def bin_quantile(bins: np.ndarray, counts: np.ndarray, q: float) -> float:
    """The ``q`` quantile of values known by their :func:`log_bin` counts.

    The rank is placed as :func:`numpy.quantile` places it (linear, between
    the two values around ``q * (n - 1)``), and each value is taken at its
    bin's geometric middle, so the result is within 0.5% of the exact
    quantile (the half-width of a bin, 1.01**0.5 - 1 = 0.4988%).

    Parameters
    ----------
    bins : numpy.ndarray of int
        Distinct bins.
    counts : numpy.ndarray of int
        Values in each bin.
    q : float
        Between 0 and 1.

    Returns
    -------
    float
        The estimate; NaN without values.
    """
    keep = counts > 0
    bins, counts = np.asarray(bins)[keep], np.asarray(counts)[keep]
    n = int(counts.sum())
    if not n:
        return float("nan")
    order = np.argsort(bins, kind="stable")
    bins, counts = bins[order], counts[order]
    middle = np.where(bins < 0, 0.0, np.exp((bins + 0.5) * _LOG_BASE))
    ends = np.cumsum(counts)  # the rank after each bin's last value
    rank = q * (n - 1)
    lo, hi = int(np.floor(rank)), int(np.ceil(rank))
    a = middle[np.searchsorted(ends, lo, side="right")]
    b = middle[np.searchsorted(ends, hi, side="right")]
    return float(a + (rank - lo) * (b - a))
