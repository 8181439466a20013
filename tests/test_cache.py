"""The Parquet cache: same tables back, keyed by content, rebuilt when corrupt."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import warnings

import pandas as pd
import pytest

from connectly_nb import read_export
from connectly_nb.cache import CacheWarning
from tests.conftest import row

CLICK = '[{"id": "b1", "name": "Sim", "ts": "2024-05-10 20:30:00"}]'


@pytest.fixture
def export_file(write_export):
    return write_export(
        [
            row(
                customer_external_id="+1",
                read_at="N/A",
                button_clicks=CLICK,
                input_variables='{"city": "Rio"}',
            ),
            row(customer_external_id="+2", campaign_name="Other", error_code="131026"),
            row(customer_external_id="+1"),  # merged
        ]
    )


def assert_same(a, b):
    for name in ("messages", "clicks", "variables", "problems", "accounting"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_like=False)
    assert a.tz == b.tz


def test_second_load_reads_the_cache_and_gives_the_same_export(export_file, tmp_path, monkeypatch):
    first = read_export(export_file, cache=tmp_path / "c", tz="Asia/Tokyo")
    entries = list((tmp_path / "c").iterdir())
    assert len(entries) == 1
    import connectly_nb.read as read

    monkeypatch.setattr(read, "read_raw", lambda inp: pytest.fail("parsed again"))
    second = read_export(export_file, cache=tmp_path / "c", tz="Asia/Tokyo")
    assert_same(first, second)
    assert second.filter(campaigns="Other").messages["error_code"].tolist() == ["131026"]


def test_a_changed_file_or_option_is_parsed_again(export_file, tmp_path):
    read_export(export_file, cache=tmp_path / "c")
    read_export(export_file, cache=tmp_path / "c", dedupe=False)
    export_file.write_bytes(export_file.read_bytes() + b"+3,b,Promo,s,c,,,,,,,,,,\n")
    third = read_export(export_file, cache=tmp_path / "c")
    assert len(third.messages) == 3
    assert len(list((tmp_path / "c").iterdir())) == 3


def test_a_corrupt_cache_is_rebuilt_with_a_warning(export_file, tmp_path):
    first = read_export(export_file, cache=tmp_path / "c")
    (entry,) = (tmp_path / "c").iterdir()
    (entry / "messages.parquet").write_bytes(b"not parquet")
    with pytest.warns(CacheWarning, match="could not be read"):
        again = read_export(export_file, cache=tmp_path / "c")
    assert_same(first, again)
    assert (entry / "messages.parquet").read_bytes()[:4] == b"PAR1"


def test_default_cache_folder_from_the_environment(export_file, tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTLY_NB_CACHE", str(tmp_path / "env"))
    read_export(export_file, cache=True)
    assert len(list((tmp_path / "env").iterdir())) == 1


def test_a_link_planted_at_the_entry_is_never_written_through(export_file, tmp_path):
    # issue 14, item 3: the entry is a folder renamed into place, never filled through a link
    from connectly_nb.cache import cache_key
    from connectly_nb.load import resolve_sources

    folder = tmp_path / "c"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    key = cache_key(resolve_sources(export_file), tz="UTC", dedupe=True)
    (folder / key).symlink_to(victim)
    ex = read_export(export_file, cache=folder)
    assert len(ex.messages) == 2
    assert [p.name for p in victim.iterdir()] == ["keep.txt"]
    assert (victim / "keep.txt").read_text() == "precious"


# --------------------------------------------------------------------------- issue 14, items 13, 20


def load_at_once(path, folder, n: int = 12) -> list:
    """``n`` loads of ``path`` through the cache in ``folder``, started together on threads."""
    barrier = threading.Barrier(n)

    def load(_):
        barrier.wait()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            ex = read_export(path, cache=folder, progress=False)
        return ex, [w for w in seen if issubclass(w.category, CacheWarning)]

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(load, range(n)))


def test_concurrent_loads_neither_fail_nor_warn_nor_drop_the_entry(export_file, tmp_path):
    folder = tmp_path / "c"
    reference = read_export(export_file)
    for _ in range(2):  # cold cache, then warm: no exception, no warning, one good entry
        results = load_at_once(export_file, folder)
        for ex, warned in results:
            assert warned == []
            assert_same(ex, reference)
        (entry,) = [p for p in folder.iterdir() if not p.name.startswith(".")]
        assert (entry / "meta.json").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left


def test_concurrent_loads_of_a_corrupt_entry_rebuild_it_once_and_never_fail(export_file, tmp_path):
    folder = tmp_path / "c"
    reference = read_export(export_file, cache=folder)
    (entry,) = folder.iterdir()
    (entry / "messages.parquet").write_bytes(b"not parquet")
    results = load_at_once(export_file, folder)
    for ex, _ in results:
        assert_same(ex, reference)
    assert sum(len(w) for _, w in results) >= 1
    again = read_export(export_file, cache=folder)  # a good entry is there now
    assert_same(again, reference)
    assert (entry / "messages.parquet").read_bytes()[:4] == b"PAR1"


def entries(folder) -> list:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def test_a_changed_source_hash_misses_the_old_entry(export_file, tmp_path, monkeypatch):
    import connectly_nb.cache as cache

    read_export(export_file, cache=tmp_path / "c")
    monkeypatch.setattr(cache, "source_hash", lambda: "another-code-version")
    parsed = []
    import connectly_nb.read as read

    real = read.read_raw
    monkeypatch.setattr(read, "read_raw", lambda inp: parsed.append(inp) or real(inp))
    read_export(export_file, cache=tmp_path / "c")
    assert len(parsed) == 1  # the entry of the other code was not used
    assert len(entries(tmp_path / "c")) == 2


@pytest.mark.parametrize(
    ("table", "change", "named"),
    [
        ("messages", lambda df: df.drop(columns=["is_sent"]), "is_sent"),
        ("messages", lambda df: df.assign(sent_at=df["sent_at"].astype(str)), "sent_at"),
        ("clicks", lambda df: df.drop(columns=["ts"]), "ts"),
        ("problems", lambda df: df.assign(line=df["line"].astype(str)), "line"),
        ("accounting", lambda df: df.drop(columns=["rows_kept"]), "rows_kept"),
    ],
)
def test_a_cached_table_that_lost_a_column_or_its_type_is_rebuilt(
    export_file, tmp_path, table, change, named
):
    from connectly_nb import funnel

    first = read_export(export_file, cache=tmp_path / "c")
    (entry,) = entries(tmp_path / "c")
    path = entry / f"{table}.parquet"
    change(pd.read_parquet(path)).to_parquet(path)
    with pytest.warns(CacheWarning, match=named):
        again = read_export(export_file, cache=tmp_path / "c")
    assert_same(first, again)
    assert funnel(again, by=None)["sent"].iloc[0] == 2
    assert_same(read_export(export_file, cache=tmp_path / "c"), first)  # rebuilt for good


def test_cache_clear_removes_entries_and_nothing_else(export_file, tmp_path, capsys):
    from connectly_nb.cli import main

    folder = tmp_path / "c"
    read_export(export_file, cache=folder)
    read_export(export_file, cache=folder, tz="Asia/Tokyo")
    (folder / "notes.txt").write_text("mine")
    (folder / "photos").mkdir()
    assert main(["cache", "clear", "--dir", str(folder)]) == 0
    assert "removed 2 cached exports" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "photos"]


def test_the_cache_keeps_to_its_size_and_age_limits(write_export, tmp_path, monkeypatch):
    folder = tmp_path / "c"
    paths = [write_export([row(customer_external_id=f"+{i}")]) for i in range(4)]
    for i, path in enumerate(paths[:3]):
        before = set(entries(folder)) if folder.exists() else set()
        read_export(path, cache=folder)
        (entry,) = set(entries(folder)) - before
        os.utime(entry, (1e9 + 10 + i, 1e9 + 10 + i))  # last used long ago, oldest first
    size = sum(f.stat().st_size for f in entries(folder)[0].iterdir())
    monkeypatch.setenv("CONNECTLY_NB_CACHE_MAX_DAYS", "100000")
    monkeypatch.setenv("CONNECTLY_NB_CACHE_MAX_MB", str(2.5 * size / 2**20))
    read_export(paths[3], cache=folder)  # a fourth entry: the two least recently used go
    kept = entries(folder)
    assert len(kept) == 2
    assert max(os.stat(e).st_mtime for e in kept) > 1e9 + 100  # the new one stays
    monkeypatch.setenv("CONNECTLY_NB_CACHE_MAX_MB", "1000")
    monkeypatch.setenv("CONNECTLY_NB_CACHE_MAX_DAYS", "30")
    read_export(paths[0], cache=folder)  # stored again; the entry unused since 2001 goes
    assert len(entries(folder)) == 2
    assert all(os.stat(e).st_mtime > 1e9 + 100 for e in entries(folder))


def test_columns_without_any_value_come_back_with_their_types(write_export, tmp_path):
    # no error code, no variable: categorical columns without categories are stored as nulls
    path = write_export([row(customer_external_id="+1"), row(customer_external_id="+2")])
    fresh = read_export(path)
    read_export(path, cache=tmp_path / "c")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        cached = read_export(path, cache=tmp_path / "c")
    assert_same(fresh, cached)
