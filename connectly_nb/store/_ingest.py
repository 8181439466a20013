"""``ingest``: daily reports into a store, incrementally, on Dask.

The steps, each a function below:

1. take the lock, read the manifest, delete what no manifest names any more;
2. hash the files: a file already in the store (same content) is skipped;
3. **stage** (one Dask task per file): read and tidy the file with the
   package's loader, keep its problems, write its tables cut into pieces by
   (sendout, hash bucket);
4. **plan** (client): order the files by their own latest event (the rule of
   ``read_export``), give each new sendout its day, and gather the pieces of
   each (day, bucket) partition;
5. **merge** (one Dask task per touched partition): the partition's state
   and its new pieces, oldest report first, through
   :func:`connectly_nb.tidy.merge_exports`; write the new partition and its
   share of the cube;
6. **switch** (client): write the cube and the problems of the merge, then
   the new manifest in one step; delete the staged pieces.

Memory: a task holds one file, or one partition and its new pieces, never the
whole store; so the peak follows the biggest partition (a day's messages over
the buckets), not the number of days.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb.exceptions import StoreWarning
from connectly_nb.load import Input, Source, resolve_sources
from connectly_nb.store._layout import Place, locked, new_manifest, token
from connectly_nb.store._parts import (
    FRAGMENTS,
    FileSummary,
    cube_fragments,
    empty_export,
    merge_partition,
    stage_file,
)

__all__ = ["INGEST_COLUMNS", "ingest"]

#: Columns of the table :func:`ingest` returns.
INGEST_COLUMNS = ("source", "status", "records_read", "as_of", "problems")
#: Bytes of CSV per hash bucket when a store is created without ``buckets=``.
BUCKET_BYTES = 40 << 20
MAX_BUCKETS = 64


def ingest(
    sources: Source,
    store: Any,
    *,
    client: Any = None,
    buckets: int | None = None,
    wait: bool | float = True,
) -> pd.DataFrame:
    """Add daily reports to a store (created if missing), merged with what it holds.

    Each file is read and tidied by :func:`~connectly_nb.read_export`'s own
    loader on a Dask worker, then merged into the partitions of its sendouts
    by the same rule (same (sendout_id, customer_external_id); the newest
    report wins per column, a blank never erases, clicks united, variables by
    key). The store then equals ``read_export`` of every file ingested so far.
    A file already ingested (same name and content) changes nothing; the store switches
    to the new state in one step, so an ingest killed halfway leaves it as it
    was; a second ingest into the same store waits for the first.

    Parameters
    ----------
    sources : path, str, folder, glob pattern, open file, or a list of these
        The reports, as for :func:`~connectly_nb.read_export`. Workers must
        be able to read the paths (a shared folder on a cluster).
    store : str or path-like
        The store's folder or fsspec URL (``s3://...`` needs ``s3fs``).
    client : dask.distributed.Client, optional
        Where to run the tasks. By default the current Dask client if there
        is one, else Dask's threaded scheduler in this process.
    buckets : int, optional
        Hash buckets per day partition, for a new store (fixed afterwards):
        by default one per 40 MiB of the biggest report.
    wait : bool or float, default True
        If another ingest holds the store: wait for it, fail at once
        (``False``), or wait at most this many seconds.

    Returns
    -------
    pandas.DataFrame
        One row per file given: ``source``, ``status`` (``"ingested"`` or
        ``"already in the store"``), ``records_read``, ``as_of`` (its latest
        event), ``problems`` (rows of the problems table). ``attrs["seconds"]``
        holds the time each step took (hash, stage, merge, switch).

    Raises
    ------
    ExportFormatError
        A file is not a campaign export (nothing is changed).
    ExportNotFoundError
        A path names no file.
    StoreLockedError
        Another ingest holds the store and ``wait`` ran out.
    ValueError
        ``buckets`` is below 1.

    Warns
    -----
    StoreWarning
        A report older than the store's newest one: it is merged beneath
        the store's state (its values fill only blanks).
    """
    if buckets is not None and not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be 1 .. {MAX_BUCKETS}, got {buckets}")
    place = Place(store)
    inputs = resolve_sources(sources)
    created = place.local and not os.path.exists(place.root)
    try:
        return _ingest_locked(place, inputs, buckets, client, wait)
    except BaseException:
        if created and place.read_manifest() is None:  # leave no empty store behind
            shutil.rmtree(place.root, ignore_errors=True)
        raise


def _ingest_locked(
    place: Place, inputs: Sequence[Input], buckets: int | None, client: Any, wait: bool | float
) -> pd.DataFrame:
    """The ingest's steps under the store's lock (see :func:`ingest`)."""
    clock = _Clock()
    with locked(place, wait=wait):
        manifest = place.read_manifest() or new_manifest(buckets or _default_buckets(inputs))
        _sweep(place, manifest)
        todo, done = _new_files(inputs, manifest)
        clock.lap("hash")
        if not todo:
            return _report([], done, clock)
        run = token()
        summaries = _stage(todo, place, run, manifest["buckets"], client)
        clock.lap("stage")
        plan = _plan(summaries, manifest, run)
        results = _compute(
            [_delayed(merge_partition)(place, *task) for task in plan["tasks"]], client
        )
        clock.lap("merge")
        place.write_manifest(_next_manifest(manifest, summaries, plan, results, place, run))
        place.remove(f"staging/{run}")
        clock.lap("switch")
    return _report(summaries, done, clock)


class _Clock:
    """Seconds spent in each step (the returned table's ``attrs["seconds"]``)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 3)
        self.last = now


def _default_buckets(inputs: Sequence[Input]) -> int:
    biggest = max((i.size for i in inputs), default=0)
    return max(1, min(MAX_BUCKETS, math.ceil(biggest / BUCKET_BYTES)))


def _sweep(place: Place, manifest: dict[str, Any]) -> None:
    """Delete what the manifest does not name: replaced versions, killed ingests' files."""
    named = {p["path"] for p in manifest["partitions"].values()}
    named |= set(manifest["problems"]) | {f["problems_path"] for f in manifest["files"]}
    if manifest["cube"]:
        named.add(manifest["cube"])
    for entry in place.entries() - named:
        place.remove(entry)


def _sha1(inp: Input) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    if inp.data is not None:
        digest.update(inp.data)
    else:
        with inp._path().open("rb") as fh:
            digest = hashlib.file_digest(fh, lambda: hashlib.sha1(usedforsecurity=False))
    return digest.hexdigest()


def _new_files(
    inputs: Sequence[Input], manifest: dict[str, Any]
) -> tuple[list[tuple[Input, str]], list[dict[str, Any]]]:
    """The files to ingest (with their hashes), and the rows of those already in the store.

    A file is the same file when its name and its content are (``read_export``
    reads a file named twice once; a copy under another name is another
    report, as it is for ``read_export``). New content under a name the store
    already has is named ``name (sha1 prefix)``, so sources stay unique.
    """
    known = {(f["source"], f["sha1"]): f for f in manifest["files"]}
    names = {f["source"] for f in manifest["files"]}
    todo, done = [], []
    for inp in inputs:
        sha1 = _sha1(inp)
        if (inp.name, sha1) in known:
            entry = known[(inp.name, sha1)]
            done.append(
                {
                    "source": inp.name,
                    "status": "already in the store",
                    "records_read": entry["records_read"],
                    "as_of": entry["as_of"],
                    "problems": sum(entry["problems"].values()),
                }
            )
            continue
        if inp.name in names:
            inp = Input(name=f"{inp.name} ({sha1[:8]})", path=inp.path, data=inp.data)
        names.add(inp.name)
        known[(inp.name, sha1)] = {"records_read": 0, "as_of": None, "problems": {}}
        todo.append((inp, sha1))
    return todo, done


def _delayed(func: Any) -> Any:
    import dask

    return dask.delayed(func, pure=False)


def _compute(tasks: list[Any], client: Any) -> list[Any]:
    """Run Dask tasks on ``client`` (or the current client, or threads); their results."""
    import dask

    if not tasks:
        return []
    if client is not None:
        return list(dask.compute(*tasks, scheduler=client))
    return list(dask.compute(*tasks))


def _stage(
    todo: list[tuple[Input, str]], place: Place, run: str, buckets: int, client: Any
) -> list[FileSummary]:
    """Stage every new file (one task each); their summaries in the order given."""
    tasks = [
        _delayed(stage_file)(inp, sha1, place, f"staging/{run}/{i}", buckets)
        for i, (inp, sha1) in enumerate(todo)
    ]
    return _compute(tasks, client)


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "undated"


def _plan(summaries: list[FileSummary], manifest: dict[str, Any], run: str) -> dict[str, Any]:
    """Report order, each new sendout's day, and the pieces of each touched partition."""
    latest = [
        pd.Timestamp(s.accounting["as_of"]) if s.accounting["as_of"] else None for s in summaries
    ]
    # the newest report wins: order by each file's latest event (none first), then as given
    order = sorted(range(len(summaries)), key=lambda i: (latest[i] is not None, latest[i] or 0, i))
    store_as_of = pd.Timestamp(manifest["as_of"]) if manifest["as_of"] else None
    late = {
        i for i in order if store_as_of is not None and (latest[i] or store_as_of) < store_as_of
    }
    if late:
        names = ", ".join(summaries[i].name for i in sorted(late))
        warnings.warn(
            f"{names}: older than the newest report already in the store; merged beneath it "
            "(its values fill only what the store has blank). Ingest reports in date order "
            "for a store equal to read_export of all of them.",
            StoreWarning,
            stacklevel=4,
        )
    days = _sendout_days(summaries, order, manifest["sendouts"])
    parts: dict[tuple[str, int], dict[str, list[tuple[str, list[int]]]]] = {}
    for i in order:
        s = summaries[i]
        groups: dict[tuple[str, int], list[int]] = {}
        for p in s.pieces:
            day = days[p.sendout] if p.sendout is not None else _day(s.accounting["as_of"])
            groups.setdefault((day, p.bucket), []).append(p.group)
        side = "before" if i in late else "after"
        for key, g in groups.items():
            parts.setdefault(key, {"before": [], "after": []})[side].append((s.staged, g))
    tasks = []
    for (day, bucket), sides in sorted(parts.items()):
        existing = manifest["partitions"].get(f"{day}/{bucket}", {}).get("path")
        target = f"parts/{day}.b{bucket:02d}.{run}"
        tasks.append((day, sides["before"], existing, sides["after"], target))
    return {"order": order, "days": days, "tasks": tasks}


def _sendout_days(
    summaries: list[FileSummary], order: list[int], known: dict[str, str]
) -> dict[str, str]:
    """Each sendout's day: kept if known, else its first send's UTC date (or its report's)."""
    days = dict(known)
    first: dict[str, str] = {}
    fallback: dict[str, str] = {}
    for i in order:
        s = summaries[i]
        for p in s.pieces:
            if p.sendout is None or p.sendout in known:
                continue
            if p.first_sent and (p.sendout not in first or p.first_sent < first[p.sendout]):
                first[p.sendout] = p.first_sent
            fallback.setdefault(p.sendout, _day(s.accounting["as_of"]))
    for sendout, day in fallback.items():
        days[sendout] = _day(first[sendout]) if sendout in first else day
    return days


def _next_manifest(
    manifest: dict[str, Any],
    summaries: list[FileSummary],
    plan: dict[str, Any],
    results: list[dict[str, Any]],
    place: Place,
    run: str,
) -> dict[str, Any]:
    """The manifest after this ingest (every file it names already written)."""
    new = {**manifest, "version": manifest["version"] + 1, "sendouts": plan["days"]}
    partitions = dict(manifest["partitions"])
    for (day, _, _, _, target), r in zip(plan["tasks"], results, strict=True):
        bucket = int(target.split(".b")[1][:2])
        partitions[f"{day}/{bucket}"] = {
            "path": target,
            "day": day,
            "bucket": bucket,
            **{k: r[k] for k in ("rows", "sent_min", "sent_max", "sources")},
        }
    new["partitions"] = partitions
    new["problems"] = [*manifest["problems"], *(r["problems"] for r in results if r["problems"])]
    files = list(manifest["files"])
    for i in plan["order"]:
        s = summaries[i]
        files.append(
            {
                **s.accounting,
                "sha1": s.sha1,
                "ingest": new["version"],
                "problems": s.problems,
                "problems_path": f"problems/{s.sha1}.parquet",
            }
        )
    new["files"] = files
    as_of = [f["as_of"] for f in files if f["as_of"]]
    new["as_of"] = max(as_of, key=pd.Timestamp) if as_of else None
    new["cube"] = _write_cube(place, manifest, partitions, plan, results, run)
    return new


def _write_cube(
    place: Place,
    manifest: dict[str, Any],
    partitions: dict[str, dict[str, Any]],
    plan: dict[str, Any],
    results: list[dict[str, Any]],
    run: str,
) -> str:
    """The cube: the old one with the touched days' rows replaced by their partitions' shares."""
    touched = {task[0] for task in plan["tasks"]}
    fresh = {task[4]: r["fragments"] for task, r in zip(plan["tasks"], results, strict=True)}
    rel = f"cube/{run}"
    for name in FRAGMENTS:
        frames = []
        if manifest["cube"]:
            old = place.read_frame(f"{manifest['cube']}/{name}.parquet")
            frames.append(old[~old["day"].isin(touched).to_numpy()])
        for p in partitions.values():
            if p["day"] not in touched:
                continue
            part = fresh.get(p["path"])
            frames.append(
                part[name] if part is not None else place.read_frame(f"{p['path']}/{name}.parquet")
            )
        place.write_frame(f"{rel}/{name}.parquet", _regroup(name, frames))
    return rel


def _regroup(name: str, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' shares added up by their dimensions (buckets of a day share rows)."""
    frames = [f for f in frames if len(f)] or frames[:1]
    if not frames:  # a store of empty reports: the tables with their columns
        frames = [cube_fragments(empty_export().messages, "undated")[name]]
    table = pd.concat(frames, ignore_index=True)
    for c in ("business_id", "campaign_name", "sendout_id", "error_code"):
        if c in table.columns:
            table[c] = table[c].astype(object).astype("category")
    dims = [c for c in table.columns if c not in ("n", "first_sent")]
    agg = {"n": "sum", "first_sent": "min"} if name == "sendouts" else {"n": "sum"}
    out = table.groupby(dims, observed=True, dropna=False, sort=True).agg(agg).reset_index()
    return out.astype({"n": np.int64})


def _report(
    summaries: list[FileSummary], done: list[dict[str, Any]], clock: _Clock
) -> pd.DataFrame:
    rows = [
        {
            "source": s.name,
            "status": "ingested",
            "records_read": int(s.accounting["records_read"]),
            "as_of": s.accounting["as_of"],
            "problems": sum(s.problems.values()),
        }
        for s in summaries
    ]
    out = pd.DataFrame(rows + done, columns=list(INGEST_COLUMNS))
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True, format="ISO8601")
    out.attrs["seconds"] = clock.laps
    return out
