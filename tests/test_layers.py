"""The layers hold: `lint-imports` (run by `make test`) passes on the package as it is, and
fails, naming the contract, when a module reaches up a layer or imports what its layer must not.

Each breakage is made in a copy of the package, checked with the project's own contracts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: A line added to a module, and the contract it must break.
BREAKAGES = [
    ("api/retry.py", "import dagster", "Only the Dagster face imports Dagster or the face"),
    (
        "api/wire/chats.py",
        "import blooio_dagster.crawl.pages",
        "Layers: tables > client > crawl > api",
    ),
    ("crawl/walk.py", "import pandas", "The API client and the crawl need no pandas"),
    ("crawl/ties.py", "import blooio_dagster.client", "Layers: tables > client > crawl > api"),
    (
        "tables/dtypes.py",
        "import blooio_dagster.assets",
        "Only the Dagster face imports Dagster or the face",
    ),
    (
        "testing/store.py",
        "import blooio_dagster.client",
        "The test server stands alone: it serves the API, it does not use the library",
    ),
]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the package in ``root``, with the project's contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_package_keeps_every_contract() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_reaching_up_a_layer_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    shutil.copytree(REPO / "blooio_dagster", tmp_path / "blooio_dagster")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "blooio_dagster" / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, f"{line!r} in {module} kept every contract:\n{done.stdout}"
    assert f"{contract} BROKEN" in done.stdout, done.stdout
