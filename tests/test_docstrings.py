"""Every public function, class, method and property has a numpydoc docstring.

numpydoc's validator runs on the imported objects, not on the source text:
``connectly_nb._docs.shared_docs`` fills the shared ``{by}``, ``{where}``,
``{ax}`` ... lines at import, so only the imported docstring is complete
(``numpydoc lint``, which reads the source, cannot see them).

Checked: GL08 (no docstring), PR01 (a parameter not documented), PR02 (a
documented parameter that does not exist) and RT01 (no Returns section; a
Yields section counts for generators and context managers). RT01 is not asked
of classes, properties, or functions annotated ``-> None``; every other
function and method must have the section, whether or not numpydoc's own
heuristic (a ``return <value>`` in the source) would have asked for it.

Public means a name without a leading underscore, in any module of the
package (private modules such as ``_merge`` included); each object is checked
in the module that defines it, not where it is re-exported. ``__init__`` and
other dunder methods, and traitlets ``@observe``/``@validate`` handlers, are
not checked (a class documents its constructor's parameters itself).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest
import traitlets
from numpydoc.docscrape import get_doc_object
from numpydoc.validate import validate

import connectly_nb

CHECKS = ("GL08", "PR01", "PR02", "RT01")


def _import_error(name: str) -> None:
    raise ImportError(f"cannot import {name}")


def _modules() -> dict[str, ModuleType]:
    """The package and every module under it; an import error fails the collection."""
    names = [connectly_nb.__name__]
    names += [
        info.name
        for info in pkgutil.walk_packages(
            connectly_nb.__path__, prefix=f"{connectly_nb.__name__}.", onerror=_import_error
        )
    ]
    return {name: importlib.import_module(name) for name in sorted(names)}


MODULES = _modules()


def _public(name: str) -> bool:
    return not name.startswith("_")


def _members(cls: type) -> dict[str, str]:
    """Public methods and properties defined in ``cls`` itself: name -> kind."""
    found = {}
    for name, attr in vars(cls).items():
        if not _public(name) or isinstance(attr, traitlets.EventHandler):
            continue  # traitlets @observe / @validate handlers (private by name anyway)
        if isinstance(attr, property | functools.cached_property):
            found[name] = "property"
        elif isinstance(attr, staticmethod | classmethod) or inspect.isfunction(attr):
            found[name] = "method"
    return found


def _objects() -> dict[str, str]:
    """Dotted name -> kind ("function", "class", "method" or "property")."""
    objects: dict[str, str] = {}
    for module_name, module in MODULES.items():
        for name, obj in vars(module).items():
            if not _public(name) or getattr(obj, "__module__", None) != module_name:
                continue  # private, or re-exported from the module that defines it
            dotted = f"{module_name}.{name}"
            if inspect.isclass(obj):
                objects[dotted] = "class"
                for member, kind in _members(obj).items():
                    objects[f"{dotted}.{member}"] = kind
            elif inspect.isroutine(obj):  # functions, and functools.cache wrappers
                objects[dotted] = "function"
    return objects


OBJECTS = _objects()


def _load(dotted: str) -> object:
    """The object itself: static/class methods unwrapped, properties as properties."""
    module_name = dotted
    while module_name not in MODULES:
        module_name = module_name.rpartition(".")[0]
    obj: object = MODULES[module_name]
    for part in dotted[len(module_name) + 1 :].split("."):
        obj = inspect.getattr_static(obj, part)
        if isinstance(obj, staticmethod | classmethod):
            obj = obj.__func__
    return obj


def _returns_none(func: object) -> bool:
    annotation = inspect.signature(inspect.unwrap(func)).return_annotation  # type: ignore[arg-type]
    return annotation in (None, "None")  # a string under `from __future__ import annotations`


def _errors(dotted: str, kind: str) -> list[str]:
    """The GL08, PR01, PR02 and RT01 errors of one object, as "CODE: message"."""
    result = validate(dotted)
    errors = [f"{code}: {msg}" for code, msg in result["errors"] if code in CHECKS[:3]]
    obj = _load(dotted)
    if kind in ("function", "method") and obj.__doc__ and not _returns_none(obj):
        doc = get_doc_object(obj)
        if not doc["Returns"] and not doc["Yields"]:
            errors.append("RT01: No Returns (or Yields) section found")
    return errors


def test_the_walk_finds_every_kind_of_object():
    assert {"connectly_nb._merge", "connectly_nb.metrics", "connectly_nb.widgets.filters"} <= set(
        MODULES
    )
    kinds = {
        "connectly_nb.metrics.funnel": "function",
        "connectly_nb._version.source_hash": "function",  # functools.cache
        "connectly_nb.export.Export": "class",
        "connectly_nb.export.Export.filter": "method",
        "connectly_nb._merge.RecordMap.of": "method",  # classmethod
        "connectly_nb.widgets.filters.FilterPanel.mask": "property",
    }
    assert {name: OBJECTS.get(name) for name in kinds} == kinds
    assert "connectly_nb.metrics.Export" not in OBJECTS  # re-exported: checked at home
    assert not [name for name in OBJECTS if name.rpartition(".")[2].startswith("_")]


def test_shared_docs_are_filled_at_import():
    from connectly_nb.metrics import funnel
    from connectly_nb.plots import plot_funnel

    assert "{by}" not in funnel.__doc__
    assert "by : str, list of str or None" in funnel.__doc__
    assert "ax : matplotlib.axes.Axes, optional" in plot_funnel.__doc__


@pytest.mark.filterwarnings("ignore:Widget.* is deprecated:DeprecationWarning")
@pytest.mark.parametrize("dotted", sorted(OBJECTS))
def test_numpydoc_sections(dotted):
    errors = _errors(dotted, OBJECTS[dotted])
    assert not errors, f"{dotted}:\n  " + "\n  ".join(errors)
