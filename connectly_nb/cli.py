"""The ``connectly-nb`` command: argument parsing only, the work is the library's.

``validate``, ``report``, ``suppress``, ``fetch``, ``sample``, ``ingest`` and ``cache clear``.

Exit codes: 0 done, 2 the input cannot be used (bad export, bad option), with
the reason on stderr and no traceback, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from connectly_nb._problems import problem_summary
from connectly_nb.display import format_number_of
from connectly_nb.exceptions import ConnectlyError

__all__ = ["main"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectly-nb",
        description="Analyse Connectly WhatsApp campaign exports.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_validate,
        _add_report,
        _add_suppress,
        _add_fetch,
        _add_sample,
        _add_cache,
        _add_ingest,
    ):
        add(sub)
    return parser


def _add_validate(sub: Any) -> None:
    v = sub.add_parser(
        "validate",
        help="load exports and report their problems",
        description="Load one or more exports (files, folders or glob patterns) as one export, "
        "print a summary and the problems found, grouped by kind.",
    )
    v.add_argument("files", nargs="*", metavar="FILE", help="export CSV files, folders or patterns")
    v.add_argument("--sample", action="store_true", help="validate the bundled sample export")
    v.add_argument("--tz", default="UTC", help="time zone to show times in (default: UTC)")
    v.add_argument("--no-dedupe", action="store_true", help="keep repeated records apart")
    v.add_argument(
        "--show-phone-numbers",
        action="store_true",
        help="show phone numbers and emails in the examples (masked by default)",
    )
    v.add_argument(
        "--examples",
        type=int,
        default=3,
        metavar="N",
        help="lines shown per kind of problem (default: 3)",
    )


def _add_report(sub: Any) -> None:
    r = sub.add_parser(
        "report",
        help="render an HTML report of exports",
        description="Execute the report notebook on the exports and write a self-contained HTML "
        "page (no code, charts embedded, phone numbers masked).",
    )
    r.add_argument(
        "files", nargs="*", metavar="EXPORT", help="export CSV files, folders or patterns"
    )
    r.add_argument("--sample", action="store_true", help="report on the bundled sample export")
    r.add_argument("-o", "--output", required=True, type=Path, help="HTML file to write")
    r.add_argument(
        "--campaign",
        action="append",
        metavar="NAME",
        help="keep this campaign (repeat for several)",
    )
    r.add_argument(
        "--error-code",
        action="append",
        metavar="CODE",
        help="keep this error code (repeat for several)",
    )
    r.add_argument("--start", metavar="DATE", help="first sent date to keep, e.g. 2024-11-01")
    r.add_argument("--end", metavar="DATE", help="last sent date to keep (inclusive)")
    r.add_argument("--tz", default="UTC", help="time zone of the times shown (default: UTC)")
    r.add_argument("--title", default="Connectly campaign report", help="the report's title")
    r.add_argument(
        "--show-phone-numbers",
        action="store_true",
        help="show full phone numbers (masked by default)",
    )
    r.add_argument(
        "--conversion",
        action="append",
        metavar="NAME_OR_URL",
        help="a button name or link URL (prefix) that counts as a conversion (repeat for several)",
    )
    r.add_argument(
        "--negatives",
        default="auto",
        metavar="auto|none|NAME",
        help="buttons that say no: auto (names like 'Stop', the default), none, or a name",
    )


def _add_suppress(sub: Any) -> None:
    s = sub.add_parser(
        "suppress",
        help="write the customers not to message again",
        description="Load the exports (every campaign: a customer's failures add up across "
        "them) and write one row per customer who opted out, or failed with a code that "
        "means it (131050; 131026 after repeated failures), with the reason. The file holds "
        "full phone numbers, as Connectly needs them: keep it private.",
    )
    s.add_argument("files", nargs="*", metavar="FILE", help="export CSV files, folders or patterns")
    s.add_argument("--sample", action="store_true", help="use the bundled sample export")
    s.add_argument("-o", "--output", required=True, type=Path, help="CSV file to write")
    s.add_argument(
        "--repeats",
        type=int,
        default=2,
        metavar="N",
        help="failures needed for a 'suppress after repeats' code such as 131026 (default: 2)",
    )
    s.add_argument("--no-dedupe", action="store_true", help="keep repeated records apart")


def _add_fetch(sub: Any) -> None:
    f = sub.add_parser(
        "fetch",
        help="download the latest reports from the Connectly Reports API",
        description="Download the latest completed run of each configured report (or of one) "
        "into a folder. The API key comes from CONNECTLY_API_KEY.",
    )
    f.add_argument("--business", required=True, metavar="ID", help="Connectly business id")
    f.add_argument(
        "--type", metavar="TYPE", help="only reports of this type, e.g. campaign.daily.v1"
    )
    f.add_argument("--report", metavar="ID", help="only this report")
    f.add_argument("-o", "--output", required=True, type=Path, help="folder to write into")


def _add_sample(sub: Any) -> None:
    s = sub.add_parser(
        "sample",
        help="write a generated export of any size, or a run of daily reports",
        description="Write a realistic generated export (the generator of the bundled sample); "
        "with --days, a business's daily reports into a folder (later days repeat the "
        "records whose state moved on).",
    )
    s.add_argument("--rows", type=int, default=6000, help="number of messages (default: 6000)")
    s.add_argument("--seed", type=int, help="random seed (default: 7; 11 with --days)")
    s.add_argument("--no-quirks", action="store_true", help="leave out the real-world problems")
    s.add_argument("--days", type=int, help="write this many daily reports into the -o folder")
    s.add_argument(
        "--rows-per-day",
        type=int,
        default=600,
        metavar="N",
        help="records per daily report (default: 600)",
    )
    s.add_argument(
        "--start", default="2024-11-01", metavar="DATE", help="first day (default: 2024-11-01)"
    )
    s.add_argument(
        "-o", "--output", required=True, type=Path, help="CSV file to write (a folder with --days)"
    )


def _add_ingest(sub: Any) -> None:
    i = sub.add_parser(
        "ingest",
        help="add daily reports to a Parquet store (created if missing)",
        description="Merge reports into a store of every report so far (the merge rule of "
        "validate and report), on Dask: a file already in the store is skipped, and an "
        "interrupted ingest leaves the store as it was.",
    )
    i.add_argument("files", nargs="+", metavar="REPORT", help="report CSV files, folders or globs")
    i.add_argument("--store", required=True, metavar="DIR", help="the store's folder or URL")
    i.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: local worker processes)",
    )
    i.add_argument("--workers", type=int, default=2, help="local worker processes (default: 2)")
    i.add_argument("--buckets", type=int, help="hash buckets per day, for a new store")
    i.add_argument(
        "--no-wait", action="store_true", help="fail at once if another ingest is running"
    )


def _add_cache(sub: Any) -> None:
    c = sub.add_parser(
        "cache",
        help="clear the cache of loaded exports",
        description="read_export(..., cache=True) keeps the tidy tables, full phone numbers "
        "included, in $CONNECTLY_NB_CACHE or ~/.cache/connectly_nb until they are removed. "
        "'clear' removes every cached export (and nothing else in the folder).",
    )
    c.add_argument("action", choices=["clear"], help="what to do")
    c.add_argument("--dir", type=Path, help="the cache folder (default: the one loads use)")


def _cache(args: argparse.Namespace) -> int:
    from connectly_nb.cache import cache_dir, clear

    folder = cache_dir(args.dir if args.dir is not None else True)
    count, size = clear(folder)
    print(
        f"removed {format_number_of(count, 'cached export')}, {size / 2**20:,.1f} MiB, "
        f"from {folder}"
    )
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from connectly_nb.datasets import sample_path
    from connectly_nb.read import read_export

    sources: list[str | Path] = list(args.files)
    if args.sample:
        sources.append(sample_path())
    if not sources:
        raise _Usage("name at least one FILE, or use --sample for the bundled sample")
    export = read_export(sources, tz=args.tz, dedupe=not args.no_dedupe)
    lines = [repr(export).removeprefix("<").removesuffix(">"), ""]
    for row in export.accounting.itertuples(index=False):
        lines.append(
            f"{row.source}: {format_number_of(row.records_read, 'record')} read = "
            f"{row.rows_kept:,} kept + "
            f"{row.duplicates_merged:,} merged duplicates"
            + (
                f"; {format_number_of(row.repeated_headers, 'repeated header line')} skipped"
                if row.repeated_headers
                else ""
            )
            + (
                f"; {format_number_of(row.blank_lines, 'blank line')} skipped"
                if row.blank_lines
                else ""
            )
            + (
                f"; {format_number_of(row.records_swallowed, 'more record')} held in a runaway "
                "quoted field (see runaway_quote), not read"
                if row.records_swallowed
                else ""
            )
            + f" [{row.encoding}, delimiter {row.delimiter!r}]"
        )
    lines += ["", "campaigns (rows):"]
    campaigns = export.messages["campaign_name"].value_counts().sort_index()
    campaigns = campaigns[campaigns > 0]
    names = pd.Series(campaigns.index.astype(str), dtype=object)
    if not args.show_phone_numbers:  # names are typed by people: numbers and emails too
        from connectly_nb.safety import mask_text

        names = mask_text(names)
    lines += [f"  {name} ({n:,})" for name, n in zip(names, campaigns, strict=True)]
    codes = export.messages["error_code"].value_counts().sort_index()
    if (codes > 0).any():
        lines.append(
            "error codes (rows): " + ", ".join(f"{c} ({n:,})" for c, n in codes[codes > 0].items())
        )
    lines.append("")
    lines += _problem_report(
        export.problems, examples=args.examples, show_phone_numbers=args.show_phone_numbers
    )
    for line in lines:
        print(_printable(line))
    return EXIT_OK


#: Characters a terminal may act on: C0 and C1 controls (escape sequences, bell,
#: carriage return, line breaks inside a name), DEL, and bidirectional overrides.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _printable(line: str) -> str:
    r"""``line`` with terminal control characters written as escapes (``\x1b``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), line)


def _problem_report(
    problems: pd.DataFrame, *, examples: int, show_phone_numbers: bool = False
) -> list[str]:
    if problems.empty:
        return ["No problems found."]
    lines = [f"{format_number_of(len(problems), 'problem')}:"]
    shown = problems
    if not show_phone_numbers:  # values and messages quote the data: mask what they hold
        from connectly_nb.safety import mask_text

        shown = problems.assign(value=mask_text(problems["value"]))
        shown["message"] = mask_text(problems["message"])
    for row in problem_summary(problems).itertuples(index=False):
        lines.append(f"  {row.severity:<7} {row.problem:<20} {row.rows:>8,}  ({row.meaning})")
        group = shown[(shown["problem"] == row.problem).to_numpy()]
        for p in group.head(examples).itertuples(index=False):
            where = f"{p.source}:{p.line}" if pd.notna(p.line) else f"{p.source}"
            column = f" [{p.column}]" if isinstance(p.column, str) else ""
            value = f" {p.value!r}" if isinstance(p.value, str) else ""
            lines.append(f"      {where}{column}{value}: {p.message}")
        if len(group) > examples:
            lines.append(f"      ... and {len(group) - examples:,} more")
    return lines


def _report(args: argparse.Namespace) -> int:
    from connectly_nb.report import render_report

    if not args.files and not args.sample:
        raise _Usage("name at least one EXPORT, or use --sample for the bundled sample")
    if args.files and args.sample:
        raise _Usage("give EXPORT files or --sample, not both")
    path = render_report(
        args.files or None,
        args.output,
        campaigns=args.campaign,
        error_codes=args.error_code,
        start=args.start,
        end=args.end,
        tz=args.tz,
        title=args.title,
        show_phone_numbers=args.show_phone_numbers,
        progress=sys.stderr.isatty(),
        conversions=args.conversion,
        negatives=args.negatives,
    )
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return EXIT_OK


def _suppress(args: argparse.Namespace) -> int:
    from connectly_nb._fs import check_writable
    from connectly_nb.datasets import sample_path
    from connectly_nb.load import check_not_an_input
    from connectly_nb.metrics import suppression_list, unreadable_ids
    from connectly_nb.read import read_export
    from connectly_nb.safety import write_safe_table

    sources: list[str | Path] = list(args.files)
    if args.sample:
        sources.append(sample_path())
    if not sources:
        raise _Usage("name at least one FILE, or use --sample for the bundled sample")
    if args.repeats < 1:
        raise _Usage(f"--repeats must be 1 or more, got {args.repeats}")
    output = check_writable(args.output, what="the suppression list")
    check_not_an_input(output, sources, what="the suppression list")
    export = read_export(sources, dedupe=not args.no_dedupe, progress=sys.stderr.isatty())
    table = suppression_list(export, repeats=args.repeats)
    write_safe_table(table, output)
    customers = export.messages["customer_external_id"].nunique()
    print(
        f"wrote {output}: {format_number_of(len(table), 'customer')} not to message again, "
        f"of {format_number_of(customers, 'customer')} in "
        f"{format_number_of(len(export.messages), 'message')}"
    )
    reasons = table["reason"].str.split("; ").explode().value_counts()
    for reason, n in reasons.items():
        print(f"  {n:>8,}  {_printable(str(reason))}")
    unreadable = int(unreadable_ids(export).sum())
    if unreadable:
        print(
            f"{format_number_of(unreadable, 'message')} with a blank customer id or one Excel "
            "rewrote (mangled_id): they cannot be judged; re-export them from Connectly"
        )
    if len(table):
        print("The file holds full phone numbers: keep it private.")
    return EXIT_OK


def _fetch(args: argparse.Namespace) -> int:
    from connectly_nb.api import download_report

    paths = download_report(
        args.business,
        args.output,
        report_id=args.report,
        type=args.type,
        progress=sys.stderr.isatty(),
    )
    for path in paths:
        print(path)
    return EXIT_OK


def _sample(args: argparse.Namespace) -> int:
    from connectly_nb.datasets.generator import write_daily_reports, write_export

    if args.days is not None:
        if args.days < 1 or args.rows_per_day < 1:
            raise _Usage("--days and --rows-per-day must be 1 or more")
        paths = write_daily_reports(
            args.output,
            days=args.days,
            rows_per_day=args.rows_per_day,
            start=args.start,
            seed=11 if args.seed is None else args.seed,
            quirks=not args.no_quirks,
        )
        size = sum(p.stat().st_size for p in paths)
        print(f"wrote {len(paths)} daily reports into {args.output} ({size:,} bytes)")
        return EXIT_OK
    if args.seed is None:
        args.seed = 7
    if args.rows < 0:
        raise _Usage(f"--rows must be 0 or more, got {args.rows}")
    path = write_export(args.output, rows=args.rows, seed=args.seed, quirks=not args.no_quirks)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {args.rows:,} messages)")
    return EXIT_OK


def _ingest(args: argparse.Namespace) -> int:
    from connectly_nb.store import ingest

    with _dask_client(args.scheduler, args.workers) as client:
        try:
            report = ingest(
                args.files,
                args.store,
                client=client,
                buckets=args.buckets,
                wait=not args.no_wait,
            )
        except ConnectlyError as exc:  # nothing was switched: say so beside the cause
            exc.args = (f"{exc} (nothing was ingested: the store is as it was)", *exc.args[1:])
            raise
    for row in report.itertuples(index=False):
        print(
            f"{row.source}: {row.status}, {format_number_of(row.records_read, 'record')}, "
            f"{format_number_of(row.problems, 'problem')}"
        )
    added = int((report["status"] == "ingested").sum())
    print(f"{added} of {format_number_of(len(report), 'file')} added to {args.store}")
    return EXIT_OK


def _dask_client(address: str | None, workers: int) -> Any:
    """A client of the scheduler at ``address``, or of local worker processes (closed after)."""
    from distributed import Client, LocalCluster

    if address:
        return Client(address)
    # the workers' own logs (a task's traceback for a bad file) stay quiet: the error the
    # ingest raises is printed once, as every other command's
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    return _Closing(Client(cluster), cluster)


class _Closing:
    """A client and its local cluster, closed together."""

    def __init__(self, client: Any, cluster: Any) -> None:
        self.client, self.cluster = client, cluster

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.cluster.close()


class _Usage(Exception):
    """A command line that cannot be run as given."""


def _check_text_options(args: argparse.Namespace) -> None:
    """Every text option is valid UTF-8 (a Latin-1 terminal passes bytes Python cannot decode).

    File names are left alone: a file system may hold names in any bytes.
    """
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for text in values:
            if name in ("files", "output", "command") or not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                shown = text.encode("utf-8", errors="backslashreplace").decode("ascii", "replace")
                raise _Usage(
                    f"--{name.replace('_', '-')} is not valid UTF-8 text ({shown!r}); "
                    "set the terminal to UTF-8 (e.g. LANG=C.UTF-8) and type it again"
                ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``connectly-nb`` command line; returns the exit code.

    An unusable input (a bad export, option or file: :class:`ConnectlyError`,
    ``OSError`` or ``ValueError``) is reported on stderr in one line, without
    a traceback.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        0 done, 2 the input cannot be used, 130 interrupted (Ctrl-C).

    Raises
    ------
    SystemExit
        From argparse: ``--help``, or arguments it cannot parse (status 2).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {
        "validate": _validate,
        "report": _report,
        "suppress": _suppress,
        "fetch": _fetch,
        "sample": _sample,
        "cache": _cache,
        "ingest": _ingest,
    }
    try:
        _check_text_options(args)
        return commands[args.command](args)
    except _Usage as exc:
        parser.print_usage(sys.stderr)
        print(f"connectly-nb {args.command}: error: {_printable(str(exc))}", file=sys.stderr)
    except (ConnectlyError, OSError, ValueError) as exc:
        print(f"connectly-nb {args.command}: error: {_printable(str(exc))}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
