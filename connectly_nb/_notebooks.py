"""Re-execute the curated notebooks in place and stamp them with the code they ran on.

``python -m connectly_nb._notebooks notebooks/*.ipynb`` (``make notebooks``).
Each notebook gets ``metadata.connectly_nb.source_hash``, a hash of the
package's code and bundled data; the test suite compares it with the current
one, so a notebook committed with outputs from an older version of the code
fails the tests until it is re-executed.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def source_hash() -> str:
    """Hash of every ``.py`` file and the bundled sample under the package."""
    digest = hashlib.sha256()
    files = sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".csv") and p.is_file())
    for path in files:
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def execute(path: Path, *, timeout: int = 600) -> None:
    """Run every cell of ``path`` in a fresh kernel and write the outputs back."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.resolve().parent)}},
    )
    client.execute()
    nb.metadata["connectly_nb"] = {"source_hash": source_hash()}
    nbformat.write(nb, path)


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        print(f"executing {path} ...", flush=True)
        execute(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
