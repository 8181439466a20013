"""The connectly-nb command: what it prints and its exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from connectly_nb.cli import main
from tests.conftest import csv_text, row


def test_validate_prints_summary_accounting_and_grouped_problems(write_export, capsys):
    path = write_export(
        [
            row(read_at="N/A"),
            row(customer_external_id="+2", read_at="N/A"),
            row(customer_external_id="+3", button_clicks="[{"),
        ]
    )
    assert main(["validate", str(path), "--examples", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 messages" in out
    assert "3 records read = 3 kept + 0 merged duplicates" in out
    assert "3 problems:" in out
    assert "warning bad_timestamp" in out
    assert f"{path}:2 [read_at] 'N/A'" in out
    assert "... and 1 more" in out
    assert "bad_json" in out


def test_validate_sample(capsys, golden):
    assert main(["validate", "--sample"]) == 0
    out = capsys.readouterr().out
    assert f"{golden['rows']:,} messages" in out
    carrinho = golden["campaigns"]["Carrinho abandonado"]["rows"]
    assert f"  Carrinho abandonado ({carrinho:,})" in out
    for name, counts in golden["campaigns"].items():
        assert f"  {name} ({counts['rows']:,})\n" in out
    assert f"131026 ({golden['error_codes']['131026']})" in out
    codes = ", ".join(f"{c} ({n:,})" for c, n in golden["error_codes"].items())
    assert f"error codes (rows): {codes}\n" in out
    assert (
        f"{golden['records_read']:,} records read = {golden['rows']:,} kept + "
        f"{golden['merged']:,} merged duplicates" in out
    )
    assert f"{sum(golden['problems'].values())} problems:" in out
    assert "mangled_id" in out
    assert "+55" not in out  # merged duplicates are listed by line, not by phone number


@pytest.mark.parametrize(
    ("text", "expect"),
    [("", "empty"), ("name,age\nAna,3\n", "not a Connectly campaign export")],
)
def test_validate_bad_file_exits_2_with_a_message_and_no_traceback(
    write_export, capsys, text, expect
):
    path = write_export(text=text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert expect in err
    assert str(path) in err
    assert "Traceback" not in err


def test_validate_missing_file_and_no_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["validate"]) == 2
    assert "--sample" in capsys.readouterr().err
    assert main(["validate", "--sample", "--tz", "Nowhere/Land"]) == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_sample_command_writes_a_readable_export(tmp_path, capsys):
    out = tmp_path / "gen.csv"
    assert main(["sample", "--rows", "250", "--seed", "3", "-o", str(out)]) == 0
    assert "250 messages" in capsys.readouterr().out
    from connectly_nb import read_export

    ex = read_export(out)
    assert len(ex.messages) == 250  # the quirks' repeated records merge back
    assert main(["sample", "--rows", "-5", "-o", str(out)]) == 2


def test_console_script_runs_as_a_process(write_export):
    path = write_export(text="garbage\n")
    done = subprocess.run(
        [sys.executable, "-m", "connectly_nb.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "not a Connectly campaign export" in done.stderr


def test_validate_masks_phone_numbers_and_emails_in_its_examples(write_export, capsys):
    # issue 14, item 10: the examples of bad rows printed numbers and emails in full
    good = row(read_at="call +5511987654321 back", campaign_name="VIP ana.silva@x.com")
    text = csv_text(
        [good, row(customer_external_id="+2", button_clicks='[{"email": "ana.silva@x.com"')]
    )
    path = write_export(text=text + "+5511912345678,b,Promo\n")  # a short record
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    for secret in ("987654321", "912345678", "ana.silva"):
        assert secret not in out
    assert "+55 11 *****-4321" in out
    assert "***@x.com" in out
    assert "  VIP ***@x.com (1)" in out  # campaign names are free text too
    assert main(["validate", str(path), "--show-phone-numbers"]) == 0
    out = capsys.readouterr().out
    assert "+5511987654321" in out
    assert "ana.silva@x.com" in out


def test_validate_escapes_terminal_control_characters(write_export, capsys):
    # issue 14, item 21: campaign names were printed raw, escape sequences included
    names = ["\x1b[31mRED\x1b[0m", "title\x1b]0;pwned\x07", "over\u202eride", "ok 🎉"]
    path = write_export(
        [row(customer_external_id=f"+{i}", campaign_name=n) for i, n in enumerate(names)]
    )
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert not [ch for ch in out if ch in "\x1b\x07\u202e"]
    assert "\\x1b[31mRED\\x1b[0m" in out
    assert "over\\u202eride" in out
    assert "ok 🎉" in out


def test_a_title_that_is_not_utf8_is_an_error_naming_the_option(tmp_path, capsys, monkeypatch):
    # issue 14, item 21: a Latin-1 argv reaches Python as surrogates
    import connectly_nb.report as report

    monkeypatch.setattr(report, "_execute", lambda *a, **k: pytest.fail("the notebook ran"))
    title = b"Relat\xf3rio".decode("utf-8", errors="surrogateescape")
    out = tmp_path / "r.html"
    assert main(["report", "--sample", "-o", str(out), "--title", title]) == 2
    err = capsys.readouterr().err
    assert "--title" in err
    assert "UTF-8" in err
    assert not out.exists()


def test_validate_counts_the_records_a_stray_quote_swallowed(write_export, capsys):
    # issue 14, item 14: "records_read counts 2" and one wrong_field_count was the only trace
    rows = [row(customer_external_id=f"+55119{i:08d}") for i in range(500)]
    text = csv_text(rows).replace("Promo", '"Promo', 2).replace('"Promo', "Promo", 1)
    assert main(["validate", str(write_export(text=text))]) == 0
    out = capsys.readouterr().out
    assert "2 records read = 2 kept + 0 merged duplicates; 498 more records held" in out
    assert "error   runaway_quote" in out
    assert "lines 3-501" in out


def test_suppress_writes_full_numbers_without_formulas_and_refuses_its_input(
    write_export, tmp_path, capsys
):
    path = write_export(
        [
            row(customer_external_id="+5511900000001", opt_out_at="2024-05-10 21:00:00"),
            row(customer_external_id="+5511900000002", error_code="131050"),
            row(customer_external_id="5.51199E+12", error_code="131050"),
            row(customer_external_id="=1+1", error_code="131050"),
        ]
    )
    out = tmp_path / "suppress.csv"
    assert main(["suppress", str(path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 customers not to message again" in printed
    assert "1 message with a blank customer id or one Excel rewrote" in printed
    assert "keep it private" in printed
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == '"customer_external_id","reason","messages","last_sent_at"'
    ids = [line.split(",")[0].strip('"') for line in lines[1:]]
    assert ids == ["+5511900000001", "+5511900000002", "'=1+1"]  # + kept on numbers only
    assert main(["suppress", str(path), "-o", str(path)]) == 2
    assert "is one of the exports read" in capsys.readouterr().err
    assert main(["suppress", "-o", str(out)]) == 2
    assert main(["suppress", "--sample", "--repeats", "0", "-o", str(out)]) == 2


# --------------------------------------------------------------------------- the store


@pytest.fixture
def threads(monkeypatch):
    """``connectly-nb ingest`` on Dask's threads instead of a LocalCluster of processes."""
    import contextlib

    import dask

    from connectly_nb import cli

    monkeypatch.setattr(cli, "_dask_client", lambda address, workers: contextlib.nullcontext())
    with dask.config.set(scheduler="synchronous"):
        yield


def test_sample_days_writes_daily_reports_that_repeat_records(tmp_path, capsys):
    assert main(["sample", "--days", "3", "--rows-per-day", "80", "-o", str(tmp_path)]) == 0
    assert "wrote 3 daily reports" in capsys.readouterr().out
    files = sorted(tmp_path.glob("campaign_daily_2024-11-0*.csv"))
    assert [f.name for f in files] == [f"campaign_daily_2024-11-0{d}.csv" for d in (1, 2, 3)]
    from connectly_nb import read_export

    acc = read_export(files).accounting
    assert (acc["records_read"] == 85).all()  # 80 rows and 5 repeats with quirks
    assert acc["duplicates_merged"].iloc[0] > 5  # later days repeat day 1's records
    assert main(["sample", "--days", "0", "-o", str(tmp_path)]) == 2


def test_ingest_adds_new_files_once_and_says_so(tmp_path, capsys, threads):
    main(["sample", "--days", "2", "--rows-per-day", "60", "-o", str(tmp_path / "r")])
    store = str(tmp_path / "store")
    assert main(["ingest", str(tmp_path / "r"), "--store", store]) == 0
    out = capsys.readouterr().out
    assert "ingested, 65 records" in out
    assert "2 of 2 files added" in out
    assert main(["ingest", str(tmp_path / "r"), "--store", store]) == 0
    assert "0 of 2 files added" in capsys.readouterr().out


def test_ingest_into_a_locked_store_with_no_wait_exits_2(tmp_path, capsys, threads):
    from connectly_nb.store._layout import Place, locked

    main(["sample", "--days", "1", "--rows-per-day", "40", "-o", str(tmp_path / "r")])
    with locked(Place(tmp_path / "store")):
        code = main(
            ["ingest", str(tmp_path / "r"), "--store", str(tmp_path / "store"), "--no-wait"]
        )
    assert code == 2
    assert "another ingest" in capsys.readouterr().err


def test_a_bad_file_stops_the_ingest_and_says_the_store_is_unchanged(tmp_path, capsys, threads):
    from connectly_nb.store import open_store

    main(["sample", "--days", "2", "--rows-per-day", "30", "-o", str(tmp_path / "r")])
    store = str(tmp_path / "store")
    days = sorted((tmp_path / "r").glob("*.csv"))
    assert main(["ingest", str(days[0]), "--store", store]) == 0
    before = open_store(store).count()
    (tmp_path / "r" / "empty.csv").write_bytes(b"")
    capsys.readouterr()
    assert main(["ingest", str(days[1]), str(tmp_path / "r" / "empty.csv"), "--store", store]) == 2
    err = capsys.readouterr().err
    assert "empty.csv: the file is empty" in err
    assert "nothing was ingested: the store is as it was" in err
    assert open_store(store).count() == before


def test_ingest_on_local_workers_prints_one_error_not_their_logs(tmp_path, capfd):
    # the workers logged "Compute Failed" and a task traceback before the error
    (tmp_path / "empty.csv").write_bytes(b"")
    code = main(["ingest", str(tmp_path / "empty.csv"), "--store", str(tmp_path / "s")])
    assert code == 2
    err = capfd.readouterr().err
    assert "the file is empty" in err
    assert "Traceback" not in err
    assert "Compute Failed" not in err


def test_suppress_on_an_export_without_messages_writes_an_empty_list(tmp_path, capsys):
    # a header-only export crashed inside pandas (the reason column of no rows was float)
    empty = tmp_path / "empty_export.csv"
    empty.write_text("customer_external_id,campaign_name,sendout_id,sent_at\n")
    assert main(["suppress", str(empty), "-o", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert "0 customers not to message again, of 0 customers in 0 messages" in out
    assert "keep it private" not in out  # nothing private was written
    assert (tmp_path / "s.csv").read_text(encoding="utf-8-sig").startswith('"customer_external_id"')
