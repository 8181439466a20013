"""The exceptions: one base class, the builtin each resembles, and the old import path."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

import connectly_nb
from connectly_nb import exceptions
from connectly_nb import metrics as M

BUILTIN = {
    "ExportFormatError": ValueError,
    "ExportNotFoundError": FileNotFoundError,
    "TimeZoneError": ValueError,
    "ReportError": RuntimeError,
    "ApiError": RuntimeError,
    "ApiAuthError": PermissionError,
    "ReportNotReadyError": RuntimeError,
    "SelectionError": KeyError,
    "OverwriteError": ValueError,
    "SelectionTooLargeError": ValueError,
    "StoreError": RuntimeError,
    "StoreNotFoundError": FileNotFoundError,
    "StoreLockedError": BlockingIOError,
}


def test_every_exception_derives_from_connectly_error_and_its_builtin():
    errors = [n for n in exceptions.__all__ if n != "ConnectlyError" and not n.endswith("Warning")]
    assert set(errors) == set(BUILTIN)
    for name in errors:
        cls = getattr(exceptions, name)
        assert issubclass(cls, exceptions.ConnectlyError), name
        assert issubclass(cls, BUILTIN[name]), name
    assert issubclass(exceptions.ApiAuthError, exceptions.ApiError)
    assert issubclass(exceptions.ReportNotReadyError, exceptions.ApiError)
    assert issubclass(exceptions.ConnectlyError, Exception)
    assert issubclass(exceptions.CacheWarning, UserWarning)  # a warning, not an error
    assert not issubclass(exceptions.CacheWarning, exceptions.ConnectlyError)
    assert issubclass(exceptions.PrivacyWarning, UserWarning)
    assert not issubclass(exceptions.PrivacyWarning, exceptions.ConnectlyError)
    assert issubclass(exceptions.StoreWarning, UserWarning)
    assert issubclass(exceptions.StoreLockedError, exceptions.StoreError)


def test_exceptions_are_the_same_objects_wherever_imported():
    from connectly_nb.api import ApiAuthError, ApiError, ReportNotReadyError
    from connectly_nb.cache import CacheWarning
    from connectly_nb.tidy import TimeZoneError

    assert connectly_nb.ExportFormatError is exceptions.ExportFormatError
    assert connectly_nb.ExportNotFoundError is exceptions.ExportNotFoundError
    assert connectly_nb.TimeZoneError is TimeZoneError is exceptions.TimeZoneError
    assert connectly_nb.ConnectlyError is exceptions.ConnectlyError
    assert (ApiError, ApiAuthError, ReportNotReadyError) == (
        exceptions.ApiError,
        exceptions.ApiAuthError,
        exceptions.ReportNotReadyError,
    )
    assert CacheWarning is exceptions.CacheWarning


def test_except_value_error_still_catches_a_bad_time_zone(write_export):
    from tests.conftest import row

    with pytest.raises(ValueError, match="unknown time zone"):
        connectly_nb.read_export(write_export([row()]), tz="Mars/Olympus")


def test_the_errors_shim_holds_the_exceptions_and_is_callable_as_the_metric(sample):
    import connectly_nb.errors as e

    for name in exceptions.__all__:
        assert getattr(e, name) is getattr(exceptions, name), name
    assert e.ExportFormatError is exceptions.ExportFormatError
    assert connectly_nb.errors is e
    table = connectly_nb.errors(sample)
    pd.testing.assert_frame_equal(table, M.errors(sample))
    pd.testing.assert_frame_equal(
        e(sample, by="campaign_name"), M.errors(sample, by="campaign_name")
    )
    assert inspect.signature(connectly_nb.errors) == inspect.signature(M.errors)
    assert sorted(e.__all__) == sorted(exceptions.__all__)
