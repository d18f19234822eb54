"""The package as a user installs it: the built wheel in a clean virtual environment.

A user's project already has Dagster and pandas; installing blooio-dagster must keep both as
they are, and bring its type information (``py.typed``) and the ``dg`` registry entry point.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What a user's project has before it adds blooio-dagster: the releases this run tests.
HELD = ("dagster", "pandas")

#: Run inside the clean environment, from a directory without the source tree, so that
#: only the installed wheel can be imported.
PROBE = """
import importlib.metadata as md, importlib.resources, json, sys
import blooio_dagster
from blooio_dagster import BlooioClient, BlooioComponent, BlooioResource, build_blooio_assets
from blooio_dagster.testing import BlooioTestServer

points = md.entry_points(group="dagster_dg_cli.registry_modules")
with BlooioTestServer(chats=30, seed=3) as server:
    with BlooioClient(server.api_key, base_url=server.base_url) as client:
        chats = len(client.list_chats())
print(json.dumps({
    "file": blooio_dagster.__file__,
    "py_typed": importlib.resources.files("blooio_dagster").joinpath("py.typed").is_file(),
    "entry_points": {p.name: p.value for p in points},
    "registry_module": points["blooio_dagster"].load().__name__,
    "chats": chats,
    "versions": {name: md.version(name) for name in sys.argv[1:]},
}))
"""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    before: dict[str, str]
    report: dict[str, Any]


def run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def installed_versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = "import importlib.metadata as md, json, sys; print(json.dumps({n: md.version(n) for n in sys.argv[1:]}))"
    versions: dict[str, str] = json.loads(run(python, "-I", "-c", code, *names))
    return versions


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from a copy of the sources, installed into a project with Dagster."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "blooio_dagster",
        source / "blooio_dagster",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    # sdist first, then the wheel from the sdist: a file the sdist leaves out fails here.
    run(sys.executable, "-m", "build", "--outdir", work / "dist", source)
    (wheel,) = (work / "dist").glob("*.whl")

    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # This environment's pip installs into the new one; skipping bytecode saves half the time.
    pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install"]
    pip += ["--quiet", "--no-compile", "--disable-pip-version-check"]
    run(*pip, *(f"{name}=={version(name)}" for name in HELD))
    before = installed_versions(python, HELD)
    run(*pip, "--find-links", wheel.parent, "blooio-dagster")
    probe = work / "probe"
    probe.mkdir()
    report = json.loads(run(python, "-I", "-c", PROBE, *HELD, cwd=probe))
    return Installed(wheel=wheel, venv=venv, before=before, report=report)


@pytest.mark.packaging
def test_installing_keeps_the_projects_dagster_and_pandas(installed: Installed) -> None:
    assert installed.before == {name: version(name) for name in HELD}
    assert installed.report["versions"] == installed.before


@pytest.mark.packaging
def test_the_readme_names_the_wheel_the_build_makes(installed: Installed) -> None:
    readme = (ROOT / "README.md").read_text()

    assert f"pip install dist/{installed.wheel.name}" in readme, installed.wheel.name


@pytest.mark.packaging
def test_the_installed_wheel_works_and_carries_its_data(installed: Installed) -> None:
    report = installed.report
    assert Path(report["file"]).is_relative_to(installed.venv), "imported from the wheel"
    assert report["py_typed"] is True
    assert report["entry_points"]["blooio_dagster"] == "blooio_dagster"
    assert report["registry_module"] == "blooio_dagster"
    assert report["chats"] == 30


@pytest.mark.packaging
def test_the_wheel_declares_ranges_not_pins(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = wheel.read(metadata_name).decode()
        names = wheel.namelist()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    runtime = [line for line in requires if "extra ==" not in line]
    assert {re.split(r"[<>=!~ ;]", line.split()[1])[0] for line in runtime} >= {
        "dagster",
        "pandas",
        "httpx",
    }
    assert not [line for line in runtime if "==" in line], runtime
    assert "blooio_dagster/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "example_project/", "benchmarks/"))]


def test_the_running_python_is_a_declared_version() -> None:
    # Each test environment runs this, so every Python the suite runs on is declared.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"Programming Language :: Python :: {running}" in project["classifiers"]
    floor = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {floor}" in project["classifiers"]


#: Packages some supported Dagster/pandas releases cannot install beside them, each with the
#: marker of the tests that need it (see pyproject.toml).
OPTIONAL = {
    "duckdb": "duckdb",
    "dagster_duckdb": "duckdb",
    "dagster_duckdb_pandas": "duckdb",
    "dagster_webserver": "webserver",
    "dagster_dg_cli": "dg",
}


def test_tests_import_optional_packages_only_where_they_are_used() -> None:
    # The newest-releases run deselects tests by marker, but pytest imports every test module
    # to read the markers: a module-level import of a package absent there breaks the run.
    offenders = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.partition(".")[0]
                if top in OPTIONAL:
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert offenders == [], (
        "Import these inside the tests or helpers that use them, and mark those tests "
        f"with their packages' markers ({sorted(set(OPTIONAL.values()))}): {offenders}"
    )
