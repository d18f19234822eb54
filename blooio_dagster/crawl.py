"""Reading every chat exactly once out of Blooio's offset-paged, constantly changing chat list.

``GET /chats?sort=recent`` is not a snapshot. While a client pages, a chat that receives a
message jumps to the front, new chats appear at the front, and every chat behind them shifts
back. A naive ``offset += limit`` loop returns shifted chats twice and misses a chat that jumps
from an unread page to the read front. This module's crawl is complete anyway, with pages
fetched concurrently, by leaning on two facts of a list sorted newest first:

1. Let ``W`` be the newest ``last_message_time`` on page 0 when a pass starts. A chat that
   changes after that gets a message at or after ``W``, so the list is always "chats at or
   after W" followed by "chats older than W" (the *stable* chats), and the stable chats never
   change and keep their relative order. A stable chat's position can only grow.
2. So if page A (offset ``o``) was answered before page B (offset ``o + step``) was requested,
   no stable chat can slip between them. If B might have been answered first (they were in
   flight together), the pages overlap by a few rows and must share a stable chat; when they
   do not, B is fetched again, now strictly after A, and the check moves on to B and C.

A pass therefore covers every stable chat from the front down to the end of the list (or to
``active_since``), and the next pass reads the front again down to the first pass's ``W``,
collecting every chat that moved or appeared meanwhile, in its newest state. Passes shrink
fast (only what changed during the previous one); the crawl stops after a pass answered by a
single page, which is an atomic read, or when ``W`` did not move at all.

Every page read is merged by chat id as it arrives, keeping the newest state; the result is
sorted newest first.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

from blooio_dagster._gc import collector_paused
from blooio_dagster.errors import BlooioError

Chat = dict[str, Any]

#: Passes after which a list that never stops changing is reported instead of read forever.
MAX_PASSES = 10


def last_message_time(chat: Chat) -> int:
    """A chat's ``last_message_time`` in epoch ms, or 0 when the API sent none."""
    value = chat.get("last_message_time")
    return value if type(value) is int else 0


@dataclass(frozen=True)
class ChatPage:
    """One answered ``GET /chats`` request, with when it was sent and answered.

    ``sent`` and ``received`` are ticks of one counter shared by all requests of a crawl:
    ``a.received < b.sent`` proves the server answered ``a`` before it saw ``b``.
    """

    offset: int
    limit: int
    chats: list[Chat]
    total: int | None
    sent: int
    received: int

    @property
    def reaches_end(self) -> bool:
        """Whether nothing came after this page when it was read."""
        return len(self.chats) < self.limit or (
            self.total is not None and self.offset + len(self.chats) >= self.total
        )

    @cached_property
    def newest(self) -> int:
        """The newest ``last_message_time`` on the page (0 for an empty page)."""
        return max(map(last_message_time, self.chats), default=0)

    @cached_property
    def oldest(self) -> int:
        """The oldest ``last_message_time`` on the page (0 for an empty page)."""
        return min(map(last_message_time, self.chats), default=0)

    def reaches(self, boundary: int | None) -> bool:
        """Whether this page is the last one needed for chats active at or after ``boundary``."""
        if self.reaches_end:
            return True
        return boundary is not None and self.oldest < boundary

    def stable_ids(self, watermark: int) -> set[str]:
        """Ids of the chats on this page older than ``watermark``: they cannot have moved."""
        return {chat["id"] for chat in self.chats if last_message_time(chat) < watermark}


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
    """What one crawl cost: pages fetched, pages fetched again, passes, seconds."""

    pages: int = 0
    refetched_pages: int = 0
    passes: int = 0
    elapsed_seconds: float = 0.0


@dataclass
class _Pass:
    pages: list[ChatPage] = field(default_factory=list)
    watermark: int | None = None
    total: int | None = None


FetchPage = Callable[[int, int], tuple[list[Chat], int | None]]
"""``fetch(offset, limit) -> (chats, pagination.total)`` for ``sort=recent``."""


class ChatCrawler:
    """Reads a complete, de-duplicated chat list through ``fetch``, several pages at a time.

    ``fetch`` must be safe to call from several threads; the client's ``get_chats_page``
    is. With ``max_concurrency=1`` pages are read strictly in order and need no overlap.
    """

    def __init__(
        self,
        fetch: FetchPage,
        *,
        page_size: int,
        max_concurrency: int,
        on_progress: Callable[[CrawlProgress], None] | None = None,
    ) -> None:
        self._fetch_raw = fetch
        self._limit = page_size
        self._concurrency = max_concurrency
        # Overlap lets two pages answered out of order prove they left no gap between them.
        overlap = max(1, page_size // 40) if max_concurrency > 1 and page_size > 1 else 0
        self._step = page_size - overlap
        self._on_progress = on_progress
        self._ticks = itertools.count()
        self._started = 0.0
        self._newest = _NewestChats()
        self._record_lock = threading.Lock()
        self._latest_total: int | None = None
        self.stats = CrawlStats()

    def crawl(self, active_since: int | None = None) -> list[Chat]:
        """Every chat (active at or after ``active_since`` ms, if given), newest first."""
        self._started = time.monotonic()
        passes: list[_Pass] = []
        boundary = active_since
        with (
            collector_paused(),
            ThreadPoolExecutor(self._concurrency, thread_name_prefix="blooio-page") as pool,
        ):
            while True:
                if len(passes) == MAX_PASSES:
                    raise BlooioError(
                        f"Blooio's chat list kept changing faster than it could be read: "
                        f"{MAX_PASSES} passes over the newest chats did not settle. Try again "
                        "at a quieter time, or narrow the crawl with active_since."
                    )
                current = self._run_pass(boundary, pool, previous=passes[-1] if passes else None)
                passes.append(current)
                self.stats.passes += 1
                if current.watermark is None or len(current.pages) == 1:
                    break
                boundary = max(current.watermark, active_since or current.watermark)
            chats = self._newest.newest_first()
        self.stats.elapsed_seconds = time.monotonic() - self._started
        if active_since is not None:
            chats = [chat for chat in chats if last_message_time(chat) >= active_since]
        return chats

    def _run_pass(
        self, boundary: int | None, pool: ThreadPoolExecutor, previous: _Pass | None
    ) -> _Pass:
        first = self._fetch(0)
        result = _Pass(pages=[first], total=first.total)
        if not first.chats:
            return result
        result.watermark = first.newest
        unchanged = previous is not None and (previous.watermark, previous.total) == (
            result.watermark,
            first.total,
        )
        # When nothing arrived since the previous pass started, that pass read a still list.
        if unchanged or first.reaches(boundary):
            return result
        pages = self._fetch_ahead(first, boundary, pool)
        result.pages = self._verified_chain(pages, boundary, result.watermark)
        return result

    def _fetch(self, offset: int) -> ChatPage:
        sent = next(self._ticks)
        chats, total = self._fetch_raw(offset, self._limit)
        page = ChatPage(offset, self._limit, chats, total, sent, next(self._ticks))
        self._record(page)
        return page

    def _record(self, page: ChatPage) -> None:
        with self._record_lock:  # called from every worker thread
            self._newest.add(page)
            self.stats.pages += 1
            if page.total is not None:
                self._latest_total = page.total
            progress = CrawlProgress(
                pages=self.stats.pages,
                chats_seen=len(self._newest),
                total=self._latest_total,
                elapsed_seconds=time.monotonic() - self._started,
                pages_expected=(
                    math.ceil(self._latest_total / self._step) + 1 if self._latest_total else None
                ),
            )
        if self._on_progress is not None:
            self._on_progress(progress)

    def _fetch_ahead(
        self, first: ChatPage, boundary: int | None, pool: ThreadPoolExecutor
    ) -> dict[int, ChatPage]:
        """Fetch the pages after ``first`` with up to ``max_concurrency`` in flight.

        Each worker claims the next offset itself as soon as its page is in (see
        :class:`_Frontier` for which offsets are still needed), so no page waits for a
        coordinator to hand out work.
        """
        frontier = _Frontier(first, self._step, boundary)

        def work() -> None:
            while (offset := frontier.claim()) is not None:
                try:
                    page = self._fetch(offset)
                except BaseException:
                    frontier.fail()
                    raise
                frontier.deliver(page)

        workers = [pool.submit(work) for _ in range(self._concurrency)]
        wait(workers)  # a failure stops the others at their next claim
        for worker in workers:
            worker.result()  # re-raises the failure, if any
        return frontier.pages

    def _verified_chain(
        self, pages: dict[int, ChatPage], boundary: int | None, watermark: int
    ) -> list[ChatPage]:
        """Pages from offset 0 to the last one needed, with no stable chat between them lost.

        Walks the pages in offset order. Each next page is accepted when it was requested
        after the current one was answered, or when the two share a stable chat; otherwise
        it is fetched again (now strictly after the current one). Fetches forward until a
        page reaches the end of the list or ``boundary``.
        """
        chain = [pages[0]]
        current = pages[0]
        while not current.reaches(boundary):
            offset = current.offset + self._step
            candidate = pages.get(offset)
            if candidate is None or not _joined(current, candidate, watermark):
                if candidate is not None:
                    self.stats.refetched_pages += 1
                candidate = self._fetch(offset)
                pages[offset] = candidate
            chain.append(candidate)
            current = candidate
        return chain


class _Frontier:
    """The offsets one pass still needs, shared by its workers.

    Offsets are claimed in order while they lie inside the list (per the newest
    ``pagination.total``; new chats raise it mid-crawl) and before the first page known to
    reach the end or the boundary. For a crawl down to a boundary, claims also stop at a
    horizon extrapolated from the furthest page read: how many more chats the time left to
    the boundary should hold at that page's density, plus one page. Only while nothing is in
    flight may a worker claim past the horizon, so a wrong guess costs speed, never pages.
    """

    def __init__(self, first: ChatPage, step: int, boundary: int | None) -> None:
        self.pages = {0: first}
        self._step = step
        self._boundary = boundary
        self._cond = threading.Condition()
        self._next = step
        self._in_flight = 0
        self._failed = False
        self._total: float = math.inf if first.total is None else first.total
        self._stop_at: float = math.inf
        self._horizon = self._extrapolate(first)

    def claim(self) -> int | None:
        """The next offset to fetch, or ``None`` when this worker can stop."""
        with self._cond:
            while not self._failed:
                needed = self._next < self._total and self._next < self._stop_at
                if needed and (self._next < self._horizon or self._in_flight == 0):
                    offset, self._next = self._next, self._next + self._step
                    self._in_flight += 1
                    return offset
                if self._in_flight == 0:
                    break  # nothing in flight can change the picture any more
                self._cond.wait()
            return None

    def deliver(self, page: ChatPage) -> None:
        with self._cond:
            self.pages[page.offset] = page
            self._in_flight -= 1
            if page.total is not None:
                self._total = (
                    page.total if math.isinf(self._total) else max(self._total, page.total)
                )
            if page.reaches(self._boundary):
                self._stop_at = min(self._stop_at, page.offset)
            if page.offset == max(self.pages):
                self._horizon = self._extrapolate(page)
            self._cond.notify_all()

    def fail(self) -> None:
        with self._cond:
            self._failed = True
            self._in_flight -= 1
            self._cond.notify_all()

    def _extrapolate(self, far: ChatPage) -> float:
        if self._boundary is None or not far.chats:
            return math.inf
        if far.oldest < self._boundary:
            return far.offset
        if far.newest == far.oldest:
            return math.inf
        chats_left = (far.oldest - self._boundary) * len(far.chats) / (far.newest - far.oldest)
        return far.offset + len(far.chats) + chats_left + self._step


def _joined(before: ChatPage, after: ChatPage, watermark: int) -> bool:
    """Whether no stable chat can lie unseen between two neighbouring pages."""
    if before.received < after.sent:
        return True
    return not before.stable_ids(watermark).isdisjoint(after.stable_ids(watermark))


class _NewestChats:
    """The newest state of every chat read so far; pages are added as they arrive.

    Every page read is added, including pages later read again and pages past the end of
    the chain: a stale copy always has an older ``last_message_time`` than the state that
    replaced it, so it never wins. Later reads win ties. Not thread-safe: the crawler adds
    pages under its own lock.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, int, Chat]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, page: ChatPage) -> None:
        entries, received = self._entries, page.received
        for chat in page.chats:
            entry = (last_message_time(chat), received, chat)
            held = entries.get(chat["id"])
            if held is None or entry[:2] >= held[:2]:
                entries[chat["id"]] = entry

    def newest_first(self) -> list[Chat]:
        """One chat per id, newest first; equal times keep the order first seen."""
        entries = list(self._entries.values())
        entries.sort(key=itemgetter(0), reverse=True)
        return [entry[2] for entry in entries]
