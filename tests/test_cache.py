"""The Parquet cache: same tables back, keyed by content, rebuilt when corrupt."""

from __future__ import annotations

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
