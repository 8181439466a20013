"""The one way the package writes a file or a folder: whole, or not at all.

Every writer (the safe CSV, the HTML report, downloaded reports, the Parquet
cache) writes into a fresh temporary name in the target folder and renames it
over the target when complete. The temporary name is made by
:func:`tempfile.mkstemp` / :func:`tempfile.mkdtemp`: created with ``O_EXCL``,
so a file or symlink planted at a predictable name is never followed, and an
interrupted write leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_directory", "atomic_write", "check_writable"]


def _umask() -> int:
    try:  # Linux: read it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def check_writable(path: str | os.PathLike[str], *, what: str = "output") -> Path:
    """Check, before any work, that ``path`` can be written as a file.

    Parameters
    ----------
    path : path-like
        The file to be written.
    what : str
        How the message names the file (e.g. ``"-o"``).

    Returns
    -------
    pathlib.Path
        ``path``, as a :class:`~pathlib.Path`.

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    FileNotFoundError
        Its folder does not exist.
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{what} {p} is a folder; name a file in it")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{what} {p}: the folder {p.parent} does not exist")
    return p


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    *,
    mode: str = "wb",
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it to ``path``.

    Parameters
    ----------
    path : path-like
        The file to write. A symlink at ``path`` is replaced, never followed.
    mode : {"wb", "w"}
        Binary or text.
    encoding, newline : str, optional
        For text mode, as for :func:`open`.

    Yields
    ------
    file object
        Write to it; when the ``with`` block ends without an exception the
        file is complete and renamed. On an exception it is deleted.

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder (checked before anything is written).
    FileNotFoundError
        The folder of ``path`` does not exist.
    """
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # the mode a plain open() would give
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Fill a temporary folder beside ``path``; on success rename it to ``path``.

    If ``path`` already exists when the folder is complete (another process
    wrote it meanwhile), the existing one is kept and the new one discarded:
    callers use this for content-addressed entries, where both are the same.

    Parameters
    ----------
    path : path-like
        The folder to create. Its parent folders are created if missing.

    Yields
    ------
    pathlib.Path
        The temporary folder to write into.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # someone else finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
