"""A bad attribute in a ``defs.yaml`` is one error from ``dg check defs``, before any success line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DG = str(Path(sys.executable).parent / "dg")
REPO = Path(__file__).parent.parent


def make_dg_project(root: Path, defs_yaml: str) -> Path:
    """A minimal ``dg`` project under ``root`` whose one component is ``defs_yaml``."""
    (root / "src" / "support" / "defs" / "blooio").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "support"\nversion = "0.1"\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "support"\nregistry_modules = ["blooio_dagster"]\n'
    )
    (root / "src" / "support" / "__init__.py").write_text("")
    (root / "src" / "support" / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n\n@dg.definitions\n"
        "def defs() -> dg.Definitions:\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    (root / "src" / "support" / "defs" / "blooio" / "defs.yaml").write_text(defs_yaml)
    return root


@pytest.mark.dg
@pytest.mark.parametrize(
    ("attribute", "said"),
    [
        ("page_size: 500", "attributes.page_size 500 is greater than the maximum of 200"),
        ("max_concurrency: 0", "attributes.max_concurrency 0 is less than the minimum of 1"),
        ("timeout: 0", "attributes.timeout 0 is less than or equal to the minimum of 0"),
    ],
)
def test_an_out_of_range_attribute_is_one_error_naming_field_and_bound(
    tmp_path: Path, attribute: str, said: str
) -> None:
    project = make_dg_project(
        tmp_path, f"type: blooio_dagster.BlooioComponent\nattributes:\n  {attribute}\n"
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(project / "src")])}

    checked = subprocess.run(
        [DG, "check", "defs"], capture_output=True, text=True, timeout=180, cwd=project, env=env
    )

    output = checked.stdout + checked.stderr
    assert checked.returncode != 0, output[-3000:]
    assert said in output, output[-3000:]
    assert "validated successfully" not in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "Stack Trace" not in output, output[-3000:]
