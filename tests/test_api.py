"""The Reports API client against a real HTTP server on 127.0.0.1 (no other host is touched)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from connectly_nb import read_export
from connectly_nb.api import (
    ApiAuthError,
    ApiError,
    ReportNotReadyError,
    download_report,
    list_reports,
    parse_reports,
)
from connectly_nb.cli import main
from tests.conftest import csv_text, row

KEY = "s3cret-key"
BUSINESS = "biz-1"
CSV = csv_text(
    [row(customer_external_id="+5511900000001"), row(customer_external_id="+5511900000002")]
).encode()


class QuietServer(ThreadingHTTPServer):
    """A test server whose handler errors (a client hanging up) stay out of stderr."""

    def handle_error(self, request, client_address):
        pass


class FakeConnectly:
    """State of the fake API: what it answers, and what it was asked."""

    def __init__(self) -> None:
        self.status = "completed"
        self.fail_list = 0  # answer 500 this many times
        self.fail_download = 0
        self.stall_download = 0  # sleep past the client's timeout this many times
        self.expire_first = False  # the first URL handed out answers 403
        self.truncate = 0  # send fewer bytes than Content-Length this many times
        self.requests: list[tuple[str, str | None]] = []
        self.times: list[float] = []  # when each request arrived (time.monotonic)
        self.run = 1
        self.port = 0
        # path -> function(handler) answering instead of the usual route (hostile servers)
        self.custom: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.reports: list[dict] | None = None  # the listing's "data", when set

    def listing(self, snake: bool = False) -> dict:
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
        sig = "old" if self.expire_first and self.run == 1 else f"ok{self.run}"
        run = {
            "id": f"run-{self.run}",
            "status": self.status,
            "result": {
                "url": f"http://127.0.0.1:{self.port}/files/r1.csv?sig={sig}",
                "expiresAt": expires,
                "createdAt": "2024-11-27T06:00:00Z",
            },
        }
        if snake:
            run["result"] = {
                "url": run["result"]["url"],
                "expires_at": expires,
                "created_at": "2024-11-27T06:00:00Z",
            }
            return {
                "data": [
                    {
                        "id": "r1",
                        "name": "Daily campaigns",
                        "type": "campaign.daily.v1",
                        "last_run": run,
                    }
                ]
            }
        return {
            "data": [
                {"id": "r1", "name": "Daily campaigns", "type": "campaign.daily.v1", "lastRun": run}
            ]
        }


@pytest.fixture
def api():
    state = FakeConnectly()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            url = urlparse(self.path)
            state.requests.append((url.path, self.headers.get("X-API-Key")))
            state.times.append(time.monotonic())
            if url.path in state.custom:
                return state.custom[url.path](self)
            if url.path.startswith("/v1/businesses/"):
                if self.headers.get("X-API-Key") != KEY:
                    return self._send(401, b'{"error": "unauthorized"}')
                if url.path.split("/")[3] != BUSINESS:
                    return self._send(404, b'{"error": "not found"}')
                if state.fail_list:
                    state.fail_list -= 1
                    return self._send(500, b"{}")
                listing = state.listing() if state.reports is None else {"data": state.reports}
                body = json.dumps(listing).encode()
                if state.expire_first:
                    state.run += 1  # the next listing hands out a fresh URL
                return self._send(200, body)
            if url.path == "/files/r1.csv":
                if parse_qs(url.query).get("sig") == ["old"]:
                    return self._send(403, b"<Error>Request has expired</Error>")
                if state.fail_download:
                    state.fail_download -= 1
                    return self._send(503, b"busy")
                if state.stall_download:
                    state.stall_download -= 1
                    time.sleep(1.5)
                if state.truncate:
                    state.truncate -= 1
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(CSV)))
                    self.end_headers()
                    self.wfile.write(CSV[: len(CSV) // 2])
                    self.close_connection = True
                    return None
                return self._send(200, CSV)
            return self._send(404, b"")

        def _send(self, code, body):
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = QuietServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{state.port}"
    yield state
    server.shutdown()
    server.server_close()


FAST = {"backoff": 0.01, "timeout": 0.5}


def test_list_reports_reads_the_camel_case_api(api):
    frame = list_reports(BUSINESS, api_key=KEY, base_url=api.base, **FAST)
    assert frame[["id", "name", "run_id", "status"]].values.tolist() == [
        ["r1", "Daily campaigns", "run-1", "completed"]
    ]
    assert str(frame["expires_at"].dt.tz) == "UTC"
    assert api.requests[-1] == (f"/v1/businesses/{BUSINESS}/reporting/reports", KEY)


def test_webhook_snake_case_reads_the_same(api):
    camel = parse_reports(api.listing())
    snake = parse_reports(api.listing(snake=True))
    assert camel.drop(columns=["expires_at"]).equals(snake.drop(columns=["expires_at"]))
    assert snake["url"].iloc[0].startswith("http://127.0.0.1")


def test_key_from_environment_and_clear_auth_errors(api, monkeypatch):
    monkeypatch.delenv("CONNECTLY_API_KEY", raising=False)
    with pytest.raises(ApiAuthError, match="CONNECTLY_API_KEY"):
        list_reports(BUSINESS, base_url=api.base, **FAST)
    monkeypatch.setenv("CONNECTLY_API_KEY", "wrong-key")
    with pytest.raises(ApiAuthError, match="HTTP 401") as info:
        list_reports(BUSINESS, base_url=api.base, **FAST)
    assert "wrong-key" not in str(info.value)  # the key is never in a message
    monkeypatch.setenv("CONNECTLY_API_KEY", KEY)
    with pytest.raises(ApiError, match="unknown business 'nope'"):
        list_reports("nope", base_url=api.base, **FAST)
    assert len(list_reports(BUSINESS, base_url=api.base, **FAST)) == 1


def test_download_retries_streams_atomically_and_skips_existing(api, tmp_path):
    # transient failures: two 500s while listing, two 503s and a stall while downloading
    api.fail_list = 2
    api.fail_download = 2
    api.stall_download = 1
    (path,) = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert re.fullmatch(r"Daily_campaigns_run-1_[0-9a-f]{8}\.csv", path.name)
    assert path.read_bytes() == CSV
    assert len(read_export(path).messages) == 2
    assert not list(tmp_path.glob(".*partial"))
    before = len(api.requests)
    assert download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST) == [path]
    assert not [p for p, _ in api.requests[before:] if p.startswith("/files/")]  # skipped


def test_a_broken_download_never_looks_like_a_report(api, tmp_path):
    api.truncate = 10
    with pytest.raises(ApiError, match="failed 2 times"):
        download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, retries=1, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_an_expired_url_is_refreshed_by_asking_again(api, tmp_path):
    api.expire_first = True
    (path,) = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert path.name.startswith("Daily_campaigns_run-2_")
    assert path.read_bytes() == CSV


def test_url_known_to_be_expired_is_refreshed_before_downloading(api, tmp_path):
    late = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    (path,) = download_report(
        BUSINESS, tmp_path, api_key=KEY, base_url=api.base, now=lambda: late, **FAST
    )
    assert path.exists()
    listed = [p for p, _ in api.requests if p.startswith("/v1/")]
    assert len(listed) == 2  # the first answer's URL had expired by "now"


@pytest.mark.parametrize("status", ["processing", "failed"])
def test_runs_not_completed_are_clear_errors(api, tmp_path, status):
    api.status = status
    with pytest.raises(ReportNotReadyError, match=f"latest run is {status}"):
        download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)


def test_fetch_command(api, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONNECTLY_API_KEY", KEY)
    monkeypatch.setenv("CONNECTLY_API_URL", api.base)
    assert main(["fetch", "--business", BUSINESS, "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Daily_campaigns_run-1_" in out
    assert KEY not in out
    monkeypatch.setenv("CONNECTLY_API_KEY", "bad")
    assert main(["fetch", "--business", BUSINESS, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "refused" in err
    assert "bad" not in err.replace("refused", "")


# --------------------------------------------------------------------------- hostile servers
# issue 14, items 1, 2 and 19: what a hostile or broken server gets out of the client

LISTING = f"/v1/businesses/{BUSINESS}/reporting/reports"
NO_URL = object()


def answer(code: int, body: bytes = b"", *, headers=(), length: bool = True):
    """A responder: ``code`` with ``body``; without ``length`` the body ends at the close."""

    def respond(handler):
        handler.send_response(code)
        for name, value in headers:
            handler.send_header(name, value)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True

    return respond


def in_turn(*responders):
    """Each request gets the next responder; the last one answers every later request."""
    queue = list(responders)

    def respond(handler):
        (queue.pop(0) if len(queue) > 1 else queue[0])(handler)

    return respond


def a_report(api, *, id="r1", name="Daily campaigns", run="run-1", url=None, status="completed"):
    url = f"{api.base}/files/r1.csv?sig=ok" if url is None else url
    return {
        "id": id,
        "name": name,
        "type": "campaign.daily.v1",
        "lastRun": {
            "id": run,
            "status": status,
            "result": {"url": None if url is NO_URL else url, "expiresAt": None},
        },
    }


@contextlib.contextmanager
def other_host(seen: list):
    """Another origin (its own port) recording the path and key of what reaches it."""

    class Record(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("X-API-Key")))
            body = json.dumps({"data": []}).encode()
            answer(200, body)(self)

    server = QuietServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_the_api_key_never_follows_a_redirect(api, code):
    seen: list = []
    with other_host(seen) as other:
        api.custom[LISTING] = answer(code, headers=[("Location", other + LISTING)])
        with pytest.raises(ApiError, match="redirect") as info:
            list_reports(BUSINESS, api_key=KEY, base_url=api.base, **FAST)
    assert seen == []  # nothing, and so no key, reached the other host
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "base",
    [
        "http://api.example.com",
        "http://10.1.2.3:8080",
        "ftp://api.example.com",
        "file:///etc",
        "api.example.com",
    ],
)
def test_an_api_url_that_is_not_https_is_refused_before_connecting(base, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(ApiError, match="https://") as info:
        list_reports(BUSINESS, api_key=KEY, base_url=base, **FAST)
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/r1.csv",
        "data:text/csv,customer_external_id%0A",
        "http://192.0.2.10/r1.csv",  # plain http to a host that is not this machine
        "/etc/passwd",
        "",
    ],
)
def test_fetch_downloads_only_https_urls(api, tmp_path, capsys, monkeypatch, url):
    api.reports = [a_report(api, url=url)]
    monkeypatch.setenv("CONNECTLY_API_KEY", KEY)
    monkeypatch.setenv("CONNECTLY_API_URL", api.base)
    assert main(["fetch", "--business", BUSINESS, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "https" in err
    assert "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []


def test_retry_after_is_honoured(api, tmp_path):
    api.custom["/files/r1.csv"] = in_turn(
        answer(503, b"busy", headers=[("Retry-After", "1")]), answer(200, CSV)
    )
    (path,) = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert path.read_bytes() == CSV
    waited = api.times[-1] - api.times[-2]
    assert 0.9 <= waited < 3  # backoff alone would have retried after 0.01 s


def test_a_retry_after_longer_than_the_client_waits_is_a_clear_error(api, tmp_path):
    api.custom["/files/r1.csv"] = answer(429, b"slow down", headers=[("Retry-After", "86400")])
    started = time.monotonic()
    with pytest.raises(ApiError, match="asks to wait 86400 s"):
        download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert time.monotonic() - started < 2
    assert list(tmp_path.iterdir()) == []


QUOTED = csv_text(
    [row(customer_external_id="+5511900000001"), row(campaign_name="two\nlines, quoted")]
).encode()


@pytest.mark.parametrize(
    "body",
    [
        CSV[:-25],  # cut inside the last record
        QUOTED[: QUOTED.index(b"two\n") + 4],  # cut inside a quoted field, after a newline
        CSV[: CSV.index(b"\n") - 3],  # cut inside the header
    ],
    ids=["mid-record", "mid-quote", "mid-header"],
)
def test_a_body_cut_without_content_length_is_not_taken_for_a_report(api, tmp_path, body):
    api.custom["/files/r1.csv"] = answer(200, body, length=False)
    with pytest.raises(ApiError, match=r"cut|not a campaign export"):
        download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, retries=1, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_a_whole_body_without_content_length_is_accepted(api, tmp_path):
    api.custom["/files/r1.csv"] = answer(200, QUOTED, length=False)
    (path,) = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert path.read_bytes() == QUOTED


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code></Error>',
        b"<!DOCTYPE html>\n<html><body>Service unavailable</body></html>\n",
        b'{"error": "internal"}\n',
        b"name,age\nAna,31\n",
    ],
    ids=["xml", "html", "json", "other-csv"],
)
def test_an_error_document_with_status_200_is_not_saved_as_a_report(api, tmp_path, body):
    api.custom["/files/r1.csv"] = answer(200, body)
    with pytest.raises(ApiError, match="not a campaign export"):
        download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert list(tmp_path.iterdir()) == []
    del api.custom["/files/r1.csv"]  # the next fetch downloads it: nothing was left behind
    (path,) = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert path.read_bytes() == CSV


def test_report_names_that_differ_only_in_punctuation_get_their_own_files(api, tmp_path):
    api.reports = [
        a_report(api, id="r1", name="Daily: BR"),
        a_report(api, id="r2", name="Daily/BR"),
        a_report(api, id="r3", name="Daily BR?"),
    ]
    paths = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert len(set(paths)) == 3
    assert all(p.name.startswith("Daily_BR_run-1_") for p in paths)
    assert sorted(tmp_path.iterdir()) == sorted(paths)
    assert [p for p, _ in api.requests].count("/files/r1.csv") == 3


def test_a_refreshed_run_already_downloaded_is_not_downloaded_again(api, tmp_path):
    api.run = 2
    (first,) = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    api.run, api.expire_first = 1, True  # run-1's link has expired; asking again gives run-2
    before = len(api.requests)
    (again,) = download_report(BUSINESS, tmp_path, api_key=KEY, base_url=api.base, **FAST)
    assert again == first
    downloads = [p for p, _ in api.requests[before:] if p.startswith("/files/")]
    assert downloads == ["/files/r1.csv"]  # only the expired link was tried


def test_parse_reports_reads_a_json_array_as_the_list(api):
    frame = parse_reports([api.listing()["data"][0], "junk", None, 3])
    assert frame["id"].iloc[0] == "r1"
    assert frame["id"].isna().tolist() == [False, True, True, True]
    assert frame["run_id"].iloc[0] == "run-1"


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


@pytest.mark.parametrize(
    ("respond", "expect"),
    [
        (answer(200, json.dumps(None).encode()), "unexpected document (JSON null"),
        (answer(200, b'{"data": "text"}'), "unexpected document"),
        (answer(200, b'{"data": [1, "x", null]}'), "latest run is unknown"),
        (answer(200, b'{"data": [{"id": {}, "name": ["x"], "lastRun": []}]}'), "unknown"),
        (answer(200, _deep(200_000)), "not JSON"),
        (answer(200, b"<html>maintenance</html>"), "not JSON"),
        (answer(200, b'{"data": [{"id": "r1", "na', length=False), "not JSON"),
        (answer(200, b"\xff\xfe\x00garbage"), "not JSON"),
    ],
    ids=[
        "null",
        "data-text",
        "data-junk",
        "odd-types",
        "deep",
        "html",
        "truncated",
        "bytes",
    ],
)
def test_fetch_on_a_hostile_listing_exits_2_with_a_message(
    api, tmp_path, capsys, monkeypatch, respond, expect
):
    api.custom[LISTING] = respond
    monkeypatch.setenv("CONNECTLY_API_KEY", KEY)
    monkeypatch.setenv("CONNECTLY_API_URL", api.base)
    code = main(["fetch", "--business", BUSINESS, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert expect in err
    assert "Traceback" not in err
    assert KEY not in err


def test_a_listing_shorter_than_its_content_length_is_retried_then_an_error(api):
    api.custom[LISTING] = answer(
        200, b'{"data": [{"id": "r1", "na', headers=[("Content-Length", "900")], length=False
    )
    with pytest.raises(ApiError, match="failed 4 times, last because the body was cut"):
        list_reports(BUSINESS, api_key=KEY, base_url=api.base, **FAST)


def test_fetch_on_a_completed_run_without_a_url_exits_2(api, tmp_path, capsys, monkeypatch):
    api.reports = [a_report(api, url=NO_URL)]
    monkeypatch.setenv("CONNECTLY_API_KEY", KEY)
    monkeypatch.setenv("CONNECTLY_API_URL", api.base)
    assert main(["fetch", "--business", BUSINESS, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no download URL" in err
    assert "Traceback" not in err


def test_a_json_array_listing_is_fetched(api, tmp_path, capsys, monkeypatch):
    api.custom[LISTING] = answer(200, json.dumps([a_report(api)]).encode())
    monkeypatch.setenv("CONNECTLY_API_KEY", KEY)
    monkeypatch.setenv("CONNECTLY_API_URL", api.base)
    assert main(["fetch", "--business", BUSINESS, "-o", str(tmp_path)]) == 0
    (path,) = tmp_path.iterdir()
    assert path.read_bytes() == CSV


def endless(handler):
    """A 200 whose body never ends (until the client hangs up)."""
    handler.send_response(200)
    handler.end_headers()
    handler.wfile.write(CSV)
    line = CSV.splitlines(keepends=True)[-1]
    for _ in range(200_000):
        try:
            handler.wfile.write(line * 100)
        except OSError:
            return


def test_a_body_over_the_size_cap_is_refused(api, tmp_path):
    api.custom["/files/r1.csv"] = endless
    with pytest.raises(ApiError, match="more than 100,000 bytes"):
        download_report(
            BUSINESS, tmp_path, api_key=KEY, base_url=api.base, max_bytes=100_000, **FAST
        )
    assert list(tmp_path.iterdir()) == []


def trickle(where: str):
    """Answer one byte at a time, 20 a second: in the headers, or in the body."""

    def respond(handler):
        handler.wfile.write(b"HTTP/1.0 200 OK\r\n")
        drip = b"X-Slow: " + b"y" * 10_000 if where == "headers" else None
        if drip is None:
            handler.wfile.write(f"Content-Length: {len(CSV)}\r\n\r\n".encode())
            drip = CSV
        for i in range(len(drip)):
            try:
                handler.wfile.write(drip[i : i + 1])
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)

    return respond


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_slow_server_cannot_hold_the_client_past_its_deadline(api, tmp_path, where):
    api.custom["/files/r1.csv"] = trickle(where)
    started = time.monotonic()
    with pytest.raises(ApiError, match="deadline of 1 s"):
        download_report(
            BUSINESS, tmp_path, api_key=KEY, base_url=api.base, deadline=1, retries=0, **FAST
        )
    assert time.monotonic() - started < 3  # each byte came well within the 0.5 s timeout
    assert list(tmp_path.iterdir()) == []


def test_https_goes_through_the_proxy_named_by_https_proxy(monkeypatch):
    seen: list[bytes] = []

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_CONNECT(self):
            seen.append(self.requestline.encode())
            self.send_response(502)
            self.end_headers()

    server = QuietServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    try:
        with pytest.raises(ApiError, match="failed 1 times"):
            list_reports(BUSINESS, api_key=KEY, base_url="https://api.example.test", retries=0)
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen) == 1
    assert seen[0].startswith(b"CONNECT api.example.test:443 ")


def test_a_download_never_writes_through_a_planted_link(api, tmp_path):
    # issue 14, item 3: the download was streamed into a fixed ".<name>.partial"
    (first,) = download_report(BUSINESS, tmp_path / "probe", api_key=KEY, base_url=api.base)
    name = first.name  # the file name the download will use
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / f".{name}.partial").symlink_to(victim)
    (folder / name).symlink_to(tmp_path / "nowhere.txt")  # a dangling link at the target
    (path,) = download_report(BUSINESS, folder, api_key=KEY, base_url=api.base, **FAST)
    assert victim.read_text() == "precious"
    assert not (tmp_path / "nowhere.txt").exists()
    assert not path.is_symlink()
    assert path.read_bytes() == CSV
