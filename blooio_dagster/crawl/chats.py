"""Reading every chat exactly once out of Blooio's offset-paged, constantly changing chat list.

:class:`ChatCrawler` either proves it read every chat of ``GET /chats?sort=recent`` or raises
:class:`~blooio_dagster.api.errors.BlooioIncompleteError`. A *pass* chains pages from the top
of the list down to its end (or to ``active_since``), each overlapping the one before in sort
keys, several pages in flight at once (:mod:`blooio_dagster.crawl.frontier`); where two do not
overlap, windows are read where the freshest pages put the gap until one joins them. Passes
over what changed meanwhile follow until one page answers a pass; then the chats read are
counted against the API's total (:mod:`blooio_dagster.crawl.reconcile`), and the list is read
again in shifted windows while chats are unaccounted for. Pages are read and recorded by
:mod:`blooio_dagster.crawl.reading`; runs of tied chats and the end of the list are handled in
:mod:`blooio_dagster.crawl.ties`.

Why: docs/design.md, section "Why the chat crawl is complete".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from blooio_dagster.api.errors import BlooioIncompleteError
from blooio_dagster.api.settings import MAX_MISSING
from blooio_dagster.api.wire.records import time_of
from blooio_dagster.crawl.frontier import Frontier
from blooio_dagster.crawl.pages import (
    NULL_FIRST_KEY,
    TIMED_TOP_KEY,
    TOP_KEY,
    ChatPage,
    is_timed,
)
from blooio_dagster.crawl.reading import CrawlProgress, FetchPage
from blooio_dagster.crawl.reconcile import (
    CrawlVerdict,
    count_below,
    describe_key,
    detect_gone,
    incomplete_error,
    verdict_for,
)
from blooio_dagster.crawl.ties import MAX_JOIN_ATTEMPTS, TiesAndEnd
from blooio_dagster.crawl.walk import Walk
from blooio_dagster.crawl.workers import run_workers

#: Passes after which a list that never stops changing is reported instead of read forever.
MAX_PASSES = 10
#: Times stamped up to this long before the server's ``Date`` still count as "changed".
CLOCK_MARGIN_MS = 2_000
#: Re-reads of the whole list (in shifted windows) when the count comes up short.
MAX_REPAIR_ROUNDS = 2


@dataclass
class _Pass:
    """The pages one pass chained, and what it measured."""

    chain: list[ChatPage]
    marker: int | None = None
    below_boundary: int | None = None


class ChatCrawler(TiesAndEnd):
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
        max_missing: int = MAX_MISSING.default,
        on_progress: Callable[[CrawlProgress], None] | None = None,
        concurrency: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(fetch, page_size=page_size, on_progress=on_progress)
        self._width = concurrency
        self._concurrency = max_concurrency
        self._max_missing = max_missing
        self._pool: ThreadPoolExecutor | None = None
        self.verdict = CrawlVerdict(None, 0, None, 0, ())

    # -- the crawl ------------------------------------------------------------------------

    @property
    def max_missing(self) -> int:
        """How many chats may be unaccounted for before the crawl raises."""
        return self._max_missing

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
        walk = Walk.start(anchor, hi)
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

    # -- the pages of a pass ---------------------------------------------------------------

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
        # A failure stops the others at their next claim, and is raised.
        run_workers(self._pool, work, self._concurrency)
        return frontier.pages

    # -- chaining -------------------------------------------------------------------------

    def _extend(self, walk: Walk, pages: dict[int, ChatPage]) -> None:
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

    def _in_long_run(self, walk: Walk, page: ChatPage) -> bool:
        """Whether ``page`` lies in a run of chats tied at ``tau`` too long for one window,
        not gathered yet."""
        return page.keys.count(walk.tau) >= self._cap // 2 and walk.tie_done != walk.tau

    def _join_any(self, walk: Walk, pages: dict[int, ChatPage]) -> bool:
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

    def _joins(self, walk: Walk, page: ChatPage) -> bool:
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

    def _position_of_tau(self, walk: Walk, pages: dict[int, ChatPage]) -> int:
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
