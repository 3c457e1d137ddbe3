"""The project's own files install everything it needs, and say so consistently."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, set[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    groups = {"runtime": {_name(r) for r in project["dependencies"]}}
    for extra, reqs in project["optional-dependencies"].items():
        groups[extra] = {_name(r) for r in reqs}
    return groups


def _environment_lines() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    return text.split("\ndependencies:", 1)[1].splitlines()


def _environment_requirements() -> set[str]:
    names = set()
    for line in _environment_lines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped.startswith("- ") or stripped.startswith("- -e") or stripped.endswith(":"):
            continue
        names.add(_name(stripped[2:]))
    return names - {"python", "pip"}


def test_environment_yml_lists_exactly_the_pyproject_dependencies():
    pyproject = set().union(*_pyproject_requirements().values())
    conda = _environment_requirements()
    assert conda - pyproject == set(), "in environment.yml but not pyproject.toml"
    assert pyproject - conda == set(), "in pyproject.toml but not environment.yml"


def test_dev_extra_can_run_the_notebooks_too():
    groups = _pyproject_requirements()
    assert groups["notebooks"] <= groups["dev"]


def test_versions_agree_between_the_two_lists():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(r): r.replace(" ", "") for r in data["dependencies"]}
    for extra in data["optional-dependencies"].values():
        pins.update({_name(r): r.replace(" ", "") for r in extra})
    env_lines = [
        ln.split("#", 1)[0].strip()[2:].replace(" ", "") for ln in _environment_lines() if ln.strip().startswith("- ")
    ]
    env = {_name(r): r for r in env_lines if _name(r) in pins}
    assert env == pins


def test_ci_entry_calls_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme and "make demo" in readme


def test_make_test_runs_ruff_and_mypy_before_pytest():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: lint$", makefile, re.MULTILINE)
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert [line.strip() for line in lint.splitlines()[1:]] == [
        "$(BIN)/ruff check .",
        "$(BIN)/ruff format --check .",
        "$(BIN)/mypy",
    ]


def test_ruff_and_mypy_leave_out_the_same_package_modules():
    tools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    ruff = {p for p in tools["ruff"]["extend-exclude"] if p.startswith("ledgerkit/")}
    as_module = {p.removesuffix(".py").replace("/", ".") + ("" if p.endswith(".py") else ".*") for p in ruff}
    ignored = {m for o in tools["mypy"]["overrides"] if o.get("ignore_errors") for m in o["module"]}
    assert as_module == ignored
