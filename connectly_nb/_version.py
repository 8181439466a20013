"""The package's version, and a hash of its code for what must follow the code.

``source_hash`` changes with any ``.py`` file or the bundled data under the
package. The curated notebooks are stamped with it (``make notebooks``), and
the Parquet cache keys its entries on it, so neither serves results computed
by other code than the code now installed.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["PACKAGE_DIR", "__version__", "source_hash"]

PACKAGE_DIR = Path(__file__).resolve().parent

try:
    __version__ = version("connectly-nb")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


@functools.cache
def source_hash() -> str:
    """Hash of every ``.py`` file and the bundled sample under the package (16 hex digits).

    Computed once per process (about 5 ms). The hashed files are the ``.py``,
    ``.csv`` and ``.ipynb`` files under the package (so the report template
    too), each with its path relative to the package.

    Returns
    -------
    str
        The first 16 hex digits of the SHA-256 of those files.
    """
    digest = hashlib.sha256()
    files = sorted(
        p for p in PACKAGE_DIR.rglob("*") if p.suffix in (".py", ".csv", ".ipynb") and p.is_file()
    )
    for path in files:
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
