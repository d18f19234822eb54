"""What a crawl tells its run: progress lines while it reads the chat list and the messages, a
summary line, the run's figures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg

from blooio_dagster.api.wording import counted
from blooio_dagster.crawl.fanout import MessagesProgress
from blooio_dagster.crawl.reading import CrawlProgress
from blooio_dagster.crawl.result import ChatCrawlResult

#: Seconds between progress lines while a crawl or a messages read runs.
PROGRESS_EVERY_SECONDS = 5.0

P = TypeVar("P")


def crawl_figures(result: ChatCrawlResult) -> dict[str, Any]:
    """What a crawl verified and cost: figures of the whole run."""
    return {
        "verified_complete": result.verified,
        "expected_chats": result.expected_total,
        "unique_chats": result.unique_chats,
        "missing_chats": result.missing,
        "deleted_chats": result.deleted,
        "repaired_regions": result.repaired_regions,
        "chat_pages": result.pages,
        "chat_pages_refetched": result.refetched_pages,
        "retries": result.retries,
        "crawl_passes": result.passes,
        "crawl_seconds": round(result.elapsed_seconds, 3),
    }


def crawl_summary(result: ChatCrawlResult) -> str:
    if result.verified:
        done = "Every chat is accounted for."
    elif result.missing is None:
        done = "Not every chat could be accounted for (within max_missing)."
    else:
        done = f"{counted(result.missing, 'chat')} unaccounted for (within max_missing)."
    return (
        f"Read {counted(len(result.chats), 'chat')} in {counted(result.pages, 'page')} "
        f"({counted(result.retries, 'retry', 'retries')}, {result.elapsed_seconds:.1f}s). {done}"
    )


def progress_logger(
    context: dg.AssetExecutionContext, *, estimate: bool
) -> Callable[[CrawlProgress], None]:
    """A callback that logs crawl progress at most every few seconds (from worker threads)."""

    def report(progress: CrawlProgress) -> None:
        pages = counted(progress.pages, "page")
        if estimate and progress.pages_expected:
            pages += f" of about {progress.pages_expected:,}"
        left = progress.seconds_left if estimate else None
        eta = f", about {left:.0f}s left" if left is not None else ""
        context.log.info(
            f"Blooio crawl: {pages}, {counted(progress.chats_seen, 'chat')}, "
            f"{progress.chats_per_second:,.0f} chats/s{eta}"
        )

    return _every_few_seconds(report)


def messages_progress_logger(
    context: dg.AssetExecutionContext,
) -> Callable[[MessagesProgress], None]:
    """A callback that logs how far the messages read has come, at most every few seconds."""

    def report(progress: MessagesProgress) -> None:
        rate = progress.chats_done / progress.elapsed_seconds if progress.elapsed_seconds else 0
        left = (progress.chats_total - progress.chats_done) / rate if rate else None
        eta = f", about {left:.0f}s left" if left is not None else ""
        context.log.info(
            f"Blooio messages: {progress.chats_done:,} of "
            f"{counted(progress.chats_total, 'chat')} read, "
            f"{counted(progress.messages, 'message')} in "
            f"{counted(progress.requests, 'request')}{eta}"
        )

    return _every_few_seconds(report)


def _every_few_seconds(report: Callable[[P], None]) -> Callable[[P], None]:
    """``report``, called at most every :data:`PROGRESS_EVERY_SECONDS` (from any thread)."""
    lock = threading.Lock()
    last = time.monotonic()

    def throttled(progress: P) -> None:
        nonlocal last
        with lock:
            now = time.monotonic()
            if now - last < PROGRESS_EVERY_SECONDS:
                return
            last = now
        report(progress)

    return throttled
