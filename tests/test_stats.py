"""Intervals and tests on proportions, against published values and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from connectly_nb._stats import Z95, two_proportion_test, wilson_interval


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), example: 81/263 -> 0.2553 to 0.3662
    r, lo, hi = wilson_interval(81, 263)
    assert r == pytest.approx(81 / 263)
    assert lo == pytest.approx(0.2553, abs=5e-5)
    assert hi == pytest.approx(0.3662, abs=5e-5)
    # 0/10 -> 0 to 0.2775 (exact ends)
    r, lo, hi = wilson_interval(0, 10)
    assert (float(r), float(lo)) == (0.0, 0.0)
    assert hi == pytest.approx(0.2775, abs=5e-5)
    r, lo, hi = wilson_interval(10, 10)
    assert float(hi) == 1.0


def test_wilson_interval_of_a_zero_denominator_is_nan():
    r, lo, hi = wilson_interval(0, 0)
    assert np.isnan([r, lo, hi]).all()


def test_wilson_interval_is_vectorised_and_narrows_with_z():
    r, lo, hi = wilson_interval([81, 0, 3], [263, 0, 4])
    assert r[0] == pytest.approx(81 / 263)
    assert np.isnan([r[1], lo[1], hi[1]]).all()
    assert lo[2] < 0.75 < hi[2]
    assert (lo[[0, 2]] <= r[[0, 2]]).all()
    assert (r[[0, 2]] <= hi[[0, 2]]).all()
    _, lo95, hi95 = wilson_interval(81, 263)
    _, lo90, hi90 = wilson_interval(81, 263, z=1.6448536269514722)
    assert lo95 < lo90 < hi90 < hi95  # a 90% interval sits inside the 95% one
    assert pytest.approx(1.959964, abs=1e-6) == Z95


def test_two_proportion_z_test_matches_a_hand_computation():
    # 45/100 vs 30/100: pooled 0.375, se = sqrt(0.375*0.625*0.02) = 0.068465
    z, p = two_proportion_test(45, 100, 30, 100)
    assert z == pytest.approx(0.15 / math.sqrt(0.375 * 0.625 * 0.02), rel=1e-9)
    assert z == pytest.approx(2.1909, abs=1e-4)
    assert p == pytest.approx(0.028459, abs=1e-5)
    assert round(p, 4) == 0.0285
    z_back, p_back = two_proportion_test(30, 100, 45, 100)
    assert (z_back, p_back) == pytest.approx((-z, p))  # two-sided: the order flips the sign only


def test_two_proportion_test_without_a_denominator_or_a_variance_is_nan():
    assert math.isnan(two_proportion_test(0, 0, 1, 2)[0])
    assert math.isnan(two_proportion_test(1, 2, 0, 0)[1])
    assert math.isnan(two_proportion_test(0, 10, 0, 10)[1])  # pooled 0: no variance
    assert math.isnan(two_proportion_test(10, 10, 5, 5)[0])  # pooled 1
