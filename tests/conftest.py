"""Shared fixtures: small exports written by the tests themselves."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports pyplot

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from connectly_nb.schema import EXPORT_COLUMNS

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SENDOUT = "5f0c1d7e-0000-4000-8000-000000000001"
BUSINESS = "b0000000-0000-4000-8000-000000000001"


def row(**values: str) -> dict[str, str]:
    """One export record with sensible defaults; keyword arguments override."""
    base = {
        "customer_external_id": "+5511987654321",
        "business_id": BUSINESS,
        "campaign_name": "Promo",
        "sendout_id": SENDOUT,
        "cnt_session_id": "s-1",
        "sent_at": "2024-05-10 20:13:50.682000",
        "delivered_at": "",
        "read_at": "",
        "opt_out_at": "",
        "error_code": "",
        "error_msg": "",
        "button_clicks": "[]",
        "link_clicks": "[]",
        "input_variables": "{}",
        "output_variables": "{}",
    }
    base.update(values)
    return base


def csv_text(
    rows: Iterable[Mapping[str, str]],
    *,
    columns: Iterable[str] = EXPORT_COLUMNS,
    delimiter: str = ",",
    lineterminator: str = "\n",
) -> str:
    columns = list(columns)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c, "") for c in columns])
    return buf.getvalue()


@pytest.fixture
def write_export(tmp_path: Path) -> Callable[..., Path]:
    """Write records as an export file; returns its path.

    ``write_export(rows, name="x.csv", encoding="utf-8", columns=..., delimiter=",",
    lineterminator="\\n", text=None)``: ``text`` writes the given text as is.
    """
    counter = iter(range(10_000))

    def write(
        rows: Iterable[Mapping[str, str]] = (),
        *,
        name: str | None = None,
        encoding: str = "utf-8",
        text: str | None = None,
        **fmt: object,
    ) -> Path:
        path = tmp_path / (name or f"export_{next(counter):03d}.csv")
        body = text if text is not None else csv_text(rows, **fmt)  # type: ignore[arg-type]
        path.write_bytes(body.encode(encoding))
        return path

    return write


@pytest.fixture(autouse=True)
def _close_figures() -> Iterable[None]:
    """No test leaves a matplotlib figure open."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="module", params=["sequential", "threaded"])
def both_load_modes(request: pytest.FixtureRequest) -> Iterable[str]:
    """Run a module's tests twice: small loads as usual, then on two threads.

    ``read_export`` runs its column tasks on two threads only for big loads;
    tests that use this fixture also drive that path with small hostile files.
    """
    from connectly_nb import tidy

    with pytest.MonkeyPatch.context() as mp:
        if request.param == "threaded":
            mp.setattr(tidy, "_THREADED_ROWS", 0)
        yield request.param
