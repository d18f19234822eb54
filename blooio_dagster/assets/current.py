"""``current_chats``: every chat once, in its newest state, with who is waiting right now.

Unpartitioned, and built beside the daily tables only: one full crawl of the chat list.

(No ``from __future__ import annotations`` here: Dagster reads the asset function's
annotations at definition time.)
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from blooio_dagster.assets.clocks import crawled_chats
from blooio_dagster.assets.partitions import recorded, refuse_a_changed_timezone
from blooio_dagster.assets.reporting import crawl_summary, progress_logger
from blooio_dagster.assets.settings import Build, op_name
from blooio_dagster.checks import unique_ids_result, unique_ids_spec
from blooio_dagster.metadata import TableOutput, output_metadata
from blooio_dagster.resources import BlooioResource
from blooio_dagster.tables.catalogue import CURRENT_CHAT_COLUMNS, CURRENT_CHATS
from blooio_dagster.tables.metrics import STATUSES, current_chats_frame
from blooio_dagster.translator import asset_outs


def current_chats_asset(build: Build) -> dg.AssetsDefinition:
    spec = build.spec(CURRENT_CHATS)

    outs, deps = asset_outs([spec])

    @dg.multi_asset(
        name=op_name(spec.key),
        outs=outs,
        deps=deps,
        check_specs=[unique_ids_spec(spec.key, "chat_id")],
        required_resource_keys={build.resource_key},
        pool=build.pool,
    )
    def current_chats(context: dg.AssetExecutionContext) -> Iterator[Any]:
        refuse_a_changed_timezone(context, build)
        blooio: BlooioResource = getattr(context.resources, build.resource_key)
        started = build.clock()
        with blooio.get_client() as client:
            result = client.crawl_chats(
                max_missing=blooio.max_missing,
                on_progress=progress_logger(context, estimate=True),
            )
            # No replies are looked for here, but the clocks are judged and logged as in the
            # daily runs: a disagreement moves fetched_at, and so every wait.
            read = crawled_chats(
                context, client, result, clock=build.clock, started=started, window=None
            )
        frame = current_chats_frame(read.frame)
        context.log.info(crawl_summary(result))
        counts = frame["status"].value_counts()
        figures: dict[str, float] = {s: int(counts.get(s, 0)) for s in STATUSES}
        longest = frame["waiting_for"].max()
        if not pd.isna(longest):
            figures["longest_wait_minutes"] = round(longest.total_seconds() / 60, 2)
        output = TableOutput(spec.key, frame, CURRENT_CHAT_COLUMNS)
        metadata = output_metadata(
            context, output, preview=build.preview, figures=figures, shared=recorded(build)
        )
        yield dg.Output(frame, output_name=spec.key.to_python_identifier(), metadata=metadata)
        yield unique_ids_result(spec.key, frame, "chat_id", preview=build.preview)

    return current_chats
