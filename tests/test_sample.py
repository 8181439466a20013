"""The bundled sample: golden counts, and the generator behind it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connectly_nb.datasets import (
    SAMPLE_ROWS,
    SAMPLE_SEED,
    export_text,
    generate_export,
    sample_export,
    sample_path,
    write_export,
)
from connectly_nb.schema import FLAG_COLUMNS

GOLDEN = Path(__file__).parent / "data" / "sample_stage_counts.csv"


def stage_counts(ex) -> pd.DataFrame:
    """Per campaign: rows and the count of each stage flag (DESIGN.md section 2)."""
    m = ex.messages
    out = m.groupby("campaign_name", observed=True)[list(FLAG_COLUMNS)].sum()
    out.insert(0, "rows", m.groupby("campaign_name", observed=True).size())
    out.loc["(all)"] = out.sum()
    return out.astype("int64").reset_index()


def test_sample_stage_counts_match_the_golden_file():
    got = stage_counts(sample_export())
    if not GOLDEN.exists():
        got.to_csv(GOLDEN, index=False)
        pytest.fail(f"wrote {GOLDEN}: review it, then commit it")
    want = pd.read_csv(GOLDEN, dtype={"campaign_name": "str"})
    pd.testing.assert_frame_equal(got.astype({"campaign_name": "str"}), want, check_dtype=False)


def test_sample_looks_like_real_whatsapp_marketing():
    ex = sample_export()
    m = ex.messages
    sent = m["is_sent"].sum()
    delivered = m["is_delivered"].sum()
    assert len(m) == SAMPLE_ROWS
    assert m["campaign_name"].nunique() == 4
    assert m["sendout_id"].nunique() == 8
    assert 0.93 < delivered / sent < 0.99
    assert 0.55 < m["is_read"].sum() / delivered < 0.7
    assert 0.02 < m["is_failed"].mean() < 0.06
    assert m["error_code"].nunique() >= 5
    assert 0 < m["is_opted_out"].sum() / delivered < 0.01
    assert 0.05 < m["is_clicked"].sum() / m["is_read"].sum() < 0.4
    assert set(ex.problems["problem"]) == {
        "mangled_id",
        "bad_timestamp",
        "bad_json",
        "merged_duplicate",
    }
    assert ex.accounting[["records_read", "rows_kept", "duplicates_merged"]].values.tolist() == [
        [SAMPLE_ROWS + 5, SAMPLE_ROWS, 5]
    ]


def test_bundled_file_is_what_the_generator_writes(tmp_path):
    path = write_export(tmp_path / "again.csv", rows=SAMPLE_ROWS, seed=SAMPLE_SEED)
    assert path.read_bytes() == sample_path().read_bytes()


def test_generator_is_seeded_and_sized():
    a = generate_export(50, seed=1)
    assert a == generate_export(50, seed=1)
    assert a != generate_export(50, seed=2)
    assert len(generate_export(50, seed=1, quirks=False)) == 51  # header + rows
    assert export_text(10, quirks=False).count("\n") == 11
    with pytest.raises(ValueError, match="rows must be"):
        generate_export(-1)


def test_big_exports_are_written_in_chunks_with_one_business(tmp_path, monkeypatch):
    import connectly_nb.datasets.generator as gen
    from connectly_nb import read_export

    monkeypatch.setattr(gen, "CHUNK_ROWS", 100)
    path = write_export(tmp_path / "big.csv", rows=450, seed=3, quirks=False)
    ex = read_export(path)
    assert len(ex.messages) == 450
    assert ex.messages["business_id"].nunique() == 1
    assert ex.messages["sendout_id"].nunique() == 8  # the same sendouts in every chunk
    # one message per customer per sendout; customers hear from several sendouts
    assert not ex.messages.duplicated(["sendout_id", "customer_external_id"]).any()
    assert not ex.messages["customer_external_id"].is_unique
    assert ex.problems.empty
