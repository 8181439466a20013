"""The stage counter: packed flags counted per group, checked against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from connectly_nb._stages import count_stages, key_figures, stage_bits
from connectly_nb.schema import COUNT_COLUMNS, STAGE_FLAGS


def random_flags(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({flag: rng.random(n) < 0.4 for flag in STAGE_FLAGS.values()})


def pandas_counts(flags: pd.DataFrame, groups: np.ndarray, n_groups: int) -> pd.DataFrame:
    """The same counts by a plain groupby (negative groups dropped, empty groups zero)."""
    kept = flags[groups >= 0].astype("int64")
    by = pd.Series(groups[groups >= 0], index=kept.index, name="group")
    counts = kept.groupby(by).sum().rename(columns={v: k for k, v in STAGE_FLAGS.items()})
    counts.insert(0, "rows", kept.groupby(by).size())
    return counts.reindex(range(n_groups), fill_value=0)


def test_stage_bits_pack_each_flag_in_its_own_bit():
    flags = pd.DataFrame(
        {
            flag: [i == k for k in range(len(STAGE_FLAGS))]
            for i, flag in enumerate(STAGE_FLAGS.values())
        }
    )
    assert stage_bits(flags).tolist() == [1, 2, 4, 8, 16, 32]
    assert stage_bits(flags).dtype == np.int8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_count_stages_equals_a_pandas_groupby_with_negative_groups_skipped(seed):
    n, n_groups = 2000, 7
    flags = random_flags(seed, n)
    groups = np.random.default_rng(seed + 100).integers(-2, n_groups - 1, n)  # group 6 stays empty
    got = count_stages(stage_bits(flags), groups, n_groups)
    want = pandas_counts(flags, groups, n_groups)
    assert list(got) == list(COUNT_COLUMNS)
    for name in COUNT_COLUMNS:
        assert got[name].dtype == np.int64
        assert got[name].tolist() == want[name].tolist(), name
    assert got["rows"].sum() == (groups >= 0).sum()
    assert got["rows"][-1] == 0


def test_count_stages_without_groups_counts_everything_once():
    flags = random_flags(5, 500)
    got = count_stages(stage_bits(flags))
    for name, flag in STAGE_FLAGS.items():
        assert got[name].tolist() == [int(flags[flag].sum())]
    assert got["rows"].tolist() == [500]
    empty = count_stages(np.empty(0, dtype=np.int8), np.empty(0, dtype=np.int64), 3)
    assert all(v.tolist() == [0, 0, 0] for v in empty.values())


def test_key_figures_count_a_selection_as_plain_ints():
    flags = random_flags(9, 300)
    mask = np.random.default_rng(9).random(300) < 0.5
    got = key_figures(stage_bits(flags), mask)
    assert got == {
        "rows": int(mask.sum()),
        **{name: int(flags.loc[mask, flag].sum()) for name, flag in STAGE_FLAGS.items()},
    }
    assert all(type(v) is int for v in got.values())
    assert key_figures(stage_bits(flags))["rows"] == 300
