"""A seeded generator of realistic Connectly campaign exports.

The bundled sample (``sample_export.csv``) was written by
``write_export("sample_export.csv", rows=6000, seed=7)``; the same function
writes exports of any size for benchmarks (``connectly-nb sample``).

Rates follow real WhatsApp marketing: about 96% of sent messages delivered,
about 60% of delivered read (reads are a lower bound), a few percent failed
across several error codes, under 1% opt-outs and a minority of readers
clicking. With ``quirks=True`` a handful of rows carry the problems met in
real files: an id Excel turned into ``5.51199E+12``, an ``N/A`` timestamp,
invalid JSON, a bare click object instead of an array, ISO timestamps with
``T``/``Z``, and records repeated by a later daily report.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from connectly_nb._fs import atomic_write
from connectly_nb.schema import EXPORT_COLUMNS

__all__ = [
    "generate_daily_reports",
    "generate_export",
    "write_daily_reports",
    "write_export",
]

_CAMPAIGNS = (
    ("Black Friday 2024 🎉", ("Ver ofertas", "Não tenho interesse"), "https://shop.example/bf"),
    (
        "Reativação de clientes, SP",
        ("Quero meu cupom", "Parar promoções"),
        "https://shop.example/cupom",
    ),
    ("Welcome series – step 1", ("Start", "Talk to an agent"), "https://shop.example/welcome"),
    ("Carrinho abandonado", ("Finalizar compra",), "https://shop.example/cart"),
)
_SENDOUTS_PER_CAMPAIGN = (3, 2, 2, 1)
#: Rows generated at once by write_export (memory stays flat for big exports).
CHUNK_ROWS = 200_000
_CAMPAIGN_WEIGHTS = (0.4, 0.25, 0.2, 0.15)

# (code, message, weight among failures)
_ERRORS = (
    ("131026", "Message undeliverable.", 0.42),
    ("131049", "This message was not delivered to maintain healthy ecosystem engagement.", 0.2),
    ("131050", "Unable to deliver message. User stopped marketing messages.", 0.08),
    ("130472", "User's number is part of an experiment", 0.07),
    ("131000", "Something went wrong", 0.06),
    ("131047", "Re-engagement message", 0.05),
    ("ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT", "customer opted out", 0.06),
    ("132000", "Number of parameters does not match the expected number of params", 0.04),
    ("135999", "Unrecognised error", 0.02),
)

# (country prefix, national number pattern generator)
_COUNTRIES = (("55", 0.45), ("52", 0.2), ("57", 0.15), ("91", 0.1), ("62", 0.1))
_CITIES = {
    "55": ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba"),
    "52": ("Ciudad de México", "Guadalajara", "Monterrey"),
    "57": ("Bogotá", "Medellín", "Cali"),
    "91": ("Mumbai", "Delhi", "Bengaluru"),
    "62": ("Jakarta", "Surabaya", "Bandung"),
}
_NAMES = ("Ana", "João", "María", "José", "Priya", "Budi", "Lucía", "Rafael", "Sofía", "Arjun")
_SEGMENTS = ("vip", "regular", "new")


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return np.array([str(uuid.UUID(bytes=bytes(r), version=4)) for r in raw], dtype=object)


def _phones(rng: np.random.Generator, n: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Phone numbers (and countries) of customers ``start`` .. ``start + n - 1``.

    Numbers never repeat (up to 10 million customers): the last seven digits
    are a bijection of the customer's serial number, scrambled so neighbours
    look unrelated.
    """
    prefixes = np.array([c for c, _ in _COUNTRIES])
    weights = np.array([w for _, w in _COUNTRIES])
    country = rng.choice(prefixes, size=n, p=weights / weights.sum())
    serial = np.arange(start, start + n, dtype=np.int64)
    core = (serial * 7_919 + 1_234_567) % 10**7  # 7919 is prime to 10**7: no collisions
    digits = rng.integers(0, 10, size=n) * 10**7 + core
    area = rng.integers(11, 99, size=n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        c, d, a = country[i], digits[i], area[i]
        if c == "55":  # +55 AA 9XXXX-XXXX
            out[i] = f"+55{a:02d}9{d:08d}"
        elif c == "52":  # +52 AA XXXX XXXX
            out[i] = f"+52{(a % 80) + 10:02d}{d:08d}"
        elif c == "57":  # +57 3XX XXX XXXX
            out[i] = f"+573{(a % 50) + 10:02d}{d % 10**7:07d}"
        elif c == "91":  # +91 9XXXX XXXXX
            out[i] = f"+919{a % 10}{d:08d}"
        else:  # +62 8XX XXXX XXXX
            out[i] = f"+628{(a % 20) + 11:02d}{d:08d}"
    return out, country


def _fmt(ts: np.ndarray) -> np.ndarray:
    """Vendor format ``2024-05-10 20:13:50.682000``; NaT -> ''."""
    out = np.datetime_as_string(ts.astype("datetime64[us]"), unit="us").astype(object)
    out = np.array([s.replace("T", " ") for s in out], dtype=object)
    out[np.isnat(ts)] = ""
    return out


def generate_export(
    rows: int = 6000, *, seed: int = 7, quirks: bool = True, part: int = 0
) -> list[list[str]]:
    """Generate the records of a campaign export.

    Parameters
    ----------
    rows : int
        Number of message records (before the repeated records that
        ``quirks`` appends).
    seed : int
        Seed of the random generator; the same seed gives the same records.
    quirks : bool
        Sprinkle a handful of real-world problems over the records (only
        when there are at least 40 records).
    part : int
        Chunk number of a big export: chunks share the business, campaigns
        and sendouts of ``seed`` but draw different customers.

    Returns
    -------
    list of list of str
        The header followed by one list of 15 strings per record.

    Raises
    ------
    ValueError
        ``rows`` is negative.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    structure = np.random.default_rng(seed)
    rng = np.random.default_rng([seed, part])
    business = str(uuid.UUID(bytes=structure.bytes(16), version=4))
    sendouts = _sendouts(structure)
    camp, sendout_idx = _assign_sendouts(rng, sendouts, rows)
    pool = max(1, int(rows * 0.45))  # customers: each is reached by about two sendouts
    customer, previous, phone, country = _audience(rng, sendouts, sendout_idx, pool, part)
    session = _uuids(rng, rows)
    events = _events(rng, sendouts, sendout_idx, previous)
    extra = _draws(rng, customer, events["read_ok"], pool=pool, n=rows)
    records = [list(EXPORT_COLUMNS)]
    records += _records(
        business, sendouts, camp, sendout_idx, phone, country, session, events, extra
    )
    if quirks and rows >= 40:
        _add_quirks(records, rng)
    return records


_Sendout = tuple[int, str, np.datetime64]  # (campaign index, sendout id, first send time)


def _sendouts(structure: np.random.Generator) -> list[_Sendout]:
    """The campaigns' sendouts, a few days apart, from the structure seed."""
    sendouts: list[_Sendout] = []
    start = np.datetime64("2024-11-04T13:00:00", "us")
    for ci, k in enumerate(_SENDOUTS_PER_CAMPAIGN):
        for j in range(k):
            day = ci * 5 + j * 7
            hour = int(structure.integers(0, 8))
            t0 = start + np.timedelta64(day, "D") + np.timedelta64(hour, "h")
            sendouts.append((ci, str(uuid.UUID(bytes=structure.bytes(16), version=4)), t0))
    return sendouts


def _assign_sendouts(
    rng: np.random.Generator, sendouts: list[_Sendout], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """A campaign and one of its sendouts for each of ``n`` messages."""
    camp_w = np.array(_CAMPAIGN_WEIGHTS)
    camp = rng.choice(len(_CAMPAIGNS), size=n, p=camp_w / camp_w.sum())
    sendout_idx = np.empty(n, dtype=np.int64)
    for ci in range(len(_CAMPAIGNS)):
        options = [i for i, s in enumerate(sendouts) if s[0] == ci]
        mask = camp == ci
        sendout_idx[mask] = rng.choice(options, size=int(mask.sum()))
    return camp, sendout_idx


def _audience(
    rng: np.random.Generator,
    sendouts: list[_Sendout],
    sendout_idx: np.ndarray,
    pool: int,
    part: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Who receives each message: a pool of customers, each sendout reaching some once.

    The same customer hears from several campaigns (see fatigue). Returns the
    customer (pool index), how many messages they had before this one, the
    phone number and the country prefix.
    """
    n = len(sendout_idx)
    pool_phone, pool_country = _phones(rng, pool, start=part * CHUNK_ROWS)
    customer = np.empty(n, dtype=np.int64)
    previous = np.zeros(n, dtype=np.int64)  # messages the customer had before this one
    seen = np.zeros(pool, dtype=np.int64)
    for s in np.argsort([t for _, _, t in sendouts], kind="stable"):
        rows_s = np.flatnonzero(sendout_idx == s)
        if len(rows_s) > pool:  # a tiny export: let customers repeat across rows
            picks = rng.choice(pool, size=len(rows_s), replace=True)
        else:
            picks = rng.choice(pool, size=len(rows_s), replace=False)
        customer[rows_s] = picks
        previous[rows_s] = seen[picks]
        seen[picks] += 1
    return customer, previous, pool_phone[customer], pool_country[customer]


def _events(
    rng: np.random.Generator,
    sendouts: list[_Sendout],
    sendout_idx: np.ndarray,
    previous: np.ndarray,
) -> dict[str, np.ndarray]:
    """When each message was sent, delivered, read and opted out (or not), and its outcome."""
    n = len(sendout_idx)
    t0 = np.array([sendouts[i][2] for i in sendout_idx], dtype="datetime64[us]")
    sent = t0 + (rng.uniform(0, 1800, n) * 1e6).astype("timedelta64[us]")
    is_sent = rng.random(n) < 0.995
    failed = is_sent & (rng.random(n) < 0.04)
    delivered_ok = is_sent & ~failed & (rng.random(n) < 0.995)
    deliver_lag = (rng.lognormal(1.0, 0.8, n) * 1e6).astype("timedelta64[us]")
    delivered = sent + deliver_lag
    read_ok = delivered_ok & (rng.random(n) < 0.64 - 0.03 * np.minimum(previous, 4))
    read_lag = (rng.lognormal(np.log(900), 1.6, n) * 1e6).astype("timedelta64[us]")
    read = delivered + np.minimum(read_lag, np.timedelta64(5 * 86400, "s"))
    # reads are a lower bound: some clickers have read receipts off
    receipts_off = read_ok & (rng.random(n) < 0.08)
    clicked = read_ok & (rng.random(n) < 0.22)
    opted = delivered_ok & (rng.random(n) < 0.003 * (1 + np.minimum(previous, 4)))
    opt_at = np.where(read_ok, read, delivered) + (rng.lognormal(4, 1, n) * 1e6).astype(
        "timedelta64[us]"
    )
    nat = np.datetime64("NaT", "us")
    return {
        "read": read,
        "read_ok": read_ok,
        "failed": failed,
        "clicked": clicked,
        "sent_at": np.where(is_sent, sent, nat),
        "delivered_at": np.where(delivered_ok, delivered, nat),
        "read_at": np.where(read_ok & ~receipts_off, read, nat),
        "opt_out_at": np.where(opted, opt_at, nat),
    }


def _draws(
    rng: np.random.Generator, customer: np.ndarray, read_ok: np.ndarray, *, pool: int, n: int
) -> dict[str, np.ndarray]:
    """Error codes, customers' variables, replies and click choices."""
    err_w = np.array([w for *_, w in _ERRORS])
    return {
        "error": rng.choice(len(_ERRORS), size=n, p=err_w / err_w.sum()),
        "name": rng.choice(len(_NAMES), size=pool)[customer],
        "segment": rng.choice(len(_SEGMENTS), size=pool, p=[0.15, 0.6, 0.25])[customer],
        "city": rng.integers(0, 100, size=pool)[customer],
        "replied": read_ok & (rng.random(n) < 0.3),
        "click_lag": rng.lognormal(3.5, 1.0, n),
        "second_click": rng.random(n) < 0.15,
        "link_instead": rng.random(n) < 0.35,
        "button": rng.random(n),
    }


def _records(
    business: str,
    sendouts: list[_Sendout],
    camp: np.ndarray,
    sendout_idx: np.ndarray,
    phone: np.ndarray,
    country: np.ndarray,
    session: np.ndarray,
    ev: dict[str, np.ndarray],
    x: dict[str, np.ndarray],
) -> list[list[str]]:
    """One list of 15 strings per message."""
    stamps = {c: _fmt(ev[c]) for c in ("sent_at", "delivered_at", "read_at", "opt_out_at")}
    out: list[list[str]] = []
    for i in range(len(camp)):
        cname, buttons, link = _CAMPAIGNS[camp[i]]
        bclicks, lclicks = _clicks(i, ev, x, buttons, link)
        cities = _CITIES[country[i]]
        inputs = (
            f'{{"first_name": "{_NAMES[x["name"][i]]}", '
            f'"city": "{cities[x["city"][i] % len(cities)]}", '
            f'"segment": "{_SEGMENTS[x["segment"][i]]}"}}'
        )
        code, msg = ("", "")
        if ev["failed"][i]:
            code, msg, _ = _ERRORS[x["error"][i]]
        out.append(
            [
                phone[i],
                business,
                cname,
                sendouts[sendout_idx[i]][1],
                session[i],
                stamps["sent_at"][i],
                stamps["delivered_at"][i],
                stamps["read_at"][i],
                stamps["opt_out_at"][i],
                code,
                msg,
                "[" + ", ".join(bclicks) + "]",
                "[" + ", ".join(lclicks) + "]",
                inputs,
                '{"replied": true}' if x["replied"][i] else "{}",
            ]
        )
    return out


def _clicks(
    i: int, ev: dict[str, np.ndarray], x: dict[str, np.ndarray], buttons: tuple[str, ...], link: str
) -> tuple[list[str], list[str]]:
    """The button and link clicks of message ``i``, as JSON objects."""
    bclicks: list[str] = []
    lclicks: list[str] = []
    if not ev["clicked"][i]:
        return bclicks, lclicks
    ts = ev["read"][i] + np.timedelta64(int(x["click_lag"][i] * 1e6), "us")
    ts_s = str(ts).replace("T", " ")
    if x["link_instead"][i]:
        lclicks.append(f'{{"id": "link_1", "name": "{link}", "ts": "{ts_s}"}}')
    else:
        b = min(int(x["button"][i] * len(buttons)), len(buttons) - 1)
        bclicks.append(f'{{"id": "btn_{b + 1}", "name": "{buttons[b]}", "ts": "{ts_s}"}}')
    if x["second_click"][i]:
        ts2 = str(ts + np.timedelta64(40_000_000, "us")).replace("T", " ")
        lclicks.append(f'{{"id": "link_1", "name": "{link}", "ts": "{ts2}"}}')
    return bclicks, lclicks


def _add_quirks(records: list[list[str]], rng: np.random.Generator) -> None:
    """A handful of the problems real files have, at fixed, seeded places."""
    col = {c: i for i, c in enumerate(EXPORT_COLUMNS)}
    n = len(records) - 1
    picks = rng.choice(np.arange(1, n + 1), size=12, replace=False)
    # Excel turned a phone number into scientific notation
    records[picks[0]][col["customer_external_id"]] = "5.51199E+12"
    # a hand-typed placeholder in a timestamp column
    records[picks[1]][col["read_at"]] = "N/A"
    # truncated JSON
    records[picks[2]][col["button_clicks"]] = '[{"id": "btn_1", "name": "Ver ofertas"'
    # the vendor's own example: a bare object instead of an array
    r = records[picks[3]]
    if r[col["sent_at"]]:
        ts = r[col["sent_at"]][:11] + "23:59:59.000000"
        r[col["button_clicks"]] = f'{{"id": "btn_1", "name": "Ver ofertas", "ts": "{ts}"}}'
    # ISO timestamps with T and Z, as the Reports API writes them
    for p in picks[4:7]:
        for c in ("sent_at", "delivered_at"):
            v = records[p][col[c]]
            if v:
                records[p][col[c]] = v.replace(" ", "T")[:19] + "Z"
    # a later daily report repeats records with more events filled in
    for p in picks[7:12]:
        again = list(records[p])
        if again[col["delivered_at"]] and not again[col["read_at"]]:
            again[col["read_at"]] = again[col["delivered_at"]][:11] + "23:30:00.000000"
        records.append(again)


def write_export(
    path: str | os.PathLike[str],
    *,
    rows: int = 6000,
    seed: int = 7,
    quirks: bool = True,
) -> Path:
    """Write a generated export as CSV (UTF-8, LF, minimal quoting).

    Parameters
    ----------
    path : str or path-like
        Where to write the CSV.
    rows, seed : int
        As for :func:`generate_export`.
    quirks : bool
        As for :func:`generate_export`.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        ``rows`` is negative.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    path = Path(path)
    chunk = CHUNK_ROWS
    with atomic_write(path, mode="w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        if rows <= chunk:
            writer.writerows(generate_export(rows, seed=seed, quirks=quirks))
            return path
        # big files: write in seeded chunks so memory stays flat
        done = 0
        part = 0
        while done < rows:
            m = min(chunk, rows - done)
            recs = generate_export(m, seed=seed, quirks=quirks and part == 0, part=part)
            writer.writerows(recs if part == 0 else recs[1:])
            done += m
            part += 1
    return path


def export_text(rows: int = 100, *, seed: int = 7, quirks: bool = True) -> str:
    """Return a generated export as CSV text (handy in tests and examples).

    Parameters
    ----------
    rows : int, default 100
        Number of message records, as for :func:`generate_export`.
    seed : int, default 7
        Seed of the random generator.
    quirks : bool, default True
        Sprinkle a handful of real-world problems over the records.

    Returns
    -------
    str
        The CSV text (LF line ends, minimal quoting), header first.

    Raises
    ------
    ValueError
        ``rows`` is negative.
    """
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(generate_export(rows, seed=seed, quirks=quirks))
    return buf.getvalue()


# --------------------------------------------------------------------------- daily reports

#: How many days a daily report keeps following a sendout (its messages' later events).
REPORT_WINDOW_DAYS = 3
#: A day's report is exported at this hour (UTC) of the same day.
_REPORT_HOUR = 22


def _daily_sendouts(structure: np.random.Generator, day: np.datetime64) -> list[_Sendout]:
    """One to three sendouts on ``day``, each of a campaign drawn by weight."""
    w = np.array(_CAMPAIGN_WEIGHTS)
    k = int(structure.integers(1, 4))
    camps = structure.choice(len(_CAMPAIGNS), size=k, p=w / w.sum())
    out = []
    for j, ci in enumerate(sorted(camps.tolist())):
        hour = int(structure.integers(11, 20))
        t0 = day + np.timedelta64(hour, "h") + np.timedelta64(j * 17, "m")
        out.append((int(ci), str(uuid.UUID(bytes=structure.bytes(16), version=4)), t0))
    return out


class _Pool:
    """The business's customers: phone numbers and traits drawn once, and their history."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.phone, self.country = _phones(rng, size, start=0)
        self.name = rng.choice(len(_NAMES), size=size)
        self.segment = rng.choice(len(_SEGMENTS), size=size, p=[0.15, 0.6, 0.25])
        self.city = rng.integers(0, 100, size=size)
        self.seen = np.zeros(size, dtype=np.int64)  # messages each has received so far
        self.size = size

    def reach(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` customers for one sendout (distinct when the pool allows) and their history."""
        picks = rng.choice(self.size, size=n, replace=n > self.size)
        previous = self.seen[picks].copy()
        np.add.at(self.seen, picks, 1)
        return picks, previous


class _Batch:
    """The messages of one day's sendouts: full event timelines, shown as of a report."""

    def __init__(
        self, rng: np.random.Generator, pool: _Pool, sendouts: list[_Sendout], n: int
    ) -> None:
        sizes = rng.multinomial(n, np.full(len(sendouts), 1 / len(sendouts)))
        self.sendouts = sendouts
        self.sendout_idx = np.repeat(np.arange(len(sendouts)), sizes)
        self.customer, previous = pool.reach(rng, n)
        self.camp = np.array([sendouts[i][0] for i in self.sendout_idx], dtype=np.int64)
        self.session = _uuids(rng, n)
        self.events = _slower_reads(rng, _events(rng, sendouts, self.sendout_idx, previous))
        c = self.customer
        self.extra = {
            "error": rng.choice(len(_ERRORS), size=n, p=_error_weights()),
            "name": pool.name[c],
            "segment": pool.segment[c],
            "city": pool.city[c],
            "replied": self.events["read_ok"] & (rng.random(n) < 0.3),
            "click_lag": rng.lognormal(3.5, 1.0, n),
            "second_click": rng.random(n) < 0.15,
            "link_instead": rng.random(n) < 0.35,
            "button": rng.random(n),
        }
        lag = (self.extra["click_lag"] * 1e6).astype("timedelta64[us]")
        self.click_at = self.events["read"] + lag
        self.day = 0  # set by the caller: the day of the sendouts
        self.last = np.zeros(n, dtype=np.int64)  # the state last reported

    def state(self, until: np.datetime64) -> np.ndarray:
        """What each message shows in a report exported at ``until``, as bits."""
        ev = self.events
        bits = np.zeros(len(self.camp), dtype=np.int64)
        for i, c in enumerate(("delivered_at", "read_at", "opt_out_at")):
            bits |= (~np.isnat(ev[c]) & (ev[c] <= until)).astype(np.int64) << i
        bits |= self._clicked(until).astype(np.int64) << 3
        return bits

    def _clicked(self, until: np.datetime64) -> np.ndarray:
        return self.events["clicked"] & (self.click_at <= until)

    def records(
        self, rows: np.ndarray, until: np.datetime64, business: str, pool: _Pool
    ) -> list[list[str]]:
        """The records of ``rows`` as a report exported at ``until`` shows them."""
        ev = self.events
        nat = np.datetime64("NaT", "us")
        shown = {
            "read": ev["read"][rows],
            "clicked": self._clicked(until)[rows],
            "failed": ev["failed"][rows],
            "read_ok": ev["read_ok"][rows],
        }
        for c in ("sent_at", "delivered_at", "read_at", "opt_out_at"):
            v = ev[c][rows]
            shown[c] = np.where(~np.isnat(v) & (v <= until), v, nat)
        x = {k: v[rows] for k, v in self.extra.items()}
        x["replied"] = x["replied"] & ~np.isnat(shown["read_at"])
        c = self.customer[rows]
        return _records(
            business,
            self.sendouts,
            self.camp[rows],
            self.sendout_idx[rows],
            pool.phone[c],
            pool.country[c],
            self.session[rows],
            shown,
            x,
        )


def _slower_reads(rng: np.random.Generator, ev: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reads spread over the following days (median 1.5 h), as a daily report sees them."""
    n = len(ev["read"])
    base = ev["delivered_at"]  # NaT when not delivered: then never read either
    lag = (rng.lognormal(np.log(5400), 1.8, n) * 1e6).astype("timedelta64[us]")
    read = base + np.minimum(lag, np.timedelta64(3 * 86400, "s"))
    nat = np.datetime64("NaT", "us")
    opted = ~np.isnat(ev["opt_out_at"])
    old_base = np.where(ev["read_ok"], ev["read"], base)
    new_base = np.where(ev["read_ok"], read, base)
    return {
        **ev,
        "read": read,
        "read_at": np.where(np.isnat(ev["read_at"]), nat, read),
        "opt_out_at": np.where(opted, new_base + (ev["opt_out_at"] - old_base), nat),
    }


def _error_weights() -> np.ndarray:
    w = np.array([w for *_, w in _ERRORS])
    return w / w.sum()


def _report_time(day: np.datetime64) -> np.datetime64:
    """When the report of ``day`` is exported: late that evening."""
    return day + np.timedelta64(_REPORT_HOUR, "h")


def generate_daily_reports(
    days: int = 5,
    *,
    rows_per_day: int = 600,
    start: str = "2024-11-01",
    seed: int = 11,
    quirks: bool = True,
) -> Iterator[tuple[str, list[list[str]]]]:
    """Generate a business's daily campaign reports, one day at a time.

    One business with one pool of customers reached by one to three
    sendouts a day (so a customer hears from many campaigns: see
    :func:`~connectly_nb.metrics.fatigue`). The report of a day is exported
    at 22:00 UTC and holds that day's messages as they stand then, plus
    the messages of the previous :data:`REPORT_WINDOW_DAYS` days whose state
    moved on since the last report (a later read, click or opt-out), repeated
    in their more advanced state: merging the reports gives every message's
    latest state.

    Parameters
    ----------
    days : int, default 5
        How many daily reports.
    rows_per_day : int, default 600
        Records per report: the day's new messages fill what the repeated
        records leave (``quirks`` adds five more repeats).
    start : str, default "2024-11-01"
        The first day (ISO date).
    seed : int, default 11
        Seed of the random generator; the same seed gives the same reports.
    quirks : bool, default True
        Sprinkle a handful of real-world problems over each report, as
        :func:`generate_export` does.

    Yields
    ------
    name : str
        The file name, ``campaign_daily_<date>.csv``.
    records : list of list of str
        The header, then one list of 15 strings per record.

    Raises
    ------
    ValueError
        ``days`` or ``rows_per_day`` is below 1, or ``start`` is not an ISO date.
    """
    if days < 1 or rows_per_day < 1:
        raise ValueError(f"days and rows_per_day must be >= 1, got {days} and {rows_per_day}")
    try:
        first = np.datetime64(start, "D")
    except ValueError as exc:
        raise ValueError(f"start must be an ISO date such as 2024-11-01, got {start!r}") from exc
    structure = np.random.default_rng(seed)
    business = str(uuid.UUID(bytes=structure.bytes(16), version=4))
    pool = _Pool(np.random.default_rng([seed, 1]), max(20, 2 * rows_per_day))
    batches: list[_Batch] = []
    for d in range(days):
        day = (first + np.timedelta64(d, "D")).astype("datetime64[us]")
        until = _report_time(day)
        rng = np.random.default_rng([seed, 2, d])
        records = [list(EXPORT_COLUMNS)]
        open_batches = [b for b in batches if d - b.day <= REPORT_WINDOW_DAYS]
        records += _repeats(open_batches, rng, until, business, pool, rows_per_day // 2)
        fresh = max(rows_per_day - (len(records) - 1), 0)
        if fresh:
            batch = _Batch(rng, pool, _daily_sendouts(structure, day), fresh)
            batch.day = d
            batch.last = batch.state(until)
            records += batch.records(np.arange(fresh), until, business, pool)
            batches.append(batch)
        if quirks and len(records) > 40:
            _add_quirks(records, rng)
        yield f"campaign_daily_{str(day)[:10]}.csv", records


def _repeats(
    batches: list[_Batch],
    rng: np.random.Generator,
    until: np.datetime64,
    business: str,
    pool: _Pool,
    most: int,
) -> list[list[str]]:
    """The earlier messages whose state moved on since the last report (at most ``most``)."""
    moved = []
    for b in batches:
        now = b.state(until)
        rows = np.flatnonzero(now != b.last)
        b.last = now
        moved.append((b, rows))
    total = sum(len(r) for _, r in moved)
    out: list[list[str]] = []
    for b, rows in moved:
        if total > most:  # a tiny report: keep a share of each batch's moves
            rows = np.sort(rng.choice(rows, size=len(rows) * most // total, replace=False))
        out += b.records(rows, until, business, pool)
    return out


def write_daily_reports(
    folder: str | os.PathLike[str],
    *,
    days: int = 5,
    rows_per_day: int = 600,
    start: str = "2024-11-01",
    seed: int = 11,
    quirks: bool = True,
) -> list[Path]:
    """Write :func:`generate_daily_reports`'s reports as CSV files into ``folder``.

    Parameters
    ----------
    folder : str or path-like
        Where to write (created if missing).
    days, rows_per_day : int
        As for :func:`generate_daily_reports`.
    start : str
        The first day (ISO date).
    seed : int
        Seed of the random generator.
    quirks : bool
        Sprinkle real-world problems over each report.

    Returns
    -------
    list of pathlib.Path
        The files written, one per day, in date order.

    Raises
    ------
    ValueError
        As for :func:`generate_daily_reports`.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in generate_daily_reports(
        days, rows_per_day=rows_per_day, start=start, seed=seed, quirks=quirks
    ):
        with atomic_write(out / name, mode="w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(records)
        paths.append(out / name)
    return paths
