"""``BlooioComponent`` for ``dg`` projects: YAML attributes in, working definitions out."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from dagster.components.testing.utils import component_defs

from blooio_dagster import BlooioComponent, BlooioResource
from blooio_dagster.components.blooio_component import scaffold_yaml
from blooio_dagster.testing import BlooioTestServer
from tests.conftest import ServerFactory

DG = str(Path(sys.executable).parent / "dg")
REPO = Path(__file__).parent.parent


def test_yaml_attributes_build_the_assets_schedule_and_resource(
    server: BlooioTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SUPPORT_BLOOIO_KEY", server.api_key)
    monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)
    component = BlooioComponent.from_attributes_dict(
        attributes={
            "key_prefix": "support",
            "group_name": "support_chats",
            "partitioned": False,
            "api_key_env_var": "SUPPORT_BLOOIO_KEY",
            "page_size": 50,
        }
    )

    defs = component_defs(
        component=component,
        resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))},
    )

    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "support/chats",
        "support/messages",
        "support/reply_times",
        "support/chat_response_lag",
        "support/response_summary",
    }
    assert defs.resolve_schedule_def("support_chats_daily").cron_schedule == "30 0 * * *"
    resource = defs.resources["blooio"] if defs.resources else None
    assert isinstance(resource, BlooioResource)
    assert server.api_key not in repr(resource)
    job = defs.resolve_job_def("support_chats_daily_job")
    result = job.execute_in_process()
    assert result.success
    chats = result.output_for_node("support_chats_api", "support__chats")
    assert len(chats) == 1000
    assert len(server.chats_requests()) >= 1000 / 50


#: The daily tables, each with its newest-day freshness check.
ALL_PARTITIONED = ("chats", "messages", "reply_times", "chat_response_lag", "response_summary")

#: The settings of :func:`test_every_setting_reaches_the_resource_and_the_assets`, each away
#: from its default so that a setting left behind shows.
EVERY_SETTING: dict[str, Any] = {
    "timezone": "Europe/Paris",
    "timeout": 12.5,
    "max_retries": 2,
    "max_concurrency": 4,
    "requests_per_second": 75.0,
    "max_missing": 3,
    "page_size": 100,
    "backfill_policy": "multi_run",
    "freshness_warn_hours": 30,
    "freshness_fail_hours": 40,
    "partition_expr": "CONVERT_TIMEZONE('{timezone}', {column})::TIMESTAMP_NTZ",
    "reply_sla_minutes": 15,
    "business_hours": {"days": "Mon-Fri", "start": "08:00", "end": "18:00"},
    "preview": True,
    "messages": True,
    "reply_lookback_days": 5,
    "automation_cron": "0 6 * * *",
    "translation": {
        "owners": ["team:support"],
        "tags": {"table": "{{ props.table }}"},
    },
}


def test_every_setting_reaches_the_resource_and_the_assets(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = start_server(chats=600, seed=44)
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)
    component = BlooioComponent.from_attributes_dict(attributes=EVERY_SETTING)

    defs = component.build_defs(None)  # type: ignore[arg-type]

    resource = (defs.resources or {})["blooio"]
    assert isinstance(resource, BlooioResource)
    settings = {
        name: getattr(resource, name)
        for name in ("timeout", "max_retries", "max_concurrency", "requests_per_second")
    }
    assert settings == {
        "timeout": 12.5,
        "max_retries": 2,
        "max_concurrency": 4,
        "requests_per_second": 75.0,
    }
    assert (resource.max_missing, resource.page_size) == (3, 100)
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    specs = {k.path[-1]: a.specs_by_key[k] for a in assets for k in a.keys}
    chats = specs["chats"]
    assert chats.owners == ["team:support"]
    assert chats.tags["table"] == "chats"
    assert specs["messages"].tags["table"] == "messages"
    assert chats.automation_condition == dg.AutomationCondition.on_cron(
        "0 6 * * *", cron_timezone="Europe/Paris"
    )
    assert specs["current_chats"].freshness_policy == dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=40), warn_window=timedelta(hours=30)
    )
    windows = {
        spec.asset_key.path[-1]: dict(spec.metadata)
        for check in defs.assets or []
        if isinstance(check, dg.AssetChecksDefinition)
        for spec in check.check_specs
        if spec.name == "newest_day_stored"
    }
    hours = {"blooio/fail_after_hours": 40.0, "blooio/warn_after_hours": 30.0}
    assert windows == dict.fromkeys(ALL_PARTITIONED, hours)
    assert (
        chats.metadata["partition_expr"]
        == "CONVERT_TIMEZONE('Europe/Paris', last_message_time)::TIMESTAMP_NTZ"
    )
    policies = {a.backfill_policy for a in assets if a.partitions_def is not None}
    assert policies == {dg.BackfillPolicy.multi_run(1)}
    assert_the_schedule_looks_back(defs, days=5)
    assert_the_reply_times_use_the_sla_and_business_hours(defs, tmp_path)


def assert_the_schedule_looks_back(defs: dg.Definitions, *, days: int) -> None:
    """One run per day (multi_run) for the latest complete day and ``days`` before it."""
    schedule = defs.resolve_schedule_def("blooio_daily")
    tick = datetime(2026, 3, 10, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))
    context = dg.build_schedule_context(
        scheduled_execution_time=tick,
        instance=dg.DagsterInstance.ephemeral(),
        repository_def=defs.get_repository_def(),
    )
    requests = schedule.evaluate_tick(context).run_requests or []
    partitions = [r.partition_key for r in requests if r.partition_key]
    assert partitions == [f"2026-03-{day:02d}" for day in range(9 - days, 10)]


def assert_the_reply_times_use_the_sla_and_business_hours(
    defs: dg.Definitions, tmp_path: Path
) -> None:
    """A day's reply times are counted in business time against the 15-minute SLA, and the
    materializations carry the opted-in preview."""
    io = dg.Definitions(resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))})
    job = dg.Definitions.merge(defs, io).resolve_job_def("blooio_daily_job")
    result = job.execute_in_process(
        partition_key="2026-03-09", instance=dg.DagsterInstance.ephemeral()
    )
    turns = result.asset_value(dg.AssetKey(["blooio", "reply_times"]))
    answered = turns[turns["reply_time"].notna()]
    measured = answered["business_reply_time"]
    assert measured.notna().all(), f"{int(measured.isna().sum())} replies without business time"
    assert (measured <= answered["reply_time"]).all()
    # The turns that tell a 15-minute SLA from the default hour, and business from clock time.
    between = answered[(measured > timedelta(minutes=15)) & (measured <= timedelta(hours=1))]
    assert len(between) > 0, "the day has replies between 15 minutes and an hour"
    assert (measured != answered["reply_time"]).any(), "the day has replies over closed hours"
    met = answered["met_sla"].astype(bool)
    expected = measured <= timedelta(minutes=15)
    wrong = answered.loc[met != expected, ["turn_message_id", "business_reply_time", "met_sla"]]
    assert wrong.empty, f"met_sla not business time within 15 minutes:\n{wrong}"
    events = result.get_asset_materialization_events()
    without_preview = sorted(
        e.materialization.asset_key.to_user_string()
        for e in events
        if "preview" not in e.materialization.metadata
    )
    assert events
    assert without_preview == [], "every materialization shows its preview"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"page_size": 500}, "page_size.*1 to 200"),
        ({"page_size": 0}, "page_size.*1 to 200"),
        ({"max_concurrency": 0}, "max_concurrency.*1 to 256"),
        ({"timeout": -1}, "timeout.*above 0"),
        ({"reply_lookback_days": 40}, "reply_lookback_days.*0 to 30"),
        ({"backfill_policy": "sometimes"}, "backfill_policy"),
    ],
)
def test_bad_attributes_name_the_field_and_the_range(
    attributes: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=message):
        BlooioComponent.from_attributes_dict(attributes=attributes)


def test_freshness_windows_must_be_in_order() -> None:
    component = BlooioComponent.from_attributes_dict(
        attributes={"freshness_warn_hours": 50, "freshness_fail_hours": 48}
    )
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="freshness_warn_hours"):
        component.build_defs(None)  # type: ignore[arg-type]


def test_the_scaffolded_yaml_lists_every_attribute_and_loads() -> None:
    text = scaffold_yaml()

    document = yaml.safe_load(text)
    attributes = document["attributes"]
    for name in BlooioComponent.model_fields:
        assert f"{name}:" in text, name
    assert document["type"] == "blooio_dagster.BlooioComponent"
    component = BlooioComponent.from_attributes_dict(attributes=attributes)
    assert component.page_size == 200
    assert "# Chats per request, 1 to 200." in text


@pytest.mark.dg
def test_dg_lists_the_component() -> None:
    listed = subprocess.run(
        [DG, "list", "components", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )

    assert "blooio_dagster.BlooioComponent" in listed.stdout, listed.stderr[-2000:]


@pytest.mark.dg
def test_dg_shows_the_field_descriptions() -> None:
    shown = subprocess.run(
        [
            DG,
            "utils",
            "inspect-component",
            "blooio_dagster.BlooioComponent",
            "--defs-yaml-json-schema",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )

    assert shown.returncode == 0, shown.stderr[-2000:]
    schema = json.loads(shown.stdout)
    properties = json.dumps(schema)
    assert "Chats per request, 1 to 200." in properties
    assert "Reply-time target in minutes" in properties
