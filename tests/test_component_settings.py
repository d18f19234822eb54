"""``BlooioComponent`` from a real ``defs.yaml`` through ``dg``, the settings of its schedule,
pool, resource and partitions, the README's YAML, and the errors of the pieces it builds on."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from dagster.components.scaffold.scaffold import get_scaffolder

from blooio_dagster import (
    BlooioComponent,
    BlooioResource,
    BusinessHours,
    DagsterBlooioTranslator,
    build_blooio_assets,
    build_blooio_schedule,
)
from blooio_dagster.components.blooio_component import scaffold_yaml
from blooio_dagster.empty_days import LOADER_KEY_PREFIX
from blooio_dagster.translator import BlooioTableProps
from tests.conftest import ServerFactory
from tests.dg_project import REPO, dg_project, run_dg
from tests.test_component import assert_the_reply_times_use_the_sla_and_business_hours

ALL_TABLES = {"chats", "messages", "reply_times", "chat_response_lag", "response_summary"}


def readme_component_yaml() -> str:
    """The README's example ``defs.yaml`` for the component, as the README shows it."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    (block,) = [b for b in blocks if "type: blooio_dagster.BlooioComponent" in b]
    return str(block)


def component(**attributes: Any) -> BlooioComponent:
    return BlooioComponent.from_attributes_dict(attributes=attributes)


def built(**attributes: Any) -> dg.Definitions:
    return component(**attributes).build_defs(None)  # type: ignore[arg-type]


def tables(defs: dg.Definitions) -> set[str]:
    return {key.path[-1] for key in defs.resolve_asset_graph().get_all_asset_keys()}


def assets_of(defs: dg.Definitions) -> list[dg.AssetsDefinition]:
    return [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]


# -- a real dg project ------------------------------------------------------------------------


@pytest.mark.dg
def test_dg_scaffolds_checks_and_lists_the_component_from_its_defs_yaml(tmp_path: Path) -> None:
    project = dg_project(tmp_path)
    defs_yaml = project / "src" / "support_project" / "defs" / "blooio" / "defs.yaml"

    run_dg(project, "scaffold", "defs", "blooio_dagster.BlooioComponent", "blooio")

    assert defs_yaml.read_text() == scaffold_yaml()
    defs_yaml.write_text(
        "type: blooio_dagster.BlooioComponent\n"
        "attributes:\n"
        "  key_prefix: support\n"
        "  group_name: support_chats\n"
        "  messages: false\n"
        "  reply_sla_minutes: 20\n"
    )
    checked = run_dg(project, "check", "defs")
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = json.loads(run_dg(project, "list", "defs", "--json").stdout)
    keys = sorted(asset["key"] for asset in listed["assets"])
    assert keys == [
        "support/chat_response_lag",
        "support/chats",
        "support/current_chats",
        "support/response_summary",
    ]
    assert [s["name"] for s in listed["schedules"]] == ["support_chats_daily"]
    assert [r["name"] for r in listed["resources"]] == ["blooio"]
    sources = {asset["source"] for asset in listed["assets"]}
    assert sources == {"src/support_project/defs/blooio/defs.yaml:1"}


@pytest.mark.dg
def test_the_readme_component_yaml_passes_dg_check_defs(tmp_path: Path) -> None:
    project = dg_project(tmp_path)
    folder = project / "src" / "support_project" / "defs" / "blooio"
    folder.mkdir()
    (folder / "defs.yaml").write_text(readme_component_yaml())

    checked = run_dg(project, "check", "defs")

    assert "All definitions loaded successfully" in checked.stdout + checked.stderr


@pytest.mark.dg
def test_dg_refuses_to_scaffold_the_component_as_python(tmp_path: Path) -> None:
    project = dg_project(tmp_path)

    ran = run_dg(
        project,
        *["scaffold", "defs", "blooio_dagster.BlooioComponent", "blooio", "--format", "python"],
        succeed=False,
    )

    assert ran.returncode != 0
    assert "scaffolded as YAML" in ran.stdout + ran.stderr, ran.stderr[-2000:]


def test_the_scaffolder_names_the_yaml_format_it_needs(tmp_path: Path) -> None:
    scaffolder = get_scaffolder(BlooioComponent)
    assert isinstance(scaffolder, dg.Scaffolder)
    request: dg.ScaffoldRequest[Any] = dg.ScaffoldRequest(
        type_name="blooio_dagster.BlooioComponent",
        target_path=tmp_path,
        scaffold_format="python",
        project_root=None,
        params=None,
    )

    with pytest.raises(ValueError, match=r"scaffolded as YAML.*without --format python"):
        scaffolder.scaffold(request)
    assert not (tmp_path / "defs.yaml").exists()


# -- the README's YAML --------------------------------------------------------------------------


def test_the_readme_component_yaml_builds_what_it_says() -> None:
    document = yaml.safe_load(readme_component_yaml())
    attributes = document["attributes"]

    defs = BlooioComponent.from_attributes_dict(attributes=attributes).build_defs(None)  # type: ignore[arg-type]

    assert document["type"] == "blooio_dagster.BlooioComponent"
    assert tables(defs) == ALL_TABLES | {"current_chats"}
    chats = next(a for a in assets_of(defs) if dg.AssetKey(["blooio", "chats"]) in a.keys)
    partitions = chats.partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.timezone == attributes["timezone"] == "America/New_York"
    assert partitions.start.strftime("%Y-%m-%d") == attributes["start_date"]
    resource = (defs.resources or {})["blooio"]
    assert isinstance(resource, BlooioResource)
    assert resource.max_concurrency == attributes["max_concurrency"]
    assert chats.specs_by_key[dg.AssetKey(["blooio", "chats"])].owners == ["team:support"]


# -- the settings -------------------------------------------------------------------------------


def test_schedule_false_leaves_the_schedule_out() -> None:
    assert [s.name for s in built().schedules or []] == ["blooio_daily"]
    assert list(built(schedule=False).schedules or []) == []


def test_messages_false_leaves_the_messages_tables_out() -> None:
    assert tables(built()) == ALL_TABLES | {"current_chats"}
    assert tables(built(messages=False)) == {
        "chats",
        "chat_response_lag",
        "response_summary",
        "current_chats",
    }


def test_the_pool_reaches_the_api_assets() -> None:
    defs = built(pool="blooio_api_calls")

    pools = {
        key.to_user_string(): a.op.pool
        for a in assets_of(defs)
        if "blooio" in a.required_resource_keys
        for key in a.keys
    }
    assert set(pools.values()) == {"blooio_api_calls"}, pools


def test_start_date_is_the_first_partition() -> None:
    defs = built(start_date="2026-02-15")

    starts = {
        a.partitions_def.start.strftime("%Y-%m-%d")
        for a in assets_of(defs)
        if isinstance(a.partitions_def, dg.TimeWindowPartitionsDefinition)
    }
    assert starts == {"2026-02-15"}


def test_resource_key_names_the_resource_the_assets_ask_for() -> None:
    defs = built(resource_key="support_blooio")

    assert set(defs.resources or {}) == {"support_blooio"}
    asked = {key for a in assets_of(defs) for key in a.required_resource_keys} - {"io_manager"}
    # The stored tables' loader for empty days wraps the IO manager, whatever its key.
    assert asked == {"support_blooio", LOADER_KEY_PREFIX + "io_manager"}


def test_base_url_env_var_is_read_when_the_resource_starts(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(chats=10, seed=3)
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    monkeypatch.setenv("SUPPORT_BLOOIO_URL", server.base_url)
    monkeypatch.setenv("BLOOIO_BASE_URL", "http://127.0.0.1:9/v2/api")  # not this one

    defs = built(base_url_env_var="SUPPORT_BLOOIO_URL")

    resource = (defs.resources or {})["blooio"]
    assert isinstance(resource, BlooioResource)
    started = resource.process_config_and_initialize()
    assert started.base_url == server.base_url
    with started.get_client() as client:
        assert len(client.list_chats()) == 10


# -- business hours and the SLA through build_blooio_assets --------------------------------------


def test_build_blooio_assets_counts_reply_times_in_business_time_against_the_sla(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = start_server(chats=600, seed=44)
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    assets = build_blooio_assets(
        timezone="Europe/Paris",
        reply_sla=timedelta(minutes=15),
        business_hours=BusinessHours(days="Mon-Fri", start="08:00", end="18:00"),
        preview=True,
    )
    defs = dg.Definitions(
        assets=assets,
        schedules=[build_blooio_schedule(assets)],
        resources={
            "blooio": BlooioResource(api_key=dg.EnvVar("BLOOIO_API_KEY"), base_url=server.base_url)
        },
    )

    assert_the_reply_times_use_the_sla_and_business_hours(defs, tmp_path)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definitions", "settings", "message"),
    [
        pytest.param([], {}, "needs the definitions returned by build_blooio_assets", id="none"),
        pytest.param(None, {"hour_of_day": 24}, "hour_of_day must be .* 0 to 23, got 24", id="h"),
        pytest.param(None, {"minute_of_hour": -1}, "minute_of_hour .* 0 to 59, got -1", id="m"),
        pytest.param(
            None, {"reply_lookback_days": -1}, "reply_lookback_days .* 0 to 30 .*, got -1", id="d"
        ),
    ],
)
def test_build_blooio_schedule_names_what_is_wrong(
    definitions: list[Any] | None, settings: dict[str, Any], message: str
) -> None:
    given = build_blooio_assets() if definitions is None else definitions

    with pytest.raises(dg.DagsterInvalidDefinitionError, match=message):
        build_blooio_schedule(given, **settings)


class _NotASpec(DagsterBlooioTranslator):
    def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
        return {"key": props.table}  # type: ignore[return-value]


class _OneKey(DagsterBlooioTranslator):
    def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
        spec = super().get_asset_spec(props)
        return (
            spec.replace_attributes(key=["support", "tables"]) if props.table != "chats" else spec
        )


@pytest.mark.parametrize(
    ("translator", "message"),
    [
        pytest.param(
            _NotASpec(),
            r"_NotASpec.* must return a dagster.AssetSpec for table 'chats', got dict",
            id="not a spec",
        ),
        pytest.param(
            _OneKey(),
            r"_OneKey.get_asset_spec gave several Blooio tables the key support/tables; "
            "each table needs its own key",
            id="two tables on one key",
        ),
    ],
)
def test_a_translator_that_breaks_the_tables_is_named(
    translator: DagsterBlooioTranslator, message: str
) -> None:
    with pytest.raises(dg.DagsterInvalidDefinitionError, match=message):
        build_blooio_assets(translator=translator)
