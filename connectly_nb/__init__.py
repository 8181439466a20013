"""connectly_nb: analyse Connectly WhatsApp campaign exports in Jupyter.

The entry point is :func:`read_export`, which returns an :class:`Export`
(messages, clicks, variables and problems as DataFrames). The package's
layout, module by module, is in ``docs/architecture.md``.
"""

from __future__ import annotations

from connectly_nb import (
    errors,  # the exceptions, and callable as the metric (see its doc)
    tidy,
)
from connectly_nb._version import __version__
from connectly_nb.conversions import ClickSet
from connectly_nb.datasets import load_or_sample
from connectly_nb.exceptions import (
    ConnectlyError,
    ExportFormatError,
    ExportNotFoundError,
    OverwriteError,
    SelectionError,
    TimeZoneError,
)
from connectly_nb.export import Export
from connectly_nb.metrics import (
    activity_heatmap,
    best_and_worst,
    buttons,
    compare,
    compare_rates,
    countries,
    fatigue,
    funnel,
    key_figures,
    latency,
    links,
    segment,
    suppression_list,
    timeline,
    trend,
    unreadable_ids,
    variables,
)
from connectly_nb.read import read_export
from connectly_nb.store import Store, ingest, open_store

# the old home of read_export, kept for old imports (tidy sits below read)
tidy.read_export = read_export  # type: ignore[attr-defined]


def __getattr__(name: str) -> object:
    # the widgets pull in ipywidgets: import them on first use only
    if name == "explore":
        from connectly_nb.widgets import explore

        return explore
    raise AttributeError(f"module 'connectly_nb' has no attribute {name!r}")


__all__ = [
    "ClickSet",
    "ConnectlyError",
    "Export",
    "ExportFormatError",
    "ExportNotFoundError",
    "OverwriteError",
    "SelectionError",
    "Store",
    "TimeZoneError",
    "__version__",
    "activity_heatmap",
    "best_and_worst",
    "buttons",
    "compare",
    "compare_rates",
    "countries",
    "errors",
    "explore",
    "fatigue",
    "funnel",
    "ingest",
    "key_figures",
    "latency",
    "links",
    "load_or_sample",
    "open_store",
    "read_export",
    "segment",
    "suppression_list",
    "timeline",
    "trend",
    "unreadable_ids",
    "variables",
]
