"""What a chat crawl returns: every chat it found, what it verified and what it cost."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from blooio_dagster.api.wire.records import ChatList
from blooio_dagster.crawl.chats import ChatCrawler

logger = logging.getLogger("blooio_dagster")


@dataclass(frozen=True)
class ChatCrawlResult:
    """Every chat a crawl found, what it verified, and what it cost (for metadata and logs).

    Attributes:
        chats: every chat, newest first (or oldest first for ``sort="oldest"``), read as
            dicts; held as compact records, so
            :func:`~blooio_dagster.tables.chats.chats_to_frame` converts them without dicts.
        verified: whether every chat is accounted for (always true unless ``max_missing``
            let a shortfall through).
        expected_total: chats the API says exist (in the ``active_since`` window); ``None``
            when it sends no ``pagination.total``.
        unique_chats: distinct chats read; ``len(chats)``.
        missing: chats unaccounted for (0 when verified); ``None`` when not countable.
        deleted: chats the crawl read, then saw gone from the list, and left out.
        repaired_regions: parts of the list that did not add up and were read again.
        pages: requests answered with a page, re-reads included.
        refetched_pages: re-reads: windows read again to join pages, ties or the end.
        passes: passes over the list, each reading what changed during the one before.
        retries: requests retried after a failure (5xx, 429, timeouts, cut-off bodies).
        elapsed_seconds: how long the crawl took.
        server_time: the API's clock during the crawl: the median of its answers' ``Date``
            headers, so one node whose clock is off cannot move it far; ``None`` if it sends
            none. What "now" means for the chats read.
        server_clocks: every ``Date`` header the crawl's answers carried, in order of arrival.
    """

    chats: ChatList
    verified: bool
    expected_total: int | None
    unique_chats: int
    missing: int | None
    deleted: int
    repaired_regions: int
    pages: int
    refetched_pages: int
    passes: int
    retries: int
    elapsed_seconds: float
    server_time: datetime | None = None
    server_clocks: tuple[datetime, ...] = ()


def crawl_result(
    crawler: ChatCrawler, chats: list[Any], *, retries: int, clocks: Sequence[int]
) -> ChatCrawlResult:
    """The result of ``crawler``'s finished crawl, which read ``chats`` with ``retries``
    retried requests and answers stamped ``clocks`` (epoch ms); a shortfall that
    ``max_missing`` let through is logged by count and region."""
    verdict, stats = crawler.verdict, crawler.stats
    if not verdict.verified:
        logger.warning(
            "Blooio: %s chats unaccounted for (max_missing=%d lets the crawl return): %s",
            verdict.missing,
            crawler.max_missing,
            "; ".join(verdict.regions),
        )
    return ChatCrawlResult(
        chats=ChatList(chats),
        verified=verdict.verified,
        expected_total=verdict.expected,
        unique_chats=len(chats),
        missing=verdict.missing,
        deleted=verdict.deleted,
        repaired_regions=stats.repaired_regions,
        pages=stats.pages,
        refetched_pages=stats.refetched_pages,
        passes=stats.passes,
        retries=retries,
        elapsed_seconds=stats.elapsed_seconds,
        server_time=(
            datetime.fromtimestamp(statistics.median_high(clocks) / 1000, UTC) if clocks else None
        ),
        server_clocks=tuple(datetime.fromtimestamp(ms / 1000, UTC) for ms in clocks),
    )
