"""The adaptive concurrency limit, answer by answer on a made-up clock, then over real HTTP."""

from __future__ import annotations

from collections import Counter

import pytest

from blooio_dagster.api.concurrency import (
    BASELINE_WINDOW,
    ERROR_DECREASE,
    INITIAL_LIMIT,
    LATENCY_DECREASE,
    AdaptiveConcurrency,
)
from blooio_dagster.testing import Faults
from tests.conftest import ClientFactory, ServerFactory


class Round:
    """A client that keeps its limit full: each answer, ``rtt`` seconds after its request was
    sent, is replaced by a new request at once."""

    def __init__(self, limiter: AdaptiveConcurrency) -> None:
        self.limiter = limiter
        self.now = 1000.0

    def run(self, rtt: float, *, in_flight: int | None = None) -> None:
        """One round trip of answers at the full limit (or with ``in_flight`` out)."""
        sent = self.now
        count = self.limiter.limit
        self.now += rtt
        for _ in range(count):
            out = self.limiter.limit if in_flight is None else in_flight
            self.limiter.succeeded(sent_at=sent, now=self.now, in_flight=out)


def test_it_starts_polite_and_never_above_the_cap() -> None:
    assert AdaptiveConcurrency(32).limit == INITIAL_LIMIT
    assert AdaptiveConcurrency(2).limit == 2


def test_while_latency_stays_flat_it_grows_by_half_each_round_trip_up_to_the_cap() -> None:
    limiter = AdaptiveConcurrency(32)
    rounds = Round(limiter)
    limits = []
    for _ in range(8):
        rounds.run(0.05)
        limits.append(limiter.limit)

    assert limits == [6, 9, 13, 20, 30, 32, 32, 32]


def test_a_limit_that_is_not_used_does_not_grow() -> None:
    limiter = AdaptiveConcurrency(32)
    rounds = Round(limiter)
    for _ in range(50):
        rounds.run(0.05, in_flight=1)  # one request at a time: nothing says more would help

    assert limiter.limit == INITIAL_LIMIT


def test_queueing_shrinks_it_once_per_round_trip_then_it_grows_by_one_per_round_trip() -> None:
    limiter = AdaptiveConcurrency(32)
    rounds = Round(limiter)
    for _ in range(4):
        rounds.run(0.05)  # 20
    before = limiter.limit

    rounds.run(0.5)  # requests queue: ten times the latency

    assert limiter.limit == int(before * LATENCY_DECREASE)
    shrunk = limiter.limit
    for _ in range(30):  # back to normal: the smoothed latency falls, then growth resumes
        rounds.run(0.05)
    assert shrunk < limiter.limit <= shrunk + 30, "one more per round trip, not doubling"


def test_jitter_of_a_few_milliseconds_is_not_queueing() -> None:
    limiter = AdaptiveConcurrency(32)
    rounds = Round(limiter)
    rounds.run(0.001)
    for rtt in (0.004, 0.002, 0.005, 0.003, 0.004, 0.005):  # up to five times a 1 ms baseline
        rounds.run(rtt)

    assert limiter.limit == 32


def test_a_429_halves_it_and_each_further_one_of_the_burst_takes_one_more() -> None:
    limiter = AdaptiveConcurrency(32)
    rounds = Round(limiter)
    for _ in range(6):
        rounds.run(0.05)  # 32
    sent_together = rounds.now

    rounds.now += 0.05
    for _ in range(10):  # ten requests in flight together all answered 429
        limiter.rate_limited(sent_at=sent_together, now=rounds.now)
    assert limiter.limit == 16 - 9

    limiter.rate_limited(sent_at=rounds.now + 0.01, now=rounds.now + 0.06)  # sent after it
    assert limiter.limit == 3
    for _ in range(10):
        limiter.rate_limited(sent_at=rounds.now + 1, now=rounds.now + 1)
        rounds.now += 2
    assert limiter.limit == 1, "never below one request in flight"


def test_server_errors_and_timeouts_shrink_it_gently_and_end_the_doubling() -> None:
    limiter = AdaptiveConcurrency(64)
    rounds = Round(limiter)
    for _ in range(4):
        rounds.run(0.05)  # 20
    before = limiter.limit

    limiter.failed(sent_at=rounds.now, now=rounds.now + 0.05)
    rounds.now += 0.05

    assert limiter.limit == int(before * ERROR_DECREASE)
    before = limiter.limit
    rounds.run(0.05)
    rounds.run(0.05)
    assert before + 1 <= limiter.limit <= before + 2, "after trouble, one more per round trip"


def test_the_baseline_follows_a_server_that_became_slower_for_good() -> None:
    limiter = AdaptiveConcurrency(8)
    rounds = Round(limiter)
    for _ in range(BASELINE_WINDOW // 4):
        rounds.run(0.01)
    assert limiter.limit == 8

    for _ in range(BASELINE_WINDOW):  # ten times slower from now on: queueing at first...
        rounds.run(0.1)

    assert limiter.baseline == pytest.approx(0.1)
    assert limiter.limit == 8, "...then the new normal, and the limit grew back"


# -- over real HTTP against the bundled server ---------------------------------------------------


def test_a_crawl_against_a_slow_server_grows_well_past_the_polite_start(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=12_000, seed=14, faults=Faults(latency=0.1))
    client = client_for(server, page_size=50, max_concurrency=24)

    result = client.crawl_chats()

    assert len(result.chats) == 12_000
    assert INITIAL_LIMIT * 2 < server.max_in_flight <= 24


def test_a_rate_limit_shrinks_the_requests_in_flight_and_few_are_refused(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=8_000, seed=15, faults=Faults(requests_per_second=25))
    client = client_for(server, page_size=50)

    result = client.crawl_chats()

    statuses = Counter(r.status for r in server.chats_requests())
    assert len(result.chats) == 8_000
    assert statuses[429] >= 1, "the limit was reached"
    assert statuses[429] == result.retries
    assert statuses[429] / sum(statuses.values()) < 0.25
    assert client._pacer.concurrency_limit < 8, "well below the cap of 32"
