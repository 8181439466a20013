"""connectly_nb: analyse Connectly WhatsApp campaign exports in Jupyter.

The entry point is :func:`read_export`, which returns an :class:`Export`
(messages, clicks, variables and problems as DataFrames).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from connectly_nb.datasets import load_or_sample
from connectly_nb.errors import ConnectlyError, ExportFormatError
from connectly_nb.load import ExportNotFoundError
from connectly_nb.metrics import (
    activity_heatmap,
    buttons,
    compare,
    countries,
    errors,
    fatigue,
    funnel,
    latency,
    links,
    segment,
    timeline,
    variables,
)
from connectly_nb.tidy import Export, TimeZoneError, read_export


def __getattr__(name: str) -> object:
    # the widgets pull in ipywidgets: import them on first use only
    if name == "explore":
        from connectly_nb.widgets import explore

        return explore
    raise AttributeError(f"module 'connectly_nb' has no attribute {name!r}")


try:
    __version__ = version("connectly-nb")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "ConnectlyError",
    "Export",
    "ExportFormatError",
    "ExportNotFoundError",
    "TimeZoneError",
    "__version__",
    "activity_heatmap",
    "buttons",
    "compare",
    "countries",
    "errors",
    "explore",
    "fatigue",
    "funnel",
    "latency",
    "links",
    "load_or_sample",
    "read_export",
    "segment",
    "timeline",
    "variables",
]
