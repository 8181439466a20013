"""What counts as a conversion, and which replies say no (issue 15, item 1)."""

from __future__ import annotations

import pytest

from connectly_nb import funnel
from connectly_nb.conversions import ClickSet, suggest_negatives
from connectly_nb.exceptions import SelectionError


def test_a_click_set_from_names_and_urls():
    s = ClickSet.of(["Ver ofertas", "https://shop.example/", " btn_2 "])
    assert s.buttons == ("Ver ofertas", "btn_2")
    assert s.links == ("https://shop.example/",)
    assert ClickSet.of({"buttons": "Sim"}).buttons == ("Sim",)
    assert ClickSet.of(None) is None
    assert ClickSet.of([]) is None
    with pytest.raises(TypeError, match="buttons, links"):
        ClickSet.of({"button": "Sim"})
    assert "button 'Ver ofertas'" in s.describe()
    assert "a link starting https://shop.example/" in s.describe()


def test_conversions_match_an_independent_count_on_the_sample(sample):
    c = sample.clicks
    name = c["name"].fillna("")
    independent = c.loc[
        ((c["kind"] == "button") & (name.str.casefold() == "ver ofertas"))
        | ((c["kind"] == "link") & name.str.startswith("https://shop.example/")),
        "message_id",
    ].nunique()
    f = funnel(sample, by=None, conversions=["VER OFERTAS", "https://shop.example/"])
    assert int(f["converted"].iloc[0]) == independent
    assert f["clicked"].iloc[0] > f["converted"].iloc[0] > 0
    assert f["conversion_rate"].iloc[0] == pytest.approx(independent / f["delivered"].iloc[0])
    assert 0 <= f["conversion_rate_low"].iloc[0] <= f["conversion_rate_high"].iloc[0] <= 1


def test_negative_buttons_are_suggested_and_counted_as_their_own_rate(sample):
    negatives = suggest_negatives(sample.clicks)
    assert negatives.buttons == ("Não tenho interesse", "Parar promoções")
    f = funnel(sample, negatives=negatives)
    c = sample.clicks
    only_negative = c[c["name"].isin(negatives.buttons)]["message_id"].nunique()
    assert f["negative"].sum() == only_negative
    assert (f["negative_rate"] <= f["click_rate"]).all()
    # the default stays honest: every click counts as clicked, nothing subtracted
    assert f["clicked"].sum() == funnel(sample)["clicked"].sum()
    assert "negative" not in funnel(sample).columns


def test_suggest_negatives_ignores_case_accents_and_languages():
    import pandas as pd

    clicks = pd.DataFrame(
        {
            "message_id": range(6),
            "kind": ["button"] * 5 + ["link"],
            "id": ["b1", "b2", "b3", "b4", "b5", "l1"],
            "name": ["STOP", "nao tenho interesse", "No me interesa", "Quero!", None, "stop"],
        }
    )
    assert suggest_negatives(clicks).buttons == ("No me interesa", "STOP", "nao tenho interesse")
    assert suggest_negatives(clicks.iloc[3:5]) is None


def test_a_misspelt_button_or_link_is_refused_with_the_closest_names(sample):
    # review: conversions=["Ver oferta"] counted 0 conversions, silently
    with pytest.raises(SelectionError) as info:
        ClickSet.of(["Ver oferta", "https://shop.exampel/"]).check(sample.clicks)
    message = str(info.value)
    assert "'Ver oferta' (did you mean 'Ver ofertas'?)" in message
    assert "'https://shop.exampel/' (did you mean 'https://shop.example/bf'" in message
    assert info.value.unknown == ["Ver oferta", "https://shop.exampel/"]
    ClickSet.of([" ver OFERTAS", "https://shop.example/"]).check(sample.clicks)  # fine
