"""messages, reply_times and current_chats over real HTTP, checked against the server's truth."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from blooio_dagster import (
    CURRENT_CHAT_COLUMNS,
    MESSAGE_COLUMNS,
    REPLY_TIME_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
    BlooioResource,
    DagsterBlooioTranslator,
    build_blooio_assets,
)
from blooio_dagster.tables.dtypes import conform
from blooio_dagster.testing import BlooioTestServer, Faults
from blooio_dagster.translator import BlooioTableProps
from tests.conftest import ServerFactory
from tests.dagster_project import Project, expected_status, materializations, meta

pytestmark = pytest.mark.duckdb

Message = dict[str, Any]


def local_window(day: str, timezone: str) -> tuple[int, int]:
    """Epoch ms of a day's first instant and the next day's, in ``timezone``."""
    zone = zoneinfo.ZoneInfo(timezone)
    start = datetime.fromisoformat(day).replace(tzinfo=zone)
    end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def turns_by_hand(history: list[Message], as_of_ms: int) -> list[dict[str, Any]]:
    """The definition, one message at a time: the reference the asset must equal."""
    kept = sorted(
        (
            m
            for m in history
            if m["time_sent"] < as_of_ms
            and not (m["direction"] == "outbound" and m["status"] == "failed")
        ),
        key=lambda m: (m["time_sent"], m["message_id"]),
    )
    turns: list[dict[str, Any]] = []
    previous = None
    for message in kept:
        if message["direction"] == "inbound":
            if previous != "inbound":
                turns.append({"start": message, "inbound": 0, "reply": None})
            if turns[-1]["reply"] is None:
                turns[-1]["inbound"] += 1
        elif turns and turns[-1]["reply"] is None:
            turns[-1]["reply"] = message
        previous = message["direction"]
    return turns


def expected_reply_times(
    server: BlooioTestServer, window: tuple[int, int], as_of_ms: int
) -> pd.DataFrame:
    rows = []
    for chat in server.truth():
        for turn in turns_by_hand(server.messages_of(chat["id"]), as_of_ms):
            started = turn["start"]["time_sent"]
            if not window[0] <= started < window[1]:
                continue
            reply = turn["reply"]
            rows.append(
                {
                    "chat_id": chat["id"],
                    "turn_message_id": turn["start"]["message_id"],
                    "inbound_messages": turn["inbound"],
                    "reply_message_id": reply["message_id"] if reply else None,
                    "reply_time": (
                        pd.Timedelta(milliseconds=reply["time_sent"] - started) if reply else None
                    ),
                    "waiting_for": (
                        None if reply else pd.Timedelta(milliseconds=as_of_ms - started)
                    ),
                }
            )
    return sorted_turns(pd.DataFrame(rows))


def sorted_turns(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "chat_id",
        "turn_message_id",
        "inbound_messages",
        "reply_message_id",
        "reply_time",
        "waiting_for",
    ]
    frame = frame[columns].sort_values(["chat_id", "turn_message_id"]).reset_index(drop=True)
    return frame.astype(
        {
            "chat_id": "string",
            "turn_message_id": "string",
            "inbound_messages": "Int64",
            "reply_message_id": "string",
            "reply_time": "timedelta64[ns]",
            "waiting_for": "timedelta64[ns]",
        }
    )


def messages_in(server: BlooioTestServer, window: tuple[int, int]) -> dict[str, Message]:
    return {
        m["message_id"]: {**m, "chat_id": chat["id"]}
        for chat in server.truth()
        for m in server.messages_of(chat["id"], since=window[0], until=window[1])
    }


def as_of(result: dg.ExecuteInProcessResult) -> int:
    (event, *_) = materializations(result, "reply_times")
    return int(meta(event.metadata, "replies_looked_for_until") * 1000)


@pytest.mark.parametrize(
    ("timezone", "day"),
    [
        ("UTC", "2026-03-09"),
        # Clocks went forward in New York on 2026-03-08: a day of 23 hours.
        ("America/New_York", "2026-03-08"),
    ],
)
def test_a_days_messages_and_reply_times_equal_the_servers_truth(
    start_server: ServerFactory, tmp_path: Path, timezone: str, day: str
) -> None:
    server = start_server(chats=1500, seed=41)
    project = Project(server, tmp_path / "w.duckdb", timezone=timezone)

    result = project.run(day)

    window = local_window(day, timezone)
    truth = messages_in(server, window)
    stored = conform(project.table("messages"), MESSAGE_COLUMNS)
    assert len(truth) > 100
    assert stored["message_id"].is_unique
    assert set(stored["message_id"]) == set(truth)
    row: Any
    for row in stored.itertuples():
        message = truth[row.message_id]
        assert row.chat_id == message["chat_id"]
        assert row.direction == message["direction"]
        assert row.status == message["status"]
        assert row.time_sent == pd.Timestamp(message["time_sent"], unit="ms", tz="UTC")
    assert {"failed"} <= set(stored["status"]), "the data has failed messages to drop"
    expected = expected_reply_times(server, window, as_of(result))
    turns = conform(project.table("reply_times"), REPLY_TIME_COLUMNS)
    assert len(expected) > 20
    assert expected["reply_time"].notna().sum() > 0, "some turns were answered"
    assert expected["waiting_for"].notna().sum() > 0, "some turns are still waiting"
    pd.testing.assert_frame_equal(sorted_turns(turns), expected)
    summary = conform(project.table("response_summary"), RESPONSE_SUMMARY_COLUMNS)
    assert int(summary["turns"].iloc[0]) == len(expected)
    assert int(summary["answered"].iloc[0]) == int(expected["reply_time"].notna().sum())
    (event,) = [e for e in materializations(result, "reply_times")]
    assert meta(event.metadata, "dagster/row_count") == len(expected)


def test_current_chats_holds_every_chat_once_in_its_newest_state(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(chats=1200, seed=43)
    project = Project(server, tmp_path / "w.duckdb")
    current = dg.AssetKey(["blooio", "current_chats"])

    def materialize() -> pd.DataFrame:
        result = project.job.execute_in_process(
            instance=project.instance, asset_selection=[current]
        )
        assert result.success
        return conform(project.table("current_chats"), CURRENT_CHAT_COLUMNS)

    materialize()
    moved = set(server.receive_messages(150))
    stored = materialize()

    truth = {c["id"]: c for c in server.truth()}
    assert stored["chat_id"].is_unique
    assert set(stored["chat_id"]) == set(truth)
    assert moved <= set(stored["chat_id"])
    row: Any  # itertuples' rows are typed per pandas-stubs release; their fields vary here
    for row in stored.itertuples():
        chat = truth[row.chat_id]
        assert row.last_message_time == pd.Timestamp(chat["last_message_time"], unit="ms", tz="UTC")
        assert row.status == expected_status(chat)
        waiting: Any = row.waiting_for
        assert pd.isna(waiting) == (row.status != "awaiting_reply")
    oldest_waiting = stored[stored["status"] == "awaiting_reply"]["last_message_time"].min()
    assert oldest_waiting < stored["last_message_time"].max() - pd.Timedelta(days=14), (
        "chats quiet for weeks are listed too"
    )


def test_a_first_day_without_any_chat_stores_empty_tables_and_a_zero_summary(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(chats=0, seed=45)
    project = Project(server, tmp_path / "w.duckdb")
    (day,) = project.days(1)

    result = project.run(day)

    assert result.success
    for name, columns in (("messages", MESSAGE_COLUMNS), ("reply_times", REPLY_TIME_COLUMNS)):
        stored = project.table(name)
        assert stored.empty
        assert list(stored.columns) == [c.name for c in columns], "the table exists, typed"
    summary = conform(project.table("response_summary"), RESPONSE_SUMMARY_COLUMNS)
    assert len(summary) == 1
    assert str(summary["day"].iloc[0]) == day
    assert int(summary["turns"].iloc[0]) == 0
    assert int(summary["chats"].iloc[0]) == 0


def test_messages_arriving_during_the_run_do_not_break_completeness(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(chats=1000, seed=44)
    project = Project(server, tmp_path / "w.duckdb")
    (day,) = project.days(1)
    server.faults = Faults(chat_messages_per_request=1, messages_per_request=2)

    result = project.run(day)

    assert result.success
    window = local_window(day, "UTC")
    stored = conform(project.table("messages"), MESSAGE_COLUMNS)
    assert set(stored["message_id"]) == set(messages_in(server, window))


def test_a_range_the_io_manager_cannot_store_fails_before_any_request(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(chats=300, seed=45)
    monkeypatch.setenv("BLOOIO_TEST_KEY", server.api_key)
    assets = build_blooio_assets(start_date="2026-01-01")
    defs = dg.Definitions(
        assets=assets,
        resources={
            "blooio": BlooioResource(
                api_key=dg.EnvVar("BLOOIO_TEST_KEY"), base_url=server.base_url
            ),
            "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path)),
        },
    )
    api = [a for a in assets if isinstance(a, dg.AssetsDefinition) and len(a.keys) == 3]

    result = dg.materialize(
        api,
        resources=defs.resources,
        tags={
            "dagster/asset_partition_range_start": "2026-03-01",
            "dagster/asset_partition_range_end": "2026-03-03",
        },
        raise_on_error=False,
    )

    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    assert error is not None
    assert "BackfillPolicy.multi_run(1)" in error.to_string()
    assert server.requests == [], "no API call was made"


class SupportTranslator(DagsterBlooioTranslator):
    def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
        spec = super().get_asset_spec(props)
        return spec.replace_attributes(key=["support", "sms", props.table]).merge_attributes(
            owners=["team:support"], tags={"domain": "support"}
        )


def test_a_translator_sets_keys_owners_and_tags_and_the_graph_follows(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(chats=300, seed=46)
    monkeypatch.setenv("BLOOIO_TEST_KEY", server.api_key)
    assets = build_blooio_assets(
        start_date="2026-01-01",
        translator=SupportTranslator(),
        automation_condition=dg.AutomationCondition.on_cron("30 0 * * *"),
        partitioned=False,
    )
    defs = dg.Definitions(
        assets=assets,
        resources={
            "blooio": BlooioResource(
                api_key=dg.EnvVar("BLOOIO_TEST_KEY"), base_url=server.base_url
            ),
            "io_manager": dg.InMemoryIOManager(),  # type: ignore[no-untyped-call]
        },
    )
    graph = defs.resolve_asset_graph()
    summary = graph.get(dg.AssetKey(["support", "sms", "response_summary"]))

    assert {k.path[0] for k in graph.get_all_asset_keys()} == {"support"}
    assert {k.path[-1] for k in summary.parent_keys} == {
        "chat_response_lag",
        "messages",
        "reply_times",
    }
    assert summary.owners == ["team:support"]
    assert summary.tags["domain"] == "support"
    assert summary.automation_condition is not None
    result = dg.materialize(assets, resources=defs.resources)
    assert result.success
    chats = result.output_for_node("support_sms_chats_api", "support__sms__chats")
    assert len(chats) == 300


def test_a_translator_cannot_change_the_partitions() -> None:
    class Repartition(DagsterBlooioTranslator):
        def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
            return super().get_asset_spec(props).replace_attributes(partitions_def=None)

    with pytest.raises(dg.DagsterInvalidDefinitionError, match="changed the partitions"):
        build_blooio_assets(translator=Repartition())
