"""How fast one client may talk to Blooio: requests in flight and requests per second.

Blooio publishes no rate limit, so the pacer learns it from 429s. Every attempt of every
request passes through :meth:`RequestPacer.slot`, which waits for a free concurrency slot
and for the next send time the rate allows. A 429 halves the requests in flight, lowers the
rate to just under what the server let through in the last second, and holds all new requests for
the ``Retry-After`` the server asked for. Successes then win back concurrency one slot at a
time and rate a little at a time (additive increase, multiplicative decrease), so a crawl
settles just below the limit instead of bouncing off it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: After a 429 the rate is set to this share of the successful requests of the last second.
RATE_DECREASE = 0.9
#: Each success raises a learned rate by this share of itself (about +1% per 4 requests).
RATE_INCREASE = 0.0025
#: The learned rate never drops below this, so a client always makes progress.
MIN_RATE = 0.5
#: The window over which successful requests are counted.
RATE_WINDOW_SECONDS = 1.0


class RequestPacer:
    """Caps requests in flight and requests per second for one client; thread-safe.

    ``max_concurrency`` and ``requests_per_second`` are hard ceilings the user set; the pacer
    may run below them after 429s, never above.
    """

    def __init__(
        self,
        max_concurrency: int,
        requests_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._max_concurrency = max_concurrency
        self._rate_ceiling = requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._limit = max_concurrency
        self._in_flight = 0
        self._successes_at_limit = 0
        self._rate = requests_per_second
        self._next_send = 0.0
        self._paused_until = 0.0
        self._recent_successes: deque[float] = deque()
        self._last_backoff = -1.0
        self._rate_binding = False

    @property
    def concurrency_limit(self) -> int:
        """Requests allowed in flight right now (``max_concurrency`` until a 429)."""
        return self._limit

    @property
    def rate_limit(self) -> float | None:
        """Requests per second allowed right now; ``None`` when nothing caps the rate."""
        return self._rate

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one request slot: waits for concurrency and rate, releases on exit.

        Yields the moment the request may be sent; pass it to :meth:`record_rate_limited`.
        """
        sent_at = self._acquire()
        try:
            yield sent_at
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def _acquire(self) -> float:
        with self._cond:
            while self._in_flight >= self._limit:
                self._cond.wait()
            self._in_flight += 1
        waited_for_rate = False
        while True:
            with self._cond:
                now = self._clock()
                send_at = max(now, self._paused_until, self._next_send)
                if self._next_send > now and self._next_send >= self._paused_until:
                    waited_for_rate = True
                if send_at <= now:
                    # Only a rate that actually holds requests back may grow: otherwise it
                    # would climb without feedback while latency or concurrency set the pace.
                    self._rate_binding = waited_for_rate
                    if self._rate:
                        self._next_send = max(self._next_send, now) + 1.0 / self._rate
                    return now
            # Sleep outside the lock, then look again: a 429 may have moved the pause.
            self._sleep(send_at - now)

    def record_success(self) -> None:
        """A request was answered without a 429: win back concurrency and rate slowly."""
        with self._cond:
            now = self._clock()
            self._recent_successes.append(now)
            self._forget_successes_before(now - RATE_WINDOW_SECONDS)
            if self._limit < self._max_concurrency:
                self._successes_at_limit += 1
                if self._successes_at_limit >= self._limit:
                    self._successes_at_limit = 0
                    self._limit += 1
                    self._cond.notify()
            if self._rate is not None and self._rate_binding and self._rate != self._rate_ceiling:
                raised = self._rate * (1.0 + RATE_INCREASE)
                self._rate = (
                    raised if self._rate_ceiling is None else min(raised, self._rate_ceiling)
                )

    def record_rate_limited(self, sent_at: float, retry_after: float | None) -> None:
        """A request sent at ``sent_at`` was answered 429: back off, and pause if asked.

        Requests that were already in flight when the pacer last backed off are answered
        429 too; they pause the client but do not back off again, so one burst of 429s
        counts as one signal.
        """
        with self._cond:
            now = self._clock()
            if retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
            if sent_at <= self._last_backoff:
                return
            self._last_backoff = now
            self._limit = max(1, self._limit // 2)
            self._successes_at_limit = 0
            # What the server let through over the last second is the best estimate of its limit.
            self._forget_successes_before(now - RATE_WINDOW_SECONDS)
            allowed = len(self._recent_successes) / RATE_WINDOW_SECONDS
            current = allowed if self._rate is None else min(self._rate, max(allowed, MIN_RATE))
            self._rate = max(current * RATE_DECREASE, MIN_RATE)

    def _forget_successes_before(self, moment: float) -> None:
        while self._recent_successes and self._recent_successes[0] < moment:
            self._recent_successes.popleft()
