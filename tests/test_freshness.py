"""Freshness follows each daily table's newest day: a backfill of old days is not fresh.

Every run here reads the bundled server over loopback, and every verdict is judged at a
fixed instant (the checks and the sensor read the build's clock, never the machine's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import blooio_dagster.assets.build as build_module
from blooio_dagster import (
    BlooioComponent,
    BlooioResource,
    build_blooio_assets,
    build_blooio_freshness_sensor,
)
from tests.conftest import FIXED_NOW, ServerFactory
from tests.dagster_project import meta

DAILY = ("chats", "messages", "reply_times", "chat_response_lag", "response_summary")
CHECK = "newest_day_stored"
#: The newest complete day at FIXED_NOW (2026-03-10 15:00 UTC), and a day 46 days before it.
NEWEST = "2026-03-09"
OLD = (FIXED_NOW - timedelta(days=46)).date().isoformat()

#: Per table: whether its check passed, the severity, and the day it named as missing.
Verdicts = dict[str, tuple[bool, str, str | None]]


class Clock:
    """A clock that stands still until a test sets it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def verdicts(result: dg.ExecuteInProcessResult) -> Verdicts:
    return {
        e.asset_key.path[-1]: (
            e.passed,
            e.severity.value,
            meta(e.metadata, "missing_day") if "missing_day" in e.metadata else None,
        )
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK
    }


def every_table(passed: bool, severity: str = "ERROR", missing: str | None = None) -> Verdicts:
    return dict.fromkeys(DAILY, (passed, severity, missing))


class Warehouse:
    """Definitions over the local server, stored by Dagster's filesystem IO manager."""

    def __init__(
        self, definitions: Sequence[Any], resources: dict[str, Any], tmp_path: Path
    ) -> None:
        self.definitions = list(definitions)
        self.resources = {
            **resources,
            "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "storage")),
        }
        daily = [
            a
            for a in self.definitions
            if isinstance(a, dg.AssetsDefinition) and a.keys and a.partitions_def is not None
        ]
        self.defs = dg.Definitions(
            assets=self.definitions,
            jobs=[dg.define_asset_job("daily", selection=dg.AssetSelection.assets(*daily))],
            resources=self.resources,
        )
        self.instance = dg.DagsterInstance.ephemeral()

    def materialize(self, day: str) -> dg.ExecuteInProcessResult:
        """Materialize one day of the daily tables: the checks run in the same run."""
        result = self.defs.resolve_job_def("daily").execute_in_process(
            instance=self.instance, partition_key=day
        )
        assert result.success
        return result

    def run_checks(self, request: dg.RunRequest) -> Verdicts:
        """Run what a sensor's request asks for: the checks alone."""
        assert request.asset_check_keys, request
        result = dg.materialize(
            self.definitions,
            selection=dg.AssetSelection.checks(*request.asset_check_keys),
            instance=self.instance,
            resources=self.resources,
        )
        assert result.success
        assert result.get_asset_materialization_events() == [], "the checks alone ran"
        return verdicts(result)


@pytest.fixture
def warehouse(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Clock], Warehouse]:
    """``warehouse(clock)``: the assets over a small server, judged by ``clock``."""

    def make(clock: Clock) -> Warehouse:
        server = start_server(chats=100, seed=5)
        monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
        monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)
        assets = build_blooio_assets(start_date="2026-01-01", clock=clock)
        return Warehouse(assets, {"blooio": BlooioResource.from_env()}, tmp_path)

    return make


def test_a_backfill_of_old_days_is_stale_and_the_newest_day_is_fresh(
    warehouse: Callable[[Clock], Warehouse],
) -> None:
    # At 2026-03-10 15:00, data within 48 hours needs 2026-03-08 or newer stored (it ends
    # 39 hours before), and data within 26 hours needs 2026-03-09 (it ends 15 hours before).
    stored = warehouse(Clock(FIXED_NOW))

    after_old = verdicts(stored.materialize(OLD))
    after_a_day_late = verdicts(stored.materialize("2026-03-08"))
    after_newest = verdicts(stored.materialize(NEWEST))

    assert OLD == "2026-01-23"
    assert after_old == every_table(False, "ERROR", "2026-03-08")
    assert after_a_day_late == every_table(False, "WARN", "2026-03-09")
    assert after_newest == every_table(True)


def test_the_check_says_which_day_is_missing_and_which_is_stored(
    warehouse: Callable[[Clock], Warehouse],
) -> None:
    stored = warehouse(Clock(FIXED_NOW))

    result = stored.materialize(OLD)

    (evaluation,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK and e.asset_key.path[-1] == "chats"
    ]
    # 2026-01-23 ends at 2026-01-24 00:00: 45 days and 15 hours before 2026-03-10 15:00.
    assert evaluation.description == (
        "2026-03-08 or a newer day must be stored to keep the newest data within 48 hours, "
        "but the newest day stored, 2026-01-23, ended 1,095 hours ago: materialize the days "
        "after 2026-01-23, or see why the runs that should have did not."
    )
    assert {name: value.value for name, value in evaluation.metadata.items()} == {
        "newest_stored_day": OLD,
        "newest_data_age_hours": 1095.0,
        "missing_day": "2026-03-08",
    }


def test_the_sensor_runs_the_checks_each_time_a_day_becomes_due(
    warehouse: Callable[[Clock], Warehouse],
) -> None:
    clock = Clock(FIXED_NOW)
    stored = warehouse(clock)
    sensor = build_blooio_freshness_sensor(stored.definitions, clock=clock)
    cursor: str | None = None

    def tick(at: datetime) -> list[dg.RunRequest]:
        nonlocal cursor
        clock.now = at
        context = dg.build_sensor_context(
            instance=stored.instance, cursor=cursor, definitions=stored.defs
        )
        evaluated = sensor.evaluate_tick(context)
        cursor = evaluated.cursor
        return list(evaluated.run_requests or [])

    stored.materialize(NEWEST)  # it ends at 2026-03-10 00:00
    (first,) = tick(FIXED_NOW)
    at_first = stored.run_checks(first)
    quiet = tick(FIXED_NOW + timedelta(hours=8))  # 23:00: no day became due
    (fail_moves,) = tick(datetime(2026, 3, 11, 1, 0, tzinfo=UTC))  # 2026-03-09 due: stored
    still_fresh = stored.run_checks(fail_moves)
    (warn_moves,) = tick(datetime(2026, 3, 11, 2, 1, tzinfo=UTC))  # 26 hours and 1 minute
    late = stored.run_checks(warn_moves)
    (fail_misses,) = tick(datetime(2026, 3, 12, 0, 1, tzinfo=UTC))  # 48 hours and 1 minute
    very_late = stored.run_checks(fail_misses)

    keys = {dg.AssetCheckKey(dg.AssetKey(["blooio", table]), CHECK) for table in DAILY}
    assert set(first.asset_check_keys or []) == keys
    assert at_first == every_table(True)
    assert quiet == []
    assert still_fresh == every_table(True)
    assert late == every_table(False, "WARN", "2026-03-10")
    assert very_late == every_table(False, "ERROR", "2026-03-10")


def test_the_components_hours_reach_the_checks(
    start_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(FIXED_NOW)
    # The component has no clock setting: its assets get the machine's, replaced here.
    monkeypatch.setattr(build_module, "machine_clock", clock)
    server = start_server(chats=100, seed=9)
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)
    component = BlooioComponent.from_attributes_dict(
        attributes={
            "start_date": "2026-01-01",
            "freshness_warn_hours": 30,
            "freshness_fail_hours": 40,
        }
    )
    defs = component.build_defs(None)  # type: ignore[arg-type]
    stored = Warehouse(list(defs.assets or []), dict(defs.resources or {}), tmp_path)
    sensor = defs.resolve_sensor_def("blooio_freshness")
    stored.materialize(NEWEST)

    def verdicts_at(at: datetime) -> Verdicts:
        clock.now = at
        context = dg.build_sensor_context(instance=stored.instance, definitions=stored.defs)
        (request,) = sensor.evaluate_tick(context).run_requests or []
        return stored.run_checks(request)

    # 2026-03-09, the newest day stored, ends at 2026-03-10 00:00.
    assert verdicts_at(datetime(2026, 3, 11, 6, 0, tzinfo=UTC)) == every_table(True)
    assert verdicts_at(datetime(2026, 3, 11, 6, 1, tzinfo=UTC)) == every_table(
        False, "WARN", "2026-03-10"
    )
    assert verdicts_at(datetime(2026, 3, 11, 16, 1, tzinfo=UTC)) == every_table(
        False, "ERROR", "2026-03-10"
    )


@pytest.mark.parametrize(
    ("hours", "named"),
    [
        ({"freshness_warn_hours": 2}, "freshness_warn_hours"),
        ({"freshness_warn_hours": None, "freshness_fail_hours": 20}, "freshness_fail_hours"),
    ],
)
def test_windows_under_a_day_are_refused_for_daily_tables(
    hours: dict[str, float | None], named: str
) -> None:
    daily = BlooioComponent.from_attributes_dict(attributes=hours)
    snapshot = BlooioComponent.from_attributes_dict(attributes={"partitioned": False, **hours})
    policy = dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=48), warn_window=timedelta(hours=1)
    )

    with pytest.raises(
        dg.DagsterInvalidDefinitionError, match=f"{named} .* must be 24 hours or more"
    ):
        daily.build_defs(None)  # type: ignore[arg-type]
    with pytest.raises(
        dg.DagsterInvalidDefinitionError, match=r"warn_window in Python\) .*, got 1:"
    ):
        build_blooio_assets(freshness_policy=policy)
    assert snapshot.build_defs(None).assets  # type: ignore[arg-type]
    assert build_blooio_assets(freshness_policy=policy, partitioned=False)


def test_current_chats_and_unpartitioned_builds_keep_the_time_window_policy() -> None:
    policy = dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=40), warn_window=timedelta(hours=30)
    )

    daily = build_blooio_assets(freshness_policy=policy)
    whole = build_blooio_assets(freshness_policy=policy, partitioned=False)

    def policies(built: Sequence[dg.AssetsDefinition]) -> dict[str, Any]:
        return {key.path[-1]: a.specs_by_key[key].freshness_policy for a in built for key in a.keys}

    assert policies(daily) == {**dict.fromkeys(DAILY), "current_chats": policy}
    assert policies(whole) == {**dict.fromkeys(DAILY), "chats": policy}
    assert not [c for d in whole for c in d.check_keys if c.name == CHECK]


def test_freshness_none_builds_no_checks_and_the_sensor_says_what_it_needs() -> None:
    built = build_blooio_assets(freshness_policy=None)

    assert not [c for d in built for c in d.check_keys if c.name == CHECK]
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="freshness_policy"):
        build_blooio_freshness_sensor(built)


def test_a_cron_policy_on_daily_tables_is_refused_with_what_to_pass() -> None:
    cron = dg.FreshnessPolicy.cron(deadline_cron="0 9 * * *", lower_bound_delta=timedelta(hours=1))

    with pytest.raises(dg.DagsterInvalidDefinitionError, match=r"FreshnessPolicy\.time_window"):
        build_blooio_assets(freshness_policy=cron)
