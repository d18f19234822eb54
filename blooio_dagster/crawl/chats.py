"""Reading every chat exactly once out of Blooio's offset-paged, constantly changing chat list.

``GET /chats?sort=recent`` is not a snapshot. While a client pages, chats that get a message
jump to the front, new chats appear, chats are deleted, pages come back short or empty and
``pagination.total`` drifts. A naive ``offset += limit`` loop returns chats twice and misses
others without noticing. This crawl either proves it read every chat or raises
:class:`~blooio_dagster.api.errors.BlooioIncompleteError`.

**The proof.** Each request is answered from one consistent snapshot, so a page holds exactly
the chats whose sort key (``last_message_time``, see :mod:`blooio_dagster.crawl.pages`) lies
strictly between its last and first row's keys at that moment. Two pages whose keys overlap
(the next page's first row is newer than the current page's last row) therefore leave no key
between them unread, whenever each was read and however chats shifted in between: a chat
whose time did not change cannot slip past both. A *pass* chains such pages from the top of
the list down to its end (or to ``active_since``): consecutive pages overlap by a few rows,
and where two do not overlap in keys (chats deleted, a short page, a server cap) windows are
read where the freshest pages put the gap until one joins them. A run of chats sharing one
time (a bulk import) is read whole in one window, or gathered over shifted windows until its
size, which the totals on the pages where it starts and ends give, is reached.

Chats that change during a pass get a message stamped at the server's current time, so they
sort at or above a *marker*: the newest time on the pass's first page (passing over chats
dated ahead of the server's ``Date``). The next pass reads from the top down to that marker;
passes shrink to what changed meanwhile, and the crawl stops after a pass that one atomic
page answered.

**The count.** Finally the distinct chats read are counted against the newest
``pagination.total`` (for ``active_since``, against the total less the chats a fresh page
shows below the boundary; see :mod:`blooio_dagster.crawl.reconcile`). When chats are unaccounted
for, or a junction never joined, the whole list is read again in windows shifted by half a
page; chats a later page should have shown but did not are taken as deleted. Still short,
the crawl raises, naming how many and where. (Chats moved within the list by late-stamped or
unsent messages can only be caught by the count; the README says what can blind it.)
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from blooio_dagster.api.errors import BlooioIncompleteError
from blooio_dagster.api.retry import backoff_seconds
from blooio_dagster.api.wire.chats import PageAnswer
from blooio_dagster.api.wire.records import field_values, time_of
from blooio_dagster.api.wording import counted
from blooio_dagster.crawl.frontier import Frontier
from blooio_dagster.crawl.pages import (
    NULL_FIRST_KEY,
    TIMED_TOP_KEY,
    TOP_KEY,
    ChatPage,
    NewestChats,
    SortKeys,
    is_timed,
)
from blooio_dagster.crawl.reconcile import (
    CrawlVerdict,
    count_below,
    describe_key,
    detect_gone,
    incomplete_error,
    run_size,
    verdict_for,
)

#: Passes after which a list that never stops changing is reported instead of read forever.
MAX_PASSES = 10
#: Pages smaller than this cannot overlap their neighbours and still move forward.
MIN_CRAWL_PAGE_SIZE = 4
#: Times stamped up to this long before the server's ``Date`` still count as "changed".
CLOCK_MARGIN_MS = 2_000
#: Windows read to join one junction (each where the freshest pages put it) before giving up.
MAX_JOIN_ATTEMPTS = 8
#: Reads of a page that came back empty although chats should be there.
MAX_EMPTY_READS = 4
#: Sweeps over a run of tied chats larger than a page, gathering its members.
MAX_TIE_SWEEPS = 16
#: Re-reads of the whole list (in shifted windows) when the count comes up short.
MAX_REPAIR_ROUNDS = 2

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


@dataclass
class _Pass:
    """The pages one pass chained, and what it measured."""

    chain: list[ChatPage]
    marker: int | None = None
    below_boundary: int | None = None


@dataclass
class _Walk:
    """A chain under construction: every key above ``tau`` is covered (``tau`` itself partly).

    ``tau_start`` is the position of the first row with key ``tau`` on the page that set it;
    ``tie_done`` is a key whose run of tied chats has been read whole; ``ended`` is set once
    the end of the list is proven.
    """

    current: ChatPage
    hi: int
    tau: int = 0
    tau_start: int = 0
    chain: list[ChatPage] = field(default_factory=list)
    chained: set[int] = field(default_factory=set)
    tie_done: int | None = None
    ended: bool = False

    @classmethod
    def start(cls, anchor: ChatPage, hi: int) -> _Walk:
        walk = cls(anchor, hi)
        walk.advance(anchor)
        return walk

    @property
    def above_range(self) -> bool:
        """Whether every page so far lies above the range (chats without a time, first)."""
        return self.tau == self.hi

    def advance(self, page: ChatPage) -> None:
        self.chain.append(page)
        self.chained.add(id(page))
        self.current = page
        self.tau = min(self.hi, page.last_key)
        self.tau_start = page.offset + (page.first_index_of(page.last_key) or 0)


class ChatCrawler:
    """Reads a complete, de-duplicated chat list through ``fetch``, several pages at a time.

    After :meth:`crawl`, :attr:`verdict` says what was verified and :attr:`stats` what it
    cost. Up to ``max_missing`` chats may be unaccounted for before the crawl raises
    :class:`BlooioIncompleteError` (the verdict then says how many).
    """

    def __init__(
        self,
        fetch: FetchPage,
        *,
        page_size: int,
        max_concurrency: int,
        max_missing: int = 0,
        on_progress: Callable[[CrawlProgress], None] | None = None,
        concurrency: Callable[[], int] | None = None,
    ) -> None:
        self._fetch_raw = fetch
        self._width = concurrency
        self._limit = max(page_size, MIN_CRAWL_PAGE_SIZE)
        self._cap = self._limit
        self._largest_page = 0
        # Without totals: the short page that ended first, and the furthest page with chats.
        self._first_short: ChatPage | None = None
        self._furthest_read = -1
        self._concurrency = max_concurrency
        self._max_missing = max_missing
        self._on_progress = on_progress
        self._ticks = itertools.count()
        self._started = 0.0
        self._keys = SortKeys()
        self._newest = NewestChats()
        self._lock = threading.Lock()
        self._latest_total: tuple[int, int] | None = None  # (received, total)
        self._timed_start: int | None = None
        self._regions: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self.stats = CrawlStats()
        self.verdict = CrawlVerdict(None, 0, None, 0, ())

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

    # -- the crawl ------------------------------------------------------------------------

    def crawl(self, active_since: int | None = None) -> list[Any]:
        """Every chat (timed at or after ``active_since`` ms, if given), newest first, as the
        records ``fetch`` gave (dicts or :class:`~blooio_dagster.api.wire.records.ChatRecord`)."""
        self._started = time.monotonic()
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="blooio-page") as pool:
            self._pool = pool
            # Chats without a time are part of the whole list, not of any time window.
            hi = TOP_KEY if active_since is None else TIMED_TOP_KEY
            for repair in range(MAX_REPAIR_ROUNDS + 1):
                self._regions = []
                first = self._run_pass(active_since, hi, start=0, shifted=repair > 0)
                if repair > 0:
                    with self._lock:
                        detect_gone(first.chain, self._newest)
                if active_since is not None and len(first.chain) > 1:  # else one atomic read
                    first.below_boundary = self._recount_below(active_since, first)
                self._read_front(first, active_since)
                self.verdict = verdict_for(
                    self._newest,
                    total=self.total,
                    active_since=active_since,
                    below_boundary=first.below_boundary,
                    untimed_above=(self._timed_start or 0) if self._keys.nulls_first else 0,
                    regions=self._regions + self._untimed_unread(active_since),
                )
                if self.verdict.verified or repair == MAX_REPAIR_ROUNDS:
                    break
                self.stats.repair_rounds += 1
                self.stats.repaired_regions += len(self.verdict.regions)
            chats = self._newest.newest_first()
        self.stats.elapsed_seconds = time.monotonic() - self._started
        verdict = self.verdict
        tolerated = verdict.missing is not None and verdict.missing <= self._max_missing
        if not verdict.verified and not (self._max_missing > 0 and tolerated):
            raise incomplete_error(verdict, self.stats.repair_rounds)
        if active_since is not None:
            chats = [
                chat for chat in chats if type(t := time_of(chat)) is int and t >= active_since
            ]
        return chats

    def _untimed_unread(self, active_since: int | None) -> list[str]:
        """Regions where the chats without a time, listed first, were not all read.

        ``_timed_start`` counts them exactly: a page that starts with them shows where the
        first timed chat stands, no later than the last pass. A chat gains a time and leaves
        them, and never joins them; those that left were read again, timed, by the passes
        over what changed. So fewer chats whose newest read has no time than
        ``_timed_start`` means one was never read. The run's gathering can miss that: it
        sizes the run from pages read after some of its chats had left, and no total (or
        a stale-low one) catches it.
        """
        if active_since is not None or not self._keys.nulls_first or not self._timed_start:
            return []
        have = self._newest.count_keys(NULL_FIRST_KEY, NULL_FIRST_KEY)
        if have >= self._timed_start:
            return []
        return [
            f"the chats without a last_message_time (the first {self._timed_start:,} of the "
            f"list): {have:,} found"
        ]

    def _read_front(self, previous: _Pass, active_since: int | None) -> None:
        """Passes over what changed since the previous one, until one page answers a pass."""
        passes = 1
        current = previous
        while len(current.chain) > 1:
            if passes == MAX_PASSES:
                raise BlooioIncompleteError(
                    f"chats kept changing faster than they could be read: {MAX_PASSES} passes "
                    "over the newest chats did not settle. Try again at a quieter time, or "
                    "narrow the crawl with active_since.",
                    unique_chats=len(self._newest),
                )
            marker = current.marker
            if active_since is not None:
                marker = active_since if marker is None else max(marker, active_since)
            start = max(0, self._timed_start - 1) if self._timed_start else 0
            current = self._run_pass(marker, TIMED_TOP_KEY, start=start)
            passes += 1
        self.stats.passes += passes

    def _run_pass(self, lo: int | None, hi: int, *, start: int, shifted: bool = False) -> _Pass:
        """Chain pages from the top of ``[lo, hi]`` down past ``lo`` (``None``: the end)."""
        anchor = self._anchor(start, hi)
        if not anchor.keys:
            return _Pass(chain=[anchor])
        walk = _Walk.start(anchor, hi)
        pages = self._fetch_ahead(anchor, lo, shifted)
        budget = 3 * len(pages) + 4 * MAX_PASSES * MAX_JOIN_ATTEMPTS
        while not walk.ended and not (lo is not None and walk.tau < lo):
            if not self._at_end(walk, pages):
                self._extend(walk, pages)
            budget -= 1
            if budget < 0:
                raise BlooioIncompleteError(
                    "the list changed faster than a pass could join its pages "
                    f"(stuck after offset {walk.current.offset}). Try again at a quieter "
                    "time, or narrow the crawl with active_since.",
                    unique_chats=len(self._newest),
                )
        below = None if lo is None else count_below(walk.chain, lo)
        return _Pass(chain=walk.chain, marker=self._marker(walk.chain), below_boundary=below)

    # -- pages ----------------------------------------------------------------------------

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

    def _anchor(self, start: int, hi: int) -> ChatPage:
        """A page at or near ``start`` that begins above ``hi`` (or at the top of the list)."""
        offset = start
        for attempt in range(MAX_JOIN_ATTEMPTS):
            # Without a total, an empty first page could be an empty list: read it twice.
            known = len(self._newest) > 0 or attempt == 0
            page = self._reread_empty(self._fetch(offset, reread=attempt > 0), known=known)
            if not page.keys and len(self._newest) > 0:
                self._regions.append(
                    f"at offset {offset:,}: the API kept returning no chats where it had "
                    "returned some before"
                )
            if not page.keys or offset == 0 or page.first_key > hi:
                return page
            offset = max(0, offset - (self.step << attempt))
        return self._fetch(0, reread=True)

    def _fetch_ahead(self, anchor: ChatPage, lo: int | None, shifted: bool) -> dict[int, ChatPage]:
        """Fetch the pages after ``anchor``, up to ``max_concurrency`` (and the client's
        current concurrency limit) in flight, and bridges where two did not overlap."""
        first_offset = anchor.offset + (self.step // 2 if shifted else self.step)
        frontier = Frontier(self, anchor, first_offset, lo, self._width)
        if self._concurrency == 1 or frontier.done_at_start():
            return frontier.pages

        def work() -> None:
            while (offset := frontier.claim()) is not None:
                bridge = frontier.is_bridge(offset)
                try:
                    page = self._fetch(offset, reread=bridge)
                except BaseException:
                    frontier.fail()
                    raise
                frontier.deliver(page, bridge=bridge)

        assert self._pool is not None
        workers = [self._pool.submit(work) for _ in range(self._concurrency)]
        wait(workers)  # a failure stops the others at their next claim
        for worker in workers:
            worker.result()  # re-raises the failure, if any
        return frontier.pages

    def _read(self, offset: int, pages: dict[int, ChatPage], *, known: bool = False) -> ChatPage:
        """Read one more window for the chain: to join two pages, a run of ties or the end.

        ``known``: chats were read at ``offset`` before, so an empty window is read again
        even when the API sends no total to say that chats should be there.
        """
        page = self._reread_empty(self._fetch(offset, reread=True), known=known)
        pages[offset] = page
        return page

    # -- chaining -------------------------------------------------------------------------

    def _extend(self, walk: _Walk, pages: dict[int, ChatPage]) -> None:
        """Add the page that overlaps the chain's keys and reaches furthest past them.

        Any page read in this pass will do, whatever its offset: the proof is in keys, and
        chats moving to the front or being deleted shift offsets. When none overlaps, a
        window is read a few rows before where the freshest pages put ``tau`` now, so that
        it overlaps the chain and holds any run of chats tied at ``tau`` whole; a run longer
        than a window is gathered (:meth:`_gather_tie`).
        """
        planned = walk.current.offset + self.step
        if planned not in pages and self._concurrency == 1:
            # One page at a time: the next page, as planned, before searching the others
            # (each search looks at every page of the pass).
            pages[planned] = self._reread_empty(self._fetch(planned))
        if self._join_any(walk, pages):
            return
        tau = walk.tau
        if planned not in pages:  # not read ahead: the next page, as planned
            pages[planned] = self._reread_empty(self._fetch(planned))
            if self._join_any(walk, pages):
                return
        if self._in_long_run(walk, pages[planned]):
            self._gather_tie(walk, pages, end_of_list=None)
            return
        self.stats.repaired_regions += 1
        after: int | None = None  # tau lies at or after this position, by a fresh read
        before: int | None = None  # tau lies before this position, by a fresh read
        offset = max(0, self._position_of_tau(walk, pages) - self.overlap)
        for attempt in range(MAX_JOIN_ATTEMPTS):
            page = self._read(offset, pages)
            if self._join_any(walk, pages):
                return
            if self._in_long_run(walk, page):
                self._gather_tie(walk, pages, end_of_list=None)
                return
            if page.keys and page.last_key >= tau:
                after = page.end - page.keys.count(tau)
                before = None if before is not None and before <= after else before
            else:
                before = page.offset
                after = None if after is not None and after >= before else after
            offset = self._next_window(after, before, attempt)
        below = max(
            (p for p in pages.values() if p.keys and p.first_key < walk.tau),
            key=lambda page: (page.first_key, page.received),
            default=None,
        )
        if below is None:
            if walk.tie_done == walk.tau:
                tied = describe_key(walk.tau)
                if is_timed(walk.tau):
                    tied = f"chats last active at {tied}"
                raise BlooioIncompleteError(
                    f"after offset {walk.current.offset}, every window read held only {tied}: "
                    "a run of ties longer than a page, which could not be read past"
                    + ("" if self.total is not None else " (the API sends no pagination.total)")
                    + ". Try again, or narrow the crawl with active_since.",
                    unique_chats=len(self._newest),
                )
            raise BlooioIncompleteError(
                f"pages after offset {walk.current.offset} kept returning chats already read; "
                "the API seems to ignore offset, so the rest of the list cannot be reached.",
                unique_chats=len(self._newest),
            )
        self._regions.append(
            f"between {describe_key(below.first_key)} and {describe_key(walk.tau)} "
            f"(around offset {below.offset:,}): no window read joined the pages around it"
        )
        walk.advance(below)

    def _in_long_run(self, walk: _Walk, page: ChatPage) -> bool:
        """Whether ``page`` lies in a run of chats tied at ``tau`` too long for one window,
        not gathered yet."""
        return page.keys.count(walk.tau) >= self._cap // 2 and walk.tie_done != walk.tau

    def _join_any(self, walk: _Walk, pages: dict[int, ChatPage]) -> bool:
        """Advance to a read page that overlaps the chain's keys, the one reaching furthest.

        The page a step on, as planned, usually does; only when it does not are all the
        pages of the pass searched.
        """
        planned = pages.get(walk.current.offset + self.step)
        if planned is not None and self._joins(walk, planned):
            walk.advance(planned)
            return True
        joinable = [page for page in pages.values() if self._joins(walk, page)]
        if not joinable:
            return False
        walk.advance(min(joinable, key=lambda page: (page.last_key, -page.received)))
        return True

    def _joins(self, walk: _Walk, page: ChatPage) -> bool:
        """Whether ``page`` overlaps the chain's keys and reaches past them."""
        if not page.keys or id(page) in walk.chained:
            return False
        tau = walk.tau
        if page.first_key <= tau and page.offset > 0:  # nothing lies above offset 0
            return False
        return (
            page.last_key < tau
            or (page.last_key == tau and self.reaches_end(page))
            or (walk.above_range and page.offset > walk.current.offset)
        )

    def _next_window(self, after: int | None, before: int | None, attempt: int) -> int:
        """Where to read next, by bisection between the freshest bounds on ``tau``'s position."""
        if after is not None and before is not None:
            if before - after <= self._cap - 2 * self.overlap:
                return max(0, after - self.overlap)
            return max(0, (after + before) // 2 - self._cap // 2)
        if before is not None:  # only known to lie before: look further back each time
            return max(0, before - (self._cap << attempt) // 2)
        assert after is not None  # only known to lie after: start a little earlier each time
        return max(0, after - min(self.overlap << attempt, self._cap // 2))

    def _position_of_tau(self, walk: _Walk, pages: dict[int, ChatPage]) -> int:
        """Where the first chat with key ``tau`` is now, by the freshest pages.

        The freshest page holding key ``tau`` gives its position; pages read after it that
        end above ``tau`` (chats moved to the front since) or begin below it (chats deleted
        since) move the estimate, the newest last.
        """
        tau = walk.tau
        best, index = walk.current, walk.current.first_index_of(tau) or 0
        for page in pages.values():
            if page.received > best.received and (found := page.first_index_of(tau)) is not None:
                best, index = page, found
        position = best.offset + index
        fresher = sorted(
            (p for p in pages.values() if p.received > best.received),
            key=lambda page: page.received,
        )
        for page in fresher:
            if not page.keys or page.first_key < tau:
                position = min(position, page.offset)
            elif page.last_key > tau:
                position = max(position, page.end)
        return position

    def _at_end(self, walk: _Walk, pages: dict[int, ChatPage]) -> bool:
        """Whether the chain's last page is proven to end the list (its tail run included).

        A short page ends the list only if the API agrees: its own total says so, or a window
        read again from its last rows on is short too, holds nothing older than the chain, and
        its total agrees (read again until one comes with a total; a total that keeps
        disagreeing with windows that end on the same chat is left to the count). From an API
        that never sends totals, that window must start below the page's first row and end
        with the same chat, found at most one row further down than the page had it (further
        down, chats moved to the front pushed it there: it is read again from there). Either
        way a window that holds a chat past the page's last row which the page did not hold
        shows that more chats follow, however short it is (a page the server capped without
        saying so looks short).
        """
        current = walk.current
        total = self.total
        end = current.end
        if not self._is_short(current) and (total is None or end < total):
            return False
        if not (self._is_short(current) and current.total == end):
            verdict = self._confirm_end(walk, pages)
            if verdict is False:
                return False
            if verdict is None:
                self._regions.append(
                    f"after offset {current.offset:,}: the end of the list could not be read "
                    "again to confirm it"
                )
        tail_run = current.offset > 0 and current.first_key == walk.tau
        if tail_run and walk.tie_done != walk.tau:
            self._gather_tie(walk, pages, end_of_list=end)
        walk.ended = True
        return True

    def _confirm_end(self, walk: _Walk, pages: dict[int, ChatPage]) -> bool | None:
        """Read the window from the chain's last rows on: True if the list ends there, False
        if more chats follow, None if no window came back to tell."""
        current = walk.current
        end = current.end  # just past the page's last chat, where it was last read
        offset = max(current.offset + 1, end - 2)
        disagreed = 0
        for attempt in range(MAX_JOIN_ATTEMPTS):
            # The page's last rows were read there: a window that comes back empty is read
            # again before it is taken for a list that shrank.
            confirm = self._read(offset, pages, known=True)
            if not confirm.keys:
                offset = max(0, offset - (self._cap << attempt) // 2)  # the list shrank
                continue
            if (
                not self._is_short(confirm)
                or confirm.last_key < walk.tau
                or _holds_more_than(confirm, current)
            ):
                if self._is_short(current):
                    self._short_but_more_follow(current)
                return False
            same_end = confirm.ids[-1] == current.ids[-1]
            if confirm.total is None:
                if self.total is None:  # an API that never sends totals
                    # A window stepped back to the page's own rows ends where the page does,
                    # whatever follows: that shows nothing.
                    if confirm.offset <= current.offset:
                        return None
                    if not same_end:
                        return False
                    # Nor does one that the page's rows slid into: chats moved to the front
                    # from below them push them down, so the window, cut short where the
                    # page was, holds only them and leaves no room to show what follows.
                    # Read again from the last chat's new position (a new chat at the top
                    # per request still leaves it a row down, so that much is room enough).
                    shift = confirm.end - end
                    if shift <= 1:
                        return True
                    offset = end - 2 + shift
                    end += shift
                    continue
                continue  # read again, for a total
            if confirm.end >= confirm.total:
                return True
            if not same_end:
                return False  # it ends elsewhere, and its total says more follow
            disagreed += 1
            if disagreed == 3:  # the pages keep ending here: leave it to the count
                return True
        return None

    def _is_short(self, page: ChatPage) -> bool:
        return len(page) < min(page.limit, self._cap)

    def reaches_end(self, page: ChatPage) -> bool:
        """Whether a page says the list ended within it: short, and its total agrees."""
        return self._is_short(page) and (page.total is None or page.end >= page.total)

    # -- ties -----------------------------------------------------------------------------

    def _gather_tie(
        self, walk: _Walk, pages: dict[int, ChatPage], *, end_of_list: int | None
    ) -> None:
        """Gather a run of tied chats longer than a page, until its size is reached.

        Windows over the run are read at shifted positions in each sweep, since the server
        may order it differently per request or per window. Its size is read off the page
        where it starts and the page where it ends: the chats at or below its time by the
        first one's total, less those below it by the second one's. Only chats read since
        the first count towards it, so a chat deleted earlier cannot stand in for one that
        was never seen; one deleted later is in both.
        """
        tau = walk.tau
        first, last = self._run_bounds(walk, pages)

        def measure() -> tuple[int | None, int]:
            """The run's size, and how many of its chats were read since its first page."""
            size = run_size(first, last, end_of_list, totals_sent=self.total is not None)
            since = first[0].sent if first else walk.current.sent
            return size, self._newest.count_keys(tau, tau, since=since)

        size, have = measure()
        unchanged_sweeps = 0
        for sweep in range(MAX_TIE_SWEEPS):
            if size is not None and have >= size:
                break  # the pages already read hold the whole run
            start = first[0].offset + first[1] if first else walk.tau_start
            offset = max(0, start - 1 - (sweep * 17) % self.step)
            for _ in range(MAX_TIE_SWEEPS * 4):
                page = self._read(offset, pages)
                if not page.keys:
                    break
                found = page.run_start(tau)
                if found is not None and (first is None or (first[0].total is None and page.total)):
                    first = (page, found)  # prefer a page whose total sizes the run
                below = page.first_index_below(tau)
                if below is not None and (below > 0 or page.offset == 0):
                    last = (page, below)
                    break
                if below is None and self.reaches_end(page):
                    last = (page, len(page))
                    break
                if below == 0:  # the run moved forward past this window: step back
                    offset = max(0, offset - self.step // 2)
                else:
                    offset = page.offset + max(1, len(page) - self.overlap)
            size, gathered = measure()
            unchanged_sweeps = unchanged_sweeps + 1 if gathered == have else 0
            have = gathered
            if size is not None and have >= size:
                break
            if unchanged_sweeps == 3:
                self._tie_region(tau, walk.tau_start, size, have)
                break
        else:
            self._tie_region(tau, walk.tau_start, size, have)
        walk.tie_done = tau
        if last is not None:
            walk.advance(last[0])
        else:
            walk.ended = True

    def _run_bounds(
        self, walk: _Walk, pages: dict[int, ChatPage]
    ) -> tuple[tuple[ChatPage, int] | None, tuple[ChatPage, int] | None]:
        """Where the run at ``tau`` starts and ends, by the pages read so far, if they show it.

        The start comes from the chain's page (a newer row, then the run), the end from the
        newest page read after it that shows the run, then an older row.
        """
        tau, current = walk.tau, walk.current
        found = current.run_start(tau)
        if found is None:
            return None, None
        ends = [
            (page, below)
            for page in pages.values()
            if page.received > current.sent
            and page.keys
            and page.first_key >= tau
            and (below := page.first_index_below(tau)) is not None
            and below > 0
        ]
        last = max(ends, key=lambda end: end[0].received, default=None)
        return (current, found), last

    def _tie_region(self, tau: int, start: int, size: int | None, gathered: int) -> None:
        of = "?" if size is None else f"{size:,}"
        self._regions.append(
            f"the chats sharing the time {describe_key(tau)} (from offset {start:,}): "
            f"{gathered:,} of {of} found; windows over them never showed them all"
        )

    # -- measuring ------------------------------------------------------------------------

    def _marker(self, chain: list[ChatPage]) -> int | None:
        """The lowest time a chat changed after this pass began can have.

        That is the newest time on the pass's first page; chats dated ahead of the server's
        clock (``Date``; a device with a wrong clock) are passed over, since chats changed
        now sort below them.
        """
        clock = chain[0].server_time
        ahead = math.inf if clock is None else clock + CLOCK_MARGIN_MS
        # In the order they were read: when the first page holds only chats without a time
        # (listed first), the next page in the chain may have been read long after pages
        # below it (a run of them gathered first), and its newest time can be that of a
        # chat changed after those were read: it would pass over the chat where it is now.
        # The earliest read page with a time gives a marker no later than the pass.
        for page in sorted(chain, key=lambda page: page.sent):
            present = next((key for key in page.timed_keys if key <= ahead), None)
            if present is not None:
                return present
        return None if clock is None else clock - CLOCK_MARGIN_MS

    def _recount_below(self, lo: int, first: _Pass) -> int | None:
        """Chats below ``lo`` now, from one fresh page that shows the boundary and a total.

        Read after the first pass, so a chat that moved across the boundary while it ran is
        counted where it is now (the passes over what changed come after).
        """
        crossing = next(
            (
                (page, index)
                for page in first.chain
                if (index := page.first_index_below(lo)) is not None
            ),
            None,
        )
        if crossing is None or crossing[0].total is None:
            return first.below_boundary
        page, index = crossing
        offset = max(0, page.offset + index - self._cap // 2)
        for attempt in range(MAX_JOIN_ATTEMPTS):
            fresh = self._reread_empty(self._fetch(offset, reread=True))
            below = fresh.first_index_below(lo) if fresh.keys else None
            if below is not None and (below > 0 or fresh.offset == 0):
                if fresh.total is None:
                    break
                return fresh.total - (fresh.offset + below)
            step = self._cap << attempt
            if fresh.keys and below is None and not self.reaches_end(fresh):
                offset += step // 2  # the boundary moved back
            elif fresh.keys and below is None:
                return 0  # the list ends above the boundary
            else:
                offset = max(0, offset - step // 2)
        self._regions.append(
            f"around offset {page.offset + index:,}: the chats at the boundary "
            f"{describe_key(lo)} could not be counted again"
        )
        return first.below_boundary


def _holds_more_than(window: ChatPage, page: ChatPage) -> bool:
    """Whether ``window`` holds, past ``page``'s last position, a chat that ``page`` did not.

    Then more chats follow ``page``, however short both came back. A chat of ``page``'s own
    past its end (rows shifted down by chats new at the top) shows nothing.
    """
    beyond = window.end - page.end
    return beyond > 0 and not set(window.ids[-beyond:]) <= set(page.ids)
