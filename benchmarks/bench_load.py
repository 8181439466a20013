"""Loading benchmark: read_export against pyarrow's raw parse and a naive pandas pipeline.

Usage::

    python benchmarks/bench_load.py                 # 1,000,000 rows, 3 runs each
    python benchmarks/bench_load.py --rows 200000 --runs 5

Every measurement runs in a fresh Python process, so peak memory is that
process's own: ``peak`` is the high-water mark of its resident memory minus
what it held after the imports. The export is written once by the package's
generator (seeded) under ``benchmarks/data/`` and reused.

Targets (issue 2): read_export at most 2x the raw pyarrow parse, at least 10x
faster than the naive pipeline, peak memory under 2.5x the file's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
METHODS = {
    "pyarrow_raw": "pyarrow.csv.read_csv(file), types inferred",
    "pyarrow_text": "pyarrow.csv.read_csv, every column pinned to string",
    "read_export": "connectly_nb.read_export(file)",
    "read_export_all": "read_export, then Export.problems and Export.variables",
    "naive": "pandas read_csv + to_datetime + json.loads via apply + json_normalize",
    "cached": "read_export(cache=...) twice in one process: second time from Parquet",
}


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_one(method: str, path: str) -> dict[str, float]:
    """One measurement in this process; prints nothing, returns the figures."""
    import pandas as pd  # noqa: F401  (imports are not part of the measurement)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    import connectly_nb

    baseline = _rss_mb("VmRSS")
    start = time.perf_counter()
    if method == "pyarrow_raw":
        result = pacsv.read_csv(path)
        rows = result.num_rows
    elif method == "pyarrow_text":
        names = connectly_nb.schema.EXPORT_COLUMNS
        result = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
        rows = result.num_rows
    elif method in ("read_export", "read_export_all"):
        result = connectly_nb.read_export(path, progress=False)
        if method == "read_export_all":
            len(result.problems)
            len(result.variables)
        rows = len(result.messages)
    elif method == "naive":
        rows = _naive(path)
    elif method == "cached":
        import tempfile

        folder = tempfile.mkdtemp(prefix="connectly-bench-cache-")
        first = connectly_nb.read_export(path, progress=False, cache=folder)
        first_seconds = time.perf_counter() - start
        start = time.perf_counter()
        again = connectly_nb.read_export(path, progress=False, cache=folder)
        len(again.variables)
        rows = len(again.messages)
        del first
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "first_seconds": first_seconds,
            "peak_mb": _rss_mb("VmHWM") - baseline,
            "rows": rows,
        }
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mb": _rss_mb("VmHWM") - baseline,
        "rows": rows,
    }


def _naive(path: str) -> int:
    """What a first notebook does: pandas defaults, then per-cell JSON."""
    import json as jsonlib

    import pandas as pd

    df = pd.read_csv(path)
    for c in ("sent_at", "delivered_at", "read_at", "opt_out_at"):
        df[c] = pd.to_datetime(df[c], errors="coerce", utc=True)

    def loads(v: object) -> object:
        if not isinstance(v, str) or not v:
            return None
        try:
            return jsonlib.loads(v)
        except ValueError:
            return None

    for c in ("button_clicks", "link_clicks", "input_variables", "output_variables"):
        df[c] = df[c].apply(loads)
    inputs = pd.json_normalize(
        df["input_variables"].map(lambda d: d if isinstance(d, dict) else {})
    )
    return len(df) + 0 * len(inputs)


def ensure_export(rows: int) -> Path:
    """The benchmark export, written once by the seeded generator."""
    from connectly_nb.datasets import write_export

    path = HERE / "data" / f"export_{rows}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {path} ...", file=sys.stderr)
        write_export(path.with_suffix(".tmp"), rows=rows, seed=7)
        path.with_suffix(".tmp").rename(path)
    return path


def run_fresh(method: str, path: Path) -> dict[str, float]:
    """One measurement in a fresh Python process."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", method, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def summarise(results: list[dict[str, float]]) -> dict[str, float]:
    out = {
        "seconds": statistics.median(r["seconds"] for r in results),
        "peak_mb": statistics.median(r["peak_mb"] for r in results),
        "rows": results[0]["rows"],
        "runs": len(results),
    }
    if "first_seconds" in results[0]:
        out["first_seconds"] = statistics.median(r["first_seconds"] for r in results)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per method (median reported)")
    parser.add_argument("--naive-runs", type=int, default=None, help="runs of the naive pipeline")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return

    path = ensure_export(args.rows)
    size_mb = path.stat().st_size / 2**20
    print(f"export: {path.name}, {args.rows:,} rows, {size_mb:,.0f} MiB")
    print(f"python {sys.version.split()[0]}, medians of runs in fresh processes\n")
    # Round robin: one run of every method, then the next round. The machine
    # is a shared VM whose speed drifts by tens of percent over a minute;
    # interleaving exposes every method to the same drift, and the ratios
    # below are medians of ratios within a round.
    methods = [m for m in METHODS if not (m == "naive" and args.skip_naive)]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    naive_runs = args.naive_runs or args.runs
    for i in range(args.runs):
        for method in methods:
            if method == "naive" and i >= naive_runs:
                continue
            results[method].append(run_fresh(method, path))
        print(f"round {i + 1}/{args.runs} done", file=sys.stderr, flush=True)
    figures = {m: summarise(r) for m, r in results.items()}
    for method, f in figures.items():
        times = sorted(r["seconds"] for r in results[method])
        print(
            f"{method:<16} {f['seconds']:7.2f} s   peak +{f['peak_mb']:7.0f} MiB   "
            f"({f['runs']} runs, {times[0]:.2f}-{times[-1]:.2f} s)  {METHODS[method]}",
            flush=True,
        )
    ours = figures["read_export"]

    def paired(base: str) -> float:
        return statistics.median(
            a["seconds"] / b["seconds"]
            for a, b in zip(results["read_export"], results[base], strict=False)
        )

    print()
    for base in ("pyarrow_raw", "pyarrow_text"):
        print(
            f"read_export / {base}: {paired(base):.2f}x median within rounds, "
            f"{ours['seconds'] / figures[base]['seconds']:.2f}x of medians (target <= 2x)"
        )
    if "naive" in figures:
        print(
            f"naive / read_export: {1 / paired('naive'):.1f}x faster within rounds, "
            f"{figures['naive']['seconds'] / ours['seconds']:.1f}x of medians (target >= 10x)"
        )
    print(f"read_export peak / file size: {ours['peak_mb'] / size_mb:.2f}x (target < 2.5x)")
    full = figures["read_export_all"]
    print(
        f"with variables and problems complete: {full['seconds']:.2f} s, "
        f"peak {full['peak_mb'] / size_mb:.2f}x file"
    )
    if "cached" in figures:
        c = figures["cached"]
        print(
            f"cached: second load {c['seconds']:.2f} s, first (parse + write) "
            f"{c['first_seconds']:.2f} s: {c['seconds'] / c['first_seconds']:.2f} of it"
        )


if __name__ == "__main__":
    main()
