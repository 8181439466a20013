"""Connectly Reports API client: list configured reports, download their latest CSV.

``GET {base}/v1/businesses/{business_id}/reporting/reports`` with the
``X-API-Key`` header returns each configured report with its latest run; a
completed run has a signed CSV URL that expires (one hour by default). The
webhooks carry the same fields in snake_case; both spellings are read.

The API key comes from ``api_key=`` or the ``CONNECTLY_API_KEY`` environment
variable. It is sent only in the request header and never appears in a
message, a log line, a repr or a file.

What a server can make the client do is bounded (docs/security.md):

- the key goes only to the API's own address, which must be ``https://``
  (``http://`` only to a loopback address, for tests); a redirect answering a
  call that carries the key is never followed;
- a download URL must be ``https://`` as well (``http://`` only to loopback),
  and so must any redirect of a download (at most 3; no key is ever sent
  with a download): ``file:``, ``ftp:`` and ``data:`` URLs are refused;
- every request has a deadline for the whole answer, however slowly the
  bytes come; a listing is at most 16 MiB, a download at most ``max_bytes``;
- ``Retry-After`` is honoured (up to two minutes; a longer wait is an error);
- a download is kept only if it is a campaign export: its first line names
  the required columns (an XML or HTML error page is refused), and a body
  without ``Content-Length`` must end in a whole record (no open quote, a
  final line break, the header's number of fields).

HTTP is spoken with :mod:`http.client` directly: nothing but ``GET`` over
http(s), no handler for other schemes, and redirects only where allowed.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import email.utils
import hashlib
import http.client
import io
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from connectly_nb._fs import atomic_write
from connectly_nb.exceptions import ApiAuthError, ApiError, ReportNotReadyError
from connectly_nb.schema import EXPORT_COLUMNS, REQUIRED_COLUMNS, column_key

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
#: Largest listing read (bytes).
MAX_LISTING_BYTES = 16 << 20
#: Default largest download (bytes): about 25 million messages.
MAX_DOWNLOAD_BYTES = 8 << 30
#: Longest ``Retry-After`` waited for (seconds); a longer one is an error.
MAX_RETRY_AFTER = 120.0
#: Redirects followed on a download (never on a call carrying the key).
MAX_REDIRECTS = 3
_TRANSIENT = (429, 500, 502, 503, 504)
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 1 << 20
_HEAD_MAX = 4 << 20  # a first line longer than this is not an export's header
_TAIL = 1 << 16  # bytes kept to check the last record


# --------------------------------------------------------------------------- parsing


def _pick(obj: Mapping[str, Any] | None, *names: str) -> Any:
    if not isinstance(obj, Mapping):
        return None
    for name in names:
        if name in obj:
            return obj[name]
    return None


def _text(value: Any) -> str | None:
    """A field as text: strings and numbers; anything else (objects, lists, null) is blank."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def parse_reports(payload: Mapping[str, Any] | list[Any]) -> pd.DataFrame:
    """The API's (camelCase) or a webhook's (snake_case) report list as a DataFrame.

    Parameters
    ----------
    payload : mapping or list
        The decoded JSON: its ``"data"`` holds a list of reports or one
        report (no ``"data"``: no reports); a JSON array is read as the list
        itself. A report's latest run is under ``lastRun`` / ``last_run``,
        its file under the run's ``result``; missing fields, and fields that
        are neither text nor a number, are left blank.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``name``, ``type``, ``run_id``, ``status``, ``url``,
        ``expires_at``, ``created_at`` (times tz-aware UTC); one row per report.

    Raises
    ------
    ApiError
        ``payload``, or its ``"data"``, is neither a list nor an object.
    """
    if isinstance(payload, list):
        items: Any = payload
    elif isinstance(payload, Mapping):
        items = payload.get("data", [])
    else:
        items = payload
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        raise ApiError(
            "the API answered an unexpected document (its 'data' is "
            f"{type(items).__name__}, not a list of reports)"
        )
    rows = []
    for item in items:
        run = _pick(item, "lastRun", "last_run")
        result = _pick(run, "result")
        rows.append(
            {
                "id": _text(_pick(item, "id")),
                "name": _text(_pick(item, "name")),
                "type": _text(_pick(item, "type")),
                "run_id": _text(_pick(run, "id")),
                "status": _text(_pick(run, "status")),
                "url": _text(_pick(result, "url")),
                "expires_at": _text(_pick(result, "expiresAt", "expires_at")),
                "created_at": _text(_pick(result, "createdAt", "created_at")),
            }
        )
    frame = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    for c in ("expires_at", "created_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True, errors="coerce", format="ISO8601")
    return frame


# --------------------------------------------------------------------------- URLs


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shown(url: str) -> str:
    """A URL for a message: without its query (a signed URL's signature) and cut short."""
    parts = urllib.parse.urlsplit(url)
    text = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return repr(text if len(text) <= 100 else text[:100] + "…")


def _checked_url(url: Any, *, what: str) -> urllib.parse.SplitResult:
    """``url`` split, if it is https, or http to this machine; else an ApiError."""
    text = url if isinstance(url, str) else ""
    try:
        parts = urllib.parse.urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a bad port raises ValueError)
    except ValueError:
        parts, host = urllib.parse.urlsplit(""), ""
    if (parts.scheme == "https" and host) or (parts.scheme == "http" and _is_loopback(host)):
        return parts
    raise ApiError(
        f"{what} must be an https:// URL (http:// only to this machine: 127.0.0.1, "
        f"localhost); got {_shown(text)}"
    )


# --------------------------------------------------------------------------- HTTP


def _key(api_key: str | None) -> str:
    key = api_key or os.environ.get(ENV_KEY)
    if not key:
        raise ApiAuthError(f"no API key: pass api_key= or set the {ENV_KEY} environment variable")
    return key


class _Status(Exception):
    """The server answered an HTTP status other than 200."""

    def __init__(self, code: int, headers: http.client.HTTPMessage) -> None:
        super().__init__(f"HTTP {code}")
        self.code = code
        self.location = headers.get("Location")
        self.retry_after = _retry_after(headers.get("Retry-After"))


class _Transient(Exception):
    """A failure worth retrying: the network, a cut body."""


class _Late(Exception):
    """The request ran past its deadline."""


class _Expired(Exception):
    """The signed URL has expired (the storage answered 400/403)."""


def _retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (a number or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class _Watchdog:
    """Shuts the connection's socket once ``deadline`` seconds have passed."""

    def __init__(self, conn: http.client.HTTPConnection, deadline: float) -> None:
        self.conn = conn
        self.fired = False
        self.timer = threading.Timer(deadline, self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self.timer.cancel()


def _connection(parts: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    """A connection to the URL's host, through ``https_proxy`` when one is set for it."""
    host = parts.hostname or ""
    if parts.scheme == "http":
        return http.client.HTTPConnection(host, parts.port, timeout=timeout)
    context = ssl.create_default_context()
    proxy = urllib.request.getproxies().get("https")
    if proxy and not _is_loopback(host) and not urllib.request.proxy_bypass(host):
        via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        conn = http.client.HTTPSConnection(
            via.hostname or "", via.port or 8080, timeout=timeout, context=context
        )
        conn.set_tunnel(host, parts.port or 443)
        return conn
    return http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)


class _Answer:
    """An HTTP answer: status, headers, and the body read in chunks under the deadline."""

    def __init__(self, response: http.client.HTTPResponse, watchdog: _Watchdog) -> None:
        self.response = response
        self.watchdog = watchdog
        self.status = response.status
        self.headers = response.headers
        length = response.headers.get("Content-Length", "")
        self.length = int(length) if length.strip().isdigit() else None
        self.got = 0

    def raise_for_status(self) -> None:
        if self.status != 200:
            raise _Status(self.status, self.headers)

    def chunks(self, cap: int, what: str) -> Iterator[bytes]:
        """The body, at most ``cap`` bytes (more is an ApiError)."""
        if self.length is not None and self.length > cap:
            raise ApiError(f"{what}: the answer is {self.length:,} bytes, more than {cap:,} bytes")
        while True:
            try:
                chunk = self.response.read1(_CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                if self.watchdog.fired:
                    raise _Late from None
                raise _Transient(_reason(exc)) from None
            if self.watchdog.fired:
                raise _Late
            if not chunk:
                break
            self.got += len(chunk)
            if self.got > cap:
                raise ApiError(f"{what}: the answer is more than {cap:,} bytes")
            yield chunk
        if self.length is not None and self.got != self.length:
            raise _Transient(f"the body was cut: got {self.got:,} of {self.length:,} bytes")


@contextlib.contextmanager
def _request(
    parts: urllib.parse.SplitResult, headers: dict[str, str], *, timeout: float, deadline: float
) -> Iterator[_Answer]:
    """One GET of ``parts``; no redirect is followed; the deadline bounds the whole exchange."""
    conn = _connection(parts, timeout)
    watchdog = _Watchdog(conn, deadline)
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    try:
        try:
            conn.connect()
            if watchdog.fired:
                raise _Late
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            if watchdog.fired:
                raise _Late from None
            raise _Transient(_reason(exc)) from None
        yield _Answer(response, watchdog)
    finally:
        watchdog.cancel()
        conn.close()


def _retrying(
    call: Callable[[], Any],
    *,
    retries: int,
    backoff: float,
    what: str,
    deadline: float,
    sleep: Callable[[float], Any] = time.sleep,
) -> Any:
    """Run ``call``; retry transient failures (network errors, 429, 5xx) with back-off.

    ``Retry-After`` sets the wait when longer than the back-off; one longer
    than :data:`MAX_RETRY_AFTER` is an error at once.
    """
    for attempt in range(retries + 1):
        try:
            return call()
        except _Status as exc:
            if exc.code not in _TRANSIENT:
                raise
            if exc.retry_after is not None and exc.retry_after > MAX_RETRY_AFTER:
                raise ApiError(
                    f"{what}: the server asks to wait {exc.retry_after:g} s (HTTP {exc.code}); "
                    "try again later"
                ) from None
            if attempt == retries:
                raise
            wait = max(backoff * 2**attempt, exc.retry_after or 0.0)
        except _Transient as exc:
            if attempt == retries:
                raise ApiError(
                    f"{what}: failed {retries + 1} times, last because "
                    f"{exc}; the server may be down or the network cut"
                ) from None
            wait = backoff * 2**attempt
        except _Late:
            raise ApiError(
                f"{what}: no complete answer within the deadline of {deadline:g} s "
                "(the server is too slow, or stalls on purpose)"
            ) from None
        sleep(wait)
    raise AssertionError("unreachable")


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__


def _get_json(
    url: str,
    key: str,
    *,
    timeout: float,
    deadline: float,
    retries: int,
    backoff: float,
    business_id: str,
) -> Any:
    parts = _checked_url(url, what="the API's address (base_url or CONNECTLY_API_URL)")
    headers = {"X-API-Key": key, "Accept": "application/json"}

    def call() -> bytes:
        with _request(parts, headers, timeout=timeout, deadline=deadline) as answer:
            answer.raise_for_status()
            return b"".join(answer.chunks(MAX_LISTING_BYTES, "listing reports"))

    try:
        body = _retrying(
            call, retries=retries, backoff=backoff, what="listing reports", deadline=deadline
        )
    except _Status as exc:
        raise _listing_error(exc, parts, business_id) from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise ApiError(
            f"the API answered something that is not JSON the client can read ({why})"
        ) from None


def _listing_error(exc: _Status, parts: urllib.parse.SplitResult, business_id: str) -> ApiError:
    if exc.code in _REDIRECTS:
        where = urllib.parse.urlsplit(exc.location or "").netloc or "another address"
        return ApiError(
            f"the API answered with a redirect (HTTP {exc.code}) to {where}; not followed: "
            f"the key is sent only to {parts.netloc}. Point base_url or CONNECTLY_API_URL "
            "at the API's own address"
        )
    if exc.code in (401, 403):
        return ApiAuthError(
            f"the API key was refused (HTTP {exc.code}); check {ENV_KEY} or the api_key given"
        )
    if exc.code == 404:
        return ApiError(f"unknown business {business_id!r} (HTTP 404)")
    return ApiError(f"listing reports failed: HTTP {exc.code}")


def list_reports(
    business_id: str,
    *,
    api_key: str | None = None,
    type: str | None = None,
    base_url: str | None = None,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 0.5,
    deadline: float = 120,
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
        variable, else ``https://api.connectly.ai``. It must be ``https://``
        (``http://`` only to a loopback address such as 127.0.0.1).
    timeout : float, default 30
        Seconds to wait for each network read.
    retries : int, default 3
        How many times to retry a network error, a timeout, a cut body,
        HTTP 429 or 5xx (after ``Retry-After`` seconds when the server says so).
    backoff : float, default 0.5
        Seconds before the first retry, doubled for each further one.
    deadline : float, default 120
        Seconds one request may take in all, however slowly the bytes come.

    Returns
    -------
    pandas.DataFrame
        See :func:`parse_reports`.

    Raises
    ------
    ApiAuthError
        No key, or the key was refused (401/403).
    ApiError
        A base URL that is not https, a redirect (not followed: the key would
        go with it), unknown business (404), another HTTP error, an answer
        that is not the expected JSON or is over 16 MiB, the deadline passed,
        or the server could not be reached.
    """
    key = _key(api_key)
    base_url = base_url or os.environ.get("CONNECTLY_API_URL", BASE_URL)
    query = f"?{urllib.parse.urlencode({'type': type})}" if type else ""
    url = (
        f"{base_url.rstrip('/')}/v1/businesses/{urllib.parse.quote(business_id, safe='')}"
        f"/reporting/reports{query}"
    )
    payload = _get_json(
        url,
        key,
        timeout=timeout,
        deadline=deadline,
        retries=retries,
        backoff=backoff,
        business_id=business_id,
    )
    if not isinstance(payload, Mapping | list):
        raise ApiError(
            f"the API answered an unexpected document (JSON {_json_type(payload)}, "
            "not a 'data' list of reports)"
        )
    return parse_reports(payload)


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``null``, ``string``, ``array`` ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


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
    deadline: float = 3600,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    progress: bool | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[Path]:
    """Download the latest completed run of each report (or of ``report_id``).

    Files are named ``<report name>_<run id>_<hash>.csv``, the hash (8 hex
    digits) being of the report's id and the run's, so that two reports whose
    names differ only in punctuation get two files; a file already there is
    not downloaded again. An expired signed URL is refreshed by asking the API
    again; transient failures are retried with back-off; the CSV is streamed
    to a temporary file and renamed when complete and checked, so a broken
    download, or an error page, never looks like a report.

    Parameters
    ----------
    business_id : str
        The Connectly business whose reports to download.
    folder : path-like
        Where the CSV files go; created if missing.
    report_id : str, optional
        Only this report; by default every report listed.
    api_key : str, optional
        Defaults to the ``CONNECTLY_API_KEY`` environment variable (sent to
        the API only, never with a download).
    type : str, optional
        Only reports of this type, e.g. ``"campaign.daily.v1"``.
    base_url : str, optional
        As for :func:`list_reports`.
    timeout : float, default 60
        Seconds to wait for each network read (listing and download).
    retries : int, default 3
        How many times to retry a network error, a timeout, a cut body,
        HTTP 429 or 5xx.
    backoff : float, default 0.5
        Seconds before the first retry, doubled for each further one.
    deadline : float, default 3600
        Seconds one download may take in all (each listing: 120 s).
    max_bytes : int, default 8 GiB
        Largest file accepted; a bigger one is an error and nothing is kept.
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
        As for :func:`list_reports`; also no report ``report_id``, a
        completed run without a download URL, a download URL that is not
        https (``file:``, ``ftp:``, ``data:``, plain http to another host),
        a file over ``max_bytes``, an answer that is not a campaign export or
        was cut, the deadline passed, or a download that kept failing.
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
        fresh_report = next(fresh.itertuples(index=False))
        _check_completed(fresh_report)
        return fresh_report

    fetch = {"timeout": timeout, "retries": retries, "backoff": backoff, "deadline": deadline}
    return [
        _download_one(
            report, folder, refresh, now=now, progress=progress, max_bytes=max_bytes, **fetch
        )
        for report in reports.itertuples(index=False)
    ]


def _check_completed(report: Any) -> None:
    if report.status != "completed":
        state = report.status or "unknown"
        raise ReportNotReadyError(
            f"report {report.name!r}: the latest run is {state}"
            + ("; try again in a few minutes" if state == "processing" else "")
        )
    if not report.url:
        raise ApiError(
            f"report {report.name!r}: the run is completed but the API gave no download URL "
            "(expected an https:// URL)"
        )


def _report_path(folder: Path, report: Any) -> Path:
    digest = hashlib.sha256(f"{report.id}\0{report.run_id}".encode()).hexdigest()[:8]
    return folder / f"{_slug(report.name)}_{_slug(report.run_id)}_{digest}.csv"


def _download_one(
    report: Any,
    folder: Path,
    refresh: Callable[[Any], Any],
    *,
    now: Callable[[], dt.datetime],
    progress: bool | None,
    **fetch: Any,
) -> Path:
    """One report's file: already there, or streamed; an expired link refreshed once."""
    for attempt in range(2):
        path = _report_path(folder, report)
        if path.exists():
            return path
        expired = not pd.isna(report.expires_at) and report.expires_at.to_pydatetime() <= now()
        if not expired or attempt:
            try:
                _stream(report.url, path, progress=progress, label=str(report.name), **fetch)
                return path
            except _Expired:
                if attempt:
                    raise ApiError(
                        f"report {report.name!r}: the download link stayed "
                        "expired after asking the API for a new one"
                    ) from None
        report = refresh(report)
    raise AssertionError("unreachable")


def _stream(
    url: str,
    path: Path,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    deadline: float,
    max_bytes: int,
    progress: bool | None,
    label: str,
) -> None:
    """Download ``url`` into ``path`` (whole, checked, or not at all)."""
    what = f"downloading {label!r}"

    def call() -> None:
        parts = _checked_url(url, what=f"report {label!r}: the download URL")
        for _ in range(MAX_REDIRECTS + 1):
            with _request(
                parts, {"Accept": "text/csv, */*"}, timeout=timeout, deadline=deadline
            ) as answer:
                if answer.status in _REDIRECTS and answer.headers.get("Location"):
                    new = urllib.parse.urljoin(parts.geturl(), answer.headers["Location"])
                    parts = _checked_url(new, what=f"report {label!r}: a redirect of the download")
                    continue
                answer.raise_for_status()
                _save(answer, path, what=what, max_bytes=max_bytes, progress=progress)
                return
        raise ApiError(f"{what}: more than {MAX_REDIRECTS} redirects")

    try:
        _retrying(call, retries=retries, backoff=backoff, what=what, deadline=deadline)
    except _Status as exc:
        if exc.code in (400, 403):
            raise _Expired from None
        raise ApiError(f"{what} failed: HTTP {exc.code}") from None


def _save(answer: _Answer, path: Path, *, what: str, max_bytes: int, progress: bool | None) -> None:
    """The body into ``path`` through the atomic writer, checked as an export before the rename."""
    from tqdm.auto import tqdm

    check = _ExportCheck(what)
    with (
        atomic_write(path) as out,
        tqdm(
            total=answer.length,
            unit="B",
            unit_scale=True,
            desc=f"{what[:40]}",
            disable=not progress if progress is not None else None,
            leave=False,
        ) as bar,
    ):
        for chunk in answer.chunks(max_bytes, what):
            check.feed(chunk)
            out.write(chunk)
            bar.update(len(chunk))
        check.finish(sized=answer.length is not None)


# --------------------------------------------------------------------------- is it an export?


class _ExportCheck:
    """Whether a streamed body is a campaign export, and a whole one.

    The first line must name the required columns. Without a
    ``Content-Length`` (a body that ends when the connection closes), the
    body must also end in a whole record: no quoted field left open, a final
    line break, and as many fields in the last record as in the header.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.head = bytearray()
        self.width = 0  # fields in the header, once read
        self.delimiter = ","
        self.utf16 = False
        self.quotes = 0
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        if not self.width:
            self.head += chunk
            if b"\n" in self.head or len(self.head) > _HEAD_MAX:
                self._header(final=False)
        self.quotes += chunk.count(b'"')
        self.tail = (self.tail + chunk)[-_TAIL:]

    def _header(self, *, final: bool) -> None:
        head = bytes(self.head[:_HEAD_MAX])
        self.utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
        text = head.decode("utf-16" if self.utf16 else "utf-8-sig", errors="replace")
        line = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
        if "\n" not in text and not final:
            raise self._not_an_export(line, "its first line is longer than 4 MiB")
        best: tuple[int, list[str], str] = (0, [], ",")
        for d in (",", ";", "\t", "|"):
            fields = next(csv.reader([line], delimiter=d), [])
            known = len({column_key(f) for f in fields} & set(EXPORT_COLUMNS))
            if known > best[0]:
                best = (known, fields, d)
        missing = set(REQUIRED_COLUMNS) - {column_key(f) for f in best[1]}
        if missing:
            raise self._not_an_export(line, f"no column {', '.join(sorted(missing))}")
        self.width, self.delimiter = len(best[1]), best[2]
        self.head = bytearray()

    def _not_an_export(self, line: str, why: str) -> ApiError:
        start = line.lstrip()[:1]
        kind = {"<": "an XML or HTML page", "{": "JSON", "[": "JSON"}.get(start, "a document")
        shown = line if len(line) <= 120 else line[:120] + "…"
        return ApiError(
            f"{self.what}: the server answered {kind} that is not a campaign export ({why}); "
            f"it begins {shown!r}. Nothing was saved"
        )

    def finish(self, *, sized: bool) -> None:
        if not self.width:
            if not self.head.strip():
                raise _Transient("the body was empty")
            self._header(final=True)
        if sized or self.utf16:
            return
        if self.quotes % 2:
            raise _Transient("the body was cut inside a quoted field (no Content-Length)")
        if not self.tail.endswith(b"\n"):
            raise _Transient("the body was cut mid-record: no final line break (no Content-Length)")
        record = _last_record(self.tail)
        if record is None:
            return  # the last record is longer than the tail: its fields are not counted
        text = record.decode("utf-8", errors="replace")
        fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter), [])
        if len(fields) != self.width:
            raise _Transient(
                f"the body was cut mid-record: its last record has {len(fields)} field(s), "
                f"the header {self.width} (no Content-Length)"
            )


def _last_record(tail: bytes) -> bytes | None:
    """The last record in ``tail`` (the end of a body whose quotes are balanced).

    A line break is a record boundary when an even number of quotes follows it.
    """
    body = tail.rstrip(b"\r\n")
    pos, after = len(body), 0
    while (found := body.rfind(b"\n", 0, pos)) >= 0:
        after += body.count(b'"', found, pos)
        if after % 2 == 0:
            return body[found + 1 :]
        pos = found
    return body if len(tail) < _TAIL else None
