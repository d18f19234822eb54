"""Dagster wiring: the Blooio assets, their checks, and a schedule for them.

``build_blooio_assets`` makes three assets under a key prefix (``blooio`` by default):

- ``chats``: one row per chat, read with :meth:`BlooioClient.crawl_chats`;
- ``chat_response_lag``: per chat, who spoke last and how long the reply took or is taking;
- ``response_summary``: per day, counts and lag percentiles.

Partitioned daily by default: partition D holds the chats whose newest message fell on D,
as observed when D was materialized. A run over several partitions (a backfill) crawls once.

(No ``from __future__ import annotations`` here: Dagster reads the asset functions'
annotations at definition time.)
"""

import functools
import threading
import time
import warnings
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import dagster as dg
import pandas as pd
from dagster._core.definitions.partitions.partitioned_schedule import (
    UnresolvedPartitionedAssetScheduleDefinition,
)

from blooio_dagster.crawl import CrawlProgress
from blooio_dagster.frames import (
    CHAT_COLUMNS,
    INTEGER,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
    TIME,
    Column,
    chats_to_frame,
    table_schema,
)
from blooio_dagster.metrics import STATUSES, response_lag_frame, response_summary_frame
from blooio_dagster.resources import BlooioResource

DEFAULT_START_DATE = "2025-01-01"
#: Clock skew tolerated between Blooio's timestamps and this machine before a time counts
#: as "in the future".
FUTURE_TOLERANCE = timedelta(minutes=5)
#: Seconds between progress lines while a crawl runs.
PROGRESS_EVERY_SECONDS = 5.0

DEFAULT_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)
)
#: The column Dagster's database IO managers filter on to replace exactly one partition.
PARTITION_COLUMN = "last_message_time"
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


def _without_beta_warnings(build: Callable[P, R]) -> Callable[P, R]:
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


@_without_beta_warnings
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
) -> BlooioDefinitions:
    """The Blooio assets and their checks, ready for ``dg.Definitions(assets=...)``.

    Args:
        key_prefix: prefix of the three asset keys, e.g. ``blooio`` gives ``blooio/chats``.
        group_name: the asset group shown in the UI.
        resource_key: the key under which a :class:`BlooioResource` is provided.
        partitioned: daily partitions (``True``) or one snapshot of the whole list.
        start_date: the first daily partition.
        timezone: the time zone whose midnights split partitions (IANA name).
        pool: the Dagster concurrency pool of the asset that calls the API, so deployments
            can cap concurrent Blooio traffic; ``None`` for no pool.
        freshness_policy: the freshness expected of ``chats``; ``None`` for none.
        backfill_policy: defaults to one run per backfill (one crawl for the whole range),
            which needs an IO manager that stores partition ranges, such as the DuckDB,
            Snowflake or BigQuery ones. Use ``BackfillPolicy.multi_run(1)`` with the
            default filesystem IO manager.
        partition_expr: the SQL a database IO manager filters partitions with, a template
            of ``{column}`` and ``{timezone}`` that must give the column's wall-clock time in
            the partitions' time zone. The default is DuckDB's; for Snowflake use
            ``"CONVERT_TIMEZONE('{timezone}', {column})::TIMESTAMP_NTZ"``, for BigQuery
            ``"DATETIME({column}, '{timezone}')"``.

    Returns:
        Three assets (``chats`` carries its blocking id check and a future-time check) and
        column-schema-change checks for all three.
    """
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)
    if not prefix or not all(isinstance(p, str) and p for p in prefix):
        raise dg.DagsterInvalidDefinitionError(
            f"key_prefix must be a non-empty name or list of names, got {key_prefix!r}."
        )
    partitions_def = blooio_partitions(start_date, timezone) if partitioned else None
    if partitions_def is None:
        partition_expr = ""
    elif "{column}" not in partition_expr:
        raise dg.DagsterInvalidDefinitionError(
            f"partition_expr {partition_expr!r} must contain {{column}} (and usually "
            "{timezone}), for example " + DUCKDB_PARTITION_EXPR
        )
    partition_expr = partition_expr.replace("{timezone}", timezone)
    if partitions_def is not None and backfill_policy is None:
        backfill_policy = dg.BackfillPolicy.single_run()
    chats_key = dg.AssetKey([*prefix, "chats"])
    lag_key = dg.AssetKey([*prefix, "chat_response_lag"])
    summary_key = dg.AssetKey([*prefix, "response_summary"])
    common: dict[str, Any] = {
        "group_name": group_name,
        "kinds": {"blooio", "pandas"},
        "partitions_def": partitions_def,
        "backfill_policy": backfill_policy,
    }
    ids_check = dg.AssetCheckSpec(
        "chat_id_unique",
        asset=chats_key,
        blocking=True,
        description="Every row has a chat_id, and no chat_id appears twice.",
    )
    future_check = dg.AssetCheckSpec(
        "no_future_times",
        asset=chats_key,
        description=(
            "No message time lies after the crawl finished "
            f"(allowing {int(FUTURE_TOLERANCE.total_seconds() // 60)} minutes of clock skew)."
        ),
    )

    @dg.asset(
        key=chats_key,
        description=(
            "Every Blooio chat of the organization, one row per chat, read completely even "
            "while chats move during paging. Partition D holds the chats whose newest message "
            "fell on D, as observed when D was materialized."
        ),
        metadata=_static_metadata(CHAT_COLUMNS, partition_expr, PARTITION_COLUMN),
        required_resource_keys={resource_key},
        check_specs=[ids_check, future_check],
        pool=pool,
        freshness_policy=freshness_policy,
        **common,
    )
    def chats(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.Output[pd.DataFrame] | dg.AssetCheckResult]:
        blooio: BlooioResource = getattr(context.resources, resource_key)
        window = context.partition_time_window if partitions_def is not None else None
        with blooio.get_client() as client:
            result = client.crawl_chats(
                active_since=window.start if window else None,
                max_missing=blooio.max_missing,
                on_progress=_progress_logger(context, estimate=window is None),
            )
        fetched_at = datetime.now(UTC)
        frame = chats_to_frame(result.chats, fetched_at)
        if window is not None:
            times = frame[PARTITION_COLUMN]
            frame = frame[(times >= window.start) & (times < window.end)].reset_index(drop=True)
        context.log.info(
            f"Read {len(result.chats):,} chats in {result.pages:,} pages "
            f"({result.retries} retries, {result.elapsed_seconds:.1f}s); kept {len(frame):,}. "
            + (
                "Every chat is accounted for."
                if result.verified
                else f"{result.missing} chats are unaccounted for (within max_missing)."
            )
        )
        _add_partition_metadata(context, frame, partitions_def)
        yield dg.Output(
            frame,
            metadata={
                **_frame_metadata(frame, CHAT_COLUMNS),
                "verified_complete": result.verified,
                "expected_chats": result.expected_total,
                "unique_chats": result.unique_chats,
                "missing_chats": result.missing,
                "deleted_chats": result.deleted,
                "repaired_regions": result.repaired_regions,
                "pages_fetched": result.pages,
                "pages_refetched": result.refetched_pages,
                "retries": result.retries,
                "crawl_passes": result.passes,
                "elapsed_seconds": round(result.elapsed_seconds, 3),
                "fetched_at": dg.MetadataValue.timestamp(fetched_at),
            },
        )
        yield _ids_check_result(frame)
        yield _future_check_result(frame, fetched_at)

    @dg.asset(
        key=lag_key,
        ins={"chats": dg.AssetIn(chats_key)},
        description=(
            "Per chat: replied, awaiting_reply or outbound_only; how long our reply took "
            "(response_lag) or how long the customer has been waiting (waiting_for)."
        ),
        metadata=_static_metadata(RESPONSE_LAG_COLUMNS, partition_expr, PARTITION_COLUMN),
        **common,
    )
    def chat_response_lag(
        context: dg.AssetExecutionContext, chats: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        lag = response_lag_frame(chats)
        _add_partition_metadata(context, lag, partitions_def, count_statuses=True)
        metadata = _frame_metadata(lag, RESPONSE_LAG_COLUMNS)
        if partitions_def is None:
            counts = lag["status"].value_counts()
            metadata |= {status: int(counts.get(status, 0)) for status in STATUSES}
        return dg.Output(lag, metadata=metadata)

    @dg.asset(
        key=summary_key,
        ins={"chat_response_lag": dg.AssetIn(lag_key)},
        description=(
            "One row per day: chats, how many were replied to, awaiting a reply or "
            "outbound-only, p50/p90/max response lag and the longest current wait, in "
            "seconds. The same figures are materialization metadata, plotted per partition."
        ),
        metadata=_static_metadata(RESPONSE_SUMMARY_COLUMNS, partition_expr, "day"),
        **common,
    )
    def response_summary(
        context: dg.AssetExecutionContext, chat_response_lag: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        keys = context.partition_keys if partitions_def is not None else []
        days = (
            [pd.Timestamp(partitions_def.time_window_for_partition_key(k).start) for k in keys]
            if partitions_def is not None
            else None
        )
        summary = response_summary_frame(chat_response_lag, timezone=timezone, days=days)
        if partitions_def is not None:
            for key, (_, row) in zip(keys, summary.iterrows(), strict=True):
                context.add_asset_metadata(_figures(row), partition_key=key)
            extra: dict[str, Any] = {}
        else:
            extra = _figures(summary.iloc[-1]) if len(summary) else {}
        return dg.Output(
            summary, metadata={**_frame_metadata(summary, RESPONSE_SUMMARY_COLUMNS), **extra}
        )

    schema_checks = dg.build_column_schema_change_checks(assets=[chats_key, lag_key, summary_key])
    return [chats, chat_response_lag, response_summary, *schema_checks]


@_without_beta_warnings
def build_blooio_schedule(
    definitions: Sequence[dg.AssetsDefinition | dg.AssetChecksDefinition],
    *,
    name: str = "blooio_daily",
    hour_of_day: int = 0,
    minute_of_hour: int = 30,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> "dg.ScheduleDefinition | UnresolvedPartitionedAssetScheduleDefinition":
    """A daily schedule for the assets from :func:`build_blooio_assets`.

    Partitioned assets: each day at ``hour_of_day:minute_of_hour`` (in the partitions'
    time zone) it materializes the latest complete day. Unpartitioned: a fresh snapshot.
    """
    assets = [d for d in definitions if isinstance(d, dg.AssetsDefinition) and d.keys]
    if not assets:
        raise dg.DagsterInvalidDefinitionError(
            "build_blooio_schedule needs the definitions returned by build_blooio_assets."
        )
    partitions_def = assets[0].partitions_def
    job = dg.define_asset_job(
        f"{name}_job",
        selection=dg.AssetSelection.assets(*assets),
        description="Materializes the Blooio chats, response lag and summary, with their checks.",
    )
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return dg.build_schedule_from_partitioned_job(
            job,
            name=name,
            hour_of_day=hour_of_day,
            minute_of_hour=minute_of_hour,
            default_status=default_status,
            description="Materializes yesterday's Blooio partition every day.",
        )
    return dg.ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=f"{minute_of_hour} {hour_of_day} * * *",
        default_status=default_status,
        description="Takes a fresh snapshot of every Blooio chat every day.",
    )


# -- helpers ---------------------------------------------------------------------------------


def _static_metadata(columns: Sequence[Column], partition_expr: str, column: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"dagster/column_schema": table_schema(columns)}
    if partition_expr:
        metadata["partition_expr"] = partition_expr.replace("{column}", column)
    return metadata


def _frame_metadata(frame: pd.DataFrame, columns: Sequence[Column]) -> dict[str, Any]:
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": table_schema(columns, frame),
        "preview": dg.MetadataValue.md(_preview(frame)),
    }


def _preview(frame: pd.DataFrame, rows: int = 5) -> str:
    """The first ``rows`` rows as a markdown table whose layout depends on dtypes, not values.

    tabulate would right-align a text column whose cells all look like numbers (phone
    numbers such as ``+12025550123``) and left-align a number column holding a missing value.
    So every cell is made text here and each column is aligned by its dtype: numbers and
    durations right, everything else left. Missing values are blank, and newlines or pipes
    in text cannot break the table.
    """
    head = frame.head(rows)
    cells: dict[str, list[str]] = {}
    align: list[str] = []
    for name in head.columns:
        column = head[name]
        dtype = column.dtype
        if dtype == TIME:
            column = column.dt.strftime("%Y-%m-%d %H:%M:%S")
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        align.append("right" if numeric or pd.api.types.is_timedelta64_dtype(dtype) else "left")
        cells[str(name)] = [
            ""
            if pd.isna(value)
            else format(value, "g")
            if isinstance(value, float)
            else " ".join(str(value).splitlines()).replace("|", "\\|")
            for value in column.astype(object)
        ]
    table = pd.DataFrame(cells, columns=list(cells))
    return str(table.to_markdown(index=False, disable_numparse=True, colalign=align))


def _add_partition_metadata(
    context: dg.AssetExecutionContext,
    frame: pd.DataFrame,
    partitions_def: dg.DailyPartitionsDefinition | None,
    *,
    count_statuses: bool = False,
) -> None:
    """Row counts (and reply statuses) per partition, even when a run covers several days."""
    if partitions_def is None:
        return
    timezone = partitions_def.timezone or "UTC"
    days = frame[PARTITION_COLUMN].dt.tz_convert(timezone).dt.strftime(partitions_def.fmt)
    rows = days.value_counts()
    keys = list(context.partition_keys)
    statuses = (
        pd.crosstab(days, frame["status"]).reindex(index=keys, columns=list(STATUSES), fill_value=0)
        if count_statuses
        else None
    )
    for key in keys:
        metadata = {"dagster/partition_row_count": int(rows.get(key, 0))}
        if statuses is not None:
            metadata |= {str(status): int(n) for status, n in statuses.loc[key].items()}
        context.add_asset_metadata(metadata, partition_key=key)


def _figures(row: pd.Series) -> dict[str, Any]:
    """A summary row's figures as numeric metadata; missing figures are left out."""
    as_number = {c.name: int if c.dtype == INTEGER else float for c in RESPONSE_SUMMARY_COLUMNS}
    return {
        str(name): as_number[str(name)](value)
        for name, value in row.items()
        if name != "day" and not pd.isna(value)
    }


def _ids_check_result(frame: pd.DataFrame) -> dg.AssetCheckResult:
    ids = frame["chat_id"]
    missing = int(ids.isna().sum() + (ids == "").sum())
    duplicated = ids.dropna()[ids.dropna().duplicated()].unique().tolist()
    return dg.AssetCheckResult(
        check_name="chat_id_unique",
        passed=missing == 0 and not duplicated,
        metadata={
            "missing_chat_ids": missing,
            "duplicated_chat_ids": len(duplicated),
            "duplicated_examples": ", ".join(map(str, duplicated[:10])) or "none",
        },
    )


def _future_check_result(frame: pd.DataFrame, fetched_at: datetime) -> dg.AssetCheckResult:
    limit = pd.Timestamp(fetched_at + FUTURE_TOLERANCE)
    columns = ("last_message_time", "last_inbound_time", "last_outbound_time")
    future = {name: int((frame[name] > limit).sum()) for name in columns}
    return dg.AssetCheckResult(
        check_name="no_future_times",
        passed=not any(future.values()),
        metadata={f"{name}_in_future": count for name, count in future.items()},
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
        pages = f"{progress.pages:,}"
        if estimate and progress.pages_expected:
            pages += f" of about {progress.pages_expected:,}"
        left = progress.seconds_left if estimate else None
        eta = f", about {left:.0f}s left" if left is not None else ""
        context.log.info(
            f"Blooio crawl: {pages} pages, {progress.chats_seen:,} chats, "
            f"{progress.chats_per_second:,.0f} chats/s{eta}"
        )

    return report
