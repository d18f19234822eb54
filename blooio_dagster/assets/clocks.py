"""The chat list a run crawled, as a frame, with the API's clock judged once: sampled, then
used for the instant waits are measured to (``fetched_at``) and the reply cutoff, with every
disagreement between clocks logged. Why: docs/design.md, section 'Reply times and the clocks'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import pandas as pd

from blooio_dagster.client import BlooioClient
from blooio_dagster.crawl.result import ChatCrawlResult
from blooio_dagster.tables.chats import chats_to_frame
from blooio_dagster.tables.reply_cutoff import ReplyCutoff, choose_reply_cutoff, waits_measured_at

#: The fewest ``Date`` headers the clocks are judged from: a majority of good clocks
#: outvotes one node whose clock is off.
CLOCK_SAMPLES = 5


@dataclass(frozen=True)
class CrawledChats:
    """The crawled chats and the clocks they were judged by.

    Attributes:
        frame: the chats, their ``fetched_at`` by the API's clock when this machine's is off.
        crawled: this machine's clock when the crawl ended, which times are checked against.
        cutoff: until when replies are looked for (see :func:`choose_reply_cutoff`).
    """

    frame: pd.DataFrame
    crawled: datetime
    cutoff: ReplyCutoff


def crawled_chats(
    context: dg.AssetExecutionContext,
    client: BlooioClient,
    result: ChatCrawlResult,
    *,
    clock: Callable[[], datetime],
    started: datetime,
    window: dg.TimeWindow | None,
) -> CrawledChats:
    """``result``'s chats as a frame, and the clocks judged from the API's ``Date`` headers
    (``client`` samples more while the crawl had fewer than :data:`CLOCK_SAMPLES`); the
    clocks' disagreements are logged as warnings.

    ``clock`` is this machine's, read when the crawl ended; ``started`` is what it said before
    the crawl; ``window``, the run's partitions (``None`` when unpartitioned).
    """
    clocks = result.server_clocks
    # A crawl of a quiet day may get a single answer: one node's clock must not decide alone.
    clocks += client.sample_api_clock(max(CLOCK_SAMPLES - len(clocks), 0))
    crawled = clock()
    # Waits are measured by the API's clock; times are checked against this machine's.
    fetched_at = waits_measured_at(api_clocks=clocks, machine_start=started, machine_end=crawled)
    frame = chats_to_frame(result.chats, fetched_at, checked_against=crawled)
    newest = frame["last_message_time"].max()
    cutoff = choose_reply_cutoff(
        api_clocks=clocks,
        newest_message=None if pd.isna(newest) else newest.to_pydatetime(),
        machine_time=started,
        partition_end=window.end if window else None,
    )
    for warning in cutoff.warnings:
        context.log.warning(f"Blooio clocks: {warning}")
    return CrawledChats(frame=frame, crawled=crawled, cutoff=cutoff)
