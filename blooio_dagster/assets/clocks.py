"""The API's clock in a run that crawls the chat list: sampled once, then used for the
instant waits are measured to (``fetched_at``) and the reply cutoff, with every disagreement
between clocks logged. Why: docs/design.md, section 'Reply times and the clocks'.
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pandas as pd

from blooio_dagster.client import BlooioClient
from blooio_dagster.crawl.result import ChatCrawlResult
from blooio_dagster.tables.reply_cutoff import ReplyCutoff, choose_reply_cutoff

#: The fewest ``Date`` headers the clocks are judged from: a majority of good clocks
#: outvotes one node whose clock is off.
CLOCK_SAMPLES = 5


def api_clocks(client: BlooioClient, result: ChatCrawlResult) -> tuple[datetime, ...]:
    """The ``Date`` headers of the crawl's answers, and of one-row requests after it while
    there are fewer than :data:`CLOCK_SAMPLES`: a crawl of a quiet day may get a single
    answer, and one node's clock must not decide alone."""
    clocks = result.server_clocks
    return clocks + client.sample_api_clock(max(CLOCK_SAMPLES - len(clocks), 0))


def reply_cutoff(
    context: dg.AssetExecutionContext,
    clocks: tuple[datetime, ...],
    chats: pd.DataFrame,
    started: datetime,
    window: dg.TimeWindow | None,
) -> ReplyCutoff:
    """Until when replies are looked for (see :func:`choose_reply_cutoff`), its warnings
    about the clocks logged."""
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
