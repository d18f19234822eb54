"""The crawl algorithm against an in-memory list, with orderings forced on purpose.

Over real sockets the interleaving of concurrent pages is up to the scheduler; here a page
is held back until another was answered and the list changed in between, which is the
case the overlap check exists for.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

from blooio_dagster.crawl import MAX_PASSES, ChatCrawler, CrawlProgress
from blooio_dagster.errors import BlooioError


class ChangingList:
    """A chat list sorted newest first, which tests change between page reads."""

    def __init__(self, size: int) -> None:
        self.clock = itertools.count(1_000_000)
        self.chats = [{"id": f"c{i:05d}", "last_message_time": 1000 - i} for i in range(size)]
        self.lock = threading.Lock()
        self.requests: list[int] = []

    def move_to_front(self, chat_id: str) -> None:
        with self.lock:
            chat = next(c for c in self.chats if c["id"] == chat_id)
            self.chats.remove(chat)
            self.chats.insert(0, {"id": chat_id, "last_message_time": next(self.clock)})

    def add(self, count: int) -> None:
        with self.lock:
            for _ in range(count):
                self.chats.insert(
                    0, {"id": f"new{len(self.chats)}", "last_message_time": next(self.clock)}
                )

    def fetch(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        with self.lock:
            self.requests.append(offset)
            return [dict(c) for c in self.chats[offset : offset + limit]], len(self.chats)


def test_sequential_crawl_catches_a_chat_that_jumps_to_the_read_front() -> None:
    chats = ChangingList(100)
    fetched = 0

    def fetch(offset: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        nonlocal fetched
        fetched += 1
        if fetched == 3:  # after two pages were read, an unread chat gets a message
            chats.move_to_front("c00090")
        return chats.fetch(offset, limit)

    crawler = ChatCrawler(fetch, page_size=10, max_concurrency=1)
    result = crawler.crawl()

    assert result == chats.chats
    assert crawler.stats.passes == 2


def test_out_of_order_pages_with_a_shift_between_them_are_fetched_again() -> None:
    chats = ChangingList(200)
    page_size, concurrency = 20, 4
    step = page_size - 1  # the overlap the crawler uses for page_size 20
    second_page_may_answer = threading.Event()

    def fetch(offset: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        if offset == step:
            # Hold page 1 until page 2 was answered and five unread chats moved forward.
            assert second_page_may_answer.wait(5)
        answer = chats.fetch(offset, limit)
        if offset == 2 * step:
            for chat_id in ("c00150", "c00151", "c00152", "c00153", "c00154"):
                chats.move_to_front(chat_id)
            second_page_may_answer.set()
        return answer

    crawler = ChatCrawler(fetch, page_size=page_size, max_concurrency=concurrency)
    result = crawler.crawl()

    assert [c["id"] for c in result] == [c["id"] for c in chats.chats]
    assert result == chats.chats
    assert crawler.stats.refetched_pages >= 1


def test_without_the_check_the_same_ordering_would_lose_chats() -> None:
    """The control: page 1 and page 2 as read above leave a gap between them."""
    chats = ChangingList(200)
    step, limit = 19, 20
    page2 = chats.fetch(2 * step, limit)[0]
    for chat_id in ("c00150", "c00151", "c00152", "c00153", "c00154"):
        chats.move_to_front(chat_id)
    page1 = chats.fetch(step, limit)[0]

    seen = {c["id"] for c in page1} | {c["id"] for c in page2}
    between = [f"c{i:05d}" for i in range(step, 2 * step + limit)]
    assert set(between) - seen, "a stable chat fell between the two pages"


def test_active_since_stops_at_the_first_page_past_the_boundary() -> None:
    chats = ChangingList(1000)
    crawler = ChatCrawler(chats.fetch, page_size=10, max_concurrency=1)

    result = crawler.crawl(active_since=1000 - 34)

    assert [c["id"] for c in result] == [f"c{i:05d}" for i in range(35)]
    # pages at 0, 10, 20, 30 (which holds the first older chat), plus the catch-up read
    assert chats.requests == [0, 10, 20, 30, 0]


def test_a_list_that_never_settles_is_reported() -> None:
    chats = ChangingList(50)

    def fetch(offset: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        if offset == 0:
            chats.add(25)  # more new chats than one page at every pass
        return chats.fetch(offset, limit)

    crawler = ChatCrawler(fetch, page_size=10, max_concurrency=1)
    with pytest.raises(BlooioError, match="kept changing faster than it could be read"):
        crawler.crawl()
    assert crawler.stats.passes == MAX_PASSES


def test_progress_is_reported_after_every_page() -> None:
    chats = ChangingList(95)
    seen: list[CrawlProgress] = []
    crawler = ChatCrawler(chats.fetch, page_size=10, max_concurrency=1, on_progress=seen.append)

    crawler.crawl()

    assert [p.pages for p in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].chats_seen == 95
    assert seen[-1].total == 95
    assert seen[0].pages_expected == 11
