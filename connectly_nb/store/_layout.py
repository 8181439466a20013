"""Where a store keeps its files, its manifest, and the lock that lets one ingest in at a time.

A store is a folder (a local path, or any fsspec URL such as ``s3://bucket/store``)::

    manifest.json            what the store holds now: partitions, ingested files, cube
    .lock                    taken by an ingest (local folders)
    parts/<day>.b<k>.<id>/   one partition: messages, clicks, variables, problems,
                             and its share of the cube, as Parquet files
    problems/<id>.parquet    problems of the ingested files, and those found merging them
    cube/<id>/               the cube: counts per sendout, 15-minute slot, code and state
    staging/<id>/            an ingest's work in progress (deleted when it ends)

Every file is written once under a new name and never changed. An ingest
writes all its new files first, then replaces ``manifest.json`` in one step
(``os.replace`` on a local folder, one PUT on an object store), so a reader
sees the old store or the new one, never a mixture, and an ingest killed
halfway leaves the old manifest in force. Files no manifest names any more
are deleted by the next ingest (an open :class:`~connectly_nb.store.Store`
keeps reading the version it opened until then).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from connectly_nb._fs import atomic_write
from connectly_nb.exceptions import StoreError, StoreLockedError, StoreNotFoundError

__all__ = ["FORMAT", "MANIFEST", "Place", "locked", "new_manifest", "token"]

#: The layout version written in the manifest; a store of another is refused.
FORMAT = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
#: Top-level folders whose entries the manifest names (the rest is garbage).
FOLDERS = ("parts", "problems", "cube", "staging")


def token() -> str:
    """A fresh name for files written once (12 hex digits).

    Returns
    -------
    str
        Random, so two ingests never write the same name.
    """
    return uuid.uuid4().hex[:12]


def new_manifest(buckets: int) -> dict[str, Any]:
    """The manifest of an empty store.

    Parameters
    ----------
    buckets : int
        Hash buckets per day partition (fixed for the store's life).

    Returns
    -------
    dict
        ``format``, ``version`` 0, ``buckets`` and empty ``partitions``,
        ``files``, ``sendouts``, ``problems``; no cube.
    """
    return {
        "format": FORMAT,
        "version": 0,
        "buckets": int(buckets),
        "partitions": {},
        "files": [],
        "sendouts": {},
        "problems": [],
        "cube": None,
        "as_of": None,
    }


class Place:
    """A store's folder: a local path or an fsspec URL, and how to read and write in it.

    Parameters
    ----------
    url : str or path-like
        ``reports_store/``, ``/data/store``, ``s3://bucket/store``,
        ``memory://store`` ... Any URL needs its fsspec package installed
        (``s3fs`` for ``s3://``).

    Raises
    ------
    StoreError
        ``url`` names a local file, not a folder.
    """

    def __init__(self, url: str | os.PathLike[str]) -> None:
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem

        self.url = os.fspath(url)
        self.fs, self.root = url_to_fs(self.url)
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local and os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreError(
                f"{self.url} is a file: a store is a folder (give a new or existing folder)"
            )

    def __repr__(self) -> str:
        return f"Place({self.url!r})"

    def path(self, rel: str) -> str:
        """The full path of ``rel`` inside the store.

        Parameters
        ----------
        rel : str
            A path relative to the store's folder, ``/``-separated.

        Returns
        -------
        str
            The path the filesystem understands.
        """
        return f"{self.root.rstrip('/')}/{rel}"

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest in force, or None when the folder holds no store.

        Returns
        -------
        dict or None
            The parsed ``manifest.json``.

        Raises
        ------
        StoreError
            The manifest is of another layout version.
        """
        try:
            with self.fs.open(self.path(MANIFEST), "rb") as fh:
                manifest = json.loads(fh.read())
        except FileNotFoundError:
            return None
        if manifest.get("format") != FORMAT:
            raise StoreError(
                f"{self.url} holds a store of layout {manifest.get('format')!r}; this version "
                f"of connectly_nb reads layout {FORMAT}: ingest the reports into a new store"
            )
        return manifest

    def manifest(self) -> dict[str, Any]:
        """The manifest in force.

        Returns
        -------
        dict
            The parsed ``manifest.json``.

        Raises
        ------
        StoreNotFoundError
            The folder holds no store.
        """
        manifest = self.read_manifest()
        if manifest is None:
            raise StoreNotFoundError(
                f"{self.url} holds no store (no {MANIFEST}): create one with "
                f"`connectly-nb ingest REPORTS --store {self.url}` or store.ingest(...)"
            )
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Put ``manifest`` in force, in one step.

        Parameters
        ----------
        manifest : dict
            The new manifest; every file it names is already written.
        """
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        if self.local:
            with atomic_write(self.path(MANIFEST)) as fh:  # one os.replace
                fh.write(data)
        else:
            self.fs.pipe_file(self.path(MANIFEST), data)  # one PUT: whole or not at all

    def write_frame(self, rel: str, frame: pd.DataFrame | pa.Table) -> None:
        """Write a table as Parquet at ``rel`` (its folder is created).

        Parameters
        ----------
        rel : str
            Where, relative to the store.
        frame : pandas.DataFrame or pyarrow.Table
            The table; a DataFrame's index is not kept.
        """
        table = frame if isinstance(frame, pa.Table) else _arrow(frame)
        path = self.path(rel)
        self.fs.makedirs(path.rpartition("/")[0], exist_ok=True)
        # lz4 (fastest to write and to read here), dictionaries for categories only: text
        # that is nearly unique (ids, JSON) gains nothing from a dictionary but its cost
        categories = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
        with self.fs.open(path, "wb") as fh:
            pq.write_table(table, fh, compression="lz4", use_dictionary=categories)

    def read_frame(self, rel: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read the Parquet table at ``rel``.

        Parameters
        ----------
        rel : str
            Where, relative to the store.
        columns : list of str, optional
            Only these columns.

        Returns
        -------
        pandas.DataFrame
            The table, with the dtypes it was written with.
        """
        with self.fs.open(self.path(rel), "rb") as fh:
            return pq.read_table(fh, columns=columns).to_pandas()

    def remove(self, rel: str) -> None:
        """Delete a file or a folder of the store, if it is there.

        Parameters
        ----------
        rel : str
            Relative to the store.
        """
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(rel), recursive=True)

    def entries(self) -> set[str]:
        """The entries of the store's data folders, as relative paths (``parts/...``).

        Returns
        -------
        set of str
            One per file or folder directly inside :data:`FOLDERS`.
        """
        found = set()
        for folder in FOLDERS:
            with contextlib.suppress(FileNotFoundError):
                for p in self.fs.ls(self.path(folder), detail=False):
                    found.add(f"{folder}/{str(p).rstrip('/').rpartition('/')[2]}")
        return found


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def locked(place: Place, *, wait: bool | float = True) -> Iterator[None]:
    """Hold the store's lock: one ingest at a time.

    On a local folder the lock is ``fcntl.flock`` on ``.lock`` (released by
    the system if the process dies, so a killed ingest never leaves the store
    locked). Other filesystems offer no lock that works across machines:
    there the lock holds within this process only, and a store on an object
    store must have one writer (a scheduled job), as docs/scale.md says.

    Parameters
    ----------
    place : Place
        The store.
    wait : bool or float, default True
        Wait for the lock (``True``), give up at once (``False``), or wait
        at most this many seconds.

    Yields
    ------
    None
        While the lock is held.

    Raises
    ------
    StoreLockedError
        The lock is held by another ingest and ``wait`` ran out.
    """
    if not place.local:
        with _process_lock(place, wait):
            yield
        return
    import fcntl

    os.makedirs(place.root, exist_ok=True)
    fd = os.open(place.path(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if wait is True else time.monotonic() + float(wait or 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:  # type: ignore[operator]
                    raise _busy(place, wait) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def _process_lock(place: Place, wait: bool | float) -> Iterator[None]:
    with _PROCESS_LOCKS_GUARD:
        lock = _PROCESS_LOCKS.setdefault(place.url, threading.Lock())
    acquired = lock.acquire() if wait is True else lock.acquire(timeout=float(wait or 0))
    if not acquired:
        raise _busy(place, wait)
    try:
        yield
    finally:
        lock.release()


def _busy(place: Place, wait: bool | float) -> StoreLockedError:
    waited = "" if wait is False else f" (waited {float(wait):g} s)"
    return StoreLockedError(
        f"another ingest into {place.url} is running{waited}; run this one when it has "
        "finished, or pass wait=True to wait for it"
    )
