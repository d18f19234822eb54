"""Dagster wiring: the Blooio assets and their checks.

:func:`build_blooio_assets` makes these assets under a key prefix (``blooio`` by default):

- ``chats``: partition D holds the chats whose newest message fell on D, as observed when D
  was materialized, read completely with :meth:`BlooioClient.crawl_chats`;
- ``messages``: partition D holds every message sent on D, one row per message;
- ``reply_times``: partition D holds every customer turn that started on D, with the exact
  time our reply took, or how long the customer has been waiting;
- ``chat_response_lag``: per chat of ``chats``, an approximate lag from the chat's last
  inbound and outbound times (cheap: no messages are read);
- ``response_summary``: one row per day, the approximate and the exact figures;
- ``current_chats`` (partitioned builds only): every chat once, in its newest state, with who
  is waiting right now.

``chats``, ``messages`` and ``reply_times`` come from one op, so one run crawls the chat list
once, and a run over a range of days (a backfill) crawls once and reads each chat's messages
for the whole range once.

(No ``from __future__ import annotations`` here: Dagster reads the asset functions'
annotations at definition time.)
"""

import functools
import threading
import time
import warnings
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import dagster as dg
import pandas as pd

from blooio_dagster.api.errors import BlooioConfigError
from blooio_dagster.api.wording import counted
from blooio_dagster.checks import (
    no_future_times_result,
    no_future_times_spec,
    unique_ids_result,
    unique_ids_spec,
)
from blooio_dagster.client import BlooioClient, ChatCrawlResult
from blooio_dagster.crawl.reading import CrawlProgress
from blooio_dagster.empty_days import empty_days_in
from blooio_dagster.metadata import (
    TableOutput,
    output_metadata,
    partition_days,
    record_run_figures,
)
from blooio_dagster.resources import BlooioResource
from blooio_dagster.tables.catalogue import (
    API_TABLES,
    CHAT_COLUMNS,
    CHAT_RESPONSE_LAG,
    CHATS,
    CURRENT_CHAT_COLUMNS,
    CURRENT_CHATS,
    DAY_COLUMNS,
    MESSAGE_COLUMNS,
    MESSAGES,
    REPLY_TIME_COLUMNS,
    REPLY_TIMES,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY,
    RESPONSE_SUMMARY_COLUMNS,
    TABLES,
    Column,
)
from blooio_dagster.tables.chats import chats_to_frame
from blooio_dagster.tables.messages import messages_to_frame
from blooio_dagster.tables.metrics import (
    STATUSES,
    current_chats_frame,
    response_lag_frame,
    response_summary_frame,
    summary_figures,
)
from blooio_dagster.tables.reply_cutoff import ReplyCutoff, choose_reply_cutoff
from blooio_dagster.tables.reply_times import BusinessHours, reply_times_frame
from blooio_dagster.translator import (
    BlooioTableProps,
    DagsterBlooioTranslator,
    asset_outs,
    translate,
)

DEFAULT_START_DATE = "2025-01-01"
#: Seconds between progress lines while a crawl runs.
PROGRESS_EVERY_SECONDS = 5.0
#: The reply-time target whose breaches ``reply_times`` and ``response_summary`` count.
DEFAULT_REPLY_SLA = timedelta(hours=1)

#: The fewest ``Date`` headers the reply cutoff is chosen from: a majority of good clocks
#: outvotes one node whose clock is off.
CLOCK_SAMPLES = 5

DEFAULT_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)
)
#: How a database turns a partition column into wall-clock time in the partitions' time zone.
#: Dagster's IO managers compare ``partition_expr`` with naive ``'YYYY-MM-DD HH:MM:SS'``
#: strings, so a timezone-aware column must be converted, or the comparison would follow the
#: database session's time zone (the machine's, for DuckDB). This is DuckDB's spelling.
DUCKDB_PARTITION_EXPR = "timezone('{timezone}', {column})"

BlooioDefinitions = list[dg.AssetsDefinition | dg.AssetChecksDefinition]
P = ParamSpec("P")
R = TypeVar("R")


def blooio_partitions(
    start_date: str | datetime = DEFAULT_START_DATE, timezone: str = "UTC"
) -> dg.DailyPartitionsDefinition:
    """Daily partitions from ``start_date`` to the last complete day in ``timezone``."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise dg.DagsterInvalidDefinitionError(
            f"timezone {timezone!r} is not an IANA time zone name such as 'UTC' or "
            "'America/New_York'."
        ) from None
    try:
        return dg.DailyPartitionsDefinition(start_date=start_date, timezone=timezone)
    except (ValueError, dg.DagsterInvalidDefinitionError) as exc:
        raise dg.DagsterInvalidDefinitionError(
            f"start_date {start_date!r} is not a date such as '2025-01-01': {exc}"
        ) from None


#: Days per run under which a multi-run backfill policy warns of its cost.
COSTLY_BELOW = 7


class BlooioCostlyBackfillWarning(UserWarning):
    """A backfill policy that runs few days per run.

    A run reads every chat active since its first day and their messages up to now, so each
    run of an old range costs about as much as the whole range in one run.
    """


def without_beta_warnings(build: Callable[P, R]) -> Callable[P, R]:
    """Silence Dagster's beta warnings inside ``build``.

    ``backfill_policy`` and ``build_column_schema_change_checks`` are beta in Dagster 1.13;
    this integration uses them on purpose, and its users should not see warnings for it.
    """

    @functools.wraps(build)
    def quiet(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return build(*args, **kwargs)

    return quiet


@dataclass(frozen=True)
class _Build:
    """The settings of one :func:`build_blooio_assets` call, validated."""

    resource_key: str
    partitions_def: dg.DailyPartitionsDefinition | None
    timezone: str
    pool: str | None
    backfill_policy: dg.BackfillPolicy | None
    reply_sla: timedelta
    business_hours: BusinessHours | None
    preview: bool
    specs: Mapping[str, dg.AssetSpec]
    clock: Callable[[], datetime]

    def key(self, table: str) -> dg.AssetKey:
        return self.specs[table].key

    def spec(self, table: str) -> dg.AssetSpec:
        return self.specs[table]


@without_beta_warnings
def build_blooio_assets(
    *,
    key_prefix: str | Sequence[str] = "blooio",
    group_name: str = "blooio",
    resource_key: str = "blooio",
    partitioned: bool = True,
    start_date: str | datetime = DEFAULT_START_DATE,
    timezone: str = "UTC",
    pool: str | None = "blooio",
    freshness_policy: dg.FreshnessPolicy | None = DEFAULT_FRESHNESS_POLICY,
    backfill_policy: dg.BackfillPolicy | None = None,
    partition_expr: str = DUCKDB_PARTITION_EXPR,
    messages: bool = True,
    reply_sla: timedelta = DEFAULT_REPLY_SLA,
    business_hours: BusinessHours | None = None,
    automation_condition: dg.AutomationCondition[Any] | None = None,
    preview: bool = False,
    translator: DagsterBlooioTranslator | None = None,
    clock: Callable[[], datetime] | None = None,
) -> BlooioDefinitions:
    """The Blooio assets and their checks, ready for ``dg.Definitions(assets=...)``.

    Args:
        key_prefix: prefix of the asset keys, e.g. ``blooio`` gives ``blooio/chats``.
        group_name: the asset group shown in the UI.
        resource_key: the key under which a :class:`BlooioResource` is provided.
        partitioned: daily partitions (``True``) or one snapshot of the whole list.
        start_date: the first daily partition.
        timezone: the time zone whose midnights split partitions (IANA name).
        pool: the Dagster concurrency pool of the assets that call the API, so deployments
            can cap concurrent Blooio traffic; ``None`` for no pool.
        freshness_policy: the freshness expected of ``chats`` and ``current_chats``;
            ``None`` for none.
        backfill_policy: defaults to one run per backfill (one crawl for the whole range),
            which needs an IO manager that stores partition ranges, such as the DuckDB,
            Snowflake or BigQuery ones. Use ``BackfillPolicy.multi_run(1)`` with the
            default filesystem IO manager.
        partition_expr: the SQL a database IO manager filters partitions with, a template
            of ``{column}`` and ``{timezone}`` that must give the column's wall-clock time in
            the partitions' time zone. The default is DuckDB's; for Snowflake use
            ``"CONVERT_TIMEZONE('{timezone}', {column})::TIMESTAMP_NTZ"``, for BigQuery
            ``"DATETIME({column}, '{timezone}')"``.
        messages: include ``messages`` and ``reply_times`` (exact reply times, one messages
            request per active chat); ``False`` leaves them out.
        reply_sla: the reply-time target; turns answered later, or waiting longer, breach it.
        business_hours: when set, reply times are also measured in business time.
        automation_condition: when Dagster should materialize the assets declaratively, for
            example ``AutomationCondition.on_cron("30 0 * * *")``: the alternative to
            :func:`build_blooio_schedule`.
        preview: show rows (customers' names, numbers and texts) in the event log, as a
            markdown preview and as examples in failed checks. Off by default.
        translator: a :class:`DagsterBlooioTranslator` that changes the asset specs.
        clock: this machine's clock, giving aware datetimes; ``datetime.now(UTC)`` unless a
            test fixes it. It stamps ``fetched_at`` and is cross-checked with the API's.

    Returns:
        The assets, with a blocking id check on ``chats``, ``messages`` and
        ``current_chats``, a future-time check on ``chats`` and column-schema-change checks.
    """
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    if not prefix or not all(isinstance(p, str) and p for p in prefix):
        raise dg.DagsterInvalidDefinitionError(
            f"key_prefix must be a non-empty name or list of names, got {key_prefix!r}."
        )
    if not isinstance(reply_sla, timedelta) or reply_sla <= timedelta(0):
        raise dg.DagsterInvalidDefinitionError(
            f"reply_sla must be a positive timedelta such as timedelta(hours=1), got {reply_sla!r}."
        )
    partitions_def = blooio_partitions(start_date, timezone) if partitioned else None
    if partitions_def is not None and "{column}" not in partition_expr:
        raise dg.DagsterInvalidDefinitionError(
            f"partition_expr {partition_expr!r} must contain {{column}} (and usually "
            "{timezone}), for example " + DUCKDB_PARTITION_EXPR
        )
    if partitions_def is not None and backfill_policy is None:
        backfill_policy = dg.BackfillPolicy.single_run()
    days_per_run = backfill_policy.max_partitions_per_run if backfill_policy else None
    if partitions_def is not None and days_per_run is not None and days_per_run < COSTLY_BELOW:
        warnings.warn(
            BlooioCostlyBackfillWarning(
                f"backfill_policy runs {counted(days_per_run, 'day')} per run. Each run reads "
                "every chat active since its first day, with their messages up to now, so a "
                "backfill costs about one such crawl per run: 60 days one per run can take "
                "30 times the requests of one run. Prefer BackfillPolicy.single_run() with a "
                "database IO manager (DuckDB, Snowflake, BigQuery), or "
                f"multi_run({COSTLY_BELOW}) or more."
            ),
            stacklevel=3,
        )
    tables = _tables(
        prefix=tuple(prefix),
        group_name=group_name,
        partitions_def=partitions_def,
        partition_expr=partition_expr.replace("{timezone}", timezone),
        freshness_policy=freshness_policy,
        automation_condition=automation_condition,
        messages=messages,
    )
    build = _Build(
        resource_key=resource_key,
        partitions_def=partitions_def,
        timezone=timezone,
        pool=pool,
        backfill_policy=backfill_policy,
        reply_sla=reply_sla,
        business_hours=business_hours,
        preview=preview,
        specs=translate(translator or DagsterBlooioTranslator(), tables),
        clock=clock or _machine_clock,
    )
    definitions: BlooioDefinitions = [
        _api_asset(build),
        _chat_response_lag_asset(build),
        _response_summary_asset(build),
    ]
    if CURRENT_CHATS in build.specs:
        definitions.append(_current_chats_asset(build))
    definitions.extend(
        dg.build_column_schema_change_checks(assets=[spec.key for spec in build.specs.values()])
    )
    return definitions


def _tables(
    *,
    prefix: tuple[str, ...],
    group_name: str,
    partitions_def: dg.DailyPartitionsDefinition | None,
    partition_expr: str,
    freshness_policy: dg.FreshnessPolicy | None,
    automation_condition: dg.AutomationCondition[Any] | None,
    messages: bool,
) -> list[BlooioTableProps]:
    """What each Blooio table is, before the translator turns it into an asset spec."""

    def table(
        name: str,
        *,
        upstream: tuple[str, ...] = (),
        partitioned: bool = True,
        fresh: bool = False,
    ) -> BlooioTableProps:
        daily = partitions_def if partitioned else None
        return BlooioTableProps(
            table=name,
            description=TABLES[name].description,
            columns=TABLES[name].columns,
            key_prefix=prefix,
            group_name=group_name,
            partitions_def=daily,
            partition_expr=_partition_expr(partition_expr, DAY_COLUMNS[name]) if daily else None,
            freshness_policy=freshness_policy if fresh else None,
            automation_condition=automation_condition,
            upstream=upstream,
        )

    summary_upstream = (
        (CHAT_RESPONSE_LAG, MESSAGES, REPLY_TIMES) if messages else (CHAT_RESPONSE_LAG,)
    )
    tables = [
        table(CHATS, fresh=True),
        table(CHAT_RESPONSE_LAG, upstream=(CHATS,)),
        table(RESPONSE_SUMMARY, upstream=summary_upstream),
    ]
    if messages:
        tables[1:1] = [table(MESSAGES), table(REPLY_TIMES)]
    if partitions_def is not None:
        tables.append(table(CURRENT_CHATS, partitioned=False, fresh=True))
    return tables


# -- the API-reading op: chats, messages, reply_times -------------------------------------------


def _api_asset(build: _Build) -> dg.AssetsDefinition:
    chats_key = build.key(CHATS)
    specs = [build.spec(t) for t in API_TABLES if t in build.specs]
    check_specs = [unique_ids_spec(chats_key, "chat_id"), no_future_times_spec(chats_key)]
    if MESSAGES in build.specs:
        check_specs.append(unique_ids_spec(build.key(MESSAGES), "message_id"))

    # Not required: a run of a subset (chats alone, say) leaves the other outputs out.
    outs, deps = asset_outs(specs, required=False)

    @dg.multi_asset(
        name=_op_name(chats_key, "api"),
        outs=outs,
        deps=deps,
        check_specs=check_specs,
        can_subset=True,
        required_resource_keys={build.resource_key},
        backfill_policy=build.backfill_policy,
        pool=build.pool,
    )
    def blooio_api(context: dg.AssetExecutionContext) -> Iterator[Any]:
        _refuse_ranges_the_io_manager_cannot_store(context)
        _refuse_a_changed_timezone(context, build)
        blooio: BlooioResource = getattr(context.resources, build.resource_key)
        window = context.partition_time_window if build.partitions_def is not None else None
        wanted = {
            t
            for t in API_TABLES
            if t in build.specs and build.key(t) in context.selected_asset_keys
        }
        started = build.clock()
        with blooio.get_client() as client:
            result = client.crawl_chats(
                active_since=window.start if window else None,
                max_missing=blooio.max_missing,
                on_progress=_progress_logger(context, estimate=window is None),
            )
            fetched_at = build.clock()
            chats = chats_to_frame(result.chats, fetched_at)
            figures = _crawl_figures(result)
            context.log.info(_crawl_summary(result))
            history = cutoff = None
            if wanted & {MESSAGES, REPLY_TIMES}:
                cutoff = _reply_cutoff(context, client, result, chats, started, window)
                history, read = _read_messages(client, chats, window, cutoff.at)
                figures |= read
        record_run_figures(context, figures)
        # Every output is computed before the first is yielded, so a run that fails on
        # any of them stores none: the stored partitions stay as they were.
        events: list[Any] = []
        if CHATS in wanted:
            frame = _in_window(chats, "last_message_time", window)
            events += _table_output(context, build, CHATS, frame, fetched_at=fetched_at)
        if MESSAGES in wanted and history is not None:
            frame = _in_window(history, "time_sent", window)
            events += _table_output(context, build, MESSAGES, frame)
        if REPLY_TIMES in wanted and history is not None and cutoff is not None:
            turns = reply_times_frame(
                history,
                now=cutoff.at,
                reply_sla=build.reply_sla,
                business_hours=build.business_hours,
                timezone=build.timezone,
            )
            frame = _in_window(turns, "turn_started_at", window)
            cutoff_metadata = {
                "replies_looked_for_until": dg.MetadataValue.timestamp(cutoff.at),
                "reply_cutoff_source": cutoff.source,
            }
            events += _table_output(context, build, REPLY_TIMES, frame, shared=cutoff_metadata)
        yield from events

    return blooio_api


def _reply_cutoff(
    context: dg.AssetExecutionContext,
    client: BlooioClient,
    result: ChatCrawlResult,
    chats: pd.DataFrame,
    started: datetime,
    window: dg.TimeWindow | None,
) -> ReplyCutoff:
    """Until when replies are looked for (see :func:`choose_reply_cutoff`), warnings logged.

    A crawl of a quiet day may get a single answer, and one node's clock must not decide the
    cutoff alone: the API's clock is sampled until there are :data:`CLOCK_SAMPLES` answers.
    """
    clocks = result.server_clocks
    clocks += client.sample_api_clock(max(CLOCK_SAMPLES - len(clocks), 0))
    newest = chats["last_message_time"].max()
    cutoff = choose_reply_cutoff(
        api_clocks=clocks,
        newest_message=None if pd.isna(newest) else newest.to_pydatetime(),
        machine_time=started,
        partition_end=window.end if window else None,
    )
    for warning in cutoff.warnings:
        context.log.warning(f"Blooio clocks: {warning}")
    return cutoff


def _table_output(
    context: dg.AssetExecutionContext,
    build: _Build,
    table: str,
    frame: pd.DataFrame,
    *,
    fetched_at: datetime | None = None,
    shared: Mapping[str, Any] | None = None,
) -> list[Any]:
    """One table's output with honest metadata, followed by its selected checks."""
    key = build.key(table)
    columns = _stored_columns(table)
    output = TableOutput(
        key,
        frame,
        columns,
        day_column=DAY_COLUMNS[table] if build.partitions_def is not None else None,
    )
    metadata = output_metadata(
        context, output, preview=build.preview, shared={**_recorded(build), **(shared or {})}
    )
    checks: list[dg.AssetCheckResult] = []
    if table == CHATS:
        assert fetched_at is not None
        checks += [
            unique_ids_result(key, frame, "chat_id", preview=build.preview),
            no_future_times_result(key, frame, fetched_at),
        ]
    elif table == MESSAGES:
        checks.append(unique_ids_result(key, frame, "message_id", preview=build.preview))
    selected = context.selected_asset_check_keys
    return [
        dg.Output(frame, output_name=key.to_python_identifier(), metadata=metadata),
        *(check for check in checks if _check_key(check) in selected),
    ]


def _check_key(check: dg.AssetCheckResult) -> dg.AssetCheckKey:
    assert check.asset_key is not None
    return dg.AssetCheckKey(check.asset_key, check.check_name or "")


def _in_window(frame: pd.DataFrame, column: str, window: dg.TimeWindow | None) -> pd.DataFrame:
    """The rows whose ``column`` lies in the run's partitions; all rows when unpartitioned."""
    if window is None:
        return frame.reset_index(drop=True)
    times = frame[column]
    return frame[(times >= window.start) & (times < window.end)].reset_index(drop=True)


def _refuse_ranges_the_io_manager_cannot_store(context: dg.AssetExecutionContext) -> None:
    """Fail a run over several days before any API call if its IO manager stores single days.

    Dagster's filesystem IO managers (``UPathIOManager``) refuse an output that covers
    several partitions, but only after the work is done.
    """
    if not context.has_partition_key_range or len(context.partition_keys) < 2:
        return
    io_manager = getattr(context.resources, "io_manager", None)
    if isinstance(io_manager, dg.UPathIOManager):
        raise dg.DagsterInvalidDefinitionError(
            f"This run covers {counted(len(context.partition_keys), 'day')} "
            f"({context.partition_keys[0]} to "
            f"{context.partition_keys[-1]}) in one run, but the IO manager "
            f"{type(io_manager).__name__} stores one day per output. Either give the Blooio "
            "assets an IO manager that stores partition ranges (DuckDB, Snowflake, BigQuery), "
            "or build them with build_blooio_assets(backfill_policy="
            "dg.BackfillPolicy.multi_run(1)) and launch one run per day."
        )


#: The metadata entry recording the time zone whose midnights cut a materialization's days.
TIMEZONE_METADATA = "blooio/timezone"


def _recorded(build: _Build) -> dict[str, Any]:
    """What every materialization records about how its rows were cut into days."""
    return {TIMEZONE_METADATA: build.timezone}


def _refuse_a_changed_timezone(context: dg.AssetExecutionContext, build: _Build) -> None:
    """Fail before any work if a selected asset holds days of another time zone.

    A table whose days were cut at UTC midnight, then at New York's, would hold rows of two
    overlapping days under one date, and a rematerialized day would delete rows of another.
    """
    for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
        event = context.instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event is not None else None
        entry = materialization.metadata.get(TIMEZONE_METADATA) if materialization else None
        if entry is None or entry.value == build.timezone:
            continue
        raise BlooioConfigError(
            f"{key.to_user_string()} holds days cut at midnight in {entry.value} (its latest "
            f"materialization), but the assets are now built with timezone={build.timezone!r}; "
            "materializing them would mix the days of two time zones in one table, so nothing "
            f"was read or stored. Either keep timezone={entry.value!r}, or move: build the "
            "assets under a new key_prefix (build_blooio_assets(key_prefix=..., timezone=...)) "
            "and backfill them, or drop the tables, wipe these assets "
            "(dagster asset wipe) and backfill them."
        )


def _machine_clock() -> datetime:
    return datetime.now(UTC)


# -- assets computed from stored tables --------------------------------------------------------


def _chat_response_lag_asset(build: _Build) -> dg.AssetsDefinition:
    spec = build.spec(CHAT_RESPONSE_LAG)

    ins, loaders = _stored_table_ins(build, [CHATS])
    outs, deps = asset_outs([spec], [build.key(CHATS)])

    @dg.multi_asset(
        name=_op_name(spec.key),
        outs=outs,
        deps=deps,
        ins=ins,
        resource_defs=loaders,
        backfill_policy=build.backfill_policy,
    )
    def chat_response_lag(
        context: dg.AssetExecutionContext, chats: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        _refuse_a_changed_timezone(context, build)
        lag = response_lag_frame(chats)
        if build.partitions_def is None:
            counts = lag["status"].value_counts()
            figures = {status: int(counts.get(status, 0)) for status in STATUSES}
            output = TableOutput(spec.key, lag, RESPONSE_LAG_COLUMNS)
        else:
            figures = {}
            output = TableOutput(
                spec.key,
                lag,
                RESPONSE_LAG_COLUMNS,
                day_column=DAY_COLUMNS[CHAT_RESPONSE_LAG],
                day_figures=_statuses_per_day(context, lag),
            )
        metadata = output_metadata(
            context, output, preview=build.preview, figures=figures, shared=_recorded(build)
        )
        return dg.Output(lag, output_name=spec.key.to_python_identifier(), metadata=metadata)

    return chat_response_lag


def _response_summary_asset(build: _Build) -> dg.AssetsDefinition:
    spec = build.spec(RESPONSE_SUMMARY)
    upstream = [t for t in (CHAT_RESPONSE_LAG, MESSAGES, REPLY_TIMES) if t in build.specs]
    ins, loaders = _stored_table_ins(build, upstream)

    outs, deps = asset_outs([spec], [build.key(table) for table in upstream])

    @dg.multi_asset(
        name=_op_name(spec.key),
        outs=outs,
        deps=deps,
        ins=ins,
        resource_defs=loaders,
        backfill_policy=build.backfill_policy,
    )
    def response_summary(
        context: dg.AssetExecutionContext, **tables: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        _refuse_a_changed_timezone(context, build)
        keys = context.partition_keys if build.partitions_def is not None else []
        days = (
            [build.partitions_def.time_window_for_partition_key(k).start.date() for k in keys]
            if build.partitions_def is not None
            else None
        )
        summary = response_summary_frame(
            tables["chat_response_lag"],
            timezone=build.timezone,
            days=days,
            reply_times=tables.get("reply_times"),
            messages=tables.get("messages"),
        )
        per_day = summary_figures(summary)
        day_figures = dict(zip(keys, per_day, strict=True)) if keys else None
        output = TableOutput(
            spec.key,
            summary,
            RESPONSE_SUMMARY_COLUMNS,
            day_column="day" if build.partitions_def is not None else None,
            day_figures=day_figures,
        )
        figures = per_day[-1] if per_day and not keys else None
        metadata = output_metadata(
            context, output, preview=build.preview, figures=figures, shared=_recorded(build)
        )
        return dg.Output(summary, output_name=spec.key.to_python_identifier(), metadata=metadata)

    return response_summary


def _stored_table_ins(
    build: _Build, tables: Sequence[str]
) -> tuple[dict[str, dg.AssetIn], dict[str, dg.InputManagerDefinition]]:
    """The ins loading stored tables (each named as its table), and their input managers.

    Days whose materialization recorded no rows load as empty frames of the declared
    columns, as some IO managers store nothing for them (see :mod:`blooio_dagster.empty_days`).
    """
    ins: dict[str, dg.AssetIn] = {}
    loaders: dict[str, dg.InputManagerDefinition] = {}
    for table in tables:
        # The key of the IO manager that stores the table: the one its output is built with.
        (out,) = asset_outs([build.spec(table)])[0].values()
        ins[table], key, loaders[key] = empty_days_in(
            build.key(table), out.io_manager_key or "io_manager", table, _stored_columns
        )
    return ins, loaders


def _stored_columns(table: str) -> tuple[Column, ...]:
    """The declared columns of a table that assets load from storage."""
    return {
        CHATS: CHAT_COLUMNS,
        MESSAGES: MESSAGE_COLUMNS,
        REPLY_TIMES: REPLY_TIME_COLUMNS,
        CHAT_RESPONSE_LAG: RESPONSE_LAG_COLUMNS,
    }[table]


# -- current_chats: the whole list, newest state ----------------------------------------------


def _current_chats_asset(build: _Build) -> dg.AssetsDefinition:
    spec = build.spec(CURRENT_CHATS)

    outs, deps = asset_outs([spec])

    @dg.multi_asset(
        name=_op_name(spec.key),
        outs=outs,
        deps=deps,
        check_specs=[unique_ids_spec(spec.key, "chat_id")],
        required_resource_keys={build.resource_key},
        pool=build.pool,
    )
    def current_chats(context: dg.AssetExecutionContext) -> Iterator[Any]:
        _refuse_a_changed_timezone(context, build)
        blooio: BlooioResource = getattr(context.resources, build.resource_key)
        with blooio.get_client() as client:
            result = client.crawl_chats(
                max_missing=blooio.max_missing,
                on_progress=_progress_logger(context, estimate=True),
            )
        fetched_at = build.clock()
        frame = current_chats_frame(chats_to_frame(result.chats, fetched_at))
        context.log.info(_crawl_summary(result))
        counts = frame["status"].value_counts()
        figures: dict[str, float] = {s: int(counts.get(s, 0)) for s in STATUSES}
        longest = frame["waiting_for"].max()
        if not pd.isna(longest):
            figures["longest_wait_minutes"] = round(longest.total_seconds() / 60, 2)
        output = TableOutput(spec.key, frame, CURRENT_CHAT_COLUMNS)
        metadata = output_metadata(
            context, output, preview=build.preview, figures=figures, shared=_recorded(build)
        )
        yield dg.Output(frame, output_name=spec.key.to_python_identifier(), metadata=metadata)
        yield unique_ids_result(spec.key, frame, "chat_id", preview=build.preview)

    return current_chats


# -- helpers ----------------------------------------------------------------------------------


def _statuses_per_day(
    context: dg.AssetExecutionContext, lag: pd.DataFrame
) -> dict[str, dict[str, int]]:
    """Chats per reply status on each day of the run, days without chats included."""
    days = partition_days(context, lag["last_message_time"])
    return {
        key: {status: int(((days == key) & (lag["status"] == status)).sum()) for status in STATUSES}
        for key in context.partition_keys
    }


def _partition_expr(template: str, column: str) -> str:
    # The summary's day is a DATE: already the partitions' day, with no time zone to convert.
    return column if column == "day" else template.replace("{column}", column)


def _op_name(key: dg.AssetKey, suffix: str = "") -> str:
    return "_".join([*key.path, suffix] if suffix else key.path).replace("-", "_")


def _crawl_figures(result: ChatCrawlResult) -> dict[str, Any]:
    """What a crawl verified and cost: figures of the whole run."""
    return {
        "verified_complete": result.verified,
        "expected_chats": result.expected_total,
        "unique_chats": result.unique_chats,
        "missing_chats": result.missing,
        "deleted_chats": result.deleted,
        "repaired_regions": result.repaired_regions,
        "chat_pages": result.pages,
        "chat_pages_refetched": result.refetched_pages,
        "retries": result.retries,
        "crawl_passes": result.passes,
        "crawl_seconds": round(result.elapsed_seconds, 3),
    }


def _read_messages(
    client: BlooioClient, chats: pd.DataFrame, window: dg.TimeWindow | None, as_of: datetime
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The messages of the chats active in the window (or of all chats), up to ``as_of``.

    With each chat's messages before the window back to the last one that counts, so
    ``reply_times`` can tell whether the window's first inbound message starts a turn.
    """
    active = chats if window is None else chats[chats["last_message_time"] >= window.start]
    ids = active["chat_id"].tolist()
    fetched = client.fetch_messages(
        ids, since=window.start if window else None, until=as_of, preceding=True
    )
    figures = {
        "message_chats": len(ids),
        "message_requests": fetched.requests,
        "message_seconds": round(fetched.elapsed_seconds, 3),
        "message_deleted_chats": fetched.deleted_chats,
        "messages_unsent_skipped": fetched.unsent_skipped,
    }
    return messages_to_frame(fetched.messages), figures


def _crawl_summary(result: ChatCrawlResult) -> str:
    if result.verified:
        done = "Every chat is accounted for."
    elif result.missing is None:
        done = "Not every chat could be accounted for (within max_missing)."
    else:
        done = f"{counted(result.missing, 'chat')} unaccounted for (within max_missing)."
    return (
        f"Read {counted(len(result.chats), 'chat')} in {counted(result.pages, 'page')} "
        f"({counted(result.retries, 'retry', 'retries')}, {result.elapsed_seconds:.1f}s). {done}"
    )


def _progress_logger(
    context: dg.AssetExecutionContext, *, estimate: bool
) -> Callable[[CrawlProgress], None]:
    """A callback that logs crawl progress at most every few seconds (from worker threads)."""
    lock = threading.Lock()
    last = time.monotonic()

    def report(progress: CrawlProgress) -> None:
        nonlocal last
        with lock:
            now = time.monotonic()
            if now - last < PROGRESS_EVERY_SECONDS:
                return
            last = now
        pages = counted(progress.pages, "page")
        if estimate and progress.pages_expected:
            pages += f" of about {progress.pages_expected:,}"
        left = progress.seconds_left if estimate else None
        eta = f", about {left:.0f}s left" if left is not None else ""
        context.log.info(
            f"Blooio crawl: {pages}, {counted(progress.chats_seen, 'chat')}, "
            f"{progress.chats_per_second:,.0f} chats/s{eta}"
        )

    return report
