"""Save benchmark: what "Save filtered CSV" does with every message selected.

Usage::

    python benchmarks/bench_save.py                      # 100,000 and 1,000,000 rows, 3 runs
    python benchmarks/bench_save.py --rows 200000 --repeat 5

Two ways of saving, as the dashboard does them:

- ``masked`` ("show phone numbers" unticked, the default): the ids through
  ``mask_phone``, the free-text columns through ``mask_columns`` (``mask_text``),
  then ``write_safe_csv``;
- ``full`` (numbers shown): ``write_safe_csv`` alone.

Every run is a fresh Python process that reads the export first (not timed);
``peak`` is the high-water mark of its resident memory minus what it held
once the export was loaded. The exports are written once by the package's
seeded generator under ``benchmarks/data/`` and reused (see ``bench_load.py``).
Medians of ``--repeat`` runs; the machine is shared, so compare ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

METHODS = {
    "masked": "mask_phone + mask_columns(free text) + write_safe_csv",
    "full": "write_safe_csv, phone numbers in full",
}


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_one(method: str, path: str) -> dict[str, float]:
    """One measurement in this process; prints nothing, returns the figures."""
    import connectly_nb
    from connectly_nb.safety import mask_columns, mask_phone, write_safe_csv
    from connectly_nb.widgets.dashboard import _FREE_TEXT

    messages = connectly_nb.read_export(path, progress=False).messages
    baseline = _rss_mb("VmRSS")
    # the peak so far (the load) is not ours: reset the high-water mark
    Path("/proc/self/clear_refs").write_text("5")
    with tempfile.TemporaryDirectory(prefix="connectly-bench-save-") as folder:
        start = time.perf_counter()
        if method == "masked":
            ids = mask_phone(messages["customer_external_id"])
            messages = mask_columns(messages.assign(customer_external_id=ids), _FREE_TEXT)
        masked = time.perf_counter()
        out = write_safe_csv(messages, Path(folder) / "saved.csv")
        done = time.perf_counter()
        size = out.stat().st_size
    return {
        "mask": masked - start,
        "write": done - masked,
        "total": done - start,
        "peak_mb": _rss_mb("VmHWM") - baseline,
        "mb": size / 2**20,
        "rows": len(messages),
    }


def run_fresh(method: str, path: Path) -> dict[str, float]:
    """One measurement in a fresh Python process."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", method, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    from bench_load import ensure_export

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median reported)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return

    print(f"python {sys.version.split()[0]}, medians of {args.repeat} runs in fresh processes")
    for method in args.methods:
        print(f"  {method:<7} {METHODS[method]}")
    print()
    header = f"{'rows':>10}  {'method':<7} {'mask s':>7} {'write s':>8} {'total s':>8}"
    print(f"{header} {'peak MiB':>9} {'file MiB':>9}  (total: fastest-slowest)")
    for rows in args.rows:
        path = ensure_export(rows)
        # round robin, so both methods see the same drift of a shared machine
        results: dict[str, list[dict[str, float]]] = {m: [] for m in args.methods}
        for _ in range(args.repeat):
            for method in args.methods:
                results[method].append(run_fresh(method, path))
        for method, runs in results.items():

            def median(key: str, runs: list[dict[str, float]] = runs) -> float:
                return statistics.median(r[key] for r in runs)

            totals = sorted(r["total"] for r in runs)
            print(
                f"{runs[0]['rows']:>10,}  {method:<7} {median('mask'):7.2f} {median('write'):8.2f} "
                f"{median('total'):8.2f} {median('peak_mb'):9.0f} {median('mb'):9.1f}  "
                f"({totals[0]:.2f}-{totals[-1]:.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
