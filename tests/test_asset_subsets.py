"""Every Blooio asset on its own, and every pair, over real HTTP into a real DuckDB file.

A subset of the API-reading assets must run, store only what was selected and read only what
the selection needs; the assets computed from stored tables must run alone from what is stored.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from blooio_dagster.tables.catalogue import (
    CHAT_COLUMNS,
    MESSAGE_COLUMNS,
    REPLY_TIME_COLUMNS,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
    Column,
)
from blooio_dagster.tables.dtypes import conform
from blooio_dagster.testing import BlooioTestServer
from tests.conftest import FIXED_NOW_MS, ServerFactory
from tests.dagster_project import Project

pytestmark = pytest.mark.duckdb

ROOT = Path(__file__).resolve().parent.parent
API_TABLES = ("chats", "messages", "reply_times")
SUBSETS = [
    *[(table,) for table in API_TABLES],
    *combinations(API_TABLES, 2),
]
#: Each table's columns, the columns that identify a row, and those that depend on the moment
#: of the run (the crawl's time, how long an unanswered turn has waited).
TABLES: dict[str, tuple[tuple[Column, ...], list[str], list[str]]] = {
    "chats": (CHAT_COLUMNS, ["chat_id"], ["fetched_at"]),
    "messages": (MESSAGE_COLUMNS, ["message_id"], []),
    "reply_times": (REPLY_TIME_COLUMNS, ["chat_id", "turn_message_id"], ["waiting_for"]),
    "chat_response_lag": (RESPONSE_LAG_COLUMNS, ["chat_id"], ["waiting_for"]),
    "response_summary": (RESPONSE_SUMMARY_COLUMNS, ["day"], ["longest_wait"]),
}


def materialize(
    project: Project, tables: tuple[str, ...], days: list[str], *, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` of the selected tables for one day or a range, as the UI launches it."""
    tags = {}
    if len(days) > 1:
        tags = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        }
    return dg.materialize(
        project.assets,
        selection=[dg.AssetKey(["blooio", table]) for table in tables],
        partition_key=days[0] if len(days) == 1 else None,
        tags=tags,
        instance=project.instance,
        resources=project.defs.resources,
        raise_on_error=raise_on_error,
    )


def stored_tables(project: Project) -> set[str]:
    import duckdb

    with duckdb.connect(str(project.database), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = 'blooio'"
        ).fetchall()
    return {str(name) for (name,) in rows}


def comparable(project: Project, table: str) -> pd.DataFrame:
    columns, key, moment = TABLES[table]
    frame = conform(project.table(table), columns).drop(columns=moment)
    return frame.sort_values(key).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The whole job's tables for the last three days, to compare the subsets' with.

    Made once for the module: the tests only read it, and each runs its own assets into a
    warehouse of its own (the downstream ones into a copy of this one). The server's data
    does not change as it is read; the tests count its requests from where they start.
    """
    root = tmp_path_factory.mktemp("reference")
    with BlooioTestServer(chats=800, seed=61, now=FIXED_NOW_MS) as server:
        project = Project(server, root / "reference.duckdb")
        project.run(*project.days(3))
        yield project


@pytest.mark.parametrize("span", ["day", "range"])
@pytest.mark.parametrize("tables", SUBSETS, ids="+".join)
def test_a_subset_of_the_api_assets_stores_and_reads_only_what_it_needs(
    reference: Project, tmp_path: Path, tables: tuple[str, ...], span: str
) -> None:
    server = reference.server
    project = Project(server, tmp_path / "subset.duckdb")
    days = project.days(3) if span == "range" else project.days(1)
    messages_before = len(server.messages_requests())

    result = materialize(project, tables, days)

    assert result.success
    materialized = sorted(
        {e.materialization.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    )
    assert materialized == sorted(tables)
    partitions = sorted(
        str(e.materialization.partition) for e in result.get_asset_materialization_events()
    )
    assert partitions == sorted(days * len(tables))
    checked = sorted(
        {
            e.asset_key.path[-1]
            for e in result.get_asset_check_evaluations()
            # Checks of their own, on what is stored: the schema, and the newest day stored.
            if e.check_name not in {"column_schema_change", "newest_day_stored"}
        }
    )
    assert checked == sorted({"chats", "messages"} & set(tables))
    assert stored_tables(project) == set(tables)
    messages_read = len(server.messages_requests()) - messages_before
    if set(tables) == {"chats"}:
        assert messages_read == 0, "chats alone reads no messages"
    else:
        assert messages_read > 0
    for table in tables:
        expected = comparable(reference, table)
        if span == "day":
            day_column = {"chats": "last_message_time", "messages": "time_sent"}.get(
                table, "turn_started_at"
            )
            expected = expected[
                expected[day_column].dt.strftime("%Y-%m-%d") == days[0]
            ].reset_index(drop=True)
        assert len(expected) > 10, table
        pd.testing.assert_frame_equal(comparable(project, table), expected)


@pytest.mark.parametrize("span", ["day", "range"])
@pytest.mark.parametrize("table", ["chat_response_lag", "response_summary"])
def test_a_downstream_asset_runs_alone_from_what_is_stored(
    reference: Project, tmp_path: Path, table: str, span: str
) -> None:
    stored = Project(reference.server, tmp_path / "stored.duckdb")
    shutil.copyfile(reference.database, stored.database)
    days = stored.days(3) if span == "range" else stored.days(3)[-1:]
    expected = comparable(reference, table)
    requests_before = len(stored.server.requests)

    result = materialize(stored, (table,), days)

    assert result.success
    (materialized,) = {
        e.materialization.asset_key.path[-1] for e in result.get_asset_materialization_events()
    }
    assert materialized == table
    assert len(stored.server.requests) == requests_before, "no API call"
    pd.testing.assert_frame_equal(comparable(stored, table), expected)


@pytest.mark.long
def test_the_cli_materializes_chats_alone(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server(chats=300, seed=62)
    home = tmp_path / "home"
    home.mkdir()
    database = tmp_path / "warehouse.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "BLOOIO_EXAMPLE_DATABASE": str(database),
        "BLOOIO_API_KEY": server.api_key,
        "BLOOIO_BASE_URL": server.base_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    project = Project(server, tmp_path / "unused.duckdb")
    (day,) = project.days(1)

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "example_project.definitions",
            "--select",
            'key:"blooio/chats"',
            "--partition",
            day,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "DagsterStepOutputNotFoundError" not in done.stderr
    assert server.messages_requests() == [], "chats alone reads no messages"
    project.database = database
    assert stored_tables(project) == {"chats"}
    stored = conform(project.table("chats"), CHAT_COLUMNS)
    days = stored["last_message_time"].dt.strftime("%Y-%m-%d")
    assert sorted(set(days)) == [day]
