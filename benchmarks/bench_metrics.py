"""Metrics benchmark: every metric on a 1,000,000-row Export, and funnels of selections.

Usage::

    python benchmarks/bench_metrics.py            # 1,000,000 rows
    python benchmarks/bench_metrics.py --rows 200000

The export is the one ``bench_load.py`` writes (seeded generator), loaded once;
each figure is the median of ``--repeat`` calls in this process.

Targets (issue 3): the funnel of any filter selection in under 50 ms, every
metric under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import ensure_export

import connectly_nb as cnb
from connectly_nb import metrics as M


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = ensure_export(args.rows)
    ex = cnb.read_export(path, progress=False)
    m = ex.messages
    campaign = str(m["campaign_name"].cat.categories[0])
    codes = [str(c) for c in m["error_code"].cat.categories[:3]]
    print(f"export: {path.name}, {len(m):,} messages; median of {args.repeat} calls\n")

    selections = {
        "one campaign": {"campaigns": campaign},
        "three error codes": {"error_codes": codes},
        "one week": {"start": "2024-11-10", "end": "2024-11-16"},
        "campaign + week + no failure": {
            "campaigns": campaign,
            "start": "2024-11-01",
            "end": "2024-11-30",
            "error_codes": [None],
        },
    }
    print("funnel of a selection (target < 50 ms):")
    print(f"  {'selection':<30} {'funnel(where=)':>15} {'filter+funnel':>15} {'rows':>10}")
    for name, sel in selections.items():
        sub = ex.filter(**sel)
        t_where = timed(lambda sel=sel: M.funnel(ex, where=sel), args.repeat)
        t_both = timed(lambda sel=sel: M.funnel(ex.filter(**sel)), args.repeat)
        print(
            f"  {name:<30} {t_where * 1000:12.1f} ms {t_both * 1000:12.1f} ms "
            f"{len(sub.messages):>10,}"
        )

    print("\nevery metric on the whole export (target < 1 s):")
    calls: dict[str, Callable[[], object]] = {
        "funnel": lambda: M.funnel(ex),
        "funnel by sendout": lambda: M.funnel(ex, by="sendout_id"),
        "errors": lambda: M.errors(ex),
        "timeline (since send)": lambda: M.timeline(ex),
        "timeline (freq=1h)": lambda: M.timeline(ex, freq="1h"),
        "latency": lambda: M.latency(ex),
        "activity_heatmap": lambda: M.activity_heatmap(ex),
        "buttons": lambda: M.buttons(ex),
        "links": lambda: M.links(ex),
        "variables": lambda: M.variables(ex),
        "segment(city)": lambda: M.segment(ex, "city"),
        "compare": lambda: M.compare(
            ex, campaign, {"campaigns": str(m["campaign_name"].cat.categories[1])}
        ),
        "countries": lambda: M.countries(ex),
        "fatigue": lambda: M.fatigue(ex),
    }
    len(ex.variables)  # built once, outside the timings
    for name, fn in calls.items():
        t = timed(fn, args.repeat)
        flag = "" if t < 1 else "  <-- over 1 s"
        print(f"  {name:<24} {t * 1000:8.1f} ms{flag}")


if __name__ == "__main__":
    main()
