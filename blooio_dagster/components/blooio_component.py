"""``BlooioComponent``: the Blooio assets, checks, schedule and resource from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import BeforeValidator, Field
from pydantic.fields import FieldInfo

from blooio_dagster.api.settings import (
    MAX_CONCURRENCY,
    MAX_MISSING,
    MAX_RETRIES,
    PAGE_SIZE,
    REQUESTS_PER_SECOND,
    TIMEOUT,
    Number,
)
from blooio_dagster.assets import (
    DEFAULT_START_DATE,
    DUCKDB_PARTITION_EXPR,
    build_blooio_assets,
    build_blooio_freshness_sensor,
)
from blooio_dagster.options import FRESHNESS_FAIL, FRESHNESS_WARN, REPLY_LOOKBACK_DAYS, REPLY_SLA
from blooio_dagster.resources import BlooioResource
from blooio_dagster.schedules import build_blooio_schedule
from blooio_dagster.tables.reply_times import BusinessHours
from blooio_dagster.translator import BlooioTableProps, DagsterBlooioTranslator


def _declared(setting: Number[Any]) -> tuple[BeforeValidator, FieldInfo, dg.Resolver]:
    """A declared setting or option as an attribute: its bounds in the JSON schema, so that
    ``dg check yaml`` names the field and the bound before anything loads; its check, so that a
    value refused gets the declaration's own message (the client's, the builder's); and its
    description."""

    def check(value: Any) -> Any:
        # The attributes as written in YAML are validated too: a template is checked once
        # it is rendered.
        return value if isinstance(value, str) and "{{" in value else setting.check(value)

    return (
        BeforeValidator(check),
        Field(json_schema_extra=dict(setting.json_schema())),
        _doc(setting.description),
    )


def _doc(description: str) -> dg.Resolver:
    """Field documentation that ``dg utils inspect-component`` and the UI show."""
    resolver: dg.Resolver = dg.Resolver.default(description=description)
    return resolver


def _translation_resolver() -> TranslationFnResolver[BlooioTableProps]:
    resolver = TranslationFnResolver[BlooioTableProps](
        template_vars_for_translation_fn=lambda props: {"props": props}
    )
    resolver.description = (
        "Changes to every asset spec (key, group_name, tags, owners, metadata, "
        "automation_condition, ...); {{ props.table }} names the table."
    )
    return resolver


class BusinessHoursModel(dg.Model):
    """Business hours in the partitions' time zone, e.g. Mon-Fri 09:00-17:00."""

    days: str = Field(default="Mon-Fri", description="Working days, e.g. Mon-Fri or Mon,Wed,Fri.")
    start: str = Field(default="09:00", description="Opening time, HH:MM.")
    end: str = Field(default="17:00", description="Closing time, HH:MM.")

    def to_business_hours(self) -> BusinessHours:
        return BusinessHours(days=self.days, start=self.start, end=self.end)


class _ComponentTranslator(DagsterBlooioTranslator):
    """Applies the component's ``translation`` to the default specs."""

    def __init__(self, translation: TranslationFn[BlooioTableProps]) -> None:
        self.translation = translation

    def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
        return self.translation(super().get_asset_spec(props), props)


class _BlooioScaffolder(dg.Scaffolder[Any]):
    """Writes a ``defs.yaml`` with every attribute, its default and what it does."""

    def scaffold(self, request: dg.ScaffoldRequest[Any]) -> None:
        if request.scaffold_format != "yaml":
            raise ValueError(
                "BlooioComponent is scaffolded as YAML: run `dg scaffold defs "
                "blooio_dagster.BlooioComponent <path>` without --format python."
            )
        target = Path(request.target_path) / "defs.yaml"
        target.write_text(scaffold_yaml(request.type_name))


@dg.scaffold_with(_BlooioScaffolder)
class BlooioComponent(dg.Component, dg.Model, dg.Resolvable):
    """Blooio chats, messages, exact reply times, current chats and a daily summary, with
    checks, a schedule and the resource, all from YAML.

    Scaffold it with ``dg scaffold defs blooio_dagster.BlooioComponent blooio``: the
    ``defs.yaml`` it writes lists every attribute with its default. The key is read from an
    environment variable when runs start (``BLOOIO_API_KEY`` by default), never written into
    the definitions. Asset specs can be changed with ``translation``, for example::

        translation:
          owners: ["team:support"]
          tags: {table: "{{ props.table }}"}
    """

    # -- assets
    key_prefix: Annotated[str, _doc("Prefix of the asset keys.")] = "blooio"
    group_name: Annotated[str, _doc("Asset group shown in the UI.")] = "blooio"
    partitioned: Annotated[bool, _doc("Daily partitions, or one snapshot.")] = True
    start_date: Annotated[str, _doc("First daily partition.")] = DEFAULT_START_DATE
    timezone: Annotated[str, _doc("Time zone whose midnights split days.")] = "UTC"
    messages: Annotated[bool, _doc("Add the messages and exact reply_times assets.")] = True
    reply_sla_minutes: Annotated[float, *_declared(REPLY_SLA)] = REPLY_SLA.default
    business_hours: Annotated[
        BusinessHoursModel | None, _doc("Also measure reply times in business time (optional).")
    ] = None
    preview: Annotated[
        bool, _doc("Show rows (customers' names, numbers, texts) in Dagster's event log.")
    ] = False
    pool: Annotated[str | None, _doc("Concurrency pool of the API assets.")] = "blooio"
    backfill_policy: Annotated[
        Literal["single_run", "multi_run"],
        _doc(
            "single_run: one run (one crawl) per backfill; needs an IO manager that stores "
            "partition ranges (DuckDB, Snowflake, BigQuery). multi_run: one run per day."
        ),
    ] = "single_run"
    freshness_warn_hours: Annotated[float | None, *_declared(FRESHNESS_WARN)] = (
        FRESHNESS_WARN.default
    )
    freshness_fail_hours: Annotated[float | None, *_declared(FRESHNESS_FAIL)] = (
        FRESHNESS_FAIL.default
    )
    partition_expr: Annotated[
        str, _doc("SQL template ({column}, {timezone}) a database IO manager filters days by.")
    ] = DUCKDB_PARTITION_EXPR
    automation_cron: Annotated[
        str | None,
        _doc(
            "Materialize declaratively with AutomationCondition.on_cron at this cron (in the "
            "partitions' time zone), e.g. '30 0 * * *': the alternative to the schedule."
        ),
    ] = None
    translation: Annotated[TranslationFn[BlooioTableProps] | None, _translation_resolver()] = None
    # -- schedule
    schedule: Annotated[bool, _doc("Add the daily schedule (stopped).")] = True
    reply_lookback_days: Annotated[int, *_declared(REPLY_LOOKBACK_DAYS)] = (
        REPLY_LOOKBACK_DAYS.default
    )
    # -- resource
    resource_key: Annotated[str, _doc("Key of the Blooio resource.")] = "blooio"
    api_key_env_var: Annotated[str, _doc("Environment variable holding the API key.")] = (
        "BLOOIO_API_KEY"
    )
    base_url_env_var: Annotated[
        str, _doc("Environment variable with another API root (Blooio's own when unset).")
    ] = "BLOOIO_BASE_URL"
    page_size: Annotated[int, *_declared(PAGE_SIZE)] = PAGE_SIZE.default
    max_concurrency: Annotated[int, *_declared(MAX_CONCURRENCY)] = MAX_CONCURRENCY.default
    requests_per_second: Annotated[float | None, *_declared(REQUESTS_PER_SECOND)] = (
        REQUESTS_PER_SECOND.default
    )
    timeout: Annotated[float, *_declared(TIMEOUT)] = TIMEOUT.default
    max_retries: Annotated[int, *_declared(MAX_RETRIES)] = MAX_RETRIES.default
    max_missing: Annotated[int, *_declared(MAX_MISSING)] = MAX_MISSING.default

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        assets = build_blooio_assets(
            key_prefix=self.key_prefix,
            group_name=self.group_name,
            resource_key=self.resource_key,
            partitioned=self.partitioned,
            start_date=self.start_date,
            timezone=self.timezone,
            pool=self.pool,
            freshness_policy=self._freshness_policy(),
            backfill_policy=(
                dg.BackfillPolicy.multi_run(1) if self.backfill_policy == "multi_run" else None
            ),
            partition_expr=self.partition_expr,
            messages=self.messages,
            reply_sla=REPLY_SLA.span(self.reply_sla_minutes),
            business_hours=self.business_hours.to_business_hours() if self.business_hours else None,
            preview=self.preview,
            automation_condition=(
                dg.AutomationCondition.on_cron(self.automation_cron, cron_timezone=self.timezone)
                if self.automation_cron
                else None
            ),
            translator=_ComponentTranslator(self.translation) if self.translation else None,
        )
        schedules = (
            [
                build_blooio_schedule(
                    assets,
                    name=f"{self.group_name}_daily",
                    reply_lookback_days=self.reply_lookback_days,
                )
            ]
            if self.schedule
            else []
        )
        # The daily tables' freshness checks are judged when a day becomes due, by this sensor.
        sensors = (
            [build_blooio_freshness_sensor(assets, name=f"{self.group_name}_freshness")]
            if self.partitioned and self.freshness_fail_hours is not None
            else []
        )
        return dg.Definitions(
            assets=assets,
            schedules=schedules,
            sensors=sensors,
            resources={
                self.resource_key: BlooioResource.from_env(
                    self.api_key_env_var,
                    self.base_url_env_var,
                    page_size=self.page_size,
                    max_concurrency=self.max_concurrency,
                    requests_per_second=self.requests_per_second,
                    timeout=self.timeout,
                    max_retries=self.max_retries,
                    max_missing=self.max_missing,
                )
            },
        )

    def _freshness_policy(self) -> dg.FreshnessPolicy | None:
        if self.freshness_fail_hours is None:
            return None
        warn = self.freshness_warn_hours
        if warn is not None and warn >= self.freshness_fail_hours:
            raise dg.DagsterInvalidDefinitionError(
                f"freshness_warn_hours ({warn:g}) must be less than freshness_fail_hours "
                f"({self.freshness_fail_hours:g})."
            )
        # Windows under a day for daily tables are refused by build_blooio_assets, in the
        # words of the declarations.
        return dg.FreshnessPolicy.time_window(
            fail_window=FRESHNESS_FAIL.span(self.freshness_fail_hours),
            warn_window=FRESHNESS_WARN.span(warn) if warn is not None else None,
        )


def scaffold_yaml(type_name: str = "blooio_dagster.BlooioComponent") -> str:
    """A ``defs.yaml`` listing every attribute with its default and description."""
    lines = [
        f"type: {type_name}",
        "",
        "# Every attribute is optional; the values below are the defaults.",
        "# The API key is read from the environment variable named by api_key_env_var when",
        "# runs start. `dg check defs` does not resolve environment variables.",
        "attributes:",
    ]
    for name, field in BlooioComponent.model_fields.items():
        default = field.default
        lines.append(f"  # {_description(field)}")
        if name == "translation":
            lines.append("  # translation:")
            lines.append('  #   owners: ["team:support"]')
            lines.append('  #   tags: {table: "{{ props.table }}"}')
            continue
        if name == "business_hours":
            lines.append('  # business_hours: {days: Mon-Fri, start: "09:00", end: "17:00"}')
            continue
        lines.append(f"  {name}: {_yaml_value(default)}")
    return "\n".join(lines) + "\n"


def _description(field: FieldInfo) -> str:
    resolvers = [m for m in field.metadata if isinstance(m, dg.Resolver)]
    return resolvers[0].description or "" if resolvers else field.description or ""


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
