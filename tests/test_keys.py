"""The blank rule and name matching (connectly_nb._keys), written once for every module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from connectly_nb._keys import BLANK, blank_filled, is_blank, match_names, name_key


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NA, pd.NaT, "", "   ", "\t"])
def test_missing_values_and_spaces_are_blank(value):
    assert is_blank(value)


@pytest.mark.parametrize("value", ["A", " A ", 0, 0.0, False, "(blank)", [1]])
def test_values_are_not_blank(value):
    assert not is_blank(value)


@pytest.mark.parametrize(
    "col",
    [
        pd.Series(["A", " ", None, np.nan, "B"], dtype=object),
        pd.Series(["A", " ", None, np.nan, "B"], dtype="string"),
        pd.Series(["A", " ", None, np.nan, "B"], dtype="str"),
        pd.Series(["A", " ", None, np.nan, "B"], dtype="category"),
    ],
    ids=["object", "string", "str", "category"],
)
def test_blank_filled_gives_every_row_a_group_whatever_the_dtype(col):
    # a review found text columns of pandas 3 (NaN for missing) losing rows from groups
    filled = blank_filled(col)
    assert filled.astype(str).tolist() == ["A", BLANK, BLANK, BLANK, "B"]
    assert filled.index.equals(col.index)
    if isinstance(col.dtype, pd.CategoricalDtype):
        assert (filled.cat.codes >= 0).all()
        assert list(filled.cat.categories) == ["A", "B", BLANK]


def test_a_literal_blank_label_and_the_blanks_are_one_group():
    col = pd.Series([BLANK, None, "A"], dtype="category")
    filled = blank_filled(col)
    assert filled.tolist() == [BLANK, BLANK, "A"]
    assert filled.cat.categories.tolist().count(BLANK) == 1


def test_a_name_selects_its_exact_spelling_first_then_its_variants():
    names = ["Promo", "promo", "Promo ", "Sale"]
    selected, unknown = match_names(names, ["promo"])
    assert selected[:-1].tolist() == [False, True, False, False]  # exact: only "promo"
    selected, _ = match_names(names, ["PROMO"])
    assert selected[:-1].tolist() == [True, True, True, False]  # no exact: every variant
    selected, unknown = match_names(names, ["Sales", " sale"])
    assert unknown == ["Sales"]
    assert selected[:-1].tolist() == [False, False, False, True]
    assert not selected[-1]  # the missing cells (code -1) are not selected


def test_blank_selects_the_spaces_and_the_missing_cells():
    selected, unknown = match_names(["A", " ", "(blank)"], [BLANK])
    assert unknown == []
    assert selected.tolist() == [False, True, True, True]


def test_name_key_ignores_case_spaces_and_unicode_form():
    assert name_key(" Reativac\u0327a\u0303o ") == name_key("REATIVAÇÃO")
    assert name_key("Promo") != name_key("Promo 2")
