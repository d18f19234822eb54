"""Days without activity: every table has no rows for them, and the run still succeeds.

With the real DuckDB IO manager (as installed, and as dagster-duckdb-pandas 0.29 behaves:
storing nothing for an empty frame, so a fresh warehouse gets no table) and with Dagster's
filesystem one, on a fresh warehouse and on one that already has tables, for a day and for a
range whose first days are empty, over real HTTP to a server whose chats are all newer than
those days (the crawl returns chats, but none falls on the days). An upstream never
materialized, or lost from the store, still fails the assets that read it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from blooio_dagster import BlooioResource, build_blooio_assets
from blooio_dagster.testing import BlooioTestServer
from tests.conftest import ServerFactory
from tests.dagster_project import Project, meta
from tests.duckdb_skipping_empty import skipping_empty_duckdb_pandas_io_manager
from tests.test_asset_subsets import materialize, stored_tables

TABLES = ("chats", "messages", "reply_times", "chat_response_lag", "response_summary")


def first_active_day(server: BlooioTestServer) -> date:
    """The UTC day of the first message of all: every day before it is empty."""
    first = min(server.messages_of(c["id"])[0]["time_sent"] for c in server.truth())
    return date(1970, 1, 1) + timedelta(milliseconds=first)


def busiest_day(server: BlooioTestServer) -> str:
    """The UTC day on which most chats had their last message: every table has rows for it."""
    days = Counter(
        (date(1970, 1, 1) + timedelta(milliseconds=c["last_message_time"])).isoformat()
        for c in server.truth()
    )
    return max(sorted(days), key=days.__getitem__)


def io_manager_class(io_manager: str) -> Callable[..., Any]:
    """The DuckDB IO manager as installed, or as dagster-duckdb-pandas 0.29 behaves."""
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    if io_manager == "installed":
        installed: Callable[..., Any] = DuckDBPandasIOManager
        return installed
    return skipping_empty_duckdb_pandas_io_manager()


IO_MANAGERS = ["installed", "skipping empty frames (0.29)"]


def days_before(day: date, count: int) -> list[str]:
    return [(day - timedelta(days=n)).isoformat() for n in range(count, 0, -1)]


def row_counts(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], int]:
    return {
        (e.materialization.asset_key.path[-1], str(e.materialization.partition)): meta(
            e.materialization.metadata, "dagster/row_count"
        )
        for e in result.get_asset_materialization_events()
    }


@pytest.mark.duckdb
@pytest.mark.parametrize("io_manager", IO_MANAGERS)
@pytest.mark.parametrize("warehouse", ["fresh", "with tables"])
@pytest.mark.parametrize("span", ["day", "range"])
def test_empty_days_succeed_in_duckdb(
    start_server: ServerFactory, tmp_path: Path, io_manager: str, warehouse: str, span: str
) -> None:
    server = start_server(chats=300, seed=67)
    project = Project(server, tmp_path / "w.duckdb", io_manager=io_manager_class(io_manager))
    first = first_active_day(server)
    if warehouse == "with tables":
        materialize(project, TABLES, [busiest_day(server)])
        assert stored_tables(project) == set(TABLES)
    # The range's first two days are empty, and no chat's last message falls on its last
    # day, so the run's chats are empty as a whole, though its messages are not.
    days = [*days_before(first, 2), first.isoformat()] if span == "range" else days_before(first, 1)

    result = materialize(project, TABLES, days)

    assert result.success
    counts = row_counts(result)
    empty = days if span == "day" else days[:2]
    assert {(t, d): counts[(t, d)] for t in TABLES[:4] for d in empty} == {
        (t, d): 0 for t in TABLES[:4] for d in empty
    }
    assert {d: counts[("response_summary", d)] for d in days} == {d: 1 for d in days}
    summary = project.table("response_summary")
    by_day = {str(d)[:10]: int(n) for d, n in zip(summary["day"], summary["chats"], strict=True)}
    assert {d: by_day[d] for d in empty} == {d: 0 for d in empty}


@pytest.mark.parametrize("warehouse", ["fresh", "with tables"])
def test_empty_days_succeed_with_the_filesystem_io_manager(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse: str
) -> None:
    server = start_server(chats=300, seed=68)
    monkeypatch.setenv("BLOOIO_TEST_KEY", server.api_key)
    assets = build_blooio_assets(
        start_date="2025-01-01", backfill_policy=dg.BackfillPolicy.multi_run(1)
    )
    resources = {
        "blooio": BlooioResource(api_key=dg.EnvVar("BLOOIO_TEST_KEY"), base_url=server.base_url),
        "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "storage")),
    }
    instance = dg.DagsterInstance.ephemeral()
    first = first_active_day(server)
    selection = [dg.AssetKey(["blooio", t]) for t in TABLES]
    days = [*days_before(first, 2), first.isoformat()]
    if warehouse == "with tables":
        days.insert(0, (first + timedelta(days=3)).isoformat())

    counts: dict[tuple[str, str], int] = {}
    for day in days:
        result = dg.materialize(
            assets, selection=selection, partition_key=day, resources=resources, instance=instance
        )
        assert result.success, day
        counts |= row_counts(result)

    empty = days_before(first, 2)
    assert {(t, d): counts[(t, d)] for t in TABLES[:4] for d in empty} == {
        (t, d): 0 for t in TABLES[:4] for d in empty
    }
    assert counts[("messages", first.isoformat())] > 0


@pytest.mark.duckdb
@pytest.mark.parametrize("io_manager", IO_MANAGERS)
def test_an_organization_without_chats_succeeds_unpartitioned(
    start_server: ServerFactory, tmp_path: Path, io_manager: str
) -> None:
    server = start_server(chats=0, seed=69)
    project = Project(
        server, tmp_path / "w.duckdb", io_manager=io_manager_class(io_manager), partitioned=False
    )

    result = materialize(project, TABLES, [])

    assert result.success
    assert {table: count for (table, _), count in row_counts(result).items()} == {
        table: 0 for table in TABLES
    }


@pytest.mark.duckdb
@pytest.mark.parametrize("io_manager", IO_MANAGERS)
def test_a_day_never_materialized_still_fails_on_a_fresh_warehouse(
    start_server: ServerFactory, tmp_path: Path, io_manager: str
) -> None:
    server = start_server(chats=300, seed=67)
    project = Project(server, tmp_path / "w.duckdb", io_manager=io_manager_class(io_manager))
    day = days_before(first_active_day(server), 1)

    result = materialize(project, ("chat_response_lag",), day, raise_on_error=False)

    assert not result.success
    assert [str(e.step_key) for e in result.get_step_failure_events()] == [
        "blooio_chat_response_lag"
    ]
    text = failure_text(result)
    assert 'loading input "chats"' in text, text
    assert "CatalogException" in text, text


@pytest.mark.duckdb
@pytest.mark.parametrize("io_manager", IO_MANAGERS)
def test_a_day_lost_from_the_store_still_fails(
    start_server: ServerFactory, tmp_path: Path, io_manager: str
) -> None:
    import duckdb

    server = start_server(chats=300, seed=67)
    project = Project(server, tmp_path / "w.duckdb", io_manager=io_manager_class(io_manager))
    day = [busiest_day(server)]
    materialize(project, ("chats",), day)
    with duckdb.connect(str(project.database)) as con:
        con.execute("drop table blooio.chats")

    result = materialize(project, ("chat_response_lag",), day, raise_on_error=False)

    assert not result.success
    text = failure_text(result)
    assert 'loading input "chats"' in text, text
    assert "CatalogException" in text, text


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The failed steps' errors, with their causes."""
    texts = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)
