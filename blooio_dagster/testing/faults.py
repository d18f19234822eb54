"""Every opt-in misbehaviour of the test server (:class:`Faults`), and when each one fires.

:class:`Faults` is what a test sets; :class:`FaultState` is what the faults remember between
requests (counts, rate limit windows, the token bucket, each chat's messages requests) and
decides, request by request, which answer a fault replaces or how it bends a page. Chance draws
come from the server's one seeded RNG, in the order requests make them, so a seed and a request
sequence always give the same answers. Faults that change the data itself (new, late and unsent
messages, new and deleted chats) are applied by :mod:`blooio_dagster.testing.endpoints` through
the store. How to add one: docs/design.md, section "The test server".
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, TypeVar
from urllib.parse import unquote

from blooio_dagster.testing.http import (
    API_PREFIX,
    MESSAGES,
    NO_BODY,
    Answer,
    error,
    int_param,
    paging,
    phrase,
    too_many,
)

#: Where answers of a ``status_override`` in the 3xx range point.
OVERRIDE_LOCATION = "https://elsewhere.example/v2/api/chats"

TieOrder = Literal["id", "request", "window"]
#: How ``Faults.misanswered_pages`` answers: with another chat's page, the page at ``offset +
#: limit`` (reported so), or as if ``until`` were not sent.
Misanswer = Literal["other_chat", "offset", "until"]
_T = TypeVar("_T")
# Faults whose count or window starts when the field is set.
_COUNTED_FROM_SET = frozenset({"first_requests_429", "fixed_window", "server_error_every"})
_set_serials = itertools.count(1)


@dataclass
class Faults:
    """Opt-in misbehaviour; change fields at any time, even while clients page.

    "Per list request" faults act at each ``GET /chats`` (not ``GET /chats/{id}`` or its
    messages), before it is answered; "per messages request" ones at each
    ``GET /chats/{id}/messages``, on that chat. The page faults (``page_cap`` to ``tie_order``,
    ``ignore_offset``, ``ignore_sort``) shape messages pages as they shape chat pages.
    Random choices come from the server's seeded RNG: a seed and a request sequence
    always give the same answers. Rates are shares from 0.0 to 1.0 (1.0: every time).

    Attributes:
        latency: seconds added to every request before it is answered.
        requests_per_second: token bucket (one second of burst); over it 429; ``None``: no limit.
        retry_after_ms: with the token bucket's 429s, also send ``retry-after-ms``.
        server_error_rate: share of requests answered with 500, 502 or 503.
        truncated_body_rate: share of 200 answers cut in half (valid HTTP, invalid JSON).
        messages_per_request: chats given a new message (to the front) per list request.
        new_chats_per_request: brand-new chats created per list request.
        page_cap: at most this many chats per page, whatever ``limit`` asks; ``None``: no cap.
        report_cap: with a cap, ``pagination.limit`` is ``min(limit, cap)``; False: ``limit``.
        short_page_rate: share of pages 1 to 3 rows short at the window's end (a row stays).
        empty_page_rate: share of pages answered 200 with ``"chats": []`` whatever the total.
        missing_total_rate: share of pages whose ``pagination`` has no ``total`` key.
        low_total_rate: share of pages whose ``total`` is 1 to 10 too low (never below 0).
        tie_order: equal times (and untimed chats) by ``"id"``, or per ``"request"``/``"window"``.
        deletions_per_request: random chats deleted per list request (later chats move up).
        late_messages_per_request: chats given a message 1-12 h old per list request (mid-list).
        unsent_per_request: chats whose newest message is unsent per list request (times drop).
        ignore_offset: every page is served from offset 0 (``pagination.offset`` echoes it).
        ignore_sort: ``sort`` is ignored; chats come in creation order, not by time.
        drip_bytes_per_second: response bodies written one byte at a time at this rate.
        status_override: this status instead (3xx: ``Location`` + empty page; 204: no body).
        status_override_rate: share of authenticated requests that get ``status_override``.
        body_padding_bytes: whitespace before the closing brace of every 200 JSON body.
        first_requests_429: the first N requests after it is set get 429, ``Retry-After: 1``.
        fixed_window: ``(requests, seconds)`` windows from when set; over: 429, ``Retry-After: 1``.
        chat_messages_per_request: new messages in the chat per messages request (stamped now).
        chat_unsent_per_request: the chat's newest message unsent per messages request.
        inclusive_bounds: messages ``since``/``until`` keep messages sent exactly at them.
        date_skew_seconds: added to the ``Date`` header of responses 1, 1 + N, 1 + 2N, ...
            (N: ``date_skew_every``), counted from the server's start: an API node whose clock
            is off (negative: it lags).
        date_skew_every: N for ``date_skew_seconds``; 1 skews every response.
        server_error_every: every Nth request (the Nth, 2Nth, ...) gets 503, but never the same
            path and query twice, so one retry always gets through; 0: none. Counts the
            requests with the key and no 429, from when it is set, in the order they come.
        messages_404_per_chat: each chat's first N messages requests get 404 (a lagging replica).
        misanswered_pages: each chat's first N messages requests are answered as ``misanswer``.
        misanswer: ``"other_chat"``, ``"offset"`` or ``"until"`` (see :data:`Misanswer`).
        total_ignores_window: messages ``pagination.total`` counts the chat's whole history.
        queued_per_chat: queued outbound messages per chat with ``time_sent`` null.
        report_limit: messages ``pagination.limit`` says this, whatever was asked.
        empty_replica_after: list requests after this many (from the server's start) get...
        empty_replica_count: ...this many empty pages in a row, ``"total": 0`` (a lagging replica).

    Details: ``tie_order="request"`` shuffles each tie group afresh per request;
    ``"window"`` shuffles it the same way for the same (sort, q, offset, limit) and differently
    for other windows, as SQL without a tiebreaker may; a group crossing a window's edge is
    shuffled whole before it is cut. Short pages drop rows at the end of the window without
    shifting it, and keep at least one row. Late messages go to chats whose newest message is
    older than the stamp; unsent messages take a chat's time down by 1 minute to 3 days. A
    ``status_override`` 2xx/3xx body is ``{"chats": [], "pagination": {..., "total": 0}}``,
    4xx/5xx get the API's error body, 204/304 none. Dripping applies to every response,
    errors too, after headers sent at once with a correct ``Content-Length``. Messages that
    arrive while a client pages a chat are the newest: at the end with ``sort=asc``, at the front
    with ``sort=desc``; unsent ones leave only if the chat keeps another message. Without
    ``inclusive_bounds``, ``since`` and ``until`` are exclusive, as the SDK words them ("sent
    after", "sent before"). Per-chat counts (``messages_404_per_chat``, ``misanswered_pages``)
    count the chat's messages requests since the server started; a chat answered as another
    chat counts as asked. Queued messages (never in :meth:`BlooioTestServer.messages_of`)
    come only when neither ``since`` nor ``until`` is sent (a null fails every comparison),
    first with ``sort=desc`` (SQL's NULLS FIRST), and count in ``total``.
    """

    latency: float = 0.0
    requests_per_second: float | None = None
    retry_after_ms: bool = True
    server_error_rate: float = 0.0
    truncated_body_rate: float = 0.0
    messages_per_request: int = 0
    new_chats_per_request: int = 0
    page_cap: int | None = None
    report_cap: bool = True
    short_page_rate: float = 0.0
    empty_page_rate: float = 0.0
    missing_total_rate: float = 0.0
    low_total_rate: float = 0.0
    tie_order: TieOrder = "id"
    deletions_per_request: int = 0
    late_messages_per_request: int = 0
    unsent_per_request: int = 0
    ignore_offset: bool = False
    ignore_sort: bool = False
    drip_bytes_per_second: float | None = None
    status_override: int | None = None
    status_override_rate: float = 1.0
    body_padding_bytes: int = 0
    first_requests_429: int = 0
    fixed_window: tuple[int, float] | None = None
    chat_messages_per_request: int = 0
    chat_unsent_per_request: int = 0
    inclusive_bounds: bool = False
    date_skew_seconds: float = 0.0
    date_skew_every: int = 1
    server_error_every: int = 0
    messages_404_per_chat: int = 0
    misanswered_pages: int = 0
    misanswer: Misanswer = "other_chat"
    total_ignores_window: bool = False
    queued_per_chat: int = 0
    report_limit: int | None = None
    empty_replica_after: int | None = None
    empty_replica_count: int = 0

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _COUNTED_FROM_SET:
            # An immutable (serial, when) mark per field: the server restarts the count or
            # the windows when it sees a new mark.
            self.__dict__[f"_{name}_set"] = (next(_set_serials), time.monotonic())

    def _set_mark(self, name: str) -> tuple[int, float]:
        mark: tuple[int, float] = self.__dict__.get(f"_{name}_set", (0, 0.0))
        return mark


@dataclass
class _TokenBucket:
    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0.0 if a request may pass at ``now``, else the seconds until one may."""
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FaultState:
    """What the faults remember between requests, and their decisions; used under the lock.

    Args:
        rng: the server's seeded RNG, shared with the store, so draws keep one order.
        clock: the server's clock (seconds) the rate limits count time on.
        clock_injected: whether ``clock`` is a test's, not the machine's.
    """

    def __init__(
        self, rng: random.Random, clock: Callable[[], float], *, clock_injected: bool
    ) -> None:
        self._rng = rng
        self._clock = clock
        self._clock_injected = clock_injected
        self._messages_asked: Counter[str] = Counter()  # messages requests per chat
        self._list_requests_answered = 0
        self._bucket: _TokenBucket | None = None
        self._first_429_mark = 0
        self._first_429_seen = 0
        self._window_mark = 0
        self._window_origin = 0.0
        self._window_index = 0
        self._error_every_mark = 0
        self._error_every_seen = 0
        self._error_every_failed: set[tuple[object, ...]] = set()
        self._window_seen = 0

    def refusal(self, faults: Faults, path: str, query: dict[str, str]) -> Answer | None:
        """The answer a fault gives instead of this request's (429, override, 5xx), else None."""
        limited = self._rate_limited(faults)
        if limited is not None:
            return limited
        override = faults.status_override
        if override is not None and (
            faults.status_override_rate >= 1.0 or self._rng.random() < faults.status_override_rate
        ):
            return overridden(override, path, query)
        if faults.server_error_rate and self._rng.random() < faults.server_error_rate:
            status = self._rng.choice((500, 502, 503))
            return error(status, HTTPStatus(status).phrase, "server_error")
        if self._error_due(faults, path, query):
            return error(503, HTTPStatus(503).phrase, "server_error")
        return None

    def truncates(self, faults: Faults) -> bool:
        """Whether ``Faults.truncated_body_rate`` cuts this request's answer."""
        return bool(faults.truncated_body_rate and self._rng.random() < faults.truncated_body_rate)

    def _rate_limited(self, faults: Faults) -> Answer | None:
        """A 429 answer if one of the rate limit faults refuses this request, else None."""
        if faults.first_requests_429 > 0:
            mark = faults._set_mark("first_requests_429")[0]
            if mark != self._first_429_mark:
                self._first_429_mark, self._first_429_seen = mark, 0
            if self._first_429_seen < faults.first_requests_429:
                self._first_429_seen += 1
                return too_many(1, None)
        window = faults.fixed_window
        if window is not None:
            allowed, seconds = window
            mark, set_at = faults._set_mark("fixed_window")
            if mark != self._window_mark:
                # Windows run from when the field was set; on an injected clock, which the
                # mark cannot read, from the first request after that.
                self._window_origin = self._clock() if self._clock_injected else set_at
            elapsed = self._clock() - self._window_origin
            index = int(elapsed // seconds) if seconds > 0 else 0
            if mark != self._window_mark or index != self._window_index:
                self._window_mark, self._window_index, self._window_seen = mark, index, 0
            if self._window_seen >= allowed:
                return too_many(1, None)
            self._window_seen += 1
        if faults.requests_per_second:
            if self._bucket is None or self._bucket.rate != faults.requests_per_second:
                rate = faults.requests_per_second
                self._bucket = _TokenBucket(rate=rate, tokens=rate, updated=self._clock())
            wait = self._bucket.take(self._clock())
            if wait > 0:
                return too_many(
                    max(1, math.ceil(wait)),
                    max(1, math.ceil(wait * 1000)) if faults.retry_after_ms else None,
                )
        return None

    def _error_due(self, faults: Faults, path: str, query: dict[str, str]) -> bool:
        """Whether ``Faults.server_error_every`` makes this request a 5xx."""
        every = faults.server_error_every
        if every <= 0:
            return False
        mark = faults._set_mark("server_error_every")[0]
        if mark != self._error_every_mark:
            self._error_every_mark, self._error_every_seen = mark, 0
            self._error_every_failed.clear()
        self._error_every_seen += 1
        request = (path, *sorted(query.items()))
        if self._error_every_seen % every or request in self._error_every_failed:
            return False
        self._error_every_failed.add(request)
        return True

    def replica_lags(self, faults: Faults) -> bool:
        """Count a list request; whether it falls in ``Faults.empty_replica_*``'s empty pages."""
        self._list_requests_answered += 1
        after = faults.empty_replica_after
        return (
            after is not None
            and after < self._list_requests_answered <= after + faults.empty_replica_count
        )

    def replica_answer(
        self, faults: Faults, chat_id: str
    ) -> Literal["not_found"] | Misanswer | None:
        """Count a messages request of ``chat_id``: a lagging replica's answer to it, if any.

        ``"not_found"`` for ``Faults.messages_404_per_chat``, the ``Faults.misanswer`` of
        ``Faults.misanswered_pages``, or None: answered right.
        """
        self._messages_asked[chat_id] += 1
        turn = self._messages_asked[chat_id]
        if turn <= faults.messages_404_per_chat:
            return "not_found"
        return faults.misanswer if turn <= faults.misanswered_pages else None

    def page_faults(
        self, window: list[_T], faults: Faults, size: int, limit: int, offset: int, total: int
    ) -> tuple[list[_T], dict[str, int]]:
        """A page's rows and ``pagination`` after the short, empty and total faults."""
        if faults.short_page_rate and self._rng.random() < faults.short_page_rate:
            cut = min(self._rng.randint(1, 3), len(window) - 1)
            if cut > 0:
                window = window[:-cut]
        if faults.empty_page_rate and self._rng.random() < faults.empty_page_rate:
            window = []
        pagination = {
            "limit": size if faults.report_cap else limit,
            "offset": offset,
            "total": total,
        }
        if faults.low_total_rate and self._rng.random() < faults.low_total_rate:
            pagination["total"] = max(total - self._rng.randint(1, 10), 0)
        if faults.missing_total_rate and self._rng.random() < faults.missing_total_rate:
            del pagination["total"]
        return window, pagination


def page_bounds(faults: Faults, limit: int, offset: int) -> tuple[int, int]:
    """A page's size and first row after ``Faults.page_cap`` and ``Faults.ignore_offset``."""
    size = limit if faults.page_cap is None else min(limit, max(faults.page_cap, 1))
    return size, 0 if faults.ignore_offset else offset


def bent_body(faults: Faults, status: int, body: bytes, truncate: bool) -> bytes:
    """A 200 answer's body after ``Faults.body_padding_bytes`` and the truncation drawn."""
    if status == 200 and faults.body_padding_bytes > 0:
        body = body[:-1] + b" " * faults.body_padding_bytes + b"}"
    if truncate and status == 200:
        body = body[: len(body) // 2]
    return body


def date_skew_ms(faults: Faults, number: int) -> int:
    """What ``Faults.date_skew_seconds`` adds to the ``Date`` of the server's response ``number``."""
    skewed = faults.date_skew_seconds and (number - 1) % max(faults.date_skew_every, 1) == 0
    return int(faults.date_skew_seconds * 1000) if skewed else 0


def empty_replica_page(query: dict[str, str]) -> Answer:
    """The empty page of ``Faults.empty_replica_*``: no chats, ``"total": 0``."""
    limit, offset, invalid = paging(query)
    if invalid is not None:
        return invalid
    pagination = {"limit": limit, "offset": offset, "total": 0}
    return 200, {}, json.dumps({"chats": [], "pagination": pagination}).encode()


def overridden(status: int, path: str, query: dict[str, str]) -> Answer:
    """The answer of ``Faults.status_override``: for 2xx and 3xx, what looks like an empty page."""
    if status in NO_BODY:
        return status, {}, b""
    if status >= 400:
        return error(status, phrase(status), "status_override")
    pagination = {
        "limit": int_param(query, "limit", 50, 1, 200) or 50,
        "offset": int_param(query, "offset", 0, 0, None) or 0,
        "total": 0,
    }
    headers = {"Location": OVERRIDE_LOCATION} if 300 <= status < 400 else {}
    if path.endswith(MESSAGES):
        chat_id = unquote(path[len(API_PREFIX) + 7 : -len(MESSAGES)])
        page = {"chat_id": chat_id, "messages": [], "pagination": pagination}
    else:
        page = {"chats": [], "pagination": pagination}
    return status, headers, json.dumps(page).encode()
