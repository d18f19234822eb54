"""What importing blooio-dagster costs: the client and the chat conversion without Dagster."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import blooio_dagster


def _modules_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running ``statement``."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return {name.split(".")[0] for name in json.loads(done.stdout.strip().splitlines()[-1])}


@pytest.mark.parametrize(
    "statement",
    [
        "from blooio_dagster import BlooioClient, chats_to_frame",
        "from blooio_dagster.api.errors import BlooioError, BlooioIncompleteError",
        "import blooio_dagster",
    ],
)
def test_reading_chats_does_not_import_dagster(statement: str) -> None:
    loaded = _modules_after(statement)

    assert "dagster" not in loaded
    assert "pydantic" not in loaded


def test_the_client_alone_does_not_import_pandas() -> None:
    loaded = _modules_after("from blooio_dagster import BlooioClient")

    assert {"dagster", "pandas", "numpy"}.isdisjoint(loaded)


def test_every_public_name_resolves_and_dir_lists_it() -> None:
    for name in blooio_dagster.__all__:
        assert getattr(blooio_dagster, name) is not None, name
    assert set(blooio_dagster.__all__) <= set(dir(blooio_dagster))
    assert set(blooio_dagster.__all__) == set(blooio_dagster._EXPORTS)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'BlooioNothing'"):
        _ = blooio_dagster.BlooioNothing
