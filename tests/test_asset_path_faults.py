"""Runs that must fail whole, or succeed in spite of a bad clock, over real HTTP into DuckDB.

A failed run stores nothing (every stored byte stays as it was); a time no clock should give
is a clear error naming the field and the chat without its id; one API node whose clock lags
cannot make the reply times miss a day's last replies; a changed time zone is refused.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from blooio_dagster.api.redaction import chat_ref
from blooio_dagster.tables.catalogue import REPLY_TIME_COLUMNS
from blooio_dagster.tables.dtypes import conform
from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import ServerFactory
from tests.dagster_project import Project, day_window, materializations, meta
from tests.test_asset_subsets import materialize

pytestmark = pytest.mark.duckdb

TABLES = ("chats", "messages", "reply_times", "chat_response_lag", "response_summary")
HOUR_S = 3600


def stored(project: Project) -> tuple[str, dict[str, pd.DataFrame]]:
    """The DuckDB file's sha256 and every Blooio table in it."""
    digest = hashlib.sha256(project.database.read_bytes()).hexdigest()
    return digest, {name: project.table(name) for name in TABLES}


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    return error.to_string() if error else ""


def epoch_ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)


def chat_started_on(server: BlooioTestServer, day: str) -> str:
    """A chat whose first message and newest message were both sent on ``day``."""
    start, end = day_window(day)
    for chat in server.truth(active_since=start):
        history = server.messages_of(chat["id"])
        if start <= history[0]["time_sent"] and chat["last_message_time"] < end:
            return str(chat["id"])
    raise AssertionError(f"no chat began on {day}")


@pytest.mark.parametrize(
    ("year", "shown"),
    [
        # The newest message before the day: read as the turn the day's first message continues.
        (1700, "has time_sent = 1700-01-01T00:00:00+00:00"),
        # The chat's newest message: it leads the crawl, dated where no clock should be.
        (2200, "has last_message_time = 2200-01-01T00:00:00+00:00"),
        # Beyond what datetime64[ns] holds: shown as the API sent it, in epoch ms.
        (3000, f"has last_message_time = {epoch_ms(3000)}"),
    ],
)
def test_a_time_no_clock_should_give_fails_the_run_and_stores_nothing(
    start_server: ServerFactory, tmp_path: Path, year: int, shown: str
) -> None:
    server = start_server(chats=3000, seed=63)
    project = Project(server, tmp_path / "w.duckdb")
    (day,) = project.days(1)
    materialize(project, TABLES, [day])
    before = stored(project)
    chat_id = chat_started_on(server, day)
    server.add_message(chat_id, epoch_ms(year))

    result = materialize(project, TABLES, [day], raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert "BlooioResponseError" in message
    assert shown in message
    assert f"({chat_ref(chat_id)})" in message
    assert chat_id not in message, "a chat id is a customer's number: never in an error"
    assert "OverflowError" not in message
    assert [e.materialization.asset_key for e in result.get_asset_materialization_events()] == []
    after = stored(project)
    for name in TABLES:
        pd.testing.assert_frame_equal(after[1][name], before[1][name])
    assert after[0] == before[0], "the DuckDB file is byte-identical"


def comparable_turns(project: Project) -> pd.DataFrame:
    turns = conform(project.table("reply_times"), REPLY_TIME_COLUMNS)
    return turns.sort_values(["chat_id", "turn_message_id"]).reset_index(drop=True)


def cutoff_of(result: dg.ExecuteInProcessResult) -> tuple[pd.Timestamp, str]:
    (event,) = materializations(result, "reply_times")
    seconds = meta(event.metadata, "replies_looked_for_until")
    at = pd.Timestamp(seconds, unit="s", tz="UTC").round("ms")  # a float: to the millisecond
    return at, meta(event.metadata, "reply_cutoff_source")


def test_one_api_node_whose_clock_lags_misses_no_reply(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    # Small pages, so the crawl gets enough answers for a minority of them to lag.
    server = start_server(chats=1500, seed=64, faults=Faults(page_cap=20))
    good = Project(server, tmp_path / "good.duckdb")
    (day,) = good.days(1)
    good_result = good.run(day)
    # Every third answer comes from a node 20 hours behind: inside the day being read.
    server.faults = Faults(page_cap=20, date_skew_seconds=-20 * HOUR_S, date_skew_every=3)
    lagging = Project(server, tmp_path / "lagging.duckdb")

    result = lagging.run(day)

    expected, got = comparable_turns(good), comparable_turns(lagging)
    assert len(expected) > 20
    assert expected["replied_at"].notna().sum() > 10
    moment = ["waiting_for"]
    pd.testing.assert_frame_equal(got.drop(columns=moment), expected.drop(columns=moment))
    at, source = cutoff_of(result)
    good_at, good_source = cutoff_of(good_result)
    assert (source, good_source) == ("api_clock", "api_clock")
    assert abs(at - good_at) < pd.Timedelta(minutes=1)
    waiting = got["waiting_for"].notna()
    pd.testing.assert_series_equal(
        got.loc[waiting, "waiting_for"],
        (at - got.loc[waiting, "turn_started_at"]).rename("waiting_for"),
        check_index=False,
    )
    warnings = [
        entry.user_message
        for entry in lagging.instance.all_logs(result.run_id)
        if "Blooio clocks:" in entry.user_message
    ]
    assert any("carried a Date header more than 5 minutes from their median" in w for w in warnings)


def test_a_changed_time_zone_is_refused_before_any_request(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(chats=600, seed=65)
    utc = Project(server, tmp_path / "w.duckdb", timezone="UTC")
    utc.run(*utc.days(3))
    before = stored(utc)
    new_york = Project(server, tmp_path / "w.duckdb", timezone="America/New_York")
    new_york.instance = utc.instance
    requests = len(server.requests)

    result = new_york.run(new_york.days(1)[0], raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert "BlooioConfigError" in message
    assert "blooio/chats holds days cut at midnight in UTC" in message
    assert "timezone='America/New_York'" in message
    assert "key_prefix" in message
    assert "dagster asset wipe" in message
    assert server.requests[requests:] == [], "no API call was made"
    assert result.get_asset_materialization_events() == []
    after = stored(utc)
    for name in TABLES:
        pd.testing.assert_frame_equal(after[1][name], before[1][name])
    assert after[0] == before[0]


def test_every_materialization_records_its_time_zone(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    project = Project(
        start_server(chats=300, seed=66), tmp_path / "w.duckdb", timezone="Asia/Tokyo"
    )

    result = project.run(*project.days(2))

    recorded = {
        (e.materialization.asset_key.path[-1], str(e.materialization.partition)): meta(
            e.materialization.metadata, "blooio/timezone"
        )
        for e in result.get_asset_materialization_events()
    }
    assert len(recorded) == len(TABLES) * 2 + 1  # and current_chats, unpartitioned
    assert set(recorded.values()) == {"Asia/Tokyo"}
