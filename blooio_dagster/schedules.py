"""A ready-made daily schedule for the Blooio assets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import dagster as dg

from blooio_dagster.api.settings import Number
from blooio_dagster.api.wording import counted
from blooio_dagster.options import REPLY_LOOKBACK_DAYS, definition_errors

#: Days before the latest complete one that the schedule materializes again, so that turns
#: answered a day or two late get their reply times.
DEFAULT_REPLY_LOOKBACK_DAYS = REPLY_LOOKBACK_DAYS.default
#: When the schedule runs, in the partitions' time zone (Python only: the component keeps 00:30).
HOUR_OF_DAY: Number[int] = Number(
    name="hour_of_day",
    default=0,
    summary="Hour the schedule runs at",
    unit="",
    whole=True,
    minimum=0,
    maximum=23,
)
MINUTE_OF_HOUR: Number[int] = Number(
    name="minute_of_hour",
    default=30,
    summary="Minute the schedule runs at",
    unit="",
    whole=True,
    minimum=0,
    maximum=59,
)
#: Dagster's run tags for a run over a range of partitions.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def build_blooio_schedule(
    definitions: Sequence[dg.AssetsDefinition | dg.AssetChecksDefinition],
    *,
    name: str = "blooio_daily",
    hour_of_day: int = HOUR_OF_DAY.default,
    minute_of_hour: int = MINUTE_OF_HOUR.default,
    reply_lookback_days: int = DEFAULT_REPLY_LOOKBACK_DAYS,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """A daily schedule for the assets from :func:`~blooio_dagster.build_blooio_assets`.

    Partitioned assets: each day at ``hour_of_day:minute_of_hour`` (in the partitions' time
    zone) one run materializes the latest complete day together with the
    ``reply_lookback_days`` days before it, so that late replies reach their turns; with a
    ``multi_run`` backfill policy, one run per day instead. A second run refreshes
    ``current_chats``. Unpartitioned assets: one run takes a fresh snapshot.

    Raises:
        dagster.DagsterInvalidDefinitionError: for definitions that are not Blooio assets, or
            a time of day or look-back out of range.
    """
    assets = [d for d in definitions if isinstance(d, dg.AssetsDefinition) and d.keys]
    if not assets:
        raise dg.DagsterInvalidDefinitionError(
            "build_blooio_schedule needs the definitions returned by build_blooio_assets."
        )
    with definition_errors():
        HOUR_OF_DAY.check(hour_of_day)
        MINUTE_OF_HOUR.check(minute_of_hour)
        REPLY_LOOKBACK_DAYS.check(reply_lookback_days)
    daily = [a for a in assets if isinstance(a.partitions_def, dg.TimeWindowPartitionsDefinition)]
    whole = [a for a in assets if a.partitions_def is None]
    job = dg.define_asset_job(
        f"{name}_job",
        selection=dg.AssetSelection.assets(*assets),
        description="Materializes the Blooio assets, with their checks.",
    )
    if not daily:
        return dg.ScheduleDefinition(
            name=name,
            job=job,
            cron_schedule=f"{minute_of_hour} {hour_of_day} * * *",
            default_status=default_status,
            description="Takes a fresh snapshot of every Blooio chat every day.",
        )
    partitions_def = daily[0].partitions_def
    assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
    single_run = all(
        a.backfill_policy is None or a.backfill_policy.max_partitions_per_run is None for a in daily
    )
    daily_keys = [key for a in daily for key in a.keys]
    whole_keys = [key for a in whole for key in a.keys]

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=f"{minute_of_hour} {hour_of_day} * * *",
        execution_timezone=partitions_def.timezone or "UTC",
        default_status=default_status,
        description=(
            f"Materializes the latest complete Blooio day and the "
            f"{counted(reply_lookback_days, 'day')} "
            "before it (for late replies), and refreshes current_chats."
        ),
    )
    def blooio_daily(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        keys = partitions_def.get_partition_keys(current_time=context.scheduled_execution_time)
        if not keys:
            return
        days = keys[-(reply_lookback_days + 1) :]
        latest = days[-1]
        if single_run:
            yield dg.RunRequest(
                run_key=f"{latest}:{days[0]}",
                asset_selection=daily_keys,
                tags={RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]},
            )
        else:
            for day in days:
                yield dg.RunRequest(
                    run_key=f"{latest}:{day}", asset_selection=daily_keys, partition_key=day
                )
        if whole_keys:
            yield dg.RunRequest(run_key=f"{latest}:current", asset_selection=whole_keys)

    return blooio_daily
