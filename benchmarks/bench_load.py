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
    "read_export_all": "read_export + building Export.variables",
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


def measure(method: str, path: Path, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, __file__, "--one", method, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout))
    out = {
        "seconds": statistics.median(r["seconds"] for r in results),
        "peak_mb": statistics.median(r["peak_mb"] for r in results),
        "rows": results[0]["rows"],
        "runs": runs,
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
    figures = {}
    for method in METHODS:
        if method == "naive" and args.skip_naive:
            continue
        runs = args.naive_runs or args.runs if method == "naive" else args.runs
        figures[method] = measure(method, path, runs)
        f = figures[method]
        print(
            f"{method:<16} {f['seconds']:7.2f} s   peak +{f['peak_mb']:7.0f} MiB   "
            f"({f['runs']} runs)  {METHODS[method]}",
            flush=True,
        )
    ours = figures["read_export"]
    print()
    for base in ("pyarrow_raw", "pyarrow_text"):
        ratio = ours["seconds"] / figures[base]["seconds"]
        print(f"read_export / {base}: {ratio:.2f}x (target <= 2x)")
    if "naive" in figures:
        print(
            f"naive / read_export: {figures['naive']['seconds'] / ours['seconds']:.1f}x faster "
            "(target >= 10x)"
        )
    print(f"read_export peak / file size: {ours['peak_mb'] / size_mb:.2f}x (target < 2.5x)")
    full = figures["read_export_all"]
    print(
        f"with variables built: {full['seconds']:.2f} s, peak {full['peak_mb'] / size_mb:.2f}x file"
    )


if __name__ == "__main__":
    main()
