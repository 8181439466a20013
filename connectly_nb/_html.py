"""HTML fragments shared by the dashboard and the report; every data value is escaped."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

__all__ = ["key_figures_html", "pct"]


def pct(x: float) -> str:
    """A share as a percentage; "–" when there is no denominator."""
    return "–" if not np.isfinite(x) else f"{x:.1%}"


def key_figures_html(counts: Mapping[str, int]) -> str:
    """Messages and the key rates, each with its numerator and denominator.

    ``counts`` has ``rows``, ``sent``, ``delivered``, ``read``, ``clicked``,
    ``failed`` and ``opted_out``.
    """
    k = counts

    def cell(big: str, label: str, small: str) -> str:
        return (
            "<td style='padding:0 1.2em 0 0;vertical-align:top'>"
            f"<b style='font-size:1.3em'>{html.escape(big)}</b><br>{html.escape(label)}"
            f"<br><small>{html.escape(small)}</small></td>"
        )

    def rate(num: str, den: str, label: str) -> str:
        value = k[num] / k[den] if k[den] else float("nan")
        return cell(pct(value), label, f"{k[num]:,} of {k[den]:,} {den}")

    cells = (
        cell(f"{k['rows']:,}", "messages", f"{k['sent']:,} sent")
        + rate("delivered", "sent", "delivered")
        + rate("read", "delivered", "read (lower bound)")
        + rate("clicked", "delivered", "clicked")
        + rate("opted_out", "delivered", "opted out")
        + rate("failed", "rows", "failed")
    )
    return f"<table><tr>{cells}</tr></table>"
