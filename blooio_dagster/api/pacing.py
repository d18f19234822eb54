"""How fast one client may talk to Blooio: requests in flight and requests per second.

Every attempt of every request passes through :meth:`RequestPacer.slot`, which waits for a
free concurrency slot (an adaptive limit, :mod:`blooio_dagster.api.concurrency`), for the end
of any ``Retry-After`` pause and for the next send time the rate allows. Blooio publishes no
rate limit, so the pacer learns one from 429s, only on evidence (enough successes between two
429s), and lets a learned rate grow back and go; never above the user's ceilings.
Why, and the rate rule in full: docs/design.md, section "The send loop: retries, pacing,
concurrency, redaction".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from blooio_dagster.api.concurrency import AdaptiveConcurrency

#: A 429 with evidence lowers the rate to at most this share of the current rate.
RATE_DECREASE = 0.9
#: A measure needs at least this many successes between two 429s...
MIN_EVIDENCE_SUCCESSES = 3
#: ...over at least this many seconds, unless another 429 came in between.
MIN_EVIDENCE_SECONDS = 2.0
#: A learned rate that holds requests back is back where it failed after this many seconds:
#: it grows as ``(1 / RATE_DECREASE) ** ((seconds / RATE_RECOVERY_SECONDS) ** 2)``.
RATE_RECOVERY_SECONDS = 10.0
#: A learned rate that grew this many times over without a 429 is forgotten.
RATE_RELEASE_FACTOR = 2.0
#: A learned rate never drops below this (or the user's cap), so a client always progresses.
MIN_RATE = 0.5
#: Nothing in flight for this long: the client was idle, and counting waits for the next 429.
IDLE_SECONDS = 10.0


class RequestPacer:
    """Caps requests in flight and requests per second for one client; thread-safe.

    ``max_concurrency`` and ``requests_per_second`` are hard ceilings the user set; the pacer
    runs below them while it finds what the server takes, never above. Report every answer
    (:meth:`record_success`, :meth:`record_rate_limited`, :meth:`record_failure`) with the
    moment :meth:`slot` gave.
    """

    def __init__(
        self,
        max_concurrency: int,
        requests_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate_ceiling = requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._concurrency = AdaptiveConcurrency(max_concurrency)
        self._in_flight = 0  # holding a slot, waiting for a send time or sent
        self._on_wire = 0  # sent and not answered yet
        self._rate = requests_per_second
        self._base: float | None = None  # the rate at the last 429; None: nothing learned
        self._rate_binding = False
        self._grown_at = float("-inf")
        self._grown_for = 0.0  # seconds the rate held requests back since the last 429
        self._next_send = float("-inf")
        self._paused_until = float("-inf")
        self._last_backoff = float("-inf")
        self._idle_since = float("-inf")
        self._counting_since: float | None = None  # when a 429's pause ended; None: not yet
        self._counted = 0  # successes since _counting_since
        self._first_counted = self._last_counted = 0.0  # when the first and last came
        self._refused = False  # a 429 came since _counting_since, with too little to go on

    @property
    def concurrency_limit(self) -> int:
        """Requests allowed in flight right now, at most ``max_concurrency``."""
        return self._concurrency.limit

    @property
    def rate_limit(self) -> float | None:
        """Requests per second allowed right now; ``None`` when nothing caps the rate."""
        return self._rate

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one request slot: waits for concurrency and rate, releases on exit.

        Yields the moment the request may be sent; pass it to the ``record_...`` method for
        its answer, after leaving the block.
        """
        sent_at = self._acquire()
        try:
            yield sent_at
        finally:
            with self._cond:
                self._in_flight -= 1
                self._on_wire -= 1
                if not self._in_flight:
                    self._idle_since = self._clock()
                self._cond.notify()

    def _acquire(self) -> float:
        with self._cond:
            while self._in_flight >= self._concurrency.limit:
                self._cond.wait()
            if not self._in_flight:
                now = self._clock()
                if now - max(self._idle_since, self._paused_until) > IDLE_SECONDS:
                    # Idle time says nothing about the server: count from the next 429.
                    self._counting_since = None
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
                    self._on_wire += 1
                    return now
            # Sleep outside the lock, then look again: a 429 may have moved the pause.
            self._sleep(send_at - now)

    def record_success(self, sent_at: float) -> None:
        """A request sent at ``sent_at`` was answered: grow concurrency and rate if they bind."""
        with self._cond:
            now = self._clock()
            before = self._concurrency.limit
            # Requests waiting for a send time do not count: under a binding rate, more in
            # flight would only wait longer. The answered request has left its slot already.
            on_wire = self._on_wire + 1
            self._concurrency.succeeded(sent_at=sent_at, now=now, in_flight=on_wire)
            if self._concurrency.limit > before:
                self._cond.notify_all()
            if self._counting_since is not None and now >= self._counting_since:
                if not self._counted:
                    self._first_counted = now
                self._counted += 1
                self._last_counted = now
            if self._base is not None and self._rate_binding:
                self._grown_for += min(max(now - self._grown_at, 0.0), 1.0)
                growth = (1.0 / RATE_DECREASE) ** ((self._grown_for / RATE_RECOVERY_SECONDS) ** 2)
                self._rate = self._base * growth
                ceiling = self._rate_ceiling
                if growth >= RATE_RELEASE_FACTOR or (ceiling is not None and self._rate >= ceiling):
                    self._rate, self._base = ceiling, None
            self._grown_at = now

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
            self._concurrency.rate_limited(sent_at=sent_at, now=now)
            if sent_at <= self._last_backoff:
                return
            self._last_backoff = now
            # A learned rate keeps its value and starts growing afresh from it.
            self._grown_for = 0.0
            self._base = None if self._base is None else self._rate
            resume = max(now, self._paused_until)
            if self._counting_since is None:
                # What came before the first 429 (a full bucket, a fresh window) is no measure.
                self._counting_since, self._counted, self._refused = resume, 0, False
                return
            span = now - self._counting_since
            if self._counted < MIN_EVIDENCE_SUCCESSES or span <= 0.0:
                self._refused = True
                return
            if span < MIN_EVIDENCE_SECONDS and not self._refused:
                self._refused = True
                return
            # Successes per second over the span, or between the first and last success if
            # that is lower: a pause's end finds room for one request, so a short span
            # overstates the rate by one request.
            allowed = self._counted / span
            between = self._last_counted - self._first_counted
            if between > 0.0:
                allowed = min(allowed, (self._counted - 1) / between)
            current = allowed if self._rate is None else self._rate
            floor = MIN_RATE if self._rate_ceiling is None else min(MIN_RATE, self._rate_ceiling)
            lowered = min(current * RATE_DECREASE, allowed / RATE_DECREASE)
            self._rate = self._base = max(lowered, floor)
            self._counting_since, self._counted, self._refused = resume, 0, False

    def record_failure(self, sent_at: float) -> None:
        """A request sent at ``sent_at`` failed (5xx, 408, timeout): fewer in flight."""
        with self._cond:
            self._concurrency.failed(sent_at=sent_at, now=self._clock())
