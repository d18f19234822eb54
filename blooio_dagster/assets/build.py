"""``build_blooio_assets``: the Blooio tables as Dagster assets, with their checks.

It validates its arguments into a :class:`~blooio_dagster.assets.settings.Build`, describes
each table for the translator, and asks each module of this package for its asset:
:mod:`~blooio_dagster.assets.api_tables` (``chats``, ``messages``, ``reply_times``),
:mod:`~blooio_dagster.assets.derived` (``chat_response_lag``, ``response_summary``),
:mod:`~blooio_dagster.assets.current` (``current_chats``) and
:mod:`~blooio_dagster.assets.freshness` (the ``newest_day_stored`` checks).
Why: docs/design.md, section "The Dagster face".
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import dagster as dg

from blooio_dagster.assets.api_tables import api_tables_asset
from blooio_dagster.assets.current import current_chats_asset
from blooio_dagster.assets.derived import chat_response_lag_asset, response_summary_asset
from blooio_dagster.assets.freshness import (
    DEFAULT_FRESHNESS_POLICY,
    check_freshness_policy,
    newest_day_checks,
)
from blooio_dagster.assets.partitions import (
    DEFAULT_START_DATE,
    DUCKDB_PARTITION_EXPR,
    blooio_partitions,
    day_partition_expr,
    warn_of_a_costly_backfill,
)
from blooio_dagster.assets.settings import Build, machine_clock
from blooio_dagster.options import REPLY_SLA, definition_errors
from blooio_dagster.tables.catalogue import (
    CHAT_RESPONSE_LAG,
    CHATS,
    CURRENT_CHATS,
    DAY_COLUMNS,
    MESSAGES,
    REPLY_TIMES,
    RESPONSE_SUMMARY,
    TABLES,
)
from blooio_dagster.tables.reply_times import BusinessHours
from blooio_dagster.translator import BlooioTableProps, DagsterBlooioTranslator, translate

#: The reply-time target whose breaches ``reply_times`` and ``response_summary`` count.
DEFAULT_REPLY_SLA = REPLY_SLA.default_span

BlooioDefinitions = list[dg.AssetsDefinition | dg.AssetChecksDefinition]
P = ParamSpec("P")
R = TypeVar("R")


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
        freshness_policy: how old the newest data may grow: ``FreshnessPolicy.time_window(
            fail_window=..., warn_window=...)``. ``current_chats`` (or, unpartitioned,
            ``chats``) carries it: a materialization within the windows. Each partitioned
            table gets a ``newest_day_stored`` check from its windows instead: the newest day
            stored must be no older than the newest day that ended ``warn_window`` ago (else a
            warning) or ``fail_window`` ago (else an error), so that a backfill of old days
            does not pass for fresh; :func:`build_blooio_freshness_sensor` runs them.
            ``None`` for neither.
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
        ``current_chats``, a future-time check on ``chats``, column-schema-change checks and
        (partitioned, with a freshness policy) the ``newest_day_stored`` checks.
    """
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    if not prefix or not all(isinstance(p, str) and p for p in prefix):
        raise dg.DagsterInvalidDefinitionError(
            f"key_prefix must be a non-empty name or list of names, got {key_prefix!r}."
        )
    with definition_errors():
        REPLY_SLA.check_span(reply_sla)
    partitions_def = blooio_partitions(start_date, timezone) if partitioned else None
    check_freshness_policy(freshness_policy, daily=partitions_def is not None)
    if partitions_def is not None and "{column}" not in partition_expr:
        raise dg.DagsterInvalidDefinitionError(
            f"partition_expr {partition_expr!r} must contain {{column}} (and usually "
            "{timezone}), for example " + DUCKDB_PARTITION_EXPR
        )
    if partitions_def is not None and backfill_policy is None:
        backfill_policy = dg.BackfillPolicy.single_run()
    days_per_run = backfill_policy.max_partitions_per_run if backfill_policy else None
    if partitions_def is not None and days_per_run is not None:
        warn_of_a_costly_backfill(days_per_run)
    tables = _tables(
        prefix=tuple(prefix),
        group_name=group_name,
        partitions_def=partitions_def,
        partition_expr=partition_expr.replace("{timezone}", timezone),
        freshness_policy=freshness_policy,
        automation_condition=automation_condition,
        messages=messages,
    )
    build = Build(
        resource_key=resource_key,
        partitions_def=partitions_def,
        timezone=timezone,
        pool=pool,
        backfill_policy=backfill_policy,
        reply_sla=reply_sla,
        business_hours=business_hours,
        preview=preview,
        specs=translate(translator or DagsterBlooioTranslator(), tables),
        clock=clock or machine_clock,
    )
    definitions: BlooioDefinitions = [
        api_tables_asset(build),
        chat_response_lag_asset(build),
        response_summary_asset(build),
    ]
    if CURRENT_CHATS in build.specs:
        definitions.append(current_chats_asset(build))
    definitions.extend(
        dg.build_column_schema_change_checks(assets=[spec.key for spec in build.specs.values()])
    )
    if partitions_def is not None and freshness_policy is not None:
        definitions.append(newest_day_checks(build, freshness_policy))
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
            partition_expr=day_partition_expr(partition_expr, DAY_COLUMNS[name]) if daily else None,
            # A partitioned table's freshness is its newest day's: see newest_day_checks.
            freshness_policy=freshness_policy if fresh and daily is None else None,
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
