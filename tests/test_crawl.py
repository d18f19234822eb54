"""The crawl algorithm against an in-memory list, with orderings and changes forced on purpose.

Over real sockets the interleaving of concurrent pages is up to the scheduler; here a page
is held back until another was answered and the list changed in between, a page comes back
short or empty on cue, and the list is changed between two reads exactly where it hurts.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from blooio_dagster.api.errors import BlooioIncompleteError
from blooio_dagster.api.wire.chats import PageAnswer
from blooio_dagster.crawl.chats import ChatCrawler
from blooio_dagster.crawl.reading import CrawlProgress

Fetch = Callable[[int, int], PageAnswer]


class MemoryList:
    """A chat list as a SQL backend sorts it: newest first, ties by id, nulls where told."""

    def __init__(self, size: int, *, spacing: int = 7, nulls_first: bool = False) -> None:
        self.clock = itertools.count(10_000_000)
        self.nulls_first = nulls_first
        self.chats: list[dict[str, Any]] = [
            {"id": f"c{i:05d}", "last_message_time": 1_000_000 - i * spacing} for i in range(size)
        ]
        self.lock = threading.Lock()
        self.requests: list[tuple[int, int]] = []
        self.cap: int | None = None

    def sort(self) -> None:
        def key(chat: dict[str, Any]) -> tuple[int, int, str]:
            time = chat["last_message_time"]
            if time is None:
                return (0 if self.nulls_first else 2, 0, chat["id"])
            return (1, -time, chat["id"])

        self.chats.sort(key=key)

    def move_to_front(self, chat_id: str) -> None:
        with self.lock:
            chat = next(c for c in self.chats if c["id"] == chat_id)
            chat["last_message_time"] = next(self.clock)
            self.sort()

    def delete(self, chat_id: str) -> None:
        with self.lock:
            self.chats = [c for c in self.chats if c["id"] != chat_id]

    def add(self, count: int, time: int | None = None) -> None:
        with self.lock:
            for _ in range(count):
                stamp = next(self.clock) if time is None else time
                self.chats.append({"id": f"new{len(self.chats):05d}", "last_message_time": stamp})
            self.sort()

    def fetch(self, offset: int, limit: int) -> PageAnswer:
        with self.lock:
            self.requests.append((offset, limit))
            size = limit if self.cap is None else min(limit, self.cap)
            window = [dict(c) for c in self.chats[offset : offset + size]]
            return PageAnswer(window, len(self.chats), size)

    def ids(self) -> list[str]:
        return [c["id"] for c in self.chats]


def crawl(fetch: Fetch, **settings: Any) -> tuple[list[dict[str, Any]], ChatCrawler]:
    crawler = ChatCrawler(fetch, **{"page_size": 10, "max_concurrency": 1, **settings})
    return crawler.crawl(), crawler


def test_a_still_list_is_read_whole_and_verified() -> None:
    chats = MemoryList(95)

    result, crawler = crawl(chats.fetch)

    assert result == chats.chats
    assert crawler.verdict.verified
    assert (crawler.verdict.expected, crawler.verdict.unique_chats) == (95, 95)
    assert crawler.verdict.missing == 0


def test_sequential_crawl_catches_a_chat_that_jumps_to_the_read_front() -> None:
    chats = MemoryList(100)
    fetched = 0

    def fetch(offset: int, limit: int) -> PageAnswer:
        nonlocal fetched
        fetched += 1
        if fetched == 3:  # after two pages were read, an unread chat gets a message
            chats.move_to_front("c00090")
        return chats.fetch(offset, limit)

    result, crawler = crawl(fetch)

    assert result == chats.chats
    assert crawler.stats.passes == 2


def test_out_of_order_pages_with_a_shift_between_them_still_join() -> None:
    chats = MemoryList(200)
    crawler_probe = ChatCrawler(chats.fetch, page_size=20, max_concurrency=4)
    step = crawler_probe.step
    second_page_may_answer = threading.Event()

    def fetch(offset: int, limit: int) -> PageAnswer:
        if offset == step:
            # Hold page 1 until page 2 was answered and five unread chats moved forward.
            assert second_page_may_answer.wait(5)
        answer = chats.fetch(offset, limit)
        if offset == 2 * step and not second_page_may_answer.is_set():
            for chat_id in ("c00150", "c00151", "c00152", "c00153", "c00154"):
                chats.move_to_front(chat_id)
            second_page_may_answer.set()
        return answer

    result, crawler = crawl(fetch, page_size=20, max_concurrency=4)

    assert [c["id"] for c in result] == chats.ids()
    assert result == chats.chats
    assert crawler.stats.refetched_pages >= 1, "page 1 and page 2 did not overlap in keys"


def test_without_the_key_check_the_same_ordering_would_lose_chats() -> None:
    """The control: page 1 and page 2 as read above leave a gap between them."""
    chats = MemoryList(200)
    step, limit = 19, 20
    page2 = chats.fetch(2 * step, limit).chats
    for chat_id in ("c00150", "c00151", "c00152", "c00153", "c00154"):
        chats.move_to_front(chat_id)
    page1 = chats.fetch(step, limit).chats

    seen = {c["id"] for c in page1} | {c["id"] for c in page2}
    between = [f"c{i:05d}" for i in range(step, 2 * step + limit)]
    assert set(between) - seen, "a stable chat fell between the two pages"


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_chats_deleted_between_pages_shift_the_rest_forward_and_none_is_lost(
    max_concurrency: int,
) -> None:
    chats = MemoryList(300)
    rng = random.Random(4)
    deleted: set[str] = set()

    def fetch(offset: int, limit: int) -> PageAnswer:
        if offset > 0 and len(deleted) < 90:  # deletions ahead of the page, beyond the overlap
            for _ in range(6):
                victim = chats.chats[rng.randrange(min(offset, len(chats.chats)))]["id"]
                chats.delete(victim)
                deleted.add(victim)
        return chats.fetch(offset, limit)

    result, crawler = crawl(fetch, max_concurrency=max_concurrency)

    ids = {c["id"] for c in result}
    assert set(chats.ids()) <= ids, "every chat still there was read"
    assert ids - set(chats.ids()) <= deleted, "anything else was deleted meanwhile"
    assert crawler.stats.repaired_regions > 0


def test_a_short_page_in_the_middle_is_not_the_end() -> None:
    chats = MemoryList(100)
    cut: set[int] = set()

    def fetch(offset: int, limit: int) -> PageAnswer:
        answer = chats.fetch(offset, limit)
        if 30 <= offset < 40 and offset not in cut:  # the first read there is 7 rows short
            cut.add(offset)
            return PageAnswer(answer.chats[:3], answer.total, answer.limit)
        return answer

    result, crawler = crawl(fetch)

    assert result == chats.chats
    assert crawler.verdict.verified


def test_a_server_cap_below_the_page_size_is_learned_even_when_unreported() -> None:
    chats = MemoryList(500)
    chats.cap = 30

    def fetch(offset: int, limit: int) -> PageAnswer:
        answer = chats.fetch(offset, limit)
        return PageAnswer(answer.chats, answer.total, limit)  # echoes the limit asked for

    result, crawler = crawl(fetch, page_size=100, max_concurrency=4)

    assert result == chats.chats
    assert crawler.cap == 30
    assert crawler.stats.pages < 2 * 500 / 30


def test_a_transient_empty_first_page_is_read_again() -> None:
    chats = MemoryList(50)
    empty_once = [True]

    def fetch(offset: int, limit: int) -> PageAnswer:
        answer = chats.fetch(offset, limit)
        if offset == 0 and empty_once[0]:
            empty_once[0] = False
            return PageAnswer([], answer.total, answer.limit)
        return answer

    result, _ = crawl(fetch)

    assert result == chats.chats


def test_a_run_of_tied_chats_longer_than_a_page_is_gathered_whatever_its_order() -> None:
    chats = MemoryList(80, spacing=10_000)
    chats.add(45, time=500_000)  # a bulk import: 45 chats share one time, mid-list
    rng = random.Random(9)

    def fetch(offset: int, limit: int) -> PageAnswer:
        # The server orders the tied run afresh for every request (SQL without a tiebreaker).
        with chats.lock:
            run = [c for c in chats.chats if c["last_message_time"] == 500_000]
            rest = [c for c in chats.chats if c["last_message_time"] != 500_000]
            rng.shuffle(run)
            at = next(i for i, c in enumerate(rest) if c["last_message_time"] < 500_000)
            order = rest[:at] + run + rest[at:]
            return PageAnswer([dict(c) for c in order[offset : offset + limit]], len(order), limit)

    result, crawler = crawl(fetch)

    assert sorted(c["id"] for c in result) == sorted(chats.ids())
    assert crawler.verdict.verified


def test_a_run_of_ties_the_server_never_shows_whole_is_reported_not_returned() -> None:
    chats = MemoryList(40)
    chats.add(30, time=600_000)
    hidden = "new00040"

    def fetch(offset: int, limit: int) -> PageAnswer:
        answer = chats.fetch(offset, limit)
        total = answer.total
        return PageAnswer([c for c in answer.chats if c["id"] != hidden], total, answer.limit)

    crawler = ChatCrawler(fetch, page_size=10, max_concurrency=1)
    with pytest.raises(BlooioIncompleteError) as raised:
        crawler.crawl()

    assert raised.value.missing == 1
    assert raised.value.expected == 70
    assert "1 of 70 chats is unaccounted for" in str(raised.value)
    assert len(chats.requests) < 400, "gave up within a bounded number of requests"


def test_a_small_shortfall_within_max_missing_is_returned_and_counted() -> None:
    chats = MemoryList(60)

    def fetch(offset: int, limit: int) -> PageAnswer:
        answer = chats.fetch(offset, limit)
        return PageAnswer(answer.chats, answer.total + 2 if answer.total else 2, answer.limit)

    crawler = ChatCrawler(fetch, page_size=10, max_concurrency=1, max_missing=2)
    result = crawler.crawl()

    assert result == chats.chats
    assert not crawler.verdict.verified
    assert crawler.verdict.missing == 2
    with pytest.raises(BlooioIncompleteError, match="2 of 62 chats"):
        ChatCrawler(fetch, page_size=10, max_concurrency=1, max_missing=1).crawl()


def test_a_server_that_ignores_offset_is_reported_after_a_bounded_number_of_requests() -> None:
    chats = MemoryList(500)
    requests = 0

    def fetch(offset: int, limit: int) -> PageAnswer:
        nonlocal requests
        requests += 1
        return chats.fetch(0, limit)

    crawler = ChatCrawler(fetch, page_size=20, max_concurrency=4)
    with pytest.raises(BlooioIncompleteError, match="seems to ignore offset"):
        crawler.crawl()
    assert requests < 40


def test_a_page_not_sorted_newest_first_is_reported() -> None:
    chats = MemoryList(30)

    def fetch(offset: int, limit: int) -> PageAnswer:
        answer = chats.fetch(offset, limit)
        return PageAnswer(answer.chats[::-1], answer.total, answer.limit)

    with pytest.raises(BlooioIncompleteError, match="not sorted newest first"):
        ChatCrawler(fetch, page_size=10, max_concurrency=1).crawl()


@pytest.mark.parametrize("nulls_first", [True, False])
def test_chats_without_a_time_do_not_end_a_windowed_crawl_and_count_in_a_whole_one(
    nulls_first: bool,
) -> None:
    chats = MemoryList(200, nulls_first=nulls_first)
    chats.add(25)
    for chat in chats.chats:
        if chat["id"].startswith("new"):
            chat["last_message_time"] = None
    chats.sort()
    since = 1_000_000 - 7 * 60  # the newest 61 timed chats

    windowed = ChatCrawler(chats.fetch, page_size=10, max_concurrency=1)
    recent = windowed.crawl(active_since=since)
    whole, _ = crawl(chats.fetch)

    assert [c["id"] for c in recent] == [f"c{i:05d}" for i in range(61)]
    assert windowed.verdict.verified
    assert whole == chats.chats


def test_a_list_that_never_settles_is_reported() -> None:
    chats = MemoryList(50)

    def fetch(offset: int, limit: int) -> PageAnswer:
        if offset == 0:
            chats.add(25)  # more new chats than one page at every pass
        return chats.fetch(offset, limit)

    crawler = ChatCrawler(fetch, page_size=10, max_concurrency=1)
    with pytest.raises(BlooioIncompleteError, match="kept changing faster"):
        crawler.crawl()


def test_progress_is_reported_after_every_page() -> None:
    chats = MemoryList(95)
    seen: list[CrawlProgress] = []
    crawler = ChatCrawler(chats.fetch, page_size=10, max_concurrency=1, on_progress=seen.append)

    crawler.crawl()

    assert [p.pages for p in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].chats_seen == 95
    assert seen[-1].total == 95
    assert seen[0].pages_expected == 13


def test_a_chat_that_moves_mid_list_past_the_pages_is_caught_by_the_count() -> None:
    chats = MemoryList(100)
    fetched = 0

    def fetch(offset: int, limit: int) -> PageAnswer:
        nonlocal fetched
        fetched += 1
        if fetched == 4:  # a late-stamped message moves an unread chat into the read part
            with chats.lock:
                chat = next(c for c in chats.chats if c["id"] == "c00090")
                chat["last_message_time"] = 1_000_000 - 7 * 15 + 3
                chats.sort()
        return chats.fetch(offset, limit)

    result, crawler = crawl(fetch)

    assert result == chats.chats
    assert crawler.stats.repair_rounds == 1, "the count came up one short, a re-read found it"
    assert crawler.verdict.verified


def test_a_chat_that_keeps_moving_out_of_sight_is_reported() -> None:
    chats = MemoryList(100)
    hide = itertools.count()

    def fetch(offset: int, limit: int) -> PageAnswer:
        with chats.lock:
            chat = next(c for c in chats.chats if c["id"] == "c00090")
            # Always just above the page being read, where the crawl has been already.
            chat["last_message_time"] = 1_000_000 - 7 * max(offset - 1, 0) + 1 + next(hide) % 2
            chats.sort()
        answer = chats.fetch(offset, limit)
        return PageAnswer([c for c in answer.chats if c["id"] != "c00090"], answer.total, limit)

    with pytest.raises(BlooioIncompleteError, match="1 of 100 chats is unaccounted for"):
        crawl(fetch)
