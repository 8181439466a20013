"""Every exception and warning connectly_nb raises on purpose, in one place.

Data problems are not exceptions: they are rows of ``Export.problems``. The
classes here are for the cases where the code cannot go on. Each one derives
from :class:`ConnectlyError` and from the builtin it resembles, so
``except ValueError`` keeps working where that is the natural reading:

>>> issubclass(ExportFormatError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "ApiAuthError",
    "ApiError",
    "CacheWarning",
    "ConnectlyError",
    "ExportFormatError",
    "ExportNotFoundError",
    "OverwriteError",
    "PrivacyWarning",
    "ReportError",
    "ReportNotReadyError",
    "SelectionError",
    "SelectionTooLargeError",
    "StoreError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreWarning",
    "TimeZoneError",
]


class ConnectlyError(Exception):
    """Base class of every error connectly_nb raises on purpose."""


class ExportFormatError(ConnectlyError, ValueError):
    """A source cannot be read as a Connectly campaign export.

    The message names the file, what was expected, what was found and how to
    fix it.
    """


class ExportNotFoundError(ConnectlyError, FileNotFoundError):
    """A path, folder or pattern named no readable export file."""


class TimeZoneError(ConnectlyError, ValueError):
    """A time zone name that the zone database does not know."""


class SelectionError(ConnectlyError, KeyError):
    """A filter names a campaign, sendout or error code that the export does not have.

    Parameters
    ----------
    message : str
        What was asked for, the closest known values, and how to list them all.
    column : str
        The column filtered on (``"campaign_name"`` ...).
    unknown : list of str
        The values that matched nothing.
    suggestions : dict of str to list of str
        For each unknown value, the closest known ones.
    """

    def __init__(
        self, message: str, *, column: str, unknown: list[str], suggestions: dict[str, list[str]]
    ) -> None:
        super().__init__(message)
        self.column = column
        self.unknown = unknown
        self.suggestions = suggestions

    def __str__(self) -> str:
        return str(self.args[0])  # KeyError would quote the message


class OverwriteError(ConnectlyError, ValueError):
    """An output file named is one of the exports being read: it would be overwritten."""


class ReportError(ConnectlyError, RuntimeError):
    """The report could not be rendered (the notebook failed, or the page is unsafe)."""


class ApiError(ConnectlyError, RuntimeError):
    """The Reports API could not be used (network, server, unexpected answer)."""


class ApiAuthError(ApiError, PermissionError):
    """The API key was missing or refused (HTTP 401 / 403)."""


class ReportNotReadyError(ApiError):
    """The report's latest run is still processing, or failed."""


class CacheWarning(UserWarning):
    """A cache entry could not be used and was rebuilt."""


class PrivacyWarning(UserWarning):
    """Personal data is less protected than it could be, and how to fix it.

    ``hash_ids`` without a salt warns with it: it then uses a random salt of
    this process, so its pseudonyms cannot be reversed but also do not match
    those of another session (set ``CONNECTLY_NB_SALT`` to follow customers
    across sessions).
    """


class StoreError(ConnectlyError, RuntimeError):
    """A store of daily reports cannot be used as asked (its format, its state)."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """A folder or URL that holds no store (no manifest): ingest into it first."""


class StoreLockedError(StoreError, BlockingIOError):
    """Another ingest holds the store's lock, and this one was told not to wait for it."""


class SelectionTooLargeError(ConnectlyError, ValueError):
    """A selection of a store holds more messages than fit in memory as an Export.

    Parameters
    ----------
    message : str
        The count, the limit, and how to narrow the selection.
    count : int
        Messages in the selection.
    limit : int
        The most that :meth:`~connectly_nb.store.Store.to_export` was allowed to load.
    """

    def __init__(self, message: str, *, count: int, limit: int) -> None:
        super().__init__(message)
        self.count = count
        self.limit = limit


class StoreWarning(UserWarning):
    """A store did what was asked, with a caveat (e.g. a report older than the store's newest)."""
