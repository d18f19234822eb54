"""Each day of a backfill carries its own figures, checked against the server and the stored rows.

The expected figures come from the server's truth or from SQL over what DuckDB stored, never
from the package's own frame or metric code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from blooio_dagster import BlooioResource, build_blooio_assets
from blooio_dagster.testing import BlooioTestServer
from tests.conftest import FIXED_NOW_MS, ServerFactory
from tests.dagster_project import Project, day_window, expected_status, materializations, meta

pytestmark = pytest.mark.duckdb

DAYS = 3
CURRENT_CHATS = dg.AssetKey(["blooio", "current_chats"])
Backfilled = tuple[Project, dict[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    """Three days backfilled in one run, and each asset's metadata per partition."""
    server = BlooioTestServer(chats=1500, seed=33, now=FIXED_NOW_MS).start()
    try:
        project = Project(server, tmp_path_factory.mktemp("meta") / "warehouse.duckdb")
        days = project.days(DAYS)
        result = project.run(*days)
        per_asset = {
            name: {str(m.partition): m.metadata for m in materializations(result, name)}
            for name in (
                "chats",
                "messages",
                "reply_times",
                "chat_response_lag",
                "response_summary",
            )
        }
        yield project, per_asset
    finally:
        server.stop()


def sql(project: Project, query: str) -> dict[str, int]:
    """``{day: number}`` from a query returning (day as text, number) rows."""
    import duckdb

    with duckdb.connect(str(project.database), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return {str(day): int(number) for day, number in con.sql(query).fetchall()}


def test_messages_rows_per_day_match_the_servers_messages(backfilled: Backfilled) -> None:
    project, per_asset = backfilled
    expected = {}
    for day in project.days(DAYS):
        start, end = day_window(day)
        chats = project.server.truth(active_since=start)
        expected[day] = sum(
            len(project.server.messages_of(c["id"], since=start, until=end)) for c in chats
        )

    recorded = {day: meta(m, "dagster/row_count") for day, m in per_asset["messages"].items()}
    assert recorded == expected
    assert len(set(expected.values())) > 1, f"the days should differ to prove anything: {expected}"


def test_reply_times_rows_per_day_match_the_stored_turns(backfilled: Backfilled) -> None:
    project, per_asset = backfilled
    stored = sql(
        project,
        "select strftime(turn_started_at, '%Y-%m-%d'), count(*) from blooio.reply_times group by 1",
    )

    recorded = {day: meta(m, "dagster/row_count") for day, m in per_asset["reply_times"].items()}
    assert recorded == stored
    assert sorted(recorded) == project.days(DAYS)


def test_lag_rows_per_day_match_the_servers_chats(backfilled: Backfilled) -> None:
    project, per_asset = backfilled
    expected = {}
    for day in project.days(DAYS):
        start, end = day_window(day)
        expected[day] = sum(
            c["last_message_time"] < end for c in project.server.truth(active_since=start)
        )

    recorded = {
        day: meta(m, "dagster/row_count") for day, m in per_asset["chat_response_lag"].items()
    }
    assert recorded == expected


@pytest.mark.parametrize(
    ("figure", "query"),
    [
        ("turns", "count(*)"),
        ("answered", "count(replied_at)"),
        ("unanswered", "count(*) - count(replied_at)"),
        ("sla_breaches", "count(*) filter (where met_sla = false)"),
    ],
)
def test_the_summarys_turn_figures_per_day_match_the_stored_turns(
    backfilled: Backfilled, figure: str, query: str
) -> None:
    project, per_asset = backfilled
    stored = sql(
        project,
        f"select strftime(turn_started_at, '%Y-%m-%d'), {query} from blooio.reply_times group by 1",
    )

    recorded = {day: meta(m, figure) for day, m in per_asset["response_summary"].items()}
    assert recorded == stored
    assert sum(stored.values()) > 0, f"no {figure} at all proves nothing: {stored}"


def test_current_chats_records_its_rows_and_who_waits(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    server = start_server(chats=400, seed=8)
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)
    assets = build_blooio_assets(start_date="2025-01-01")
    resources = {
        "blooio": BlooioResource.from_env(),
        "io_manager": DuckDBPandasIOManager(database=str(tmp_path / "warehouse.duckdb")),
    }

    result = dg.materialize(assets, resources=resources, selection=[CURRENT_CHATS])

    (event,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == CURRENT_CHATS
    ]
    statuses = [expected_status(chat) for chat in server.truth()]
    recorded = {
        name: meta(event.metadata, name)
        for name in ("dagster/row_count", "replied", "awaiting_reply", "outbound_only")
    }
    assert recorded == {
        "dagster/row_count": len(statuses),
        "replied": statuses.count("replied"),
        "awaiting_reply": statuses.count("awaiting_reply"),
        "outbound_only": statuses.count("outbound_only"),
    }
    assert meta(event.metadata, "longest_wait_minutes") > 0
    assert "preview" not in event.metadata
