"""Exceptions raised by connectly_nb.

Data problems are not exceptions: they go into ``Export.problems``. These are
for the cases where the code cannot go on.
"""

from __future__ import annotations

__all__ = ["ConnectlyError", "ExportFormatError"]


class ConnectlyError(Exception):
    """Base class of every error connectly_nb raises on purpose."""


class ExportFormatError(ConnectlyError, ValueError):
    """A source cannot be read as a Connectly campaign export.

    The message names the file, what was expected, what was found and how to
    fix it.
    """
