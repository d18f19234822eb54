"""The README's command-line recipes, run exactly as printed against the bundled server."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from blooio_dagster.testing import BlooioTestServer
from tests.conftest import ServerFactory

REPO = Path(__file__).parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")


def readme_recipes() -> list[str]:
    """The commands of the README's block under "Backfills from the command line"."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Backfills from the command line") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the README's backfill section has no sh block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def run_recipe(command: str, server: BlooioTestServer, home: Path, database: Path) -> str:
    words = shlex.split(command)
    assert words[:2] == ["dagster", "asset"], command
    (home / "dagster.yaml").touch()
    env = os.environ | {
        "BLOOIO_API_KEY": server.api_key,
        "BLOOIO_BASE_URL": server.base_url,
        "BLOOIO_EXAMPLE_DATABASE": str(database),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
    }
    ran = subprocess.run(
        [DAGSTER, *words[1:]], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-4000:]
    assert "RUN_SUCCESS" in output, output[-4000:]
    return output


def stored_days(database: Path, table: str, column: str) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.sql(
            f"select distinct strftime({column}, '%Y-%m-%d') from blooio.{table} order by 1"
        ).fetchall()
    return [day for (day,) in rows]


@pytest.mark.duckdb
def test_the_readme_recipes_run_as_printed(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server(chats=300, seed=5)
    database = tmp_path / "warehouse.duckdb"
    backfill, one_table, current = readme_recipes()

    run_recipe(backfill, server, tmp_path, database)
    assert stored_days(database, "messages", "time_sent") == [
        f"2026-03-{day:02d}" for day in range(3, 10)
    ]
    assert stored_days(database, "response_summary", "day") == [
        f"2026-03-{day:02d}" for day in range(3, 10)
    ]

    messages_requests = len(server.messages_requests())
    run_recipe(one_table, server, tmp_path, database)
    assert len(server.messages_requests()) == messages_requests, "chats alone read messages"

    run_recipe(current, server, tmp_path, database)
    with duckdb.connect(str(database), read_only=True) as con:
        count = con.execute("select count(*) from blooio.current_chats").fetchall()[0][0]
    assert count == 300
