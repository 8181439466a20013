"""A store of daily reports against read_export: ingest, memory, queries, one more day.

    python benchmarks/bench_store.py [--days 20] [--rows-per-day 200000] [--rounds 3]

Generates the reports once under benchmarks/data/reports (gitignored; about
65 MB a day), then, in rounds interleaved so the machine's drift falls on
every figure alike, each in a fresh process:

- ``read_export`` of all the files (time, peak memory of the process);
- ``ingest`` of the same files into a new store on a LocalCluster of two
  worker processes (time per step, peak memory of the client plus workers);
- the same at half the days (peak memory must not grow with the days);
- one more day into the full store;
- queries on the store with the local (threaded) scheduler: funnel, errors
  by day, key figures of a filter (from the partitions and from the cube),
  fatigue; DuckDB over the same Parquet files beside them, if it is installed
  (a reference, not a dependency of the package).

Prints one line per figure: the range over the rounds (min .. max).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def _tree_rss() -> int:
    import psutil

    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class PeakMemory:
    """Sample the RSS of this process and its children every 20 ms; the peak above the start."""

    def __enter__(self) -> PeakMemory:
        self.start = _tree_rss()
        self.peak = self.start
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, _tree_rss())
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def added(self) -> int:
        return self.peak - self.start


def reports(days: int, rows: int) -> list[Path]:
    from connectly_nb.datasets.generator import write_daily_reports

    folder = DATA / "reports"
    files = sorted(folder.glob("campaign_daily_*.csv"))
    if len(files) < days + 1:
        shutil.rmtree(folder, ignore_errors=True)
        files = write_daily_reports(folder, days=days + 1, rows_per_day=rows, seed=11)
    return files[: days + 1]


# --------------------------------------------------------------------------- one task per process


def task_read(files: list[str]) -> dict:
    from connectly_nb import read_export

    with PeakMemory() as mem:
        t = time.perf_counter()
        ex = read_export(files, progress=False)
        _ = ex.variables  # the store keeps them: read them here too
        seconds = time.perf_counter() - t
    return {"seconds": seconds, "peak_mib": mem.added / 2**20, "messages": len(ex.messages)}


def task_ingest(files: list[str], store: str, fresh: bool) -> dict:
    from distributed import Client, LocalCluster

    from connectly_nb.store import ingest

    if fresh:
        shutil.rmtree(store, ignore_errors=True)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
        PeakMemory() as mem,
    ):
        t = time.perf_counter()
        report = ingest(files, store, client=client)
        seconds = time.perf_counter() - t
    return {"seconds": seconds, "peak_mib": mem.added / 2**20, "steps": report.attrs["seconds"]}


def _best(f, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def task_queries(store_path: str) -> dict:
    import dask

    from connectly_nb import metrics as M
    from connectly_nb.store import open_store

    out = {}
    with dask.config.set(scheduler="threads"):
        scan = open_store(store_path, use_cube=False)
        cube = open_store(store_path)
        where = {"campaigns": ["Black Friday 2024 🎉"], "start": "2024-11-05", "end": "2024-11-12"}
        out["funnel (partitions)"] = _best(lambda: M.funnel(scan), 3)
        out["errors by day (partitions)"] = _best(lambda: M.errors(scan, every="D"), 3)
        out["key figures of a filter (partitions)"] = _best(
            lambda: M.key_figures(scan, where=where), 3
        )
        out["fatigue"] = _best(lambda: M.fatigue(scan), 2)
        out["funnel (cube)"] = _best(lambda: M.funnel(cube))
        out["errors by day (cube)"] = _best(lambda: M.errors(cube, every="D"))
        out["key figures of a filter (cube)"] = _cube_filters(cube)
    out.update(_duckdb(store_path))
    return out


def _cube_filters(store) -> float:
    """The slowest of 40 random filters' key figures from the cube (after the cube is read)."""
    import numpy as np

    from connectly_nb import metrics as M

    _ = store.cube  # read once, as a dashboard does when it opens
    M.key_figures(store, where={"start": "2024-11-01"})  # and draws its first figures
    rng = np.random.default_rng(3)
    cube = store.cube_object.counts
    names = sorted(cube["campaign_name"].dropna().unique())
    sendouts = sorted(cube["sendout_id"].dropna().unique())
    worst = 0.0
    for _ in range(40):
        where = {"campaigns": list(rng.choice(names, size=2, replace=False))}
        if rng.random() < 0.5:
            where = {"sendouts": list(rng.choice(sendouts, size=3, replace=False))}
        day = int(rng.integers(1, 20))
        where["start"] = f"2024-11-{day:02d}"
        where["end"] = f"2024-11-{min(day + int(rng.integers(0, 7)), 20):02d}"
        t = time.perf_counter()
        M.key_figures(store, where=where)
        worst = max(worst, time.perf_counter() - t)
    return worst


def _duckdb(store_path: str) -> dict:
    try:
        import duckdb
    except ImportError:
        return {}
    from connectly_nb.store import open_store

    parts = [
        f"{store_path}/{p['path']}/messages.parquet" for p in open_store(store_path).partitions()
    ]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW m AS SELECT * FROM read_parquet({parts!r})")
    q = {
        "duckdb funnel": "SELECT campaign_name, count(*), sum(is_sent::int), "
        "sum(is_delivered::int), sum(is_read::int), sum(is_clicked::int), sum(is_failed::int), "
        "sum(is_opted_out::int) FROM m GROUP BY 1",
        "duckdb errors by day": "SELECT date_trunc('day', sent_at), error_code, count(*) FROM m "
        "WHERE is_failed GROUP BY 1, 2",
        "duckdb fatigue": "SELECT least(p, 5), count(*), sum(is_read::int) FROM (SELECT is_read, "
        "row_number() OVER (PARTITION BY customer_external_id ORDER BY sent_at, sendout_id) - 1 "
        "AS p FROM m WHERE sent_at IS NOT NULL AND customer_external_id IS NOT NULL) GROUP BY 1",
    }
    return {name: _best(lambda sql=sql: con.execute(sql).fetchall(), 3) for name, sql in q.items()}


# --------------------------------------------------------------------------- driver


def run(task: str, *args: object) -> dict:
    """Run one task in a fresh Python process; its figures."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import bench_store as b\n"
        "if __name__ == '__main__':\n"
        f"    print(json.dumps(b.{task}(*json.loads(sys.argv[1]))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(args))],
        check=True,
        capture_output=True,
        text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--rows-per-day", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the reports and stores")
    args = parser.parse_args()
    files = [str(p) for p in reports(args.days, args.rows_per_day)]
    full, half, extra = files[: args.days], files[: args.days // 2], files[args.days]
    store = str(DATA / "store")
    rows: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)
        print(f"  {name}: {value:.3f}", flush=True)

    for r in range(args.rounds):
        print(f"round {r + 1}", flush=True)
        read = run("task_read", full)
        note(f"read_export {args.days} days: s", read["seconds"])
        note(f"read_export {args.days} days: peak MiB", read["peak_mib"])
        ing = run("task_ingest", full, store, True)
        note(f"ingest {args.days} days: s", ing["seconds"])
        note(f"ingest {args.days} days: peak MiB", ing["peak_mib"])
        for step, s in ing["steps"].items():
            note(f"ingest {args.days} days, step {step}: s", s)
        note("ingest / read_export", ing["seconds"] / read["seconds"])
        small = run("task_ingest", half, store + "-half", True)
        note(f"ingest {len(half)} days: s", small["seconds"])
        note(f"ingest {len(half)} days: peak MiB", small["peak_mib"])
        one = run("task_ingest", [extra], store, False)
        note("one more day into the store: s", one["seconds"])
        note("one more day: peak MiB", one["peak_mib"])
        for name, s in run("task_queries", store).items():
            note(f"query {name}: s", s)
    print()
    print(f"{'figure':<55} {'min':>10} {'max':>10}")
    for name, values in rows.items():
        print(f"{name:<55} {min(values):>10.3f} {max(values):>10.3f}")
    if not args.keep:
        for p in (store, store + "-half"):
            shutil.rmtree(p, ignore_errors=True)


if __name__ == "__main__":
    main()
