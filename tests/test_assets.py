"""The Dagster assets over real HTTP to the local server, stored in a real DuckDB file."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from blooio_dagster import (
    CHAT_COLUMNS,
    MESSAGE_COLUMNS,
    REPLY_TIME_COLUMNS,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
    build_blooio_assets,
    chats_to_frame,
)
from blooio_dagster.metadata import preview_markdown
from blooio_dagster.resources import BlooioResource
from blooio_dagster.tables.dtypes import conform
from blooio_dagster.testing import Faults
from blooio_dagster.testing.data import generate_chats
from example_project.processes import ASSET_NAMES
from tests.conftest import FIXED_NOW, FIXED_NOW_MS, ServerFactory
from tests.dagster_project import (
    Project,
    by_id,
    day_window,
    expected_status,
    materializations,
    meta,
    truth_of_day,
)

# Stored through dagster-duckdb-pandas, which not every Dagster and pandas release can install
# beside (it pins one Dagster and caps pandas): the newest-releases run deselects these.
pytestmark = pytest.mark.duckdb

TABLES = ASSET_NAMES


@pytest.fixture
def project(start_server: ServerFactory, tmp_path: Path) -> Project:
    return Project(start_server(chats=4000, seed=21), tmp_path / "warehouse.duckdb")


def utc_ms(value: int | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value, unit="ms", tz="UTC")


def expected_chat_row(chat: dict[str, Any]) -> dict[str, Any]:
    """The stored row of a chat as the server sent it, written out field by field."""
    contact = chat.get("contact") or {}
    last = chat.get("last_message") or {}
    return {
        "chat_id": chat["id"],
        "type": chat["type"],
        "is_group": chat["is_group"],
        "group_id": chat.get("group_id"),
        "group_name": chat.get("group_name"),
        "member_count": chat.get("member_count"),
        "contact_id": contact.get("contact_id"),
        "contact_name": contact.get("name"),
        "contact_identifier": contact.get("identifier"),
        "message_count": chat["message_count"],
        "inbound_count": chat["inbound_count"],
        "outbound_count": chat["outbound_count"],
        "background_id": chat.get("background_id"),
        "background_url": chat.get("background_url"),
        "last_message_time": utc_ms(chat["last_message_time"]),
        "last_inbound_time": utc_ms(chat["last_inbound_time"]),
        "last_outbound_time": utc_ms(chat["last_outbound_time"]),
        "last_message_id": last.get("message_id"),
        "last_message_text": last.get("text"),
        "last_message_direction": last.get("direction"),
    }


def stored_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as plain values, missing ones as None, in chat_id order."""
    rows = frame.sort_values("chat_id").to_dict("records")
    return [{str(k): None if pd.isna(v) else v for k, v in row.items()} for row in rows]


def test_a_day_holds_exactly_the_servers_chats_for_that_day(project: Project) -> None:
    (day,) = project.days(1)

    result = project.run(day)

    truth = truth_of_day(project.server, day)
    stored = conform(project.table("chats"), CHAT_COLUMNS)
    assert len(truth) > 20
    assert result.success
    assert [str(dtype) for dtype in stored.dtypes] == [c.dtype for c in CHAT_COLUMNS]
    (fetched_at,) = stored["fetched_at"].unique()
    assert fetched_at > utc_ms(project.server.now_ms), "stamped by the crawl, after the data"
    expected = [
        {**expected_chat_row(chat), "fetched_at": fetched_at}
        for chat in sorted(truth, key=lambda chat: str(chat["id"]))
    ]
    assert stored_rows(stored) == expected


def test_a_days_lag_statuses_and_figures_are_right(project: Project) -> None:
    (day,) = project.days(1)

    project.run(day)

    truth = {c["id"]: c for c in truth_of_day(project.server, day)}
    lag = by_id(conform(project.table("chat_response_lag"), RESPONSE_LAG_COLUMNS))
    (fetched_at,) = conform(project.table("chats"), CHAT_COLUMNS)["fetched_at"].unique()
    assert set(lag["chat_id"]) == set(truth)
    assert set(lag["status"]) == {"replied", "awaiting_reply", "outbound_only"}
    row: Any  # itertuples' rows are typed per pandas-stubs release; their fields vary here
    for row in lag.itertuples():
        chat = truth[row.chat_id]
        assert row.status == expected_status(chat)
        if row.status == "replied":
            lag_ms = chat["last_outbound_time"] - chat["last_inbound_time"]
            assert row.response_lag == pd.Timedelta(milliseconds=lag_ms)
            assert pd.isna(row.waiting_for)
        elif row.status == "awaiting_reply":
            assert pd.isna(row.response_lag)
            inbound = pd.Timestamp(chat["last_inbound_time"], unit="ms", tz="UTC")
            assert row.waiting_for == fetched_at - inbound
            assert row.waiting_for > pd.Timedelta(0)
        else:
            assert pd.isna(row.response_lag)
            assert pd.isna(row.waiting_for)
    summary = conform(project.table("response_summary"), RESPONSE_SUMMARY_COLUMNS)
    assert len(summary) == 1
    counts = lag["status"].value_counts()
    assert summary["chats"].iloc[0] == len(truth)
    assert summary["replied"].iloc[0] == counts["replied"]
    lags = lag["response_lag"].dropna().dt.total_seconds()
    p50, longest = summary["response_lag_p50"].iloc[0], summary["response_lag_max"].iloc[0]
    assert p50.total_seconds() == pytest.approx(lags.median(), abs=1e-6)
    assert longest.total_seconds() == pytest.approx(lags.max(), abs=1e-6)


def test_a_single_run_backfill_equals_the_days_run_one_by_one(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(chats=4000, seed=22)
    together = Project(server, tmp_path / "together.duckdb")
    one_by_one = Project(server, tmp_path / "one_by_one.duckdb")
    days = together.days(4)

    requests_before = len(server.chats_requests())
    messages_before = len(server.messages_requests())
    together.run(*days)
    backfill_requests = len(server.chats_requests()) - requests_before
    range_messages = len(server.messages_requests()) - messages_before
    for day in days:
        one_by_one.run(day)
    daily_messages = len(server.messages_requests()) - messages_before - range_messages

    runs = together.instance.get_runs()
    assert len(runs) == 1
    assert backfill_requests < len(server.chats_requests()) - requests_before - backfill_requests
    start, _ = day_window(days[0])
    active = [c for c in server.truth() if c["last_message_time"] >= start]
    assert range_messages <= len(active) * 1.1 + 2, "each chat's messages are read once"
    assert range_messages < daily_messages
    for name, columns, key, ignore in (
        ("chats", CHAT_COLUMNS, ["chat_id"], ["fetched_at"]),
        ("chat_response_lag", RESPONSE_LAG_COLUMNS, ["chat_id"], ["waiting_for"]),
        ("messages", MESSAGE_COLUMNS, ["message_id"], []),
        ("reply_times", REPLY_TIME_COLUMNS, ["chat_id", "turn_message_id"], ["waiting_for"]),
    ):
        a = conform(together.table(name), columns).sort_values(key).reset_index(drop=True)
        b = conform(one_by_one.table(name), columns).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a.drop(columns=ignore), b.drop(columns=ignore))
        assert len(a) > 50, name
    a = conform(together.table("response_summary"), RESPONSE_SUMMARY_COLUMNS)
    b = conform(one_by_one.table("response_summary"), RESPONSE_SUMMARY_COLUMNS)
    same = [
        "day",
        "chats",
        "replied",
        "awaiting_reply",
        "outbound_only",
        "response_lag_p50",
    ]
    pd.testing.assert_frame_equal(
        a.sort_values("day")[same].reset_index(drop=True),
        b.sort_values("day")[same].reset_index(drop=True),
    )
    assert len(a) == 4


def test_a_backfill_records_figures_per_partition(project: Project) -> None:
    days = project.days(3)

    result = project.run(*days)

    summaries = {m.partition: m.metadata for m in materializations(result, "response_summary")}
    assert set(summaries) == set(days)
    for day in days:
        truth = truth_of_day(project.server, day)
        assert meta(summaries[day], "chats") == len(truth)
        replied = sum(expected_status(c) == "replied" for c in truth)
        assert meta(summaries[day], "replied") == replied
        lags = sorted(
            c["last_outbound_time"] - c["last_inbound_time"]
            for c in truth
            if expected_status(c) == "replied"
        )
        # The 90th percentile between the two nearest lags (linear), in minutes.
        low, share = divmod(0.9 * (len(lags) - 1), 1)
        upper = lags[min(int(low) + 1, len(lags) - 1)]
        p90_ms = lags[int(low)] + (upper - lags[int(low)]) * share
        p90 = meta(summaries[day], "response_lag_p90_minutes")
        assert p90 == pytest.approx(p90_ms / 60_000, abs=0.005), day
    lag_events = materializations(result, "chat_response_lag")
    assert sorted(str(event.partition) for event in lag_events) == days
    for event in lag_events:
        statuses = [expected_status(c) for c in truth_of_day(project.server, str(event.partition))]
        for status in ("replied", "awaiting_reply", "outbound_only"):
            assert meta(event.metadata, status) == statuses.count(status)
    chats_events = materializations(result, "chats")
    assert sorted(str(event.partition) for event in chats_events) == days
    for event in chats_events:
        rows = meta(event.metadata, "dagster/row_count")
        assert rows == len(truth_of_day(project.server, str(event.partition)))
    counts = {meta(event.metadata, "dagster/row_count") for event in chats_events}
    assert len(counts) > 1, "each day shows its own rows, not the range's total"
    for event in chats_events:
        assert "chat_pages" not in event.metadata, "run-wide figures go on the run"


def test_unpartitioned_mode_snapshots_the_whole_list(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(chats=1500, seed=23)
    project = Project(server, tmp_path / "w.duckdb", partitioned=False)

    result = project.job.execute_in_process(instance=project.instance)

    assert result.success
    stored = conform(project.table("chats"), CHAT_COLUMNS)
    assert sorted(stored["chat_id"]) == sorted(c["id"] for c in server.truth())
    summary = conform(project.table("response_summary"), RESPONSE_SUMMARY_COLUMNS)
    assert summary["chats"].sum() == 1500
    assert summary["day"].is_monotonic_increasing
    partitioned = [
        k
        for a in project.assets
        if isinstance(a, dg.AssetsDefinition)
        for k in a.keys
        if "partition_expr" in a.metadata_by_key[k]
    ]
    assert partitioned == []


def test_rematerializing_a_day_replaces_its_rows(project: Project) -> None:
    day, later_day = project.days(2)
    project.run(later_day)
    project.run(day)
    first = conform(project.table("chats"), CHAT_COLUMNS)
    in_day = first[
        first["last_message_time"] < datetime.fromisoformat(later_day).replace(tzinfo=UTC)
    ]
    # Many chats get new messages, moving some of them out of the day.
    moved = project.server.receive_messages(200)

    project.run(day)

    stored = conform(project.table("chats"), CHAT_COLUMNS)
    assert stored["chat_id"].is_unique
    _, end = day_window(day)
    in_day_now = stored[stored["last_message_time"] < pd.Timestamp(end, unit="ms", tz="UTC")]
    truth_ids = {c["id"] for c in truth_of_day(project.server, day)}
    assert set(in_day_now["chat_id"]) == truth_ids
    assert set(in_day["chat_id"]) & set(moved), "the churn must have touched the day"
    later = stored[stored["last_message_time"] >= pd.Timestamp(end, unit="ms", tz="UTC")]
    assert len(later) > 0, "the other day's rows are untouched"


@pytest.mark.parametrize("failure", ["rejected key", "server errors", "a short read"])
def test_a_failed_crawl_fails_the_run_and_keeps_the_stored_day(
    start_server: ServerFactory, tmp_path: Path, failure: str
) -> None:
    server = start_server(chats=3000, seed=24)
    database = tmp_path / "w.duckdb"
    good = Project(server, database)
    (day,) = good.days(1)
    good.run(day)
    before = {name: good.table(name) for name in ("chats", "chat_response_lag", "response_summary")}

    if failure == "rejected key":
        bad = Project(server, database, api_key="bl_test_revoked")
    elif failure == "server errors":
        server.faults = Faults(server_error_rate=1.0)
        bad = Project(server, database)
    else:  # pages in no order: a crawl that cannot be shown complete
        server.faults = Faults(ignore_sort=True)
        bad = Project(server, database)
    result = bad.run(day, raise_on_error=False)

    assert not result.success
    failure_event = next(e for e in result.all_events if e.is_step_failure)
    error = failure_event.step_failure_data.error
    message = error.to_string() if error else ""
    expected = {
        "rejected key": "BLOOIO_API_KEY",
        "server errors": "after 3 attempts",
        "a short read": "BlooioIncompleteError",
    }[failure]
    assert expected in message
    for name, frame in before.items():
        pd.testing.assert_frame_equal(bad.table(name), frame)


def test_run_figures_go_on_the_run_and_rows_stay_out_of_the_event_log(project: Project) -> None:
    (day,) = project.days(1)

    result = project.run(day)

    (event,) = materializations(result, "chats")
    metadata = event.metadata
    assert meta(metadata, "dagster/row_count") == len(truth_of_day(project.server, day))
    schema = meta(metadata, "dagster/column_schema")
    assert [c.name for c in schema.columns] == [c.name for c in CHAT_COLUMNS]
    assert "preview" not in metadata, "rows are shown only with preview=True"
    tags = project.instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    assert int(tags["blooio/chat_pages"]) >= 1
    assert tags["blooio/verified_complete"] == "True"
    assert tags["blooio/missing_chats"] == "0"
    assert tags["blooio/expected_chats"] == tags["blooio/unique_chats"]
    assert tags["blooio/retries"] == "0"
    # The crawl's own timing lies within the run's, as Dagster recorded it.
    stats = project.instance.get_run_stats(result.run_id)
    assert stats.start_time is not None
    assert stats.end_time is not None
    assert 0 < float(tags["blooio/crawl_seconds"]) <= stats.end_time - stats.start_time
    names = {c["contact"]["name"] for c in truth_of_day(project.server, day) if c.get("contact")}
    names.discard(None)
    logs = "\n".join(
        json.dumps(dg.serialize_value(e)) for e in project.instance.all_logs(result.run_id)
    )
    assert names
    assert not [name for name in names if name in logs], "no customer name in the event log"


def test_the_preview_is_there_when_opted_in(start_server: ServerFactory, tmp_path: Path) -> None:
    project = Project(start_server(chats=1000, seed=29), tmp_path / "w.duckdb", preview=True)
    (day,) = project.days(1)

    result = project.run(day)

    (event,) = materializations(result, "chats")
    assert "| chat_id" in meta(event.metadata, "preview")


def cells(line: str) -> list[str]:
    """The cells of one markdown table line, padding kept; ``\\|`` is a pipe inside a cell."""
    assert line.startswith("|")
    assert line.endswith("|")
    return re.split(r"(?<!\\)\|", line[1:-1])


def test_the_preview_aligns_columns_by_type_not_by_value() -> None:
    # Phone chats only: every chat_id looks like a number, which must not matter.
    phones = [c for c in generate_chats(200, 3, FIXED_NOW_MS) if c["type"] == "phone"][:5]
    frame = chats_to_frame(phones, fetched_at=FIXED_NOW)
    frame.loc[0, "last_message_text"] = "Line one\nline two | three"
    frame.loc[1, "message_count"] = pd.NA

    lines = preview_markdown(frame).splitlines()

    assert len(lines) == 2 + 5, "one line per row: text cannot break the table"
    names = [c.name for c in CHAT_COLUMNS]
    header = dict(zip(names, cells(lines[0]), strict=True))
    rule = dict(zip(names, cells(lines[1]), strict=True))
    right = {"member_count", "message_count", "inbound_count", "outbound_count"}
    for name in names:
        if name in right:
            assert header[name].endswith(f" {name} "), name
            assert rule[name].strip("-") == ":", name
            assert rule[name].endswith(":"), name
        else:
            assert header[name].startswith(f" {name} "), name
            assert rule[name].strip("-") == ":", name
            assert rule[name].startswith(":"), name
    assert lines[0].startswith("| chat_id ")
    rows = [dict(zip(names, cells(line), strict=True)) for line in lines[2:]]
    assert [row["chat_id"].strip() for row in rows] == [c["id"] for c in phones]
    assert [row["chat_id"] for row in rows if not row["chat_id"].startswith(" +1")] == []
    assert rows[0]["last_message_text"].strip() == r"Line one line two \| three"
    assert rows[1]["message_count"].strip() == ""
    assert rows[2]["message_count"].strip() == str(phones[2]["message_count"])
    assert rows[0]["last_message_time"].strip() == pd.Timestamp(
        phones[0]["last_message_time"], unit="ms", tz="UTC"
    ).strftime("%Y-%m-%d %H:%M:%S")


def test_checks_pass_on_good_data(project: Project) -> None:
    (day,) = project.days(1)

    result = project.run(day)

    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
        # Judged by the machine's clock, not by the data: tests/test_freshness.py fixes it.
        if e.check_name != "newest_day_stored"
    }
    tables = ["chats", "messages", "reply_times", "chat_response_lag", "response_summary"]
    assert evaluations == {
        ("blooio/chats", "chat_id_unique"): True,
        ("blooio/chats", "no_future_times"): True,
        ("blooio/messages", "message_id_unique"): True,
        ("blooio/current_chats", "chat_id_unique"): True,
        ("blooio/current_chats", "column_schema_change"): True,
        **{(f"blooio/{table}", "column_schema_change"): True for table in tables},
    }


def test_duplicate_ids_fail_the_blocking_check_and_stop_downstream(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both the daily tables and current_chats build their chat frame there.
    import blooio_dagster.assets.clocks as clocks

    def duplicating(
        chats: list[dict[str, Any]], fetched_at: datetime | None = None, **checks: Any
    ) -> pd.DataFrame:
        frame = chats_to_frame(chats, fetched_at, **checks)
        return pd.concat([frame, frame.tail(2)], ignore_index=True)  # the oldest: in the day

    monkeypatch.setattr(clocks, "chats_to_frame", duplicating)
    (day,) = project.days(1)

    result = project.run(day, raise_on_error=False)

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["chat_id_unique"].passed is False
    assert meta(checks["chat_id_unique"].metadata, "duplicated_chat_ids") == 2
    examples = meta(checks["chat_id_unique"].metadata, "duplicated_examples")
    assert examples.startswith("2 hidden"), "chat ids are customers' numbers: hidden by default"
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["blooio", "chats"]) in materialized
    assert dg.AssetKey(["blooio", "chat_response_lag"]) not in materialized


def test_times_in_the_future_fail_their_check(start_server: ServerFactory, tmp_path: Path) -> None:
    # The data ends 20 hours after this run's (fixed) clock: ahead, but not by the day after
    # which a time is refused outright.
    server = start_server(chats=2000, seed=25, now=FIXED_NOW_MS + 20 * 3600 * 1000)
    project = Project(
        server, tmp_path / "w.duckdb", partitioned=False, messages=False, clock=lambda: FIXED_NOW
    )

    result = project.job.execute_in_process(instance=project.instance)

    check = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "no_future_times"
    )
    limit = FIXED_NOW_MS + 5 * 60 * 1000
    ahead = [c for c in server.truth() if c["last_message_time"] > limit]
    assert len(ahead) > 10
    assert check.passed is False
    assert meta(check.metadata, "last_message_time_in_future") == len(ahead)


def test_the_definitions_carry_what_the_ui_shows() -> None:
    built = build_blooio_assets(
        key_prefix=["crm", "blooio"], resource_key="sms", timezone="Europe/Paris"
    )
    graph = dg.Definitions(
        assets=built, resources={"sms": BlooioResource.from_env()}
    ).resolve_asset_graph()
    key = {name: dg.AssetKey(["crm", "blooio", name]) for name in TABLES}
    assert set(graph.get_all_asset_keys()) == set(key.values())
    parents = {name: graph.get(k).parent_keys for name, k in key.items()}
    assert parents == {
        "chats": set(),
        "messages": set(),
        "reply_times": set(),
        "chat_response_lag": {key["chats"]},
        "response_summary": {key["chat_response_lag"], key["messages"], key["reply_times"]},
        "current_chats": set(),
    }
    assets = {k: a for a in built if isinstance(a, dg.AssetsDefinition) for k in a.keys}
    api = assets[key["chats"]]
    assert set(api.keys) == {key["chats"], key["messages"], key["reply_times"]}
    assert api.can_subset
    assert api.required_resource_keys >= {"sms"}
    assert api.op.pool == "blooio"
    for name, k in key.items():
        spec = assets[k].specs_by_key[k]
        assert spec.group_name == "blooio"
        assert spec.kinds == {"blooio", "pandas"}
        assert spec.description
        schema = spec.metadata["dagster/column_schema"]
        assert schema.columns, name
        if name == "current_chats":
            assert assets[k].partitions_def is None
            assert "partition_expr" not in spec.metadata
            continue
        assert assets[k].backfill_policy == dg.BackfillPolicy.single_run()
        partitions = assets[k].partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.timezone == "Europe/Paris"
    # A daily table's freshness is its newest day's (tests/test_freshness.py), not a policy's.
    assert assets[key["chats"]].specs_by_key[key["chats"]].freshness_policy is None
    current = key["current_chats"]
    assert assets[current].specs_by_key[current].freshness_policy is not None
    expr = {
        name: assets[k].specs_by_key[k].metadata.get("partition_expr") for name, k in key.items()
    }
    assert expr == {
        "chats": "timezone('Europe/Paris', last_message_time)",
        "messages": "timezone('Europe/Paris', time_sent)",
        "reply_times": "timezone('Europe/Paris', turn_started_at)",
        "chat_response_lag": "timezone('Europe/Paris', last_message_time)",
        "response_summary": "day",  # a DATE column
        "current_chats": None,
    }
    schema = assets[key["chats"]].specs_by_key[key["chats"]].metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == [c.name for c in CHAT_COLUMNS]
    blocking = {(s.asset_key.path[-1], s.name) for a in built for s in a.check_specs if s.blocking}
    assert blocking == {
        ("chats", "chat_id_unique"),
        ("messages", "message_id_unique"),
        ("current_chats", "chat_id_unique"),
    }


def test_without_messages_the_exact_tables_are_left_out() -> None:
    built = build_blooio_assets(messages=False)
    keys = {k.path[-1] for a in built if isinstance(a, dg.AssetsDefinition) for k in a.keys}
    assert keys == {"chats", "chat_response_lag", "response_summary", "current_chats"}


@pytest.mark.parametrize(
    ("timezone", "tick_time", "expected_day"),
    [
        # 00:30 UTC on FIXED_NOW's day: the day before is the latest complete one.
        ("UTC", datetime(2026, 3, 10, 0, 30, tzinfo=UTC), "2026-03-09"),
        # 00:30 in New York the day after clocks went forward (a 23-hour day), 04:30 UTC.
        ("America/New_York", datetime(2026, 3, 9, 4, 30, tzinfo=UTC), "2026-03-08"),
        # 00:30 on the first of a month in Tokyo, still the last day of February in UTC.
        ("Asia/Tokyo", datetime(2026, 2, 28, 15, 30, tzinfo=UTC), "2026-02-28"),
    ],
)
def test_the_schedule_runs_the_latest_complete_day(
    start_server: ServerFactory,
    tmp_path: Path,
    timezone: str,
    tick_time: datetime,
    expected_day: str,
) -> None:
    project = Project(start_server(chats=100, seed=28), tmp_path / "w.duckdb", timezone=timezone)
    schedule = project.defs.resolve_schedule_def("blooio_daily")
    tick = dg.build_schedule_context(scheduled_execution_time=tick_time, instance=project.instance)

    result = schedule.evaluate_tick(tick)

    assert schedule.cron_schedule == "30 0 * * *"
    assert schedule.execution_timezone == timezone
    assert result.run_requests is not None
    ranged, current = result.run_requests
    assert ranged.tags["dagster/asset_partition_range_end"] == expected_day
    first = datetime.fromisoformat(expected_day) - timedelta(days=2)
    assert ranged.tags["dagster/asset_partition_range_start"] == first.strftime("%Y-%m-%d")
    assert {k.path[-1] for k in ranged.asset_selection or []} == set(TABLES) - {"current_chats"}
    assert [k.path[-1] for k in current.asset_selection or []] == ["current_chats"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "not an IANA time zone name"),
        ({"start_date": "yesterday"}, "start_date 'yesterday' is not a date"),
        ({"start_date": "2025-13-01"}, "'2025-01-01' .year-month-day.: month must be in 1..12"),
        ({"key_prefix": ""}, "key_prefix must be a non-empty name"),
        ({"partition_expr": "last_message_time"}, "must contain {column}"),
        ({"reply_sla": timedelta(0)}, "reply_sla in Python. must be a length of time above 0"),
    ],
)
def test_bad_definition_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(
        dg.DagsterInvalidDefinitionError, match=message.replace("{", r"\{").replace("}", r"\}")
    ):
        build_blooio_assets(**settings)


def test_the_key_is_absent_from_the_event_log(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server(chats=2000, seed=26, api_key="bl_test_EVENTLOGSECRET")
    project = Project(server, tmp_path / "w.duckdb")
    (day,) = project.days(1)
    # Every 10th request fails, never the same one twice: with max_retries=2 the run succeeds,
    # with retries, whichever thread sends what.
    server.faults = Faults(server_error_every=10, requests_per_second=100)
    retried = project.run(day)
    retried_statuses = [r.status for r in server.requests]
    server.faults = Faults(server_error_rate=1.0)
    failed = project.run(day, raise_on_error=False)
    wrong_key = Project(server, tmp_path / "w.duckdb", api_key="bl_test_ALSOSECRET")
    server.faults = Faults()
    wrong_key.instance = project.instance
    rejected = wrong_key.run(day, raise_on_error=False)

    assert retried.success
    assert 503 in retried_statuses, "the first run was retried"
    assert not failed.success
    assert not rejected.success
    logs = [
        entry
        for run in project.instance.get_runs()
        for entry in project.instance.all_logs(run.run_id)
    ]
    assert len(logs) > 50
    dumped = "\n".join(json.dumps(dg.serialize_value(entry)) for entry in logs)
    runs = "\n".join(json.dumps(dg.serialize_value(run)) for run in project.instance.get_runs())
    for secret in ("bl_test_EVENTLOGSECRET", "bl_test_ALSOSECRET"):
        assert secret not in dumped
        assert secret not in runs


def test_long_crawls_log_progress(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import blooio_dagster.assets.reporting as reporting

    monkeypatch.setattr(reporting, "PROGRESS_EVERY_SECONDS", 0.0)
    # A few pages are enough to log progress after each, with the interval at 0.
    server = start_server(chats=800, seed=27)
    project = Project(server, tmp_path / "w.duckdb", partitioned=False, messages=False)

    result = project.job.execute_in_process(instance=project.instance)

    messages = [
        entry.user_message
        for entry in project.instance.all_logs(result.run_id)
        if "Blooio crawl:" in entry.user_message
    ]
    assert messages, "progress lines were logged"
    assert "chats/s" in messages[-1]
    assert "left" in messages[-1]
    assert "of about" in messages[-1]
