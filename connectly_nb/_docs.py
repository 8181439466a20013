"""Parameter descriptions shared by many public functions, written once.

The way seaborn's ``_docstrings.py`` does it: a docstring names a shared
parameter as ``{by}``, ``{where}``, ``{export}`` or ``{ax}`` on a line of its
own, and :func:`shared_docs` fills it in at import, indented to match. So
``by=`` reads the same in every metric and ``ax=`` in every chart.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["PARAMS", "shared_docs"]

F = TypeVar("F", bound=Callable[..., Any])

PARAMS = {
    "export": """\
export : Export
    The messages to measure: an :class:`~connectly_nb.export.Export` (filter it
    first with :meth:`~connectly_nb.export.Export.filter` to measure a selection).""",
    "by": """\
by : str, list of str or None
    Message columns to group by (``"campaign_name"``, ``["campaign_name",
    "sendout_id"]``, ``"error_code"`` ...); ``None`` groups by none of them:
    one row for all messages, or one per value of what the function itself
    splits by.""",
    "where": """\
where : boolean array or dict, optional
    Count only these messages: a mask aligned with ``export.messages`` or the
    arguments of :meth:`Export.filter` (``{"campaigns": "A"}``). The same as
    filtering first, without copying the tables.""",
    "ax": """\
ax : matplotlib.axes.Axes, optional
    The Axes to draw on; by default the current one (``plt.gca()``).""",
    "kwargs": """\
**kwargs
    Passed to the main matplotlib call that draws the data.""",
    "axes": """\
matplotlib.axes.Axes
    The Axes drawn on.""",
}


def shared_docs(func: F) -> F:
    """Fill the ``{name}`` lines of ``func``'s docstring from :data:`PARAMS`.

    Parameters
    ----------
    func : callable
        A function whose docstring holds lines such as ``    {by}``.

    Returns
    -------
    callable
        ``func`` itself, its docstring filled in.
    """
    doc = func.__doc__ or ""
    lines = []
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}") and stripped[1:-1] in PARAMS:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(textwrap.indent(PARAMS[stripped[1:-1]], indent))
        else:
            lines.append(line)
    func.__doc__ = "\n".join(lines)
    return func
