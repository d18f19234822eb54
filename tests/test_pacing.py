"""Concurrency and rate: what the pacer allows, and what the server sees."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from blooio_dagster.pacing import RATE_DECREASE, RequestPacer
from blooio_dagster.testing import Faults
from tests.conftest import ClientFactory, ServerFactory


class FakeClock:
    """A clock that only moves when the pacer sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def pacer(max_concurrency: int = 8, rate: float | None = None) -> tuple[RequestPacer, FakeClock]:
    clock = FakeClock()
    return RequestPacer(max_concurrency, rate, clock=clock, sleep=clock.sleep), clock


def test_a_rate_cap_spaces_requests_evenly() -> None:
    paced, clock = pacer(rate=4)
    sent = []

    for _ in range(9):
        with paced.slot() as at:
            sent.append(at)

    assert sent == pytest.approx([100 + i * 0.25 for i in range(9)])
    assert clock.now == pytest.approx(102.0)


def test_a_burst_of_429s_backs_off_once_and_honours_retry_after() -> None:
    paced, clock = pacer(max_concurrency=8)
    for _ in range(20):  # twenty successes in the last second: the limit is about 20/s
        with paced.slot():
            pass
        paced.record_success()
        clock.now += 0.04
    sent_together = clock.now
    clock.now += 0.05  # their answers arrive a little later
    answered = clock.now

    for _ in range(5):  # five requests that were in flight together all come back 429
        paced.record_rate_limited(sent_together, retry_after=0.5)

    assert paced.concurrency_limit == 4
    assert paced.rate_limit == pytest.approx(20 * RATE_DECREASE)
    with paced.slot() as next_send:
        pass
    assert next_send >= answered + 0.5


def test_429s_after_a_backoff_back_off_again_down_to_one_in_flight() -> None:
    paced, clock = pacer(max_concurrency=8)
    limits = []
    for _ in range(5):
        clock.now += 1.0
        with paced.slot() as at:
            pass
        paced.record_rate_limited(at, retry_after=None)
        limits.append(paced.concurrency_limit)

    assert limits == [4, 2, 1, 1, 1]
    assert paced.rate_limit is not None
    assert paced.rate_limit >= 0.5


def test_successes_win_back_concurrency_and_rate_up_to_the_ceilings() -> None:
    paced, _ = pacer(max_concurrency=4, rate=10)
    with paced.slot() as at:
        pass
    paced.record_rate_limited(at, retry_after=None)
    lowered = paced.rate_limit
    assert paced.concurrency_limit == 2
    assert lowered is not None
    assert lowered < 10

    for _ in range(2_000):
        with paced.slot():
            pass
        paced.record_success()

    assert paced.concurrency_limit == 4
    assert paced.rate_limit == 10  # never above the user's cap


def test_the_concurrency_limit_blocks_extra_requests() -> None:
    paced = RequestPacer(2, None)
    inside = threading.Semaphore(0)
    release = threading.Event()
    most = 0
    count = 0
    lock = threading.Lock()

    def request() -> None:
        nonlocal most, count
        with paced.slot():
            with lock:
                count += 1
                most = max(most, count)
            inside.release()
            release.wait(5)
            with lock:
                count -= 1

    threads = [threading.Thread(target=request) for _ in range(5)]
    for thread in threads:
        thread.start()
    assert inside.acquire(timeout=5)
    assert inside.acquire(timeout=5)
    assert not inside.acquire(timeout=0.2), "a third request got in"
    release.set()
    for thread in threads:
        thread.join(5)
    assert most == 2


@pytest.mark.parametrize("max_concurrency", [1, 3, 6])
def test_a_crawl_keeps_exactly_max_concurrency_requests_in_flight(
    start_server: ServerFactory, client_for: ClientFactory, max_concurrency: int
) -> None:
    server = start_server(chats=2000, seed=8, faults=Faults(latency=0.05))

    chats = client_for(server, page_size=50, max_concurrency=max_concurrency).list_chats()

    assert len(chats) == 2000
    assert server.max_in_flight == max_concurrency


def test_requests_per_second_caps_the_whole_crawl(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=1000, seed=9)

    client_for(server, page_size=50, requests_per_second=25).list_chats()

    times = [r.answered_at for r in server.chats_requests()]
    assert len(times) >= 21
    assert times[-1] - times[0] >= (len(times) - 1) / 25 * 0.95


def test_a_rate_limited_crawl_finishes_with_few_429s(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=6000, seed=10, faults=Faults(requests_per_second=10))

    result = client_for(server).crawl_chats()

    statuses = Counter(r.status for r in server.chats_requests())
    assert len(result.chats) == 6000
    assert statuses[429] >= 1, "the limit was reached"
    assert statuses[429] == result.retries
    assert statuses[429] / sum(statuses.values()) < 0.25
