"""Progress bars for the steps that take over a second on a big export.

In JupyterLab, tqdm's notebook bar (an ipywidget); in a terminal, tqdm's text
bar; nothing otherwise (tests, scripts with output redirected), and nothing
for small inputs. A load reports its stages (reading the file, checking the
cells, merging, building the tables) and the deferred reading of the
variables reports its own, so the bar moves instead of sitting at 0%.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress", "interactive"]


def interactive() -> bool:
    """Whether someone is watching: a Jupyter kernel, or a terminal on stderr.

    Returns
    -------
    bool
    """
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class Progress:
    """A bar from 0 to ``total`` that says what is being done; silent when disabled.

    Parameters
    ----------
    total : float
        The amount of work (bytes, steps ...).
    desc : str
        What the bar is for ("reading export").
    enabled : bool
        Show it (importing ``tqdm.auto`` is not free: only then).
    unit : str
        tqdm's unit; ``"B"`` scales to kB, MB ...
    """

    def __init__(self, total: float, desc: str, *, enabled: bool, unit: str = "it") -> None:
        self._bar: Any = None
        self.done = 0.0
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=unit == "B",
                leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
            )

    def to(self, position: float, what: str = "") -> None:
        """Move the bar to ``position`` (never back), saying what comes next.

        Parameters
        ----------
        position : float
            Work done so far.
        what : str
            The step now under way.
        """
        if self._bar is None:
            return
        if what:
            self._bar.set_postfix_str(what, refresh=False)
        if position > self.done:
            self._bar.update(position - self.done)
            self.done = position
        else:
            self._bar.refresh()

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
