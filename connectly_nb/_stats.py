"""Intervals and tests on proportions, used by the metrics, the dashboard and the report.

Pure numpy and math, no pandas: computation apart from presentation (the way
seaborn keeps its estimators in ``_statistics.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Z95", "two_proportion_test", "wilson_interval"]

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
