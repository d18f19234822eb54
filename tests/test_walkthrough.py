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
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from example_project.demo import DEMO_NOW
from tests.dg_project import defs_folder, dg_project, run_dg

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
RECIPES = "### Backfills from the command line"

# Needs the example project's packages (DuckDB), which the floor environment has.
pytestmark = [pytest.mark.duckdb, pytest.mark.dg, pytest.mark.make, pytest.mark.long]


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
    """The README's test server for its recipes, started in the clone as printed (on a free
    port, and with fewer chats, to be quick), and the variables it says to export."""
    setup, _ = readme_blocks(clone, RECIPES)
    server = shlex.split(setup[0])
    assert server[:3] == [".venv/bin/python", "-m", "blooio_dagster.testing"], setup
    assert "source .venv/bin/activate" in setup, setup
    printed = dict(re.findall(r"(BLOOIO_API_KEY|BLOOIO_BASE_URL)=(\S+)", "\n".join(setup)))
    assert printed == {
        "BLOOIO_API_KEY": "bl_test_local",
        "BLOOIO_BASE_URL": "http://127.0.0.1:8787/v2/api",
    }, setup
    assert "export DAGSTER_HOME=$PWD/example_project/dagster_home" in setup, setup
    process = subprocess.Popen(
        [sys.executable, *server[1:], "--port", "0", "--chats", "300"],
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


def readme_blocks(clone: Path, heading: str) -> list[list[str]]:
    """The commands of each ``sh`` block in the clone's README under ``heading``, up to the
    next heading."""
    readme = (clone / "README.md").read_text()
    section = readme[readme.index(heading) + len(heading) :]
    section = re.split(r"^#{2,4} ", section, maxsplit=1, flags=re.M)[0]  # not sh comments
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert blocks, f"no sh block under {heading!r}"
    return [
        [line for line in block.splitlines() if line and not line.startswith("#")]
        for block in blocks
    ]


def stored_days(database: Path, table: str, column: str) -> list[str]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"select distinct strftime({column}, '%Y-%m-%d') from blooio.{table} order by 1"
        ).fetchall()
    return [day for (day,) in rows]


def check_the_demo(output: str, database: Path) -> None:
    """``make demo``'s week, as a support lead reads it, and the tables it stored."""
    # The week before the synthetic clock, whatever today's date and the machine's time zone.
    week = [(DEMO_NOW.date() - timedelta(days=7 - n)).isoformat() for n in range(7)]
    assert f"its clock fixed at {DEMO_NOW:%Y-%m-%d %H:%M} UTC" in output, output[:3000]
    assert f"The week from {week[0]} (exact, from every message; reply SLA 60 minutes)" in output
    summary = demo_figures(output)
    # What a support lead would believe: replies in minutes, a few customers still waiting.
    assert 5 <= summary["median reply"] <= 60, summary
    assert summary["median reply"] < summary["p90"] <= 6 * 60, summary
    assert 0 < summary["still waiting"] < summary["customer turns"] * 0.05, summary
    assert 0 < summary["SLA breaches"] < summary["customer turns"] * 0.5, summary
    table = output.split("Per day (blooio.response_summary):\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in table.splitlines()[1:]] == week, table
    waiting = output.split("Waiting for a reply now")[1]
    total = re.search(r"([\d,]+) customers?,", waiting)
    assert total is not None, waiting
    buckets = [
        int(n.replace(",", "")) for n in re.findall(r": ([\d,]+)", waiting.split("waited:")[1])
    ]
    assert len(buckets) == 4, waiting
    assert sum(buckets) == int(total.group(1).replace(",", "")) > 0, waiting

    assert stored_days(database, "response_summary", "day") == week
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        chats = con.execute("select count(*), count(distinct chat_id) from blooio.chats").fetchone()
    assert chats is not None
    assert chats[0] == chats[1] > 500, chats


def demo_figures(stdout: str) -> dict[str, float]:
    """The week's figures the demo prints: counts, and the median and p90 reply in minutes."""
    lines = stdout.split("The week from")[1].splitlines()[1:5]
    figures: dict[str, float] = {}
    for line in lines:
        label, _, rest = line.strip().partition("  ")
        words = rest.split()
        figures[label] = int(words[0].replace(",", ""))
        if "median reply" in line:
            median, p90 = line.split("median reply ")[1].split(", p90 ")
            figures["median reply"], figures["p90"] = as_minutes(median), as_minutes(p90)
    return figures


def as_minutes(text: str) -> float:
    """ "1 h 48 min" or "17 min" as minutes."""
    words = text.split()
    hours = int(words[0]) if "h" in words else 0
    return hours * 60 + int(words[-2])


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
    assert readme_blocks(clone, "## Quick start")[0][0].startswith("make demo"), "README changed"
    #    Stored where `make screenshot` has the demo store, a path relative to where it runs,
    #    so the pictures it takes show no machine's folders.
    from example_project.screenshot import DATABASE

    shown = run(
        ["make", "--no-print-directory", "demo", f"VENV={REPO / '.venv'}"],
        clone,
        env | {"BLOOIO_EXAMPLE_DATABASE": str(DATABASE)},
    )
    check_the_demo(shown, clone / DATABASE)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run_record,) = instance.get_runs()  # the seven days in one run
        (record,) = instance.fetch_materializations(
            dg.AssetKey(["blooio", "response_summary"]), limit=1
        ).records
        materialization = record.asset_materialization
        assert materialization is not None
        table_name = materialization.metadata["dagster/table_name"].value
    week = [(DEMO_NOW.date() - timedelta(days=7 - n)).isoformat() for n in range(7)]
    range_tags = [f"dagster/asset_partition_range_{end}" for end in ("start", "end")]
    assert [run_record.tags.get(tag) for tag in range_tags] == [week[0], week[-1]], run_record.tags
    assert table_name == f"{DATABASE}.blooio.response_summary", table_name
    assert not DATABASE.is_absolute(), DATABASE

    # 2. The README's recipes, exactly as printed, against the server whose lines were exported.
    database = tmp_path / "warehouse.duckdb"
    user_env = env | exported_server | {"BLOOIO_EXAMPLE_DATABASE": str(database)}
    _, (backfill, one_table, current) = readme_blocks(clone, RECIPES)
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
