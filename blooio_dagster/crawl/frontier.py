"""The offsets one pass of a crawl still needs, claimed by its page workers."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from blooio_dagster.crawl.pages import ChatPage


class PageGeometry(Protocol):
    """How far apart a crawl's pages lie, how many chats one holds at most, and whether one
    ends the list."""

    @property
    def step(self) -> int: ...

    @property
    def cap(self) -> int: ...

    def reaches_end(self, page: ChatPage) -> bool: ...


class Frontier:
    """The offsets one pass still needs, shared by its workers.

    Offsets are claimed in order, a step apart, while they lie inside the list (per the
    largest ``pagination.total`` seen) and before the first page known to reach the end or
    the boundary. For a crawl down to a boundary, claims also stop at a horizon extrapolated
    from the furthest page read: how many more chats the time left to the boundary should
    hold at that page's density, plus one page. Only while nothing is in flight may a worker
    claim past the horizon, so a wrong guess costs speed, never pages. A page identical to
    the anchor means the server ignores ``offset``: claims stop and the chain reports it.

    At most ``width()`` offsets are out at once: the client's adaptive concurrency limit,
    so no offset is claimed (and then fetched, even past a horizon that has moved) long
    before a request can go out for it.

    Two neighbouring pages that do not overlap in keys (chats moved or were deleted between
    their reads) get a *bridge*: the window centred on their junction, read next, in
    parallel with the rest. It overlaps each of them by half a page, so the chain goes on
    through it to the next page as planned, instead of re-reading page after page one at a
    time from a window that no longer lines up with the others.
    """

    def __init__(
        self,
        crawler: PageGeometry,
        anchor: ChatPage,
        first_offset: int,
        lo: int | None,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.pages = {anchor.offset: anchor}
        self._crawler = crawler
        self._anchor_ids = anchor.ids
        self._boundary = lo
        self._width = width
        self._cond = threading.Condition()
        self._next = first_offset
        self._bridges: deque[int] = deque()
        self._bridged: set[int] = set()
        self._furthest = anchor.offset
        self._in_flight = 0
        self._failed = False
        self._total: float = math.inf if anchor.total is None else anchor.total
        self._stop_at: float = math.inf
        if self._reaches(anchor):
            self._stop_at = anchor.offset
        self._horizon = self._extrapolate(anchor)

    def done_at_start(self) -> bool:
        return not self._needed()

    def claim(self) -> int | None:
        """The next offset to fetch, or ``None`` when this worker can stop."""
        with self._cond:
            while not self._failed:
                if self._width is not None and 0 < self._in_flight >= self._width():
                    self._cond.wait()  # a delivery frees a place, or the limit grows
                    continue
                if self._bridges:
                    self._in_flight += 1
                    return self._bridges.popleft()
                if self._needed() and (self._next < self._horizon or self._in_flight == 0):
                    offset = self._next
                    self._next += self._crawler.step
                    self._in_flight += 1
                    return offset
                if self._in_flight == 0:
                    break  # nothing in flight can change the picture any more
                self._cond.wait()
            return None

    def deliver(self, page: ChatPage, *, bridge: bool = False) -> None:
        with self._cond:
            self.pages[page.offset] = page
            self._in_flight -= 1
            if not bridge:
                step = self._crawler.step
                self._bridge(self.pages.get(page.offset - step), page)
                self._bridge(page, self.pages.get(page.offset + step))
            if page.total is not None:
                self._total = (
                    page.total if math.isinf(self._total) else max(self._total, page.total)
                )
            if self._reaches(page) or (page.keys and page.ids == self._anchor_ids):
                self._stop_at = min(self._stop_at, page.offset)
            if page.offset >= self._furthest:
                self._furthest = page.offset
                self._horizon = self._extrapolate(page)
            self._wake()

    def _wake(self) -> None:
        """Wake as many waiting workers as may claim now: all of them once nothing is in
        flight (to claim past the horizon, or to stop), else those the limit has room for.
        Waking every worker at every page would make dozens of threads fight over the GIL
        for nothing."""
        if self._in_flight == 0 or self._width is None:
            self._cond.notify_all()
        else:
            self._cond.notify(max(1, self._width() - self._in_flight) + len(self._bridges))

    def fail(self) -> None:
        with self._cond:
            self._failed = True
            self._in_flight -= 1
            self._cond.notify_all()

    def is_bridge(self, offset: int) -> bool:
        """Whether ``offset`` was claimed as a bridge rather than as a step of the pass."""
        with self._cond:
            return offset in self._bridged

    def _bridge(self, upper: ChatPage | None, lower: ChatPage | None) -> None:
        """Plan a bridge between two neighbouring pages that do not overlap in keys."""
        if upper is None or lower is None or not upper.keys or not lower.keys:
            return
        if lower.first_key > upper.last_key or self._reaches(upper):
            return  # they join, or the list ends before the lower one
        offset = max(0, lower.offset - self._crawler.cap // 2)
        if offset not in self.pages and offset not in self._bridged:
            self._bridged.add(offset)
            self._bridges.append(offset)

    def _needed(self) -> bool:
        return self._next < self._total and self._next < self._stop_at

    def _reaches(self, page: ChatPage) -> bool:
        if not page.keys:
            return True
        if self._boundary is not None and page.last_key < self._boundary:
            return True
        return self._crawler.reaches_end(page)

    def _extrapolate(self, far: ChatPage) -> float:
        keys = far.timed_keys
        if self._boundary is None or len(keys) < 2:
            return math.inf
        oldest, newest = keys[-1], keys[0]
        if oldest < self._boundary:
            return far.offset
        if newest == oldest:
            return math.inf
        chats_left = (oldest - self._boundary) * len(keys) / (newest - oldest)
        return far.end + chats_left + self._crawler.step
