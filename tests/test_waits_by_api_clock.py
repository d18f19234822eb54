"""Waits are measured by the API's clock, which stamps the messages, not by this machine's.

A machine whose clock is off by hours (or, in the demo, the server's fixed synthetic clock)
must not add those hours to every customer's wait: ``fetched_at``, and so ``waiting_for``
in ``chat_response_lag`` and ``current_chats``, follow the API's ``Date`` headers whenever
the two clocks disagree by more than the tolerance, and this machine's clock otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from blooio_dagster import build_blooio_assets
from blooio_dagster.tables.reply_cutoff import CLOCK_TOLERANCE, waits_measured_at
from tests.conftest import FIXED_NOW, FIXED_NOW_MS, FakeClock, ServerFactory, in_memory_resources

DAY = (FIXED_NOW - timedelta(days=1)).date().isoformat()
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize("machine_off_by", [timedelta(days=271), -timedelta(hours=3)])
def test_a_machine_clock_off_by_hours_does_not_move_the_waits(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, machine_off_by: timedelta
) -> None:
    server = start_server(chats=300, seed=81, clock=FakeClock(FIXED_NOW_MS / 1000))
    assets = build_blooio_assets(start_date="2025-01-01", clock=lambda: FIXED_NOW + machine_off_by)
    resources = in_memory_resources(server, monkeypatch)
    keys = {name: dg.AssetKey(["blooio", name]) for name in ("chats", "chat_response_lag")}

    day = dg.materialize(
        assets, selection=list(keys.values()), partition_key=DAY, resources=resources
    )
    current = dg.materialize(
        assets, selection=[dg.AssetKey(["blooio", "current_chats"])], resources=resources
    )

    frames = {
        "chats": day.asset_value(keys["chats"]),
        "chat_response_lag": day.asset_value(keys["chat_response_lag"]),
        "current_chats": current.asset_value(dg.AssetKey(["blooio", "current_chats"])),
    }
    api_now = pd.Timestamp(FIXED_NOW)
    fetched = {
        name: frames[name]["fetched_at"].unique().tolist() for name in ("chats", "current_chats")
    }
    assert {
        name: [abs(t - api_now) <= 2 * SECOND for t in times] for name, times in fetched.items()
    } == {
        "chats": [True],
        "current_chats": [True],
    }, fetched
    for name in ("chat_response_lag", "current_chats"):
        frame = frames[name]
        waiting = frame[frame["status"] == "awaiting_reply"]
        assert len(waiting) > 0, f"{name}: no customer waits, nothing is measured"
        by_api_clock = api_now - waiting["last_inbound_time"]
        off = (waiting["waiting_for"] - by_api_clock).abs().max()
        assert off <= 2 * SECOND, (name, off)


def test_a_machine_clock_within_the_tolerance_is_kept() -> None:
    start = datetime(2026, 3, 10, 15, 0, tzinfo=FIXED_NOW.tzinfo)
    end = start + timedelta(seconds=40)
    near = [start + timedelta(seconds=20) + CLOCK_TOLERANCE - SECOND] * 5
    far = [start + timedelta(seconds=20) + CLOCK_TOLERANCE + timedelta(minutes=1)] * 5

    assert waits_measured_at(api_clocks=near, machine_start=start, machine_end=end) == end
    assert waits_measured_at(api_clocks=[], machine_start=start, machine_end=end) == end
    assert waits_measured_at(api_clocks=far, machine_start=start, machine_end=end) == (
        end + CLOCK_TOLERANCE + timedelta(minutes=1)
    )


def test_one_node_off_by_a_day_does_not_move_the_waits() -> None:
    start = datetime(2026, 3, 10, 15, 0, tzinfo=FIXED_NOW.tzinfo)
    end = start + timedelta(seconds=2)
    clocks = [start + SECOND] * 4 + [start + timedelta(days=1)]

    assert waits_measured_at(api_clocks=clocks, machine_start=start, machine_end=end) == end


def test_an_api_clock_ahead_with_its_data_is_still_refused_by_this_machines(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API's Date headers and its messages both run two days ahead: waits would follow the
    # API's clock, but a time more than a day after this machine's is refused all the same.
    ahead_ms = FIXED_NOW_MS + 2 * 86_400_000
    server = start_server(chats=300, seed=82, now=ahead_ms, clock=FakeClock(ahead_ms / 1000))
    assets = build_blooio_assets(start_date="2025-01-01", clock=lambda: FIXED_NOW)
    resources = in_memory_resources(server, monkeypatch)

    result = dg.materialize(
        assets,
        selection=[dg.AssetKey(["blooio", "current_chats"])],
        resources=resources,
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    text = error.to_string()
    assert "which no message can carry" in text, text
    assert (
        f"a day after this run's clock ({(FIXED_NOW + timedelta(days=1)).isoformat()})" in text
    ), text
