"""The daily partitions: how days are cut, what a backfill costs, and the runs refused for them.

Why: docs/design.md, section "The Dagster face".
"""

from __future__ import annotations

import warnings
import zoneinfo
from datetime import date, datetime
from typing import Any

import dagster as dg

from blooio_dagster.api.errors import BlooioConfigError
from blooio_dagster.api.wording import counted
from blooio_dagster.assets.settings import Build

DEFAULT_START_DATE = "2025-01-01"
#: How a database turns a partition column into wall-clock time in the partitions' time zone.
#: Dagster's IO managers compare ``partition_expr`` with naive ``'YYYY-MM-DD HH:MM:SS'``
#: strings, so a timezone-aware column must be converted, or the comparison would follow the
#: database session's time zone (the machine's, for DuckDB). This is DuckDB's spelling.
DUCKDB_PARTITION_EXPR = "timezone('{timezone}', {column})"
#: Days per run under which a multi-run backfill policy warns of its cost.
COSTLY_BELOW = 7
#: The metadata entry recording the time zone whose midnights cut a materialization's days.
TIMEZONE_METADATA = "blooio/timezone"


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
    if isinstance(start_date, str):
        try:
            date.fromisoformat(start_date)
        except ValueError as exc:
            raise dg.DagsterInvalidDefinitionError(
                f"start_date {start_date!r} is not a date such as '2025-01-01' (year-month-day): "
                f"{exc}."
            ) from None
    try:
        return dg.DailyPartitionsDefinition(start_date=start_date, timezone=timezone)
    except (ValueError, dg.DagsterInvalidDefinitionError) as exc:
        raise dg.DagsterInvalidDefinitionError(
            f"start_date {start_date!r} is not a date such as '2025-01-01': {exc}"
        ) from None


class BlooioCostlyBackfillWarning(UserWarning):
    """A backfill policy that runs few days per run.

    A run reads every chat active since its first day and their messages up to now, so each
    run of an old range costs about as much as the whole range in one run.
    """


def warn_of_a_costly_backfill(days_per_run: int) -> None:
    """Warn, at the line that called :func:`~blooio_dagster.build_blooio_assets`, when a
    backfill policy runs fewer than :data:`COSTLY_BELOW` days per run."""
    if days_per_run >= COSTLY_BELOW:
        return
    warnings.warn(
        BlooioCostlyBackfillWarning(
            f"backfill_policy runs {counted(days_per_run, 'day')} per run. Each run reads "
            "every chat active since its first day, with their messages up to now, so a "
            "backfill costs about one such crawl per run: 60 days one per run can take "
            "30 times the requests of one run. Prefer BackfillPolicy.single_run() with a "
            "database IO manager (DuckDB, Snowflake, BigQuery), or "
            f"multi_run({COSTLY_BELOW}) or more."
        ),
        # This function, build_blooio_assets, its beta-warning wrapper, then the caller.
        stacklevel=4,
    )


def day_partition_expr(template: str, column: str) -> str:
    # The summary's day is a DATE: already the partitions' day, with no time zone to convert.
    return column if column == "day" else template.replace("{column}", column)


def refuse_ranges_the_io_manager_cannot_store(context: dg.AssetExecutionContext) -> None:
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


def recorded(build: Build) -> dict[str, Any]:
    """What every materialization records about how its rows were cut into days."""
    return {TIMEZONE_METADATA: build.timezone}


def refuse_a_changed_timezone(context: dg.AssetExecutionContext, build: Build) -> None:
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
