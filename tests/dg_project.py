"""A minimal ``dg`` project in a temporary folder, and ``dg`` run in it, for the component tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DG = str(Path(sys.executable).parent / "dg")
REPO = Path(__file__).parent.parent
PYPROJECT = """\
[project]
name = "support-project"
version = "0"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "support_project"
"""
DEFINITIONS = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def dg_project(tmp_path: Path) -> Path:
    """A minimal dg project (pyproject ``[tool.dg]``, a package with a defs folder)."""
    root = tmp_path / "support-project"
    package = root / "src" / "support_project"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    return root


def defs_folder(project: Path) -> Path:
    """Where the project's components live."""
    return project / "src" / "support_project" / "defs"


def run_dg(
    project: Path, *arguments: str, repo: Path = REPO, succeed: bool = True
) -> subprocess.CompletedProcess[str]:
    """``dg *arguments`` in ``project``, which is not installed: its package and ``repo`` are
    found on the path. Checks that it succeeded, unless ``succeed`` is false."""
    path = os.pathsep.join([str(repo), str(project / "src")])
    ran = subprocess.run(
        [DG, *arguments],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=project,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    if succeed:
        assert ran.returncode == 0, f"dg {' '.join(arguments)}:\n{ran.stdout}\n{ran.stderr[-3000:]}"
    return ran
