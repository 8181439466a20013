"""The Reports API client against a real HTTP server on 127.0.0.1 (no other host is touched)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
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
        self.run = 1
        self.port = 0

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
            if url.path.startswith("/v1/businesses/"):
                if self.headers.get("X-API-Key") != KEY:
                    return self._send(401, b'{"error": "unauthorized"}')
                if url.path.split("/")[3] != BUSINESS:
                    return self._send(404, b'{"error": "not found"}')
                if state.fail_list:
                    state.fail_list -= 1
                    return self._send(500, b"{}")
                body = json.dumps(state.listing()).encode()
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
    assert path.name == "Daily_campaigns_run-1.csv"
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
    assert path.name == "Daily_campaigns_run-2.csv"
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
    assert "Daily_campaigns_run-1.csv" in out
    assert KEY not in out
    monkeypatch.setenv("CONNECTLY_API_KEY", "bad")
    assert main(["fetch", "--business", BUSINESS, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "refused" in err
    assert "bad" not in err.replace("refused", "")
