"""The project's own promises: dependencies agree, the README's commands exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _conda_dependencies() -> dict[str, str]:
    deps: dict[str, str] = {}
    in_deps = False
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and line.startswith("  - ") and not line.startswith("  - pip:"):
            spec = line[4:].strip()
            deps[_name(spec)] = spec.replace(" ", "")
    return deps


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pip = {_name(d): d.replace(" ", "") for d in pip_deps}
    conda = _conda_dependencies()
    conda.pop("python")
    conda.pop("pip")
    assert conda == pip


def test_environment_yml_installs_the_package_itself():
    text = (ROOT / "environment.yml").read_text()
    assert "--editable ." in text
    assert "conda-forge" in text


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    assert "make lab" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_make_targets_named_in_the_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z]+):", makefile, re.MULTILINE))
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`?make ([a-z]+)`?", readme))
    assert named
    assert named <= targets
    # `make test` and `make lab` create the virtual environment themselves
    assert re.search(r"^test: .*", makefile, re.MULTILINE)
    assert "$(PYTHON) -m venv" in makefile


def test_console_script_points_at_the_cli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["connectly-nb"] == "connectly_nb.cli:main"
