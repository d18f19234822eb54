"""The tables computed from stored tables: ``chat_response_lag`` and ``response_summary``.

They load what the API op stored, through the IO manager (days stored empty included, see
:mod:`blooio_dagster.empty_days`), and call the API not at all.
Why: docs/design.md, section "The Dagster face".

(No ``from __future__ import annotations`` here: Dagster reads the asset functions'
annotations at definition time.)
"""

from collections.abc import Callable, Sequence

import dagster as dg
import pandas as pd

from blooio_dagster.assets.partitions import recorded, refuse_a_changed_timezone
from blooio_dagster.assets.settings import Build, op_name, stored_columns
from blooio_dagster.empty_days import empty_days_in
from blooio_dagster.metadata import TableOutput, output_metadata, partition_days
from blooio_dagster.tables.catalogue import (
    CHAT_RESPONSE_LAG,
    CHATS,
    DAY_COLUMNS,
    MESSAGES,
    REPLY_TIMES,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY,
    RESPONSE_SUMMARY_COLUMNS,
)
from blooio_dagster.tables.metrics import (
    STATUSES,
    response_lag_frame,
    response_summary_frame,
    summary_figures,
)
from blooio_dagster.translator import asset_outs


def chat_response_lag_asset(build: Build) -> dg.AssetsDefinition:
    spec = build.spec(CHAT_RESPONSE_LAG)

    @_from_stored_tables(build, spec, [CHATS])
    def chat_response_lag(
        context: dg.AssetExecutionContext, chats: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        refuse_a_changed_timezone(context, build)
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
            context, output, preview=build.preview, figures=figures, shared=recorded(build)
        )
        return dg.Output(lag, output_name=spec.key.to_python_identifier(), metadata=metadata)

    return chat_response_lag


def response_summary_asset(build: Build) -> dg.AssetsDefinition:
    spec = build.spec(RESPONSE_SUMMARY)
    upstream = [t for t in (CHAT_RESPONSE_LAG, MESSAGES, REPLY_TIMES) if t in build.specs]

    @_from_stored_tables(build, spec, upstream)
    def response_summary(
        context: dg.AssetExecutionContext, **tables: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        refuse_a_changed_timezone(context, build)
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
            context, output, preview=build.preview, figures=figures, shared=recorded(build)
        )
        return dg.Output(summary, output_name=spec.key.to_python_identifier(), metadata=metadata)

    return response_summary


def _from_stored_tables(
    build: Build, spec: dg.AssetSpec, upstream: list[str]
) -> Callable[[Callable[..., dg.Output[pd.DataFrame]]], dg.AssetsDefinition]:
    """The multi-asset decorator of a table computed from the stored ``upstream`` tables."""
    ins, loaders = _stored_table_ins(build, upstream)
    outs, deps = asset_outs([spec], [build.key(table) for table in upstream])
    return dg.multi_asset(
        name=op_name(spec.key),
        outs=outs,
        deps=deps,
        ins=ins,
        resource_defs=loaders,
        backfill_policy=build.backfill_policy,
    )


def _stored_table_ins(
    build: Build, tables: Sequence[str]
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
            build.key(table), out.io_manager_key or "io_manager", table, stored_columns
        )
    return ins, loaders


def _statuses_per_day(
    context: dg.AssetExecutionContext, lag: pd.DataFrame
) -> dict[str, dict[str, int]]:
    """Chats per reply status on each day of the run, days without chats included."""
    days = partition_days(context, lag["last_message_time"])
    return {
        key: {status: int(((days == key) & (lag["status"] == status)).sum()) for status in STATUSES}
        for key in context.partition_keys
    }
