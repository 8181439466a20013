"""The one producer of problem rows, whatever layer found the problem.

A data problem is data: a row of ``Export.problems`` with the file, the
1-based line, the column, a preview of the value, the problem code of
:data:`connectly_nb.schema.PROBLEM_CODES`, its severity, a message for a
person, and the message it concerns (the way pandera collects failure cases).
The byte-level reader makes file-level rows with :func:`problem`; tidying
collects cell-level rows, many at once, in a :class:`ProblemCollector`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from connectly_nb.schema import PROBLEM_CODES, PROBLEM_TABLE_COLUMNS, SEVERITIES

__all__ = [
    "VALUE_PREVIEW",
    "ProblemCollector",
    "empty_problems",
    "preview",
    "problem",
    "problem_summary",
]

#: Characters of a cell kept in a problem row.
VALUE_PREVIEW = 200


def preview(value: Any) -> str | None:
    """A cell's text for a problem row: ``None`` for blank, cut to :data:`VALUE_PREVIEW`.

    Parameters
    ----------
    value : object
        The cell: text, a number, ``None`` or NaN.

    Returns
    -------
    str or None
        ``str(value)``, cut to :data:`VALUE_PREVIEW` characters and an ellipsis
        when longer; ``None`` for ``None`` or a float NaN.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    return text if len(text) <= VALUE_PREVIEW else text[:VALUE_PREVIEW] + "…"


def problem(
    source: str, line: int | None, column: str | None, value: Any, code: str, message: str
) -> dict[str, Any]:
    """One problem row (file-level: no message is tied to it yet).

    Parameters
    ----------
    source : str
        The file's name as given.
    line : int or None
        1-based line, the header being line 1; ``None`` for the whole file.
    column : str or None
        The column concerned, if any.
    value : object
        The cell's text (previewed), or ``None``.
    code : str
        A key of :data:`connectly_nb.schema.PROBLEM_CODES`.
    message : str
        What is wrong and what was done about it.

    Returns
    -------
    dict
        The row, without ``message_id``.
    """
    return {
        "source": source,
        "line": line,
        "column": column,
        "value": preview(value),
        "problem": code,
        "severity": PROBLEM_CODES[code].severity,
        "message": message,
    }


class ProblemCollector:
    """Collects problem rows during a load, vectorised where a check hits many cells.

    Parameters
    ----------
    source_names : list of str
        The files, in reading order.
    src, line : numpy.ndarray
        For every record read (all files, in order): the index of its file
        and its line. Cell problems are given by record number.
    """

    def __init__(self, source_names: list[str], src: np.ndarray, line: np.ndarray) -> None:
        self.names = source_names
        self.src = src
        self.line = line
        self.frames: list[pd.DataFrame] = []

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Add file-level rows made by :func:`problem`.

        Parameters
        ----------
        rows : iterable of dict
            The rows; they concern no record (``message_id`` stays blank).
        """
        rows = list(rows)
        if rows:
            df = pd.DataFrame(rows)
            df["rid"] = -1
            self.frames.append(df)

    def add_cells(
        self,
        rid: np.ndarray,
        column: str,
        values: Sequence[Any] | np.ndarray,
        code: str,
        messages: Sequence[str] | str,
    ) -> None:
        """Add one problem per record in ``rid`` (record numbers of the whole load).

        Parameters
        ----------
        rid : numpy.ndarray of int
            The records concerned.
        column : str
            The column of every one of them.
        values : sequence
            The cells' text (previewed here), or ``None`` each.
        code : str
            A key of :data:`connectly_nb.schema.PROBLEM_CODES`.
        messages : str or sequence of str
            One message for all, or one per record.
        """
        if not len(rid):
            return
        rid = np.asarray(rid, dtype=np.int64)
        vals = pd.Series(values, dtype=object).map(preview)
        self.frames.append(
            pd.DataFrame(
                {
                    "source": np.asarray(self.names, dtype=object)[self.src[rid]],
                    "line": self.line[rid],
                    "column": column,
                    "value": vals.to_numpy(),
                    "problem": code,
                    "severity": PROBLEM_CODES[code].severity,
                    "message": messages if isinstance(messages, str) else list(messages),
                    "rid": rid,
                }
            )
        )

    def frame(self, rid_to_message: np.ndarray) -> pd.DataFrame:
        """The problems table, sorted by file, line, column and code.

        Parameters
        ----------
        rid_to_message : numpy.ndarray of int
            The ``message_id`` each record ended up in.

        Returns
        -------
        pandas.DataFrame
            :data:`connectly_nb.schema.PROBLEM_TABLE_COLUMNS`.
        """
        cols = [*PROBLEM_TABLE_COLUMNS[:-1], "rid"]
        df = (
            pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame(columns=cols)
        )
        rid = df["rid"].to_numpy(dtype=np.int64)
        mid = np.where(
            rid >= 0, rid_to_message[np.maximum(rid, 0)] if len(rid_to_message) else -1, -1
        )
        order = {n: i for i, n in enumerate(self.names)}
        df["_src"] = df["source"].map(order)
        df["_mid"] = mid
        df = df.sort_values(
            ["_src", "line", "column", "problem"], kind="stable", na_position="first"
        )
        message_id = pd.array(df["_mid"].to_numpy(), dtype="Int64")
        message_id[df["_mid"].to_numpy() < 0] = pd.NA
        return _typed(df, self.names, message_id)


def _typed(df: pd.DataFrame, names: list[str], message_id: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": pd.Categorical(df["source"], categories=names),
            "line": pd.array(df["line"], dtype="Int64"),
            "column": df["column"].astype("str"),
            "value": df["value"].astype("str"),
            "problem": pd.Categorical(df["problem"], categories=list(PROBLEM_CODES)),
            "severity": pd.Categorical(df["severity"], categories=list(SEVERITIES), ordered=True),
            "message": df["message"].astype("str"),
            "message_id": message_id,
        }
    ).reset_index(drop=True)


def empty_problems(source_names: Sequence[str] = ()) -> pd.DataFrame:
    """A problems table with no rows and the usual columns and types.

    Parameters
    ----------
    source_names : sequence of str, optional
        The categories of the ``source`` column.

    Returns
    -------
    pandas.DataFrame
        :data:`connectly_nb.schema.PROBLEM_TABLE_COLUMNS`, no rows.
    """
    return ProblemCollector(list(source_names), np.empty(0, int), np.empty(0, int)).frame(
        np.empty(0, dtype=np.int64)
    )


def problem_summary(problems: pd.DataFrame) -> pd.DataFrame:
    """How many problems of each kind, most severe first, with what each means.

    Parameters
    ----------
    problems : pandas.DataFrame
        ``Export.problems``.

    Returns
    -------
    pandas.DataFrame
        ``severity``, ``problem``, ``rows`` (how many), ``meaning`` (plain
        words from :data:`connectly_nb.schema.PROBLEM_CODES`); one row per kind
        found, sorted by severity then code.
    """
    counts = (
        problems.groupby(["severity", "problem"], observed=True, sort=True)
        .size()
        .rename("rows")
        .reset_index()
    )
    counts["meaning"] = [PROBLEM_CODES[str(p)].description for p in counts["problem"]]
    counts["problem"] = counts["problem"].astype(str)
    counts["severity"] = counts["severity"].astype(str)
    return counts[["severity", "problem", "rows", "meaning"]]
