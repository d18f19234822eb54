"""A new user's first hour, as the README tells it, in a fresh copy of the repository.

One test, step after step, each step's output checked: ``make demo``; the test server's export
lines; the README's command-line recipes (one table for one day, a range in one run,
``current_chats`` on its own) run exactly as printed against the exported server; and a ``dg``
project whose ``defs.yaml`` ``dg scaffold defs`` wrote, passing ``dg check defs``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.dg_project import defs_folder, dg_project, run_dg

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent

# Needs the example project's packages (DuckDB), which the floor environment has.
pytestmark = [pytest.mark.duckdb, pytest.mark.dg, pytest.mark.long]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, not ignored ones)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    target = tmp_path / "blooio-dagster"
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture
def exported_server(clone: Path) -> Iterator[dict[str, str]]:
    """``python -m blooio_dagster.testing`` in the clone, and the variables it says to export."""
    process = subprocess.Popen(
        [
            *[sys.executable, "-m", "blooio_dagster.testing", "--port", "0", "--chats", "300"],
            *["--profile", "support", "--now", "2026-03-10T15:00"],
        ],
        cwd=clone,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(5)]
        exports = dict(
            re.findall(r"^  export (BLOOIO_API_KEY|BLOOIO_BASE_URL)=(\S+)$", "".join(banner), re.M)
        )
        assert sorted(exports) == ["BLOOIO_API_KEY", "BLOOIO_BASE_URL"], banner
        yield exports
    finally:
        process.terminate()
        process.wait(timeout=10)


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run a step; its output, after checking it succeeded."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{shlex.join(command)} failed:\n{output[-4000:]}"
    return output


def readme_block(clone: Path, heading: str) -> list[str]:
    """The commands of the first ``sh`` block after ``heading`` in the clone's README."""
    readme = (clone / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme[readme.index(heading) :], re.S)
    assert block is not None, f"no sh block after {heading!r}"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def stored_days(database: Path, table: str, column: str) -> list[str]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"select distinct strftime({column}, '%Y-%m-%d') from blooio.{table} order by 1"
        ).fetchall()
    return [day for (day,) in rows]


def test_a_new_users_first_hour(
    clone: Path, exported_server: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = os.environ | {"DAGSTER_HOME": str(home), "PYTHONPATH": str(clone)}
    env.pop("BLOOIO_API_KEY", None)
    env.pop("BLOOIO_BASE_URL", None)

    # 1. The quick start's first command. The clone reuses this checkout's environment, which
    #    `make` would have built from the same pyproject.toml and constraints.
    assert readme_block(clone, "## Quick start")[0].startswith("make demo"), "README changed"
    #    Stored where `make screenshot` has the demo store, a path relative to where it runs,
    #    so the pictures it takes show no machine's folders.
    from example_project.screenshot import DATABASE

    shown = run(
        ["make", "--no-print-directory", "demo", f"VENV={REPO / '.venv'}"],
        clone,
        env | {"BLOOIO_EXAMPLE_DATABASE": str(DATABASE)},
    )
    assert "The week from 2026-03-03" in shown, shown[-3000:]
    assert "Waiting for a reply now" in shown, shown[-3000:]
    assert len(stored_days(clone / DATABASE, "response_summary", "day")) == 7
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.fetch_materializations(
            dg.AssetKey(["blooio", "response_summary"]), limit=1
        ).records
        materialization = record.asset_materialization
        assert materialization is not None
        table_name = materialization.metadata["dagster/table_name"].value
    assert table_name == f"{DATABASE}.blooio.response_summary", table_name
    assert not DATABASE.is_absolute(), DATABASE

    # 2. The README's recipes, exactly as printed, against the server whose lines were exported.
    database = tmp_path / "warehouse.duckdb"
    user_env = env | exported_server | {"BLOOIO_EXAMPLE_DATABASE": str(database)}
    backfill, one_table, current = readme_block(clone, "### Backfills from the command line")
    for command in (one_table, backfill, current):
        words = shlex.split(command)
        assert words[0] == "dagster", command
        assert "RUN_SUCCESS" in run([str(BIN / "dagster"), *words[1:]], clone, user_env)
    assert stored_days(database, "chats", "last_message_time")[-1] == "2026-03-09"
    assert stored_days(database, "messages", "time_sent") == [
        f"2026-03-{day:02d}" for day in range(3, 10)
    ]
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        current_rows = con.execute("select count(*) from blooio.current_chats").fetchall()
    assert current_rows == [(300,)]

    # 3. A dg project: scaffold the component's defs.yaml, then check the definitions.
    project = dg_project(tmp_path)
    run_dg(project, "scaffold", "defs", "blooio_dagster.BlooioComponent", "blooio", repo=clone)
    scaffolded = (defs_folder(project) / "blooio" / "defs.yaml").read_text()
    assert scaffolded.startswith("type: blooio_dagster.BlooioComponent"), scaffolded
    checked = run_dg(project, "check", "defs", repo=clone)
    assert "All definitions loaded successfully." in checked.stdout + checked.stderr
