"""The store: ingesting daily reports in any batches gives read_export of them all.

The central property (hypothesis): for any split of a set of daily reports
into ingest batches, arriving in any order that respects the reports' own
order (each file's latest event), the store equals ``read_export`` of all
files: messages row for row (sorted by source and line), clicks, variables
and the accounting. Then the promises of an ingest (a file twice changes
nothing, a killed ingest changes nothing, one ingest at a time), filters,
``to_export`` and the metrics on a store against the same metrics in memory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import unicodedata
import warnings
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectly_nb import metrics as M
from connectly_nb import read_export
from connectly_nb.datasets import daily_paths
from connectly_nb.exceptions import (
    SelectionError,
    SelectionTooLargeError,
    StoreLockedError,
    StoreNotFoundError,
    StoreWarning,
)
from connectly_nb.store import ingest, open_store
from connectly_nb.store._layout import Place, locked
from tests.conftest import csv_text, row

ROOT = Path(__file__).resolve().parents[1]
LATE = "2024-11-30 10:00:00"  # after every bundled report


@pytest.fixture(autouse=True)
def _synchronous():
    """Small stores: Dask's synchronous scheduler (the same tasks, one at a time)."""
    with dask.config.set(scheduler="synchronous"):
        yield


# --------------------------------------------------------------------------- comparing


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    return frame


def _messages(ex) -> pd.DataFrame:
    return _plain(ex.messages).sort_values(["source", "line"]).reset_index(drop=True)


def _children(ex, table: str) -> pd.DataFrame:
    """A child table keyed by its message's source and line instead of message_id."""
    at = _plain(ex.messages)[["source", "line"]].rename(columns=lambda c: f"msg_{c}")
    t = _plain(getattr(ex, table)).join(at, on="message_id").drop(columns="message_id")
    return t.sort_values(list(t.columns), key=lambda s: s.astype(str)).reset_index(drop=True)


def assert_store_equals(store_export, expected) -> None:
    """Messages row for row, clicks, variables and accounting of two Exports."""
    pd.testing.assert_frame_equal(_messages(store_export), _messages(expected), check_dtype=False)
    for table in ("clicks", "variables"):
        pd.testing.assert_frame_equal(
            _children(store_export, table), _children(expected, table), check_dtype=False
        )
    a = _plain(store_export.accounting).set_index("source").sort_index()
    b = _plain(expected.accounting).set_index("source").sort_index()
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


# --------------------------------------------------------------------------- the property

DAYS = ("2024-05-10", "2024-05-11", "2024-05-12", "2024-05-13")
CUSTOMERS = ("+5511900000001", "+5511900000002", "+5511900000003", "5.51199E+12")
CAMPAIGNS = ("Promo", "promo ", "Reativação", unicodedata.normalize("NFD", "Reativação"))
CLICKS = (
    "[]",
    '[{"id": "b1", "name": "Sim", "ts": "2024-05-10 21:00:00"}]',
    '[{"id": "b2", "name": "Não", "ts": "2024-05-11 09:00:00"}]',
    "",
)
VARIABLES = ("{}", '{"city": "Recife"}', '{"city": "Natal", "tier": "gold"}', "", "{bad")


def _stamp(draw, day: str, blank: float = 0.4) -> str:
    if draw(st.floats(0, 1)) < blank:
        return ""
    if draw(st.floats(0, 1)) < 0.05:
        return "N/A"
    return f"{day} {draw(st.integers(8, 22)):02d}:{draw(st.integers(0, 59)):02d}:00"


@st.composite
def daily_reports(draw) -> list[str]:
    """A few daily reports of two sendouts and four customers: repeats, blanks, odd cells."""
    files = []
    for _ in range(draw(st.integers(2, 4))):
        day = draw(st.sampled_from(DAYS))
        records = []
        for _ in range(draw(st.integers(0, 6))):
            records.append(
                row(
                    customer_external_id=draw(st.sampled_from(CUSTOMERS)),
                    sendout_id=draw(st.sampled_from(["s-1", "s-2", "s-2", ""])),
                    cnt_session_id=draw(st.sampled_from(["a", "b", ""])),
                    campaign_name=draw(st.sampled_from(CAMPAIGNS)),
                    sent_at=_stamp(draw, day, blank=0.15),
                    delivered_at=_stamp(draw, day),
                    read_at=_stamp(draw, day),
                    opt_out_at=_stamp(draw, day, blank=0.9),
                    error_code=draw(st.sampled_from(["", "", "131026", "131050"])),
                    error_msg=draw(st.sampled_from(["", "", "Message undeliverable."])),
                    button_clicks=draw(st.sampled_from(CLICKS)),
                    input_variables=draw(st.sampled_from(VARIABLES)),
                )
            )
        files.append(csv_text(records))
    return files


def _batches(draw, paths: list[Path], as_of: pd.Series) -> list[list[Path]]:
    """Contiguous batches of the files in report order; each batch in a shuffled order
    that keeps files of the same latest event in their relative order."""
    cuts = sorted(draw(st.sets(st.integers(1, len(paths) - 1), max_size=len(paths) - 1)))
    batches = []
    for lo, hi in zip([0, *cuts], [*cuts, len(paths)], strict=True):
        chunk = list(range(lo, hi))
        keys = {t: draw(st.floats(0, 1)) for t in {str(as_of.iloc[i]) for i in chunk}}
        chunk.sort(key=lambda i: (keys[str(as_of.iloc[i])], i))
        batches.append([paths[i] for i in chunk])
    return batches


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=daily_reports(), data=st.data())
def test_any_batches_in_report_order_give_read_export_of_all_files(tmp_path_factory, texts, data):
    folder = tmp_path_factory.mktemp("reports")
    paths = []
    for i, text in enumerate(texts):
        paths.append(folder / f"report_{i}.csv")
        paths[-1].write_text(text, encoding="utf-8")
    given_order = read_export(paths)
    as_of = given_order.accounting["as_of"]
    order = np.argsort(as_of.to_numpy(dtype="datetime64[us]").view(np.int64), kind="stable")
    paths = [paths[i] for i in order]  # the reports' own order (the oldest first)
    expected = read_export(paths)
    store = folder / "store"
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)  # in order: never "late"
        for batch in _batches(data.draw, paths, as_of.iloc[order].reset_index(drop=True)):
            ingest(batch, store, buckets=data.draw(st.integers(1, 3)))
    assert_store_equals(open_store(store).to_export(), expected)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def reports() -> list[Path]:
    """The bundled multi-day sample: five daily reports of one business."""
    return daily_paths()


@pytest.fixture(scope="module")
def whole(reports):
    return read_export(reports)


@pytest.fixture(scope="module")
def built(reports, tmp_path_factory) -> Path:
    """The five reports ingested in three batches, two buckets a day."""
    path = tmp_path_factory.mktemp("store") / "store"
    with dask.config.set(scheduler="synchronous"):
        for batch in (reports[:2], reports[2:3], reports[3:]):
            ingest(batch, path, buckets=2)
    return path


# --------------------------------------------------------------------------- ingest


def test_the_bundled_sample_ingested_in_batches_equals_read_export(built, whole):
    store = open_store(built)
    assert_store_equals(store.to_export(), whole)
    assert store.count() == len(whole.messages)
    assert store.version == 3


def test_a_local_cluster_ingests_the_same_store(reports, whole, tmp_path):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        ingest(reports, tmp_path / "store", client=client)
        store = open_store(tmp_path / "store", client=client)
        assert_store_equals(store.to_export(), whole)
        assert M.key_figures(store) == M.key_figures(whole)


def test_ingesting_a_file_twice_changes_nothing(built, reports):
    before = Place(built).manifest()
    report = ingest([reports[1], reports[4]], built)
    assert list(report["status"]) == ["already in the store"] * 2
    assert list(report["records_read"]) == [705, 705]
    assert Place(built).manifest() == before


def test_a_copy_under_another_name_is_another_report_as_for_read_export(reports, tmp_path):
    copy = tmp_path / "copy.csv"
    copy.write_bytes(reports[0].read_bytes())
    ingest(reports[:1], tmp_path / "s")
    ingest([copy], tmp_path / "s")
    assert_store_equals(open_store(tmp_path / "s").to_export(), read_export([reports[0], copy]))


def test_new_content_under_a_known_name_gets_a_name_of_its_own(tmp_path):
    import io

    first, second = io.BytesIO(csv_text([row()]).encode()), io.BytesIO(csv_text([]).encode())
    first.name = second.name = "report.csv"
    ingest([first], tmp_path / "s")
    ingest([second], tmp_path / "s")
    sources = list(open_store(tmp_path / "s").files["source"])
    assert sources[0] == "report.csv"
    assert sources[1].startswith("report.csv (")


def test_a_later_report_merges_into_the_state_of_its_sendouts(reports, tmp_path):
    ingest(reports[:1], tmp_path / "s")
    first = open_store(tmp_path / "s").to_export().messages
    ingest(reports[1:2], tmp_path / "s")
    later = open_store(tmp_path / "s").to_export().messages
    key = ["sendout_id", "customer_external_id"]
    first = first[first["customer_external_id"].str.startswith("+")]  # never mangled ids
    day1 = first[key].astype(str).merge(later.astype(dict.fromkeys(key, str)), on=key)
    # the same messages, some further on: no read lost, more reads than the day before
    assert len(day1) == len(first)
    assert day1["is_read"].sum() > first["is_read"].sum()
    assert set(later["source"].astype(str)) == {str(p) for p in reports[:2]}


def test_a_report_older_than_the_store_is_merged_beneath_it_with_a_warning(reports, tmp_path):
    ingest(reports[1:3], tmp_path / "s")
    with pytest.warns(StoreWarning, match="older than the newest report"):
        ingest(reports[:1], tmp_path / "s")
    store = open_store(tmp_path / "s")
    # these reports only add events: merged beneath or not, the state is read_export's
    assert_store_equals(store.to_export(), read_export(reports[:3]))


def test_an_ingest_killed_before_the_switch_leaves_the_store_as_it_was(
    built, reports, tmp_path, monkeypatch
):
    import shutil

    store = tmp_path / "s"
    shutil.copytree(built, store)
    before = open_store(store).to_export()
    extra = tmp_path / "extra.csv"
    extra.write_text(
        csv_text([row(customer_external_id="+5511911112222", sendout_id="s-9", sent_at=LATE)])
    )

    def killed(self, manifest):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Place, "write_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest([extra], store)
    monkeypatch.undo()
    assert (store / "staging").exists()  # written, never switched to
    assert_store_equals(open_store(store).to_export(), before)
    ingest([extra], store)  # the next ingest sweeps what the killed one left
    assert not any((store / "staging").iterdir())
    named = {p["path"] for p in Place(store).manifest()["partitions"].values()}
    assert {f"parts/{p.name}" for p in (store / "parts").iterdir()} == named
    assert open_store(store).count() == len(before.messages) + 1


KILLED = textwrap.dedent(
    """
    import sys, time
    import dask
    from pathlib import Path
    from connectly_nb.store import _ingest, ingest

    merge = _ingest.merge_partition

    def slow(*args, **kwargs):
        out = merge(*args, **kwargs)
        Path(sys.argv[3]).touch()  # a partition is written: now kill me
        time.sleep(60)
        return out

    _ingest.merge_partition = slow
    with dask.config.set(scheduler="synchronous"):
        ingest([sys.argv[1]], sys.argv[2])
    """
)


def test_a_killed_process_leaves_the_store_as_it_was_and_unlocked(built, reports, tmp_path):
    import shutil

    store = tmp_path / "s"
    shutil.copytree(built, store)
    before = Place(store).manifest()
    extra = tmp_path / "extra.csv"
    extra.write_text(
        csv_text([row(customer_external_id="+5511933334444", sendout_id="s-8", sent_at=LATE)])
    )
    flag = tmp_path / "written"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(extra), str(store), str(flag)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists(), "the ingest never wrote a partition"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert Place(store).manifest() == before
    with locked(Place(store), wait=False):  # the lock died with the process
        pass


def test_two_ingests_at_once_one_waits_or_fails_clearly(built, reports, tmp_path):
    place = Place(built)
    with locked(place):
        with pytest.raises(StoreLockedError, match="another ingest"):
            ingest(reports[:1], built, wait=False)
        with pytest.raises(StoreLockedError, match=r"waited 0\.2 s"):
            ingest(reports[:1], built, wait=0.2)
    report = ingest(reports[:1], built, wait=False)  # free again
    assert list(report["status"]) == ["already in the store"]


def test_an_empty_report_makes_an_empty_store_that_answers(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text(csv_text([]))
    ingest([empty], tmp_path / "s")
    store = open_store(tmp_path / "s")
    assert store.count() == 0
    assert store.partitions() == []
    assert M.key_figures(store)["rows"] == 0
    assert M.funnel(store).empty
    assert len(store.to_export().messages) == 0
    assert store.accounting["records_read"].tolist() == [0]


def test_a_folder_without_a_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreNotFoundError, match="holds no store"):
        open_store(tmp_path)


def test_a_store_can_live_on_an_fsspec_filesystem(reports, whole):
    ingest(reports[:2], "memory://stores/a")
    ingest(reports[2:], "memory://stores/a")
    assert_store_equals(open_store("memory://stores/a").to_export(), whole)


# --------------------------------------------------------------------------- queries


def test_filter_reads_only_the_partitions_that_can_hold_it(built, whole):
    store = open_store(built)
    one_day = store.filter(start="2024-11-03", end="2024-11-03")
    assert {p["day"] for p in one_day.partitions()} <= {"2024-11-03"}
    campaign = whole.messages["campaign_name"].cat.categories[0]
    by_campaign = store.filter(campaigns=campaign.upper())  # matched as Export.filter matches
    assert len(by_campaign.partitions()) < len(store.partitions())
    for view, args in (
        (one_day, {"start": "2024-11-03", "end": "2024-11-03"}),
        (by_campaign, {"campaigns": campaign}),
    ):
        assert_store_equals(view.to_export(), whole.filter(**args))


def test_a_filter_of_a_filter_adds_up(built, whole):
    store = open_store(built).filter(start="2024-11-02").filter(end="2024-11-03")
    expected = whole.filter(start="2024-11-02", end="2024-11-03")
    assert store.count() == len(expected.messages)


def test_an_unknown_name_is_a_selection_error_with_suggestions(built):
    with pytest.raises(SelectionError, match="did you mean 'Carrinho abandonado'"):
        open_store(built).filter(campaigns="Carrinho abandonad")


def test_to_export_refuses_a_selection_too_big_with_its_count(built, whole):
    store = open_store(built, max_messages=100)
    with pytest.raises(SelectionTooLargeError, match=f"{len(whole.messages):,} messages") as e:
        store.to_export()
    assert e.value.count == len(whole.messages)
    assert e.value.limit == 100


def test_lazy_dask_tables_hold_every_message_and_click(built, whole):
    store = open_store(built)
    assert len(store.messages.compute()) == len(whole.messages)
    assert len(store.clicks.compute()) == len(whole.clicks)
    assert store.messages.npartitions == len(store.partitions())


def test_accounting_adds_up_and_problems_match_read_export(built, whole):
    store = open_store(built)
    acc = store.accounting
    assert (acc["records_read"] == acc["rows_kept"] + acc["duplicates_merged"]).all()
    assert acc["rows_kept"].sum() == store.count()
    found = store.problems["problem"].astype(str).value_counts()
    expected = whole.problems["problem"].astype(str).value_counts()
    for code in ("mangled_id", "bad_timestamp", "bad_json", "merged_duplicate"):
        assert found.get(code, 0) == expected.get(code, 0), code
    shown = store.to_export(campaigns="Carrinho abandonado").problems
    assert shown["message_id"].notna().any()


def test_repr_names_no_path(built):
    text = repr(open_store(built))
    assert str(built) not in text
    assert text.startswith("<Store: 3,")
    assert "version 3" in text


def test_html_summary_is_out_of_mathjax_reach_like_the_exports(built, whole):
    markup = open_store(built)._repr_html_()
    assert "tex2jax_ignore mathjax_ignore" in markup
    assert "tex2jax_ignore mathjax_ignore" in whole._repr_html_()
    assert str(built) not in markup


# --------------------------------------------------------------------------- metrics


FILTERS = {
    "all": None,
    "campaign and days": {"campaigns": "Black Friday 2024 🎉", "start": "2024-11-02"},
}

#: Metrics the cube can answer: each is checked from the cube and from the partitions.
CUBE_METRICS = {
    "funnel": lambda e, w: M.funnel(e, where=w),
    "funnel by sendout": lambda e, w: M.funnel(e, by=["campaign_name", "sendout_id"], where=w),
    "key_figures": lambda e, w: M.key_figures(e, where=w),
    "trend": lambda e, w: M.trend(_where(e, w)),
    "trend by week": lambda e, w: M.trend(_where(e, w), every="W"),
    "errors by campaign": lambda e, w: M.errors(_where(e, w), by="campaign_name"),
    "errors by day": lambda e, w: M.errors(_where(e, w), every="D"),
}

#: Metrics that always read the partitions.
SCAN_METRICS = {
    "funnel conversions": lambda e, w: M.funnel(e, where=w, conversions="Ver ofertas"),
    "fatigue": lambda e, w: M.fatigue(_where(e, w)),
    "countries": lambda e, w: M.countries(_where(e, w)),
    "timeline": lambda e, w: M.timeline(_where(e, w), by="campaign_name"),
    "timeline by day": lambda e, w: M.timeline(_where(e, w), freq="1D"),
    "heatmap": lambda e, w: M.activity_heatmap(_where(e, w), event="clicked"),
    "buttons": lambda e, w: M.buttons(_where(e, w)).drop(columns="median_time_to_click"),
    "links": lambda e, w: M.links(_where(e, w), by="campaign_name").drop(
        columns="median_time_to_click"
    ),
    "latency counts": lambda e, w: M.latency(_where(e, w))[["campaign_name", "stage", "n"]],
    "suppression": lambda e, w: M.suppression_list(_where(e, w)),
}


def _where(ex, where):
    return ex if where is None else ex.filter(**where)


def _same(found, expected) -> None:
    if isinstance(expected, dict):
        assert found == expected
    else:
        pd.testing.assert_frame_equal(found, expected, check_dtype=False, check_categorical=False)


@pytest.mark.parametrize("where", list(FILTERS))
@pytest.mark.parametrize("use_cube", [True, False], ids=["cube", "partitions"])
def test_counts_of_a_store_equal_the_counts_of_the_export(built, whole, where, use_cube):
    store = open_store(built, use_cube=use_cube)
    for name, metric in CUBE_METRICS.items():
        found, expected = metric(store, FILTERS[where]), metric(whole, FILTERS[where])
        try:
            _same(found, expected)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


@pytest.mark.parametrize("where", list(FILTERS))
@pytest.mark.parametrize("name", list(SCAN_METRICS))
def test_a_metric_of_a_store_equals_the_metric_of_the_export(built, whole, name, where):
    store = open_store(built)
    _same(SCAN_METRICS[name](store, FILTERS[where]), SCAN_METRICS[name](whole, FILTERS[where]))


def test_quantiles_of_a_store_are_within_half_a_percent(built, whole):
    for found, exact in (
        (M.latency(open_store(built)), M.latency(whole)),
        (M.buttons(open_store(built)), M.buttons(whole)),
    ):
        for c in [c for c in found.columns if c in ("median", "p90", "median_time_to_click")]:
            a, b = found[c].dt.total_seconds(), exact[c].dt.total_seconds()
            assert (((a - b).abs() / b).dropna() <= 0.005).all(), c
        if "mean" in found:
            assert (found["mean"] - exact["mean"]).abs().max() <= pd.Timedelta(1, "us")


def test_the_cube_answers_key_figures_of_any_filter_as_the_partitions_do(built, whole):
    cube, scan = open_store(built), open_store(built, use_cube=False)
    rng = np.random.default_rng(5)
    names = list(whole.messages["campaign_name"].cat.categories)
    codes = list(whole.messages["error_code"].cat.categories)
    for _ in range(6):
        where = {
            "campaigns": list(rng.choice(names, size=2, replace=False)),
            "start": f"2024-11-0{rng.integers(1, 4)}",
            "error_codes": [None, *rng.choice(codes, size=2, replace=False)],
        }
        assert M.key_figures(cube, where=where) == M.key_figures(scan, where=where)
        assert M.key_figures(cube, where=where) == M.key_figures(whole, where=where)


def test_an_off_grid_bound_reads_the_partitions(built, whole):
    store = open_store(built).filter(start="2024-11-02 10:07:00")
    assert store.cube_rows() is None
    assert M.key_figures(store) == M.key_figures(whole.filter(start="2024-11-02 10:07:00"))


def test_metrics_that_need_an_export_say_so(built):
    with pytest.raises(TypeError, match=r"to_export"):
        M.segment(open_store(built), "city")
    with pytest.raises(TypeError, match="dict"):
        M.funnel(open_store(built), where=np.ones(3, dtype=bool))


def test_per_sendout_trend_of_whole_days_comes_from_the_cube(built, whole, monkeypatch):
    store = open_store(built).filter(start="2024-11-02", end="2024-11-03")
    expected = M.trend(whole.filter(start="2024-11-02", end="2024-11-03"))
    monkeypatch.setattr(type(store), "map_partitions", None)  # reading a partition would fail
    _same(M.trend(store), expected)


def test_a_file_that_is_not_an_export_stops_the_ingest_and_changes_nothing(built, tmp_path):
    import shutil

    from connectly_nb import ExportFormatError

    store = tmp_path / "s"
    shutil.copytree(built, store)
    before = Place(store).manifest()
    good = tmp_path / "good.csv"
    good.write_text(csv_text([row(sent_at=LATE)]))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone\nAna,+5511\n")
    with pytest.raises(ExportFormatError, match=r"bad\.csv"):
        ingest([good, bad], store)
    assert Place(store).manifest() == before


@pytest.fixture(scope="module")
def blanks(reports, tmp_path_factory):
    """Two daily reports in which some records have a blank sendout id or campaign name."""
    folder = tmp_path_factory.mktemp("blanks")
    paths = []
    for i, path in enumerate(reports[:2]):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.loc[frame.index % 7 == 0, "sendout_id"] = ""
        frame.loc[frame.index % 11 == 0, "campaign_name"] = ""
        out = folder / f"day{i + 1}.csv"
        frame.to_csv(out, index=False)
        paths.append(out)
    store = folder / "store"
    ingest(paths, store, buckets=2)
    return store, read_export(paths)


@pytest.mark.parametrize("use_cube", [True, False], ids=["cube", "partitions"])
@pytest.mark.parametrize("name", [*CUBE_METRICS, *SCAN_METRICS])
def test_blank_sendouts_and_campaigns_are_one_group_in_a_store_too(blanks, name, use_cube):
    built_store, whole = blanks
    assert (whole.messages["sendout_id"].isna()).any()
    assert (whole.messages["campaign_name"].isna()).any()
    metric = {**CUBE_METRICS, **SCAN_METRICS}[name]
    _same(metric(open_store(built_store, use_cube=use_cube), None), metric(whole, None))


def test_a_store_path_that_is_a_file_is_a_clear_error(tmp_path):
    # review: "[Errno 17] File exists" from ingest, NotADirectoryError from open_store
    from connectly_nb.exceptions import StoreError

    afile = tmp_path / "afile"
    afile.write_text("not a store")
    for call in (lambda: open_store(afile), lambda: ingest(daily_paths()[:1], afile)):
        with pytest.raises(StoreError, match="is a file: a store is a folder"):
            call()
    assert afile.read_text() == "not a store"
    from connectly_nb.store import is_store

    assert not is_store(afile)  # explore("export.csv") asks this of every file it is given


def test_a_failed_first_ingest_leaves_no_folder_behind(tmp_path):
    # review: an empty report into a new path left a folder holding only .lock
    from connectly_nb.exceptions import ExportFormatError

    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ExportFormatError):
        ingest([tmp_path / "empty.csv"], tmp_path / "new_store")
    assert not (tmp_path / "new_store").exists()
