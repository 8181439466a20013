"""What counts as a conversion, and which replies say "no": sets of buttons and links.

"Clicked" counts every click, including "Not interested" and "Stop
promotions". A :class:`ClickSet` names the buttons (by id or name) and the
links (by URL or URL prefix) that mean something; the metrics count the
messages with at least one click in the set:

>>> from connectly_nb.datasets import sample_export
>>> from connectly_nb import funnel
>>> ex = sample_export()
>>> f = funnel(ex, by=None, conversions=["Ver ofertas", "https://shop.example/"])
>>> int(f["clicked"].iloc[0]), int(f["converted"].iloc[0])
(806, 461)

:func:`suggest_negatives` proposes the buttons whose names read as a refusal
("Stop", "Parar promoções", "Não tenho interesse", "No me interesa" ...), to be
checked by a person: they are shown as their own rate, never silently
subtracted.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb.exceptions import SelectionError

__all__ = ["NEGATIVE_WORDS", "ClickSet", "suggest_negatives"]

#: Phrases of a refusal, in the languages of Connectly's markets (en, pt, es), matched
#: against button names (case and accents ignored).
NEGATIVE_WORDS = (
    "stop",
    "unsubscribe",
    "opt out",
    "not interested",
    "no thanks",
    "no, thanks",
    "parar",
    "pare",
    "sair",
    "cancelar",
    "descadastrar",
    "nao tenho interesse",
    "nao quero",
    "nao, obrigado",
    "no me interesa",
    "no gracias",
    "no, gracias",
    "darme de baja",
    "dar de baja",
    "baja",
    "detener",
)


def _plain(text: Any) -> str:
    """Text compared without case, accents or surrounding spaces."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip().casefold()


_NEGATIVE = re.compile(
    r"\b(" + "|".join(re.escape(w) for w in NEGATIVE_WORDS) + r")\b", re.IGNORECASE
)


@dataclass(frozen=True)
class ClickSet:
    """Buttons and links that count: a click on any of them puts the message in the set.

    Parameters
    ----------
    buttons : tuple of str
        Button ids or names (``"btn_1"``, ``"Ver ofertas"``), matched whatever
        their letter case, accents or surrounding spaces.
    links : tuple of str
        Link URLs or URL prefixes (``"https://shop.example/"`` counts every
        page of the shop), matched against the link's name and id.
    label : str
        What the set means, for column names and titles (``"converted"``).
    """

    buttons: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    label: str = "converted"

    @classmethod
    def of(cls, spec: Any, *, label: str = "converted") -> ClickSet | None:
        """A ClickSet from what a user wrote.

        Parameters
        ----------
        spec : ClickSet, dict, str, iterable of str or None
            A ClickSet; a dict with ``buttons`` and/or ``links``; or names and
            URLs together (a text starting with ``http://``, ``https://`` or
            ``www.`` is a link, anything else a button).
        label : str
            The label of a set built here.

        Returns
        -------
        ClickSet or None
            None for None or an empty spec.

        Raises
        ------
        TypeError
            A spec of another type.
        """
        if spec is None or isinstance(spec, ClickSet):
            return spec if spec is None or spec.buttons or spec.links else None
        if isinstance(spec, dict):
            unknown = set(spec) - {"buttons", "links", "label"}
            if unknown:
                raise TypeError(f"unknown keys {sorted(unknown)}; use buttons, links, label")
            out = cls(
                tuple(_texts(spec.get("buttons", ()))),
                tuple(_texts(spec.get("links", ()))),
                spec.get("label", label),
            )
            return out if out.buttons or out.links else None
        texts = _texts(spec)
        links = tuple(t for t in texts if _is_url(t))
        buttons = tuple(t for t in texts if not _is_url(t))
        return cls(buttons, links, label) if buttons or links else None

    def click_mask(self, clicks: pd.DataFrame) -> np.ndarray:
        """The clicks (rows of ``Export.clicks``) in the set.

        Parameters
        ----------
        clicks : pandas.DataFrame
            ``Export.clicks``: ``kind``, ``id``, ``name``.

        Returns
        -------
        numpy.ndarray of bool
        """
        is_button = (clicks["kind"] == "button").to_numpy()
        buttons = {_plain(b) for b in self.buttons}
        prefixes = tuple(_plain(p) for p in self.links)

        named = buttons.__contains__
        out = is_button & (_matches(clicks["id"], named) | _matches(clicks["name"], named))
        if prefixes:

            def starts(value: str) -> bool:
                return value.startswith(prefixes)

            out |= ~is_button & (_matches(clicks["name"], starts) | _matches(clicks["id"], starts))
        return out

    def messages(self, messages: pd.DataFrame, clicks: pd.DataFrame) -> np.ndarray:
        """Which messages have at least one click in the set, aligned with ``messages``.

        Parameters
        ----------
        messages : pandas.DataFrame
            ``Export.messages`` (or a selection of it).
        clicks : pandas.DataFrame
            ``Export.clicks``.

        Returns
        -------
        numpy.ndarray of bool
        """
        hit = clicks["message_id"].to_numpy()[self.click_mask(clicks)]
        pos = messages.index.get_indexer(hit)
        out = np.zeros(len(messages), dtype=bool)
        out[pos[pos >= 0]] = True
        return out

    def check(self, clicks: pd.DataFrame) -> None:
        """Refuse a button or link of the set that no click in ``clicks`` matches.

        A typo (``"Ver oferta"``) would otherwise count no conversion at all,
        silently. Check against the whole export: one campaign may lack a
        button that another has.

        Parameters
        ----------
        clicks : pandas.DataFrame
            ``Export.clicks``.

        Raises
        ------
        SelectionError
            Naming each entry that matches nothing, with the closest button
            names or link URLs the export has.
        """
        is_button = (clicks["kind"] == "button").to_numpy()
        names = {
            kind: sorted(
                {str(v) for c in ("name", "id") for v in clicks.loc[mask, c].dropna().unique()}
            )
            for kind, mask in (("button", is_button), ("link", ~is_button))
        }
        unknown: dict[str, list[str]] = {}
        for kind, entries in (("button", self.buttons), ("link", self.links)):
            known = {_plain(n): n for n in names[kind]}
            for entry in entries:
                key = _plain(entry)
                hit = key in known if kind == "button" else any(k.startswith(key) for k in known)
                if not hit:
                    near = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
                    unknown[entry] = [known[k] for k in near]
        if unknown:
            parts = [
                f"{e!r}" + (f" (did you mean {' or '.join(map(repr, n))}?)" if n else "")
                for e, n in unknown.items()
            ]
            kinds = [k for k in ("button", "link") if set(unknown) & set(getattr(self, k + "s"))]
            listed = "; ".join(
                f"its {k}s: "
                + (", ".join(map(repr, names[k][:10])) or "none")
                + (" ..." if len(names[k]) > 10 else "")
                for k in kinds
            )
            raise SelectionError(
                f"no click in the export matches {self.label} {'; '.join(parts)} ({listed})",
                column=f"{self.label} clicks",
                unknown=list(unknown),
                suggestions=unknown,
            )

    def describe(self) -> str:
        """The set in words, for a title or a report.

        Returns
        -------
        str
            E.g. ``clicks on 'Ver ofertas' or a link starting https://shop.example/``.
        """
        parts = []
        if self.buttons:
            parts.append("button " + " or ".join(repr(b) for b in self.buttons))
        if self.links:
            parts.append("a link starting " + " or ".join(self.links))
        return "clicks on " + " or ".join(parts) if parts else "no clicks"


def suggest_negatives(clicks: pd.DataFrame) -> ClickSet | None:
    """The buttons whose names read as a refusal ("Stop", "Não tenho interesse" ...).

    A suggestion for a person to check (see :data:`NEGATIVE_WORDS`), never
    applied silently.

    Parameters
    ----------
    clicks : pandas.DataFrame
        ``Export.clicks``.

    Returns
    -------
    ClickSet or None
        Labelled ``"negative"``; None when no button name reads as a refusal.
    """
    names = clicks.loc[(clicks["kind"] == "button").to_numpy(), "name"].dropna().unique()
    negatives = sorted(str(n) for n in names if _NEGATIVE.search(_plain(n)))
    return ClickSet(tuple(negatives), (), "negative") if negatives else None


def _matches(values: pd.Series, test: Any) -> np.ndarray:
    """``test(_plain(value))`` for each value, computed once per distinct value."""
    codes, uniques = pd.factorize(values)
    hit = np.array([bool(test(_plain(u))) for u in uniques] + [False], dtype=bool)
    return hit[codes]  # a missing value (code -1) takes the last slot: False


def _texts(values: Any) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        raise TypeError(f"expected names or URLs, got {type(values).__name__}")
    return [str(v).strip() for v in values if str(v).strip()]


def _is_url(text: str) -> bool:
    return _plain(text).startswith(("http://", "https://", "www."))
