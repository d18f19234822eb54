"""Concurrency and rate: what the pacer allows, and what the server sees.

Most tests drive the pacer on a simulated clock: :class:`Simulation` runs virtual workers
against a simulated rate limiter in one thread, so the figures are exact and repeatable. The
last tests crawl the bundled HTTP server for real.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack

import pytest

from blooio_dagster.api.pacing import (
    IDLE_SECONDS,
    RATE_DECREASE,
    RATE_RELEASE_FACTOR,
    RequestPacer,
)
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


def succeed(paced: RequestPacer, clock: FakeClock, times: int, every: float = 0.0) -> None:
    """``times`` requests answered 200, one every ``every`` seconds (or as the rate allows)."""
    for _ in range(times):
        with paced.slot() as at:
            pass
        paced.record_success(at)
        clock.now += every


def refuse(paced: RequestPacer, retry_after: float | None = None) -> float:
    """One request answered 429; returns when it was sent."""
    with paced.slot() as at:
        pass
    paced.record_rate_limited(at, retry_after)
    return at


# -- the rule, step by step ---------------------------------------------------------------------


def test_a_rate_cap_spaces_requests_evenly() -> None:
    paced, clock = pacer(rate=4)
    sent = []

    for _ in range(9):
        with paced.slot() as at:
            sent.append(at)

    assert sent == pytest.approx([100 + i * 0.25 for i in range(9)])
    assert clock.now == pytest.approx(102.0)


def test_a_429_to_the_first_request_pauses_and_halves_concurrency_but_sets_no_rate() -> None:
    paced, _ = pacer(max_concurrency=8)
    before = paced.concurrency_limit

    refuse(paced, retry_after=1.0)

    assert paced.concurrency_limit == before // 2
    assert paced.rate_limit is None  # nothing seen yet says what the server allows
    with paced.slot() as next_send:
        pass
    assert next_send == pytest.approx(101.0)


def test_a_burst_of_429s_backs_off_once_and_honours_retry_after() -> None:
    paced, clock = pacer(max_concurrency=8)
    refuse(paced, retry_after=0.5)  # counting starts when this pause ends, at 100.5
    succeed(paced, clock, 40, every=0.05)  # forty successes in two seconds: about 20/s
    before = paced.concurrency_limit
    sent_together = clock.now
    clock.now += 0.05  # their answers arrive a little later
    answered = clock.now

    for _ in range(5):  # five requests that were in flight together all come back 429
        paced.record_rate_limited(sent_together, retry_after=0.5)

    # Halved once, not five times; each further 429 of the burst takes one more request off.
    assert paced.concurrency_limit == max(1, before // 2 - 4)
    allowed = 40 / (answered - 100.5)
    assert paced.rate_limit == pytest.approx(allowed * RATE_DECREASE)
    with paced.slot() as next_send:
        pass
    assert next_send >= answered + 0.5


def test_429s_after_a_backoff_back_off_again_down_to_one_in_flight() -> None:
    paced, clock = pacer(max_concurrency=8)
    start = paced.concurrency_limit
    limits = []
    for _ in range(5):
        clock.now += 1.0
        refuse(paced)
        limits.append(paced.concurrency_limit)

    assert limits == [max(1, start >> n) for n in range(1, 6)]
    assert limits[-1] == 1
    # No success in between: no evidence of any rate. (The old pacer floored the rate at
    # 0.5/s here, which is what slowed a crawl for minutes after a harmless 429.)
    assert paced.rate_limit is None


def test_a_429_right_after_a_pause_keeps_the_learned_rate() -> None:
    paced, clock = pacer(max_concurrency=8)
    refuse(paced, retry_after=1.0)
    succeed(paced, clock, 60, every=0.05)
    refuse(paced, retry_after=1.0)
    learned = paced.rate_limit
    assert learned is not None
    limit = paced.concurrency_limit

    refuse(paced, retry_after=1.0)  # the retry after the pause: the window is still full

    assert paced.rate_limit == learned
    assert paced.concurrency_limit == max(1, limit // 2)


def test_a_measured_rate_spans_the_pauses_between_429s() -> None:
    """A fixed window of 100 requests per 5 s, from 100: the measure is its average."""
    paced, clock = pacer(max_concurrency=8)
    clock.now = 101.0
    refuse(paced, retry_after=1.0)  # the window is full; counting starts when the pause ends
    for _ in range(3):  # the retries at 102, 103 and 104 find it still full
        clock.now += 1.0
        refuse(paced, retry_after=1.0)
    clock.now = 105.0  # the next window: 100 requests in two seconds, then 429 again
    succeed(paced, clock, 100, every=0.02)

    refuse(paced, retry_after=1.0)

    assert paced.rate_limit == pytest.approx(100 / 5.0 * RATE_DECREASE)  # not 50/s


def test_successes_win_back_the_rate_up_to_the_users_cap() -> None:
    paced, clock = pacer(max_concurrency=4, rate=10)
    refuse(paced)
    succeed(paced, clock, 30)  # three seconds at the cap
    refuse(paced)
    lowered = paced.rate_limit
    assert lowered is not None
    assert lowered < 10

    succeed(paced, clock, 2_000)

    assert paced.rate_limit == 10  # never above the user's cap


def test_a_learned_rate_that_doubles_without_a_429_is_forgotten() -> None:
    paced, clock = pacer(max_concurrency=8)
    refuse(paced)
    succeed(paced, clock, 40, every=0.1)
    refuse(paced)
    learned = paced.rate_limit
    assert learned is not None

    rates: list[float | None] = []
    while paced.rate_limit is not None and len(rates) < 10_000:
        succeed(paced, clock, 1)  # the rate alone paces these: it holds requests back
        rates.append(paced.rate_limit)

    assert paced.rate_limit is None
    assert max(r for r in rates if r is not None) < learned * RATE_RELEASE_FACTOR * 1.01
    assert clock.now - 104.0 < 40.0  # seconds, not minutes


def test_idle_time_is_not_counted_as_the_server_refusing() -> None:
    paced, clock = pacer(max_concurrency=8)
    refuse(paced)
    succeed(paced, clock, 10, every=0.1)
    clock.now += IDLE_SECONDS * 6  # nothing to do for a minute

    succeed(paced, clock, 100, every=0.01)
    refuse(paced)

    assert paced.rate_limit is None  # the first 429 after idling starts a new count


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


# -- simulated crawls against simulated limiters ------------------------------------------------

#: A simulated server: given the moment a request arrives, its status and Retry-After.
Server = Callable[[float], tuple[int, float | None]]


class FirstRequests429:
    """No limit at all, but the first ``count`` requests get 429 with ``Retry-After: 1``."""

    def __init__(self, count: int) -> None:
        self.left = count

    def __call__(self, at: float) -> tuple[int, float | None]:
        if self.left:
            self.left -= 1
            return 429, 1.0
        return 200, None


class FixedWindow:
    """At most ``allowed`` requests per window of ``seconds``; 429 says ``Retry-After: 1``."""

    def __init__(self, allowed: int, seconds: float) -> None:
        self.allowed, self.seconds = allowed, seconds
        self.window, self.seen = -1, 0

    def __call__(self, at: float) -> tuple[int, float | None]:
        window = math.floor(at / self.seconds)
        if window != self.window:
            self.window, self.seen = window, 0
        if self.seen >= self.allowed:
            return 429, 1.0
        self.seen += 1
        return 200, None


class TokenBucket:
    """``rate`` tokens a second, holding one second's worth, like the bundled server.

    A 429 says how long until the next token (``exact``, as ``retry-after-ms`` does) or
    ``Retry-After: 1`` (whole seconds, rounded up).
    """

    def __init__(self, rate: float, *, exact: bool = True) -> None:
        self.rate, self.exact = rate, exact
        self.tokens, self.updated = rate, 0.0

    def __call__(self, at: float) -> tuple[int, float | None]:
        self.tokens = min(self.rate, self.tokens + (at - self.updated) * self.rate)
        self.updated = at
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 200, None
        wait = (1.0 - self.tokens) / self.rate
        return 429, math.ceil(wait * 1000) / 1000 if self.exact else float(math.ceil(wait))


class Switch:
    """One server until ``at``, then another."""

    def __init__(self, before: Server, after: Server, at: float) -> None:
        self.before, self.after, self.at = before, after, at

    def __call__(self, at: float) -> tuple[int, float | None]:
        return self.before(at) if at < self.at else self.after(at)


class Simulation:
    """``workers`` virtual workers paging through one pacer on a simulated clock, one thread.

    A worker takes a slot and holds it for ``latency`` seconds; the server decides when the
    request reaches it, halfway. After a 429 the worker sleeps the Retry-After outside its
    slot before retrying the same page, as ``BlooioClient`` does. While the pacer makes a
    worker wait for its send time, the answers due meanwhile arrive, in time order.
    """

    def __init__(
        self,
        server: Server,
        *,
        workers: int = 8,
        latency: float = 0.1,
        requests_per_second: float | None = None,
    ) -> None:
        self.server = server
        self.latency = latency
        self.now = 0.0
        self.pacer = RequestPacer(
            workers, requests_per_second, clock=lambda: self.now, sleep=self._sleep
        )
        self.successes: list[float] = []
        self.refusals: list[float] = []
        self.longest_streak = 0  # most 429s in a row to one page
        self._ready = list(range(workers))  # workers free to send, first come first served
        self._streaks = [0] * workers
        self._in_flight = 0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def run(self, until: float) -> Simulation:
        while self.now < until:
            if self._ready and self._in_flight < self.pacer.concurrency_limit:
                self._send(self._ready.pop(0))
            elif self._events:
                self._run_until(self._events[0][0])
            else:
                break
        return self

    def rate(self, start: float, end: float) -> float:
        """Successful requests per second answered in ``[start, end)``."""
        return sum(start <= t < end for t in self.successes) / (end - start)

    def refused_share(self, end: float) -> float:
        refused = sum(t < end for t in self.refusals)
        return refused / (refused + sum(t < end for t in self.successes))

    def _send(self, worker: int) -> None:
        self._in_flight += 1
        slot = ExitStack()
        sent_at = slot.enter_context(self.pacer.slot())
        status, retry_after = self.server(sent_at + self.latency / 2)

        def answer() -> None:
            slot.close()
            self._in_flight -= 1
            if status == 200:
                self.successes.append(self.now)
                self.pacer.record_success(sent_at)
                self._streaks[worker] = 0
                self._ready.append(worker)
            else:
                self.refusals.append(self.now)
                self.pacer.record_rate_limited(sent_at, retry_after)
                self._streaks[worker] += 1
                self.longest_streak = max(self.longest_streak, self._streaks[worker])
                self._at(self.now + (retry_after or 0.5), lambda: self._ready.append(worker))

        self._at(sent_at + self.latency, answer)

    def _at(self, moment: float, event: Callable[[], None]) -> None:
        heapq.heappush(self._events, (moment, next(self._order), event))

    def _run_until(self, moment: float) -> None:
        while self._events and self._events[0][0] <= moment:
            due, _, event = heapq.heappop(self._events)
            self.now = max(self.now, due)
            event()
        self.now = max(self.now, moment)

    def _sleep(self, seconds: float) -> None:
        self._run_until(self.now + seconds)


def test_an_unlimited_server_whose_first_answer_is_429_gets_full_speed_after_the_pause() -> None:
    full = 8 / 0.1  # eight workers, 100 ms each
    sim = Simulation(FirstRequests429(1), workers=8, latency=0.1).run(30)

    assert sim.pacer.rate_limit is None
    assert sim.rate(2, 3) >= 0.9 * full  # within a second of the pause's end
    assert sim.rate(0, 30) >= 0.8 * full


@pytest.mark.parametrize(("workers", "latency"), [(8, 0.1), (4, 0.05), (16, 0.25)])
def test_a_fixed_window_with_a_short_retry_after_settles_near_its_average(
    workers: int, latency: float
) -> None:
    # 100 requests per 5 s window; a retry after 1 s finds the window still full.
    sim = Simulation(FixedWindow(100, 5.0), workers=workers, latency=latency).run(120)

    assert sim.rate(0, 120) >= 0.85 * 20
    assert sim.refused_share(120) < 0.05


@pytest.mark.parametrize("exact", [True, False], ids=["retry-after-ms", "retry-after-1s"])
def test_a_token_bucket_is_used_to_at_least_90_percent_with_few_429s(exact: bool) -> None:
    sim = Simulation(TokenBucket(20, exact=exact), workers=8, latency=0.1).run(120)

    assert sim.rate(0, 120) >= 0.9 * 20
    assert sim.refused_share(120) < 0.05


def test_a_fast_client_learns_a_token_bucket_before_any_page_runs_out_of_retries() -> None:
    # 2 ms answers: even one request in flight is far over 20/s, so a rate must come soon.
    sim = Simulation(TokenBucket(20), workers=8, latency=0.002).run(60)

    assert sim.longest_streak <= 4  # BlooioClient gives up after 6 attempts by default
    assert sim.rate(0, 60) >= 0.9 * 20
    assert sim.refused_share(60) < 0.05


def test_a_limit_that_goes_away_is_forgotten_within_half_a_minute() -> None:
    full = 8 / 0.1
    sim = Simulation(Switch(TokenBucket(5), FirstRequests429(0), at=20), workers=8).run(20)
    assert sim.pacer.rate_limit is not None
    assert sim.pacer.rate_limit < 8

    sim.run(60)

    assert sim.pacer.rate_limit is None
    assert sim.rate(50, 60) >= 0.9 * full


def test_a_user_rate_cap_far_above_the_limit_comes_down_to_it() -> None:
    sim = Simulation(TokenBucket(20), requests_per_second=100).run(120)

    assert sim.rate(0, 120) >= 0.9 * 20
    assert sim.refused_share(120) < 0.05
    assert sim.pacer.rate_limit is not None
    assert sim.pacer.rate_limit <= 100


# -- real HTTP against the bundled server -------------------------------------------------------


@pytest.mark.parametrize("max_concurrency", [1, 3, 6])
def test_a_crawl_on_a_steady_server_grows_to_max_concurrency_in_flight_and_no_further(
    start_server: ServerFactory, client_for: ClientFactory, max_concurrency: int
) -> None:
    # Real time, an order of magnitude above the noise: the server's 50 ms sleep dominates
    # every answer, so latency stays flat (and the limit grows) on a loaded machine too.
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
    # Real time: a slower (loaded) machine sends more slowly and so meets fewer 429s, never more.
    server = start_server(chats=6000, seed=10, faults=Faults(requests_per_second=10))

    result = client_for(server).crawl_chats()

    statuses = Counter(r.status for r in server.chats_requests())
    assert len(result.chats) == 6000
    assert statuses[429] >= 1, "the limit was reached"
    assert statuses[429] == result.retries
    # The burst before the first 429 says nothing about the refill rate (the bucket was full),
    # so a fast client spends a few 429s learning the limit: on this 32-page crawl about a
    # quarter of the requests; on a long crawl under 5% (the simulations above).
    assert statuses[429] / sum(statuses.values()) < 0.4


def test_a_429_to_the_first_request_does_not_slow_the_crawl(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=6000, seed=11, faults=Faults(latency=0.01, first_requests_429=1))

    started = time.monotonic()
    result = client_for(server, page_size=50).crawl_chats()
    elapsed = time.monotonic() - started

    statuses = Counter(r.status for r in server.chats_requests())
    assert len(result.chats) == 6000
    assert statuses[429] == 1
    # Real time, an order of magnitude: one second of Retry-After, then full speed; 120-odd
    # pages take well under a second here. (The old pacer fell to 0.5 requests a second: 4
    # minutes.)
    assert elapsed < 30.0


def test_a_fixed_window_limit_is_used_near_its_average(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=6000, seed=12, faults=Faults(fixed_window=(20, 1.0)))

    started = time.monotonic()
    result = client_for(server, page_size=50).crawl_chats()
    elapsed = time.monotonic() - started

    statuses = Counter(r.status for r in server.chats_requests())
    assert len(result.chats) == 6000
    assert statuses[429] == result.retries
    # Real time, with room for a loaded machine: about 85% here; the old pacer 7%.
    assert statuses[200] / elapsed >= 0.3 * 20
    assert statuses[429] / sum(statuses.values()) < 0.3
