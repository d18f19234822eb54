"""Reading the chat list's pages for a crawl, and what the pages read so far show.

:class:`PageReader` fetches one page at a time (from any thread), turns it into a
:class:`~blooio_dagster.crawl.pages.ChatPage`, keeps each chat's newest state, and learns from
the pages the newest ``pagination.total``, the most chats the server puts on a page (it may cap
pages without saying so), and where the chats without a time end. It reads again a page that
came back empty where chats should be (a replica lagging behind), and reports progress after
every page. The crawl (:mod:`blooio_dagster.crawl.chats`) builds on it.

Why: docs/design.md, section "Why the chat crawl is complete".
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from blooio_dagster.api.errors import BlooioIncompleteError
from blooio_dagster.api.retry import backoff_seconds
from blooio_dagster.api.wire.chats import PageAnswer
from blooio_dagster.api.wire.records import field_values
from blooio_dagster.api.wording import counted
from blooio_dagster.crawl.pages import ChatPage, NewestChats, SortKeys, is_timed

#: Pages smaller than this cannot overlap their neighbours and still move forward.
MIN_CRAWL_PAGE_SIZE = 4
#: Reads of a page that came back empty although chats should be there.
MAX_EMPTY_READS = 4

FetchPage = Callable[[int, int], PageAnswer]
"""``fetch(offset, limit)`` for ``sort=recent``; must be safe to call from several threads."""


@dataclass(frozen=True)
class CrawlProgress:
    """Where a crawl stands, given to the ``on_progress`` callback after every page."""

    pages: int
    chats_seen: int
    total: int | None
    elapsed_seconds: float
    pages_expected: int | None

    @property
    def chats_per_second(self) -> float:
        return self.chats_seen / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """A rough estimate from the pages still expected at the current pace."""
        if not self.pages_expected or self.pages == 0:
            return None
        remaining = max(self.pages_expected - self.pages, 0)
        return remaining * self.elapsed_seconds / self.pages


@dataclass
class CrawlStats:
    """What one crawl cost and repaired."""

    pages: int = 0
    refetched_pages: int = 0
    passes: int = 0
    repair_rounds: int = 0
    repaired_regions: int = 0
    elapsed_seconds: float = 0.0


class PageReader:
    """Reads pages of ``GET /chats?sort=recent`` through ``fetch`` and keeps what they show.

    Safe to use from several threads: every page is recorded under one lock. ``on_progress``
    is called after every page.
    """

    def __init__(
        self,
        fetch: FetchPage,
        *,
        page_size: int,
        on_progress: Callable[[CrawlProgress], None] | None = None,
    ) -> None:
        self._fetch_raw = fetch
        self._limit = max(page_size, MIN_CRAWL_PAGE_SIZE)
        self._cap = self._limit
        self._largest_page = 0
        # Without totals: the short page that ended first, and the furthest page with chats.
        self._first_short: ChatPage | None = None
        self._furthest_read = -1
        self._on_progress = on_progress
        self._ticks = itertools.count()
        self._started = 0.0  # when the crawl began (time.monotonic), for its progress
        self._keys = SortKeys()
        self._newest = NewestChats()
        self._lock = threading.Lock()
        self._latest_total: tuple[int, int] | None = None  # (received, total)
        self._timed_start: int | None = None
        # Where this round's reads could not show every chat, as the verdict names them.
        self._regions: list[str] = []
        self.stats = CrawlStats()

    @property
    def overlap(self) -> int:
        """Rows each page shares with the one before it: a few, so that a chat or two moving
        to the front between the reads of two neighbours still leaves them overlapping."""
        return max(2, self._cap // 50)

    @property
    def step(self) -> int:
        """Offsets between consecutive pages."""
        return max(1, self._cap - self.overlap)

    @property
    def cap(self) -> int:
        """The most chats one page holds: the page size, or less if the server caps it."""
        return self._cap

    @property
    def total(self) -> int | None:
        """The newest ``pagination.total`` read."""
        return self._latest_total[1] if self._latest_total else None

    def _fetch(self, offset: int, *, reread: bool = False) -> ChatPage:
        sent = next(self._ticks)
        answer = self._answer(offset)
        received = next(self._ticks)
        times = field_values(answer.chats, "last_message_time")
        self._keys.learn(offset, times)
        page = ChatPage(
            offset,
            self._limit,
            field_values(answer.chats, "id"),
            self._keys.of(times),
            answer.total,
            answer.limit,
            answer.server_time,
            sent,
            received,
        )
        if not page.is_sorted():
            raise BlooioIncompleteError(
                f"the page at offset {offset} is not sorted newest first, as sort=recent "
                "promises; the API seems to ignore sort, so completeness cannot be checked."
            )
        self._record(page, answer.chats, reread)
        return page

    def _answer(self, offset: int) -> PageAnswer:
        """The answer at ``offset``, read again, after a backoff, while it says the list is
        empty (no chats, ``pagination.total`` 0) although chats were read: a replica lagging
        behind answers so for a few requests, and its pages are not recorded. Up to
        :data:`MAX_EMPTY_READS` re-reads; then the crawl raises, saying so.
        """
        answer = self._fetch_raw(offset, self._limit)
        for attempt in range(1, MAX_EMPTY_READS + 1):
            with self._lock:
                read = len(self._newest)
                if answer.chats or answer.total != 0 or not read:
                    return answer
                self.stats.refetched_pages += 1
            time.sleep(backoff_seconds(attempt))
            answer = self._fetch_raw(offset, self._limit)
        if answer.chats or answer.total != 0:
            return answer
        before = "?" if self.total is None else f"{self.total:,}"
        raise BlooioIncompleteError(
            f"{MAX_EMPTY_READS + 1} empty pages in a row from offset {offset:,}; the total "
            f"fell from {before} to 0 after {counted(read, 'chat')} had been read (a replica lagging "
            "behind, or every chat deleted at once). Try again later.",
            unique_chats=read,
        )

    def _record(self, page: ChatPage, records: Sequence[Any], reread: bool) -> None:
        with self._lock:  # called from every worker thread
            self._newest.add(page, records)
            self.stats.pages += 1
            self.stats.refetched_pages += reread
            if page.total is not None and (
                self._latest_total is None or page.received > self._latest_total[0]
            ):
                self._latest_total = (page.received, page.total)
            self._learn_cap(page)
            if self._keys.nulls_first and page.keys and not is_timed(page.first_key):
                index = next((i for i, key in enumerate(page.keys) if is_timed(key)), None)
                if index is not None:
                    self._timed_start = page.offset + index
            total = self.total
            progress = CrawlProgress(
                pages=self.stats.pages,
                chats_seen=len(self._newest),
                total=total,
                elapsed_seconds=time.monotonic() - self._started,
                pages_expected=math.ceil(total / self.step) + 1 if total else None,
            )
        if self._on_progress is not None:
            self._on_progress(progress)

    def _learn_cap(self, page: ChatPage) -> None:
        """A server may cap pages below the limit asked for; pages then step by the cap."""
        self._largest_page = max(self._largest_page, len(page))
        reported = page.reported_limit
        if reported is not None and 1 <= reported < self._limit:
            self._cap = min(self._cap, max(reported, MIN_CRAWL_PAGE_SIZE))
        elif page.total is not None and page.end < page.total:
            self._short_but_more_follow(page)
        elif page.total is None and page.keys:
            self._learn_cap_from_positions(page)

    def _learn_cap_from_positions(self, page: ChatPage) -> None:
        """Without totals, chats read at or past where a short page ended show that more
        chats followed it: a page capped without saying so looks short, as only the last
        page should."""
        self._furthest_read = max(self._furthest_read, page.offset)
        first = self._first_short
        if self._is_short(page) and (first is None or page.end < first.end):
            self._first_short = first = page
        if first is not None and self._furthest_read >= first.end:
            self._short_but_more_follow(first)

    def _short_but_more_follow(self, page: ChatPage) -> None:
        """A page came back short although more chats follow: unless the shortfall is a few
        rows, the server caps pages without saying so, at the largest page seen."""
        if len(page) < self._cap and self._largest_page > self.overlap:
            self._cap = max(self._largest_page, MIN_CRAWL_PAGE_SIZE)

    def _reread_empty(self, page: ChatPage, *, known: bool = False) -> ChatPage:
        """Read an empty page again while chats should be there.

        They should when the total says so, or (``known``) when chats were read there
        before and the API sends no total to tell.
        """
        for _ in range(MAX_EMPTY_READS):
            total = self.total
            expected = known if total is None else page.offset < total
            if page.keys or not expected:
                return page
            page = self._fetch(page.offset, reread=True)
        return page

    def _read(self, offset: int, pages: dict[int, ChatPage], *, known: bool = False) -> ChatPage:
        """Read one more window for the chain: to join two pages, a run of ties or the end.

        ``known``: chats were read at ``offset`` before, so an empty window is read again
        even when the API sends no total to say that chats should be there.
        """
        page = self._reread_empty(self._fetch(offset, reread=True), known=known)
        pages[offset] = page
        return page

    def _is_short(self, page: ChatPage) -> bool:
        return len(page) < min(page.limit, self._cap)

    def reaches_end(self, page: ChatPage) -> bool:
        """Whether a page says the list ended within it: short, and its total agrees."""
        return self._is_short(page) and (page.total is None or page.end >= page.total)
