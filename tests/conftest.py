"""Shared fixtures: small exports written by the tests, the sample and its golden numbers.

- ``row``, ``csv_text`` and ``write_export`` write small exports;
- ``sample`` is the bundled sample export, loaded once per session;
- ``golden`` holds the numbers tests compare the sample against, from
  ``tests/data/sample_golden.json`` (checked once, independently of the
  package, in ``test_datasets.py``);
- ``daily`` is the sample plus a later report repeating 2,500 of its records;
- ``assert_same_export`` and ``parse_html`` compare exports and read markup.
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports pyplot

import csv
import html.parser
import io
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

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

GOLDEN = Path(__file__).parent / "data" / "sample_golden.json"
TABLES = ("messages", "clicks", "variables", "problems", "accounting")

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


@pytest.fixture
def planted_links(tmp_path: Path) -> Callable[[Path], Callable[[], None]]:
    """Plant symlinks where a writer might write through them; returns a checker.

    ``check = planted_links(target)`` links the old fixed temporary name
    ``.<name>.partial`` and ``target`` itself to files holding "precious";
    ``check()`` asserts that neither was written through, that the planted
    temporary link is still there, and that ``target`` became a regular file.
    """

    def plant(target: Path) -> Callable[[], None]:
        victims = tmp_path / "victims"
        victims.mkdir(exist_ok=True)
        partial_victim = victims / f"{target.name}.partial-victim"
        target_victim = victims / f"{target.name}.target-victim"
        for victim in (partial_victim, target_victim):
            victim.write_text("precious")
        partial = target.with_name(f".{target.name}.partial")
        partial.symlink_to(partial_victim)
        target.symlink_to(target_victim)

        def check() -> None:
            assert partial_victim.read_text() == "precious"
            assert target_victim.read_text() == "precious"
            assert partial.is_symlink()
            assert not target.is_symlink()
            assert target.is_file()

        return check

    return plant


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


# --------------------------------------------------------------------------- exports


def problems_of(ex: Any, code: str) -> Any:
    """The rows of ``ex.problems`` of one problem code."""
    return ex.problems[ex.problems["problem"] == code]


def assert_same_export(a: Any, b: Any) -> None:
    """The five tables and the time zone of two Exports are equal."""
    import pandas as pd

    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    assert a.tz == b.tz


@pytest.fixture(scope="session")
def sample() -> Any:
    """The bundled sample export (immutable: one load serves every test)."""
    from connectly_nb.datasets import sample_export

    return sample_export()


@pytest.fixture(scope="session")
def daily(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The sample plus a later report repeating 2,500 of its records with news.

    2,500 merges (more than the few-rows paths handle), changed timestamps,
    error codes and variables, and a bad variables cell.
    """
    from connectly_nb.datasets import sample_path

    folder = tmp_path_factory.mktemp("daily")
    text = sample_path().read_text(encoding="utf-8")
    records = list(csv.DictReader(io.StringIO(text)))
    later = []
    for i, r in enumerate(records[:2500]):
        r = dict(r)
        if i % 3 == 0 and r["sent_at"]:
            r["read_at"] = "2024-06-01 10:00:00"
        if i % 7 == 0:
            r["error_code"], r["error_msg"] = "131049", "healthy ecosystem"
        if i % 5 == 0:
            r["input_variables"] = '{"city": "Recife", "tier": "gold"}'
        later.append(r)
    later[10]["output_variables"] = '{"broken": '
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(later)
    day2 = folder / "day2.csv"
    day2.write_text(out.getvalue(), encoding="utf-8")
    return [sample_path(), day2]


# --------------------------------------------------------------------------- golden numbers


def golden_from_package(ex: Any) -> dict[str, Any]:
    """The golden numbers as the package computes them on the sample ``ex``.

    Only used to write ``sample_golden.json`` when it is missing, and by
    ``test_datasets.py`` to check the package against the file.
    """
    from connectly_nb import metrics as M
    from connectly_nb.schema import COUNT_COLUMNS

    m = ex.messages
    total = M.funnel(ex, by=None).iloc[0]
    by_campaign = M.funnel(ex).set_index("campaign_name")
    sendouts = m.groupby("campaign_name", observed=True)["sendout_id"].nunique()
    campaigns = {
        str(name): {
            **{c: int(by_campaign.loc[name, c]) for c in COUNT_COLUMNS},
            "sendouts": int(sendouts[name]),
        }
        for name in by_campaign.index
    }
    errors = M.errors(ex)
    sent_days = m["sent_at"].dropna().dt.strftime("%Y-%m-%d").value_counts()
    return {
        **{c: int(total[c]) for c in COUNT_COLUMNS},
        "records_read": int(ex.accounting["records_read"].sum()),
        "merged": int(ex.accounting["duplicates_merged"].sum()),
        "clicks": len(ex.clicks),
        "sendouts": int(m["sendout_id"].nunique()),
        "campaigns": dict(sorted(campaigns.items())),
        "problems": {str(k): int(v) for k, v in sorted(ex.summary()["problems"].items())},
        "error_codes": {
            str(c): int(n)
            for c, n in sorted(zip(errors["error_code"], errors["count"], strict=True))
        },
        "sent_by_day": {str(d): int(n) for d, n in sorted(sent_days.items())},
    }


def load_golden(path: Path, ex: Any) -> dict[str, Any]:
    """Read the golden file; a missing one is written from the package, then the test fails.

    Numbers are never trusted just because the code made them: the written
    file asks for a review before it is committed.
    """
    if not path.exists():
        text = json.dumps(golden_from_package(ex), indent=2, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")
        pytest.fail(f"wrote {path}: review it against the sample, then commit it")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def golden(sample: Any) -> dict[str, Any]:
    """The sample's golden numbers (``tests/data/sample_golden.json``)."""
    return load_golden(GOLDEN, sample)


# --------------------------------------------------------------------------- markup


class Page(html.parser.HTMLParser):
    """Markup read by the standard parser: its tags (with attributes) and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    @property
    def tags(self) -> list[str]:
        return [tag for tag, _ in self.elements]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(markup: str) -> Page:
    """Parse ``markup``; ``.tags``, ``.elements`` and ``.text`` say what a browser would see."""
    page = Page()
    page.feed(markup)
    return page
