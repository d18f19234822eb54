"""What a run says in its log, for a user watching it from the command line: each table's rows
handed to the IO manager and for which days, and how far a long messages read has come."""

from __future__ import annotations

import re
from datetime import timedelta

import dagster as dg
import pandas as pd
import pytest

from blooio_dagster import build_blooio_assets
from tests.conftest import FIXED_NOW, ServerFactory, in_memory_resources

DAYS = [(FIXED_NOW.date() - timedelta(days=n)).isoformat() for n in (3, 2, 1)]


def logged(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> list[str]:
    return [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if "handed to the IO manager" in entry.user_message
    ]


@pytest.mark.parametrize("span", ["a day", "a range"])
def test_each_table_logs_its_rows_and_days(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, span: str
) -> None:
    server = start_server(chats=300, seed=83)
    assets = build_blooio_assets(start_date="2025-01-01")
    resources = in_memory_resources(server, monkeypatch)
    days = DAYS if span == "a range" else DAYS[-1:]
    tags = {}
    if len(days) > 1:
        tags = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        }
    instance = dg.DagsterInstance.ephemeral()

    result = dg.materialize(
        assets,
        selection=[dg.AssetKey(["blooio", "chats"])],
        partition_key=days[0] if len(days) == 1 else None,
        tags=tags,
        resources=resources,
        instance=instance,
    )

    (line,) = logged(result, instance)
    stored = result.asset_value(dg.AssetKey(["blooio", "chats"]))
    assert isinstance(stored, pd.DataFrame)
    rows = f"{len(stored):,} row{'' if len(stored) == 1 else 's'}"
    if span == "a day":
        assert line == f"blooio/chats: {rows} for {days[0]}, handed to the IO manager to store."
    else:
        found = re.fullmatch(
            rf"blooio/chats: {rows} over 3 days \({days[0]} to {days[-1]}\), (\d+) to (\d+) a "
            r"day, handed to the IO manager to store\.",
            line,
        )
        assert found is not None, line
        per_day = stored["last_message_time"].dt.strftime("%Y-%m-%d").value_counts()
        daily = [int(per_day.get(day, 0)) for day in days]
        assert [int(found[1]), int(found[2])] == [min(daily), max(daily)], (line, daily)
    assert len(stored) > 0, "the days have chats"


def test_a_long_messages_read_logs_its_progress(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import blooio_dagster.assets.reporting as reporting

    # With the interval at 0, every chat read logs a line; the last one counts them all.
    monkeypatch.setattr(reporting, "PROGRESS_EVERY_SECONDS", 0.0)
    server = start_server(chats=300, seed=84)
    assets = build_blooio_assets(start_date="2025-01-01")
    resources = in_memory_resources(server, monkeypatch)
    instance = dg.DagsterInstance.ephemeral()

    result = dg.materialize(
        assets,
        selection=[dg.AssetKey(["blooio", "messages"])],
        partition_key=DAYS[-1],
        resources=resources,
        instance=instance,
    )

    lines = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.user_message.startswith("Blooio messages:")
    ]
    chats = result.asset_value(dg.AssetKey(["blooio", "messages"]))["chat_id"].nunique()
    assert len(lines) >= chats > 0, lines
    # Worker threads log as they finish, so the lines may come slightly out of order.
    shape = re.compile(
        r"Blooio messages: ([\d,]+) of ([\d,]+) chats? read, [\d,]+ messages? in [\d,]+ "
        r"requests?(, about \d+s left)?"
    )
    parsed = [shape.fullmatch(line) for line in lines]
    assert [line for line, done in zip(lines, parsed, strict=True) if done is None] == []
    assert any(done is not None and done[1] == done[2] for done in parsed), lines[-3:]
