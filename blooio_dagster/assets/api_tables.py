"""The one op that reads the API: ``chats``, ``messages`` and ``reply_times`` from one crawl.

A run crawls the chat list once (over a range of days, once for the whole range), reads the
active chats' messages once, and stores all of its tables or none.
Why: docs/design.md, section "The Dagster face".

(No ``from __future__ import annotations`` here: Dagster reads the asset function's
annotations at definition time.)
"""

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd

from blooio_dagster.assets.clocks import crawled_chats
from blooio_dagster.assets.partitions import (
    recorded,
    refuse_a_changed_timezone,
    refuse_ranges_the_io_manager_cannot_store,
)
from blooio_dagster.assets.reporting import (
    crawl_figures,
    crawl_summary,
    messages_progress_logger,
    progress_logger,
)
from blooio_dagster.assets.settings import Build, op_name, stored_columns
from blooio_dagster.checks import (
    no_future_times_result,
    no_future_times_spec,
    unique_ids_result,
    unique_ids_spec,
)
from blooio_dagster.client import BlooioClient
from blooio_dagster.metadata import TableOutput, output_metadata, record_run_figures
from blooio_dagster.resources import BlooioResource
from blooio_dagster.tables.catalogue import API_TABLES, CHATS, DAY_COLUMNS, MESSAGES, REPLY_TIMES
from blooio_dagster.tables.messages import messages_to_frame
from blooio_dagster.tables.reply_times import reply_times_frame
from blooio_dagster.translator import asset_outs


def api_tables_asset(build: Build) -> dg.AssetsDefinition:
    chats_key = build.key(CHATS)
    specs = [build.spec(t) for t in API_TABLES if t in build.specs]
    check_specs = [unique_ids_spec(chats_key, "chat_id"), no_future_times_spec(chats_key)]
    if MESSAGES in build.specs:
        check_specs.append(unique_ids_spec(build.key(MESSAGES), "message_id"))

    # Not required: a run of a subset (chats alone, say) leaves the other outputs out.
    outs, deps = asset_outs(specs, required=False)

    @dg.multi_asset(
        name=op_name(chats_key, "api"),
        outs=outs,
        deps=deps,
        check_specs=check_specs,
        can_subset=True,
        required_resource_keys={build.resource_key},
        backfill_policy=build.backfill_policy,
        pool=build.pool,
    )
    def blooio_api(context: dg.AssetExecutionContext) -> Iterator[Any]:
        refuse_ranges_the_io_manager_cannot_store(context)
        refuse_a_changed_timezone(context, build)
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
                on_progress=progress_logger(context, estimate=window is None),
            )
            read = crawled_chats(
                context, client, result, clock=build.clock, started=started, window=window
            )
            chats, cutoff = read.frame, read.cutoff
            figures = crawl_figures(result)
            context.log.info(crawl_summary(result))
            history = None
            if wanted & {MESSAGES, REPLY_TIMES}:
                history, messages_figures = _read_messages(
                    context, client, chats, window, cutoff.at
                )
                figures |= messages_figures
        record_run_figures(context, figures)
        # Every output is computed before the first is yielded, so a run that fails on
        # any of them stores none: the stored partitions stay as they were.
        events: list[Any] = []
        if CHATS in wanted:
            frame = _in_window(chats, "last_message_time", window)
            events += _table_output(context, build, CHATS, frame, crawled=read.crawled)
        if MESSAGES in wanted and history is not None:
            frame = _in_window(history, "time_sent", window)
            events += _table_output(context, build, MESSAGES, frame)
        if REPLY_TIMES in wanted and history is not None:
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


def _table_output(
    context: dg.AssetExecutionContext,
    build: Build,
    table: str,
    frame: pd.DataFrame,
    *,
    crawled: datetime | None = None,
    shared: Mapping[str, Any] | None = None,
) -> list[Any]:
    """One table's output with honest metadata, followed by its selected checks.

    ``crawled``: this machine's clock when the chat list was read, which the chats' times
    are checked against.
    """
    key = build.key(table)
    columns = stored_columns(table)
    output = TableOutput(
        key,
        frame,
        columns,
        day_column=DAY_COLUMNS[table] if build.partitions_def is not None else None,
    )
    metadata = output_metadata(
        context, output, preview=build.preview, shared={**recorded(build), **(shared or {})}
    )
    checks: list[dg.AssetCheckResult] = []
    if table == CHATS:
        assert crawled is not None
        checks += [
            unique_ids_result(key, frame, "chat_id", preview=build.preview),
            no_future_times_result(key, frame, crawled),
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


def _read_messages(
    context: dg.AssetExecutionContext,
    client: BlooioClient,
    chats: pd.DataFrame,
    window: dg.TimeWindow | None,
    as_of: datetime,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The messages of the chats active in the window (or of all chats), up to ``as_of``.

    With each chat's messages before the window back to the last one that counts, so
    ``reply_times`` can tell whether the window's first inbound message starts a turn.
    """
    active = chats if window is None else chats[chats["last_message_time"] >= window.start]
    ids = active["chat_id"].tolist()
    fetched = client.fetch_messages(
        ids,
        since=window.start if window else None,
        until=as_of,
        preceding=True,
        on_progress=messages_progress_logger(context),
    )
    figures = {
        "message_chats": len(ids),
        "message_requests": fetched.requests,
        "message_seconds": round(fetched.elapsed_seconds, 3),
        "message_deleted_chats": fetched.deleted_chats,
        "messages_unsent_skipped": fetched.unsent_skipped,
    }
    return messages_to_frame(fetched.messages), figures
