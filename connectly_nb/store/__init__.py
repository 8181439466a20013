"""Many daily reports as one Parquet store, ingested and queried with Dask.

A year of daily reports does not fit in one pandas process; a store keeps
them merged on disk (or on an object store) and answers the questions that
span them all::

    from connectly_nb import store, metrics
    store.ingest("reports/", "history/")           # today's report: again tomorrow
    s = store.open_store("history/", tz="America/Sao_Paulo")
    metrics.trend(s, every="M")                    # read rate month by month
    metrics.fatigue(s)                             # across every campaign
    s.filter(campaigns="Black Friday").to_export() # an ordinary Export

- :func:`ingest` adds reports (each tidied by ``read_export``'s own loader on a
  Dask worker, then merged into its partitions by the same rule); ingesting
  again what the store holds changes nothing; one atomic switch per ingest.
- :func:`open_store` gives a :class:`Store`: lazy Dask tables, ``filter``,
  ``to_export``, ``problems``, ``accounting``, the cube of counts.
- The metrics of :mod:`connectly_nb.metrics` take a Store as well as an Export.

The layout is described in :mod:`connectly_nb.store._layout`; docs/scale.md
tells how to run it on a cluster and keep the store on an object store.
"""

from __future__ import annotations

from connectly_nb.store._cube import Selection
from connectly_nb.store._ingest import ingest
from connectly_nb.store._parts import SLOT, empty_export
from connectly_nb.store._store import MAX_MESSAGES, Store, is_store, open_store

__all__ = [
    "MAX_MESSAGES",
    "SLOT",
    "Selection",
    "Store",
    "empty_export",
    "ingest",
    "is_store",
    "open_store",
]
