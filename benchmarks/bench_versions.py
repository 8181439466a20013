"""Load time and memory of this checkout against another one, paired, in fresh processes.

Usage::

    git worktree add ../before <commit>          # the version to compare with
    python benchmarks/bench_versions.py ../before --rows 1000000 --rounds 6

Each round loads the same generated export once with each version
(``read_export``, then ``read_export`` with ``problems`` and ``variables``
built), alternating which goes first, each in a fresh Python process whose
``PYTHONPATH`` points at that version's tree. The machine's speed drifts by
tens of percent within a minute, so the figure that matters is the median of
the per-round ratios, printed with its range. Peak memory is the process's
high-water mark minus what it held after the imports (as in
``bench_load.py``), shown against the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("read_export", "read_export_all")


def run(tree: Path, method: str, path: Path) -> dict[str, float]:
    """One load by the package in ``tree``, in a fresh process (bench_load's ``--one``)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_load.py"), "--one", method, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tree,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_load import ensure_export

    path = ensure_export(args.rows)
    size_mb = path.stat().st_size / 2**20
    trees = {"this": ROOT, "other": args.other.resolve()}
    print(f"export: {path.name}, {args.rows:,} rows, {size_mb:,.0f} MiB")
    print(f"this: {trees['this']}\nother: {trees['other']}\n")
    results: dict[tuple[str, str], list[dict[str, float]]] = {
        (t, m): [] for t in trees for m in METHODS
    }
    for i in range(args.rounds):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for method in METHODS:
            for tree in order:
                results[(tree, method)].append(run(trees[tree], method, path))
        print(f"round {i + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    for method in METHODS:
        print(method)
        for tree in trees:
            r = results[(tree, method)]
            secs = sorted(x["seconds"] for x in r)
            peak = statistics.median(x["peak_mb"] for x in r)
            print(
                f"  {tree:<5} {statistics.median(secs):6.2f} s ({secs[0]:.2f}-{secs[-1]:.2f})  "
                f"peak +{peak:5.0f} MiB = {peak / size_mb:.2f}x the file"
            )
        ratios = sorted(
            a["seconds"] / b["seconds"]
            for a, b in zip(results[("this", method)], results[("other", method)], strict=True)
        )
        print(
            f"  this / other: {statistics.median(ratios):.2f}x median of {len(ratios)} paired "
            f"rounds ({ratios[0]:.2f}-{ratios[-1]:.2f})\n"
        )


if __name__ == "__main__":
    main()
