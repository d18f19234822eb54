"""How many requests one client keeps in flight: an adaptive limit, as in Netflix's
concurrency-limits (AIMD, with a latency gradient as the early signal).

The limit starts at :data:`INITIAL_LIMIT` and grows while answers come back as fast as the
fastest recent ones; it shrinks when latency rises past :data:`LATENCY_TOLERANCE` times the
baseline, halves on a 429 and shrinks on a 5xx, 408 or timeout, once per burst (each further
429 of a burst takes one more request off). It stays between 1 and ``max_concurrency``.
Why: docs/design.md, section "The send loop: retries, pacing, concurrency, redaction".
"""

from __future__ import annotations

import math

#: Requests in flight before anything is known about the server.
INITIAL_LIMIT = 4
#: Growth per answer until the first sign of trouble: the limit grows by half per round trip.
SLOW_START_GROWTH = 0.5
#: Latency (smoothed) this many times the baseline means requests are queueing...
LATENCY_TOLERANCE = 2.0
#: ...if it also exceeds the baseline by this many seconds: below that it is jitter.
LATENCY_MARGIN_SECONDS = 0.005
#: The limit after queueing is seen, as a share of the limit before.
LATENCY_DECREASE = 0.9
#: The limit after a 429, as a share of the limit before.
RATE_LIMITED_DECREASE = 0.5
#: The limit after a 5xx, 408 or timeout, as a share of the limit before.
ERROR_DECREASE = 0.9
#: The weight of each new latency sample in the smoothed latency.
SMOOTHING = 0.2
#: The baseline is the lowest latency of the last one to two windows of this many samples,
#: so it follows a server whose unloaded latency changes.
BASELINE_WINDOW = 200


class AdaptiveConcurrency:
    """An AIMD concurrency limit with a latency gradient; not thread-safe (the caller locks).

    Feed it every answer: :meth:`succeeded` with the round trip and the requests in flight,
    :meth:`rate_limited` or :meth:`failed` with when the request was sent.
    """

    def __init__(self, maximum: int, *, initial: int = INITIAL_LIMIT) -> None:
        self.maximum = maximum
        self._limit = float(max(1, min(initial, maximum)))
        self._slow_start = True
        self._smoothed: float | None = None
        self._window_min = math.inf
        self._previous_min = math.inf
        self._window_samples = 0
        self._shrunk_at = -math.inf

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return max(1, int(self._limit))

    @property
    def baseline(self) -> float:
        """The lowest recent round trip, in seconds (``inf`` before any)."""
        return min(self._window_min, self._previous_min)

    def succeeded(self, *, sent_at: float, now: float, in_flight: int) -> None:
        """A request sent at ``sent_at`` was answered at ``now`` with ``in_flight`` requests
        (itself included) still out."""
        rtt = max(now - sent_at, 0.0)
        self._track_baseline(rtt)
        smoothed = rtt if self._smoothed is None else self._smoothed
        self._smoothed = smoothed = smoothed + SMOOTHING * (rtt - smoothed)
        baseline = self.baseline
        if smoothed > max(LATENCY_TOLERANCE * baseline, baseline + LATENCY_MARGIN_SECONDS):
            self._shrink(LATENCY_DECREASE, sent_at, now)
        elif 2 * in_flight >= self.limit:  # grow only a limit that is being used
            self._limit += SLOW_START_GROWTH if self._slow_start else 1.0 / self._limit
            self._limit = min(self._limit, float(self.maximum))

    def rate_limited(self, *, sent_at: float, now: float) -> None:
        """A request sent at ``sent_at`` was answered 429."""
        if sent_at <= self._shrunk_at:
            self._limit = max(1.0, self._limit - 1.0)  # one more refused in the same burst
        else:
            self._shrink(RATE_LIMITED_DECREASE, sent_at, now)

    def failed(self, *, sent_at: float, now: float) -> None:
        """A request sent at ``sent_at`` failed with a 5xx, 408 or timeout."""
        self._shrink(ERROR_DECREASE, sent_at, now)

    def _shrink(self, factor: float, sent_at: float, now: float) -> None:
        if sent_at <= self._shrunk_at:
            return  # sent before the last decrease: the same overload, already answered
        self._shrunk_at = now
        self._slow_start = False
        self._limit = max(1.0, self._limit * factor)

    def _track_baseline(self, rtt: float) -> None:
        self._window_min = min(self._window_min, rtt)
        self._window_samples += 1
        if self._window_samples >= BASELINE_WINDOW:
            self._previous_min, self._window_min = self._window_min, math.inf
            self._window_samples = 0
