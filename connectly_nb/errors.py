"""Old home of the exceptions, kept so that existing imports keep working.

The exceptions live in :mod:`connectly_nb.exceptions`; import them from
there (or from the package: ``connectly_nb.ExportFormatError``).

One name, two meanings: ``connectly_nb.errors`` is also the metric
:func:`connectly_nb.metrics.errors` (failures per error code), which the
package exports under that name. A package attribute and a submodule of the
same name cannot be two objects, so this module is both: it holds the
exceptions, and calling it runs the metric::

    import connectly_nb.errors as e        # e.ExportFormatError works
    from connectly_nb import errors        # errors(export) works

Nothing inside the package imports this module; it sits at the top of the
import layers, beside the command line.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pandas as pd

from connectly_nb.exceptions import *  # noqa: F403  (the re-export is the point)
from connectly_nb.exceptions import __all__ as _exceptions
from connectly_nb.metrics import errors as _errors_metric

__all__ = list(_exceptions)


class _ErrorsModule(types.ModuleType):
    """The module itself, callable as the ``errors`` metric."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return _errors_metric(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(_errors_metric)


sys.modules[__name__].__class__ = _ErrorsModule
