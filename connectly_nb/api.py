"""Connectly Reports API client: list configured reports, download their latest CSV.

``GET {base}/v1/businesses/{business_id}/reporting/reports`` with the
``X-API-Key`` header returns each configured report with its latest run; a
completed run has a signed CSV URL that expires (one hour by default). The
webhooks carry the same fields in snake_case; both spellings are read.

The API key comes from ``api_key=`` or the ``CONNECTLY_API_KEY`` environment
variable. It is sent only in the request header and never appears in a
message, a log line, a repr or a file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from connectly_nb._fs import atomic_write
from connectly_nb.exceptions import ApiAuthError, ApiError, ReportNotReadyError

__all__ = [
    "ApiAuthError",
    "ApiError",
    "ReportNotReadyError",
    "download_report",
    "list_reports",
    "parse_reports",
]

BASE_URL = "https://api.connectly.ai"  # CONNECTLY_API_URL overrides it (a proxy, a test server)
ENV_KEY = "CONNECTLY_API_KEY"
REPORT_COLUMNS = ("id", "name", "type", "run_id", "status", "url", "expires_at", "created_at")
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- parsing


def _pick(obj: Mapping[str, Any] | None, *names: str) -> Any:
    if not isinstance(obj, Mapping):
        return None
    for name in names:
        if name in obj:
            return obj[name]
    return None


def parse_reports(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The API's (camelCase) or a webhook's (snake_case) report list as a DataFrame.

    Parameters
    ----------
    payload : mapping
        The decoded JSON: its ``"data"`` holds a list of reports or one
        report (no ``"data"``: no reports). A report's latest run is under
        ``lastRun`` / ``last_run``, its file under the run's ``result``;
        missing fields are left blank.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``name``, ``type``, ``run_id``, ``status``, ``url``,
        ``expires_at``, ``created_at`` (times tz-aware UTC); one row per report.
    """
    items = payload.get("data", payload if isinstance(payload, list) else [])
    if isinstance(items, Mapping):
        items = [items]
    rows = []
    for item in items:
        run = _pick(item, "lastRun", "last_run")
        result = _pick(run, "result")
        rows.append(
            {
                "id": _pick(item, "id"),
                "name": _pick(item, "name"),
                "type": _pick(item, "type"),
                "run_id": _pick(run, "id"),
                "status": _pick(run, "status"),
                "url": _pick(result, "url"),
                "expires_at": _pick(result, "expiresAt", "expires_at"),
                "created_at": _pick(result, "createdAt", "created_at"),
            }
        )
    frame = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    for c in ("expires_at", "created_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True, errors="coerce", format="ISO8601")
    return frame


# --------------------------------------------------------------------------- HTTP


def _key(api_key: str | None) -> str:
    key = api_key or os.environ.get(ENV_KEY)
    if not key:
        raise ApiAuthError(f"no API key: pass api_key= or set the {ENV_KEY} environment variable")
    return key


def _retrying(
    call: Callable[[], Any], *, retries: int, backoff: float, what: str, sleep=time.sleep
) -> Any:
    """Run ``call``; retry transient failures (network errors, 429, 5xx) with back-off."""
    for attempt in range(retries + 1):
        try:
            return call()
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 500, 502, 503, 504) or attempt == retries:
                raise
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == retries:
                raise ApiError(
                    f"{what}: failed {retries + 1} times, last because "
                    f"{_reason(exc)}; the server may be down or the network cut"
                ) from None
        sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", exc))


def _get_json(
    url: str, key: str, *, timeout: float, retries: int, backoff: float, business_id: str
) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key, "Accept": "application/json"})

    def call() -> Any:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    try:
        return _retrying(call, retries=retries, backoff=backoff, what="listing reports")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ApiAuthError(
                f"the API key was refused (HTTP {exc.code}); check {ENV_KEY} or the api_key given"
            ) from None
        if exc.code == 404:
            raise ApiError(f"unknown business {business_id!r} (HTTP 404)") from None
        raise ApiError(f"listing reports failed: HTTP {exc.code}") from None
    except json.JSONDecodeError as exc:
        raise ApiError(f"the API answered something that is not JSON ({exc})") from None


def list_reports(
    business_id: str,
    *,
    api_key: str | None = None,
    type: str | None = None,
    base_url: str | None = None,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 0.5,
) -> pd.DataFrame:
    """The business's configured reports, each with its latest run.

    Parameters
    ----------
    business_id : str
        The Connectly business whose reports to list.
    api_key : str, optional
        Defaults to the ``CONNECTLY_API_KEY`` environment variable.
    type : str, optional
        Only reports of this type, e.g. ``"campaign.daily.v1"``.
    base_url : str, optional
        Where the API is: by default the ``CONNECTLY_API_URL`` environment
        variable, else ``https://api.connectly.ai``.
    timeout : float, default 30
        Seconds to wait for each answer.
    retries : int, default 3
        How many times to retry a network error, a timeout, HTTP 429 or 5xx.
    backoff : float, default 0.5
        Seconds before the first retry, doubled for each further one.

    Returns
    -------
    pandas.DataFrame
        See :func:`parse_reports`.

    Raises
    ------
    ApiAuthError
        No key, or the key was refused (401/403).
    ApiError
        Unknown business (404), another HTTP error, an answer that is not the
        expected JSON, or the server could not be reached.
    """
    key = _key(api_key)
    base_url = base_url or os.environ.get("CONNECTLY_API_URL", BASE_URL)
    query = f"?{urllib.parse.urlencode({'type': type})}" if type else ""
    url = (
        f"{base_url.rstrip('/')}/v1/businesses/{urllib.parse.quote(business_id, safe='')}"
        f"/reporting/reports{query}"
    )
    payload = _get_json(
        url, key, timeout=timeout, retries=retries, backoff=backoff, business_id=business_id
    )
    if not isinstance(payload, Mapping | list):
        raise ApiError("the API answered an unexpected document (no 'data' list)")
    return parse_reports(payload)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_")[:80] or "report"


def download_report(
    business_id: str,
    folder: str | os.PathLike[str],
    *,
    report_id: str | None = None,
    api_key: str | None = None,
    type: str | None = None,
    base_url: str | None = None,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 0.5,
    progress: bool | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[Path]:
    """Download the latest completed run of each report (or of ``report_id``).

    Files are named ``<report name>_<run id>.csv``; a file already there is
    not downloaded again. An expired signed URL is refreshed by asking the API
    again; transient failures are retried with back-off; the CSV is streamed
    to a ``.partial`` file and renamed when complete, so a broken download
    never looks like a report.

    Parameters
    ----------
    business_id : str
        The Connectly business whose reports to download.
    folder : path-like
        Where the CSV files go; created if missing.
    report_id : str, optional
        Only this report; by default every report listed.
    api_key : str, optional
        Defaults to the ``CONNECTLY_API_KEY`` environment variable.
    type : str, optional
        Only reports of this type, e.g. ``"campaign.daily.v1"``.
    base_url : str, optional
        As for :func:`list_reports`.
    timeout : float, default 60
        Seconds to wait for each answer (listing and download).
    retries : int, default 3
        How many times to retry a network error, a timeout, HTTP 429 or 5xx.
    backoff : float, default 0.5
        Seconds before the first retry, doubled for each further one.
    progress : bool, optional
        Show a progress bar per download; by default tqdm shows one only on
        a terminal or in a notebook.
    now : callable, optional
        Returns the current time (tz-aware), to tell whether a signed URL has
        expired; ``datetime.now(UTC)`` by default.

    Returns
    -------
    list of pathlib.Path
        The report files (downloaded now or already there).

    Raises
    ------
    ReportNotReadyError
        The run is still processing, or failed (checked for every report
        before anything is downloaded).
    ApiAuthError, ApiError
        As for :func:`list_reports`; also no report ``report_id``, or a
        download that kept failing.
    """
    key = _key(api_key)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    listing: dict[str, Any] = {
        "api_key": key,
        "type": type,
        "base_url": base_url,
        "timeout": timeout,
        "retries": retries,
        "backoff": backoff,
    }
    reports = list_reports(business_id, **listing)
    if report_id is not None:
        reports = reports[reports["id"] == report_id]
        if reports.empty:
            raise ApiError(f"no report {report_id!r} for business {business_id!r}")
    for report in reports.itertuples(index=False):  # none is downloaded if one is not ready
        _check_completed(report)

    def refresh(report: Any) -> Any:
        fresh = list_reports(business_id, **listing)
        fresh = fresh[fresh["id"] == report.id]
        if fresh.empty or fresh["status"].iloc[0] != "completed":
            raise ReportNotReadyError(f"report {report.name!r} is no longer available")
        return next(fresh.itertuples(index=False))

    return [
        _download_one(report, folder, refresh, now=now, progress=progress, **listing)
        for report in reports.itertuples(index=False)
    ]


def _check_completed(report: Any) -> None:
    if report.status != "completed":
        state = report.status or "unknown"
        raise ReportNotReadyError(
            f"report {report.name!r}: the latest run is {state}"
            + ("; try again in a few minutes" if state == "processing" else "")
        )


def _report_path(folder: Path, report: Any) -> Path:
    return folder / f"{_slug(report.name)}_{_slug(report.run_id)}.csv"


def _download_one(
    report: Any,
    folder: Path,
    refresh: Callable[[Any], Any],
    *,
    now: Callable[[], dt.datetime],
    progress: bool | None,
    timeout: float,
    retries: int,
    backoff: float,
    **_listing: Any,
) -> Path:
    """One report's file: already there, or streamed; an expired link refreshed once."""
    path = _report_path(folder, report)
    if path.exists():
        return path
    for attempt in range(2):
        expired = not pd.isna(report.expires_at) and report.expires_at.to_pydatetime() <= now()
        if not expired or attempt:
            try:
                _stream(
                    report.url,
                    path,
                    timeout=timeout,
                    retries=retries,
                    backoff=backoff,
                    progress=progress,
                    label=str(report.name),
                )
                return path
            except _Expired:
                if attempt:
                    raise ApiError(
                        f"report {report.name!r}: the download link stayed "
                        "expired after asking the API for a new one"
                    ) from None
        report = refresh(report)
        path = _report_path(folder, report)
    return path


class _Expired(Exception):
    """The signed URL has expired (the storage answered 400/403)."""


def _stream(
    url: str,
    path: Path,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    progress: bool | None,
    label: str,
) -> None:
    from tqdm.auto import tqdm

    def call() -> None:
        with (
            urllib.request.urlopen(url, timeout=timeout) as response,
            atomic_write(path) as out,
        ):
            total = int(response.headers.get("Content-Length") or 0) or None
            got = 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=f"downloading {label[:30]}",
                disable=not progress if progress is not None else None,
                leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            if total is not None and got != total:
                raise ConnectionError(f"got {got} of {total} bytes")

    try:
        _retrying(call, retries=retries, backoff=backoff, what=f"downloading {label!r}")
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 403):
            raise _Expired from None
        raise ApiError(f"downloading {label!r} failed: HTTP {exc.code}") from None
