"""A Blooio-compatible HTTP server on 127.0.0.1, for tests, demos and benchmarks.

It speaks the documented protocol of ``GET /chats``, ``GET /chats/{chat_id}`` and
``GET /chats/{chat_id}/messages`` over real sockets (HTTP/1.1 keep-alive, one thread per
connection). The lists behave like a SQL backend: ``ORDER BY last_message_time DESC LIMIT limit
OFFSET offset`` (``sort=oldest``: the exact reverse), messages ``ORDER BY time_sent`` (ties by
``message_id``) with ``WHERE`` for ``since``/``until``/``direction``, ``pagination.total`` is
``COUNT(*)`` at the moment of the request, and each request is answered from one consistent
snapshot. Each chat's messages are made on demand from the chat and the seed
(:mod:`blooio_dagster.testing.history`) and always agree with the chat's fields.

The data can be shaped like real inboxes (chats sharing one ``last_message_time``, chats that
never had a message, chats dated in the future) and opt-in :class:`Faults` add the ways real
APIs misbehave: latency, rate limits (token bucket, fixed window, a burst of 429s), 5xx and
other unexpected statuses, bodies cut off, padded or dripped byte by byte, capped, short and
empty pages, missing or stale totals, ties in unstable order, ignored ``offset`` or ``sort``,
and chats that receive messages, appear, disappear, get late messages or unsend their newest
message while a client pages.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import random
import secrets
import socket
import threading
import time
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from blooio_dagster.testing.data import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    TEXTS,
    future_chats,
    generate_chats,
    new_chat,
    redate_last_message,
    untimed_chats,
)
from blooio_dagster.testing.history import (
    chat_fields,
    generate_history,
    live_message,
    message_key,
)
from blooio_dagster.testing.support import support_chats

API_PREFIX = "/v2/api"
#: Where answers of a ``status_override`` in the 3xx range point.
OVERRIDE_LOCATION = "https://elsewhere.example/v2/api/chats"

TieOrder = Literal["id", "request", "window"]
#: How ``Faults.misanswered_pages`` answers: with another chat's page, the page at ``offset +
#: limit`` (reported so), or as if ``until`` were not sent.
Misanswer = Literal["other_chat", "offset", "until"]
# The position of a chat in the ``sort=recent`` list: (block, -last_message_time, id). Chats that
# never had a message form their own block (first or last, per ``nulls_first``) with time 0.
_Key = tuple[int, int, str]
_T = TypeVar("_T")
_NO_BODY = frozenset({204, 304})
# Faults whose count or window starts when the field is set.
_COUNTED_FROM_SET = frozenset({"first_requests_429", "fixed_window", "server_error_every"})
_MESSAGES = "/messages"
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
class RequestRecord:
    """One request the server answered: path, query, status, and when (the server's clock)."""

    path: str
    query: dict[str, str]
    status: int
    answered_at: float = field(default_factory=time.monotonic)


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


@dataclass
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    drip_bytes_per_second: float | None = None


class BlooioTestServer:
    """A local Blooio V2 API with ``chats`` deterministic synthetic chats and their messages.

    Usage::

        with BlooioTestServer(chats=5000, seed=1) as server:
            client = BlooioClient(server.api_key, base_url=server.base_url)

    The truth, for tests: :meth:`truth` (every chat), :meth:`messages_of` (a chat's messages),
    :meth:`deleted_ids`, :meth:`changed_ids` and :meth:`unsent_message_ids`.

    Args:
        chats: how many chats the organization has (before the extra ones below).
        seed: makes the data reproducible.
        now: epoch ms the data's timeline ends at; defaults to the current time.
        api_key: the only key accepted; a fresh ``bl_test_...`` key by default.
        port: 0 picks a free port.
        faults: opt-in failures (see :class:`Faults`); ``server.faults`` can be changed later.
        tie_groups: for each n, n of the chats share one ``last_message_time`` (a bulk import),
            the time of a randomly chosen chat, so the groups are spread through the list.
        untimed_chats: extra chats that never had a message: times, ``last_message`` null.
        nulls_first: untimed chats come first with ``sort=recent`` (PostgreSQL's default for
            DESC) and last with ``sort=oldest``; ``False``: the reverse.
        future_chats: extra chats whose last message is dated a day after ``now`` (a device
            with a wrong clock); new messages still get the current time and sort behind them.
        clock: seconds, read instead of the machine's clocks, so that a test depends on
            neither the date nor the machine's speed: with ``now=None`` the timeline ends at
            ``clock()`` (epoch seconds) and runs on it; the rate limit faults, the ``Date``
            header of a fixed ``now`` and :attr:`RequestRecord.answered_at` count time on it
            (``fixed_window``'s windows from the first request after it is set).
        profile: ``"inbox"``, any mix of directions and times, to test the crawl against;
            ``"support"``, conversations a support team answers in minutes to days, with a few
            customers still waiting (:mod:`blooio_dagster.testing.support`), for demos.
    """

    def __init__(
        self,
        chats: int = 1000,
        seed: int = 0,
        *,
        now: int | None = None,
        api_key: str | None = None,
        port: int = 0,
        faults: Faults | None = None,
        tie_groups: Sequence[int] = (),
        untimed_chats: int = 0,
        nulls_first: bool = False,
        future_chats: int = 0,
        clock: Callable[[], float] | None = None,
        profile: Literal["inbox", "support"] = "inbox",
    ) -> None:
        self.api_key = api_key or f"bl_test_{secrets.token_hex(16)}"
        self.faults = faults or Faults()
        self.requests: list[RequestRecord] = []
        #: The most requests the server was answering at the same moment.
        self.max_in_flight = 0
        self._in_flight = 0
        self._wall_clock = clock or time.time
        self._clock = clock or time.monotonic
        self._clock_injected = clock is not None
        self._now = int(self._wall_clock() * 1000) if now is None else now
        self._live = now is None
        self._made = self._clock()
        self._seed = seed
        self._nulls_first = nulls_first
        self._rng = random.Random(seed ^ 0x5EED)
        self._lock = threading.Lock()
        # "support": conversations of answered turns, made with their messages (for demos).
        support = support_chats(chats, seed, self._now) if profile == "support" else []
        generated = [c for c, _ in support] if support else generate_chats(chats, seed, self._now)
        # The message clock starts from the ordinary chats, never from future-dated ones.
        self._clock_ms = max((c["last_message_time"] for c in generated), default=self._now)
        reshaped = bool(tie_groups or untimed_chats or future_chats)
        if tie_groups:
            _make_ties(generated, tie_groups, random.Random(f"{seed}:tie_groups"))
        generated += _future_chats(chats, future_chats, seed, self._now)
        generated += _untimed_chats(chats + future_chats, untimed_chats, seed)
        if reshaped:
            generated.sort(key=self._sort_key)
        self._first_times: dict[str, int | None] = {
            chat["id"]: chat.pop("first_message_time") for chat in generated
        }
        self._chats = {chat["id"]: chat for chat in generated}
        # The sort=recent order (ties by id), and each chat's sort key at the same index:
        # kept in order with bisect as chats change, never re-sorted.
        self._order = [chat["id"] for chat in generated]
        self._keys = [self._sort_key(chat) for chat in generated]
        # Encoded up front so every client, first or not, sees the same response times.
        self._encoded = {chat_id: _encode(chat) for chat_id, chat in self._chats.items()}
        # Creation order, for Faults.ignore_sort: built on first use, then kept up to date.
        self._created: dict[str, None] | None = None
        self._deleted: set[str] = set()
        self._changed: set[str] = set()
        # The histories of chats whose messages changed; every other chat's history is made
        # from the chat on demand, so nothing is stored up front.
        self._histories: dict[str, list[dict[str, Any]]] = {c["id"]: h for c, h in support}
        self._unsent: set[str] = set()
        self._serial = 0
        self._responses = 0
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
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving on 127.0.0.1 in a background thread."""
        httpd = self._bind()
        # A short poll interval, so stop() returns in a few ms rather than half a second.
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="blooio-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for ``python -m``)."""
        httpd = self._bind()
        try:
            httpd.serve_forever()
        finally:
            httpd.server_close()

    def _bind(self) -> ThreadingHTTPServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _make_handler(self))
        self._httpd.daemon_threads = True
        return self._httpd

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; use start() or a with block")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The API root to give a client, such as ``http://127.0.0.1:8787/v2/api``."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def now_ms(self) -> int:
        """Epoch ms the synthetic timeline ended at when the server was made."""
        return self._now

    # -- the truth, for tests --------------------------------------------------------------

    def truth(
        self, *, active_since: int | None = None, q: str | None = None
    ) -> list[dict[str, Any]]:
        """Copies of all chats as they are now, in the order ``GET /chats?sort=recent`` lists them.

        Ties come by id (as with ``tie_order="id"``) and chats that never had a message where
        they sort; ``active_since`` (epoch ms) keeps only chats with a message at or after it.
        """
        with self._lock:
            ids = self._matching(q)
            chats = [copy.deepcopy(self._chats[i]) for i in ids]
        if active_since is not None:
            chats = [
                c
                for c in chats
                if c["last_message_time"] is not None and c["last_message_time"] >= active_since
            ]
        return chats

    def chats_requests(self) -> list[RequestRecord]:
        """The ``GET /chats`` list requests answered so far."""
        with self._lock:
            return [r for r in self.requests if r.path == f"{API_PREFIX}/chats"]

    def receive_messages(self, count: int) -> list[str]:
        """Give ``count`` random chats a new message now; returns their ids."""
        with self._lock:
            return self._receive_messages(count)

    def add_message(self, chat_id: str, at_ms: int, *, direction: str = "inbound") -> str:
        """Put a message sent at ``at_ms`` (any time, even one no clock should give) in a chat.

        Returns its id. The chat's fields follow its history, as for any new message.
        """
        with self._lock:
            self._serial += 1
            message_id = f"msg_added{self._serial:010d}"
            self._receive(chat_id, at_ms, message_id, direction=direction)
            return message_id

    def deleted_ids(self) -> set[str]:
        """Ids of the chats deleted so far (by ``Faults.deletions_per_request``)."""
        with self._lock:
            return set(self._deleted)

    def changed_ids(self) -> set[str]:
        """Ids of the chats whose state changed since the server was made.

        New messages (late ones too), unsent messages and new chats; a chat stays here if it
        is deleted later.
        """
        with self._lock:
            return set(self._changed)

    def messages_of(
        self, chat_id: str, *, since: int | None = None, until: int | None = None
    ) -> list[dict[str, Any]]:
        """Copies of a chat's messages as they are now, oldest first by (time_sent, message_id).

        ``since``/``until`` (epoch ms) keep the messages sent in ``[since, until)``. Raises
        ``KeyError`` for a chat that does not exist (or was deleted).
        """
        with self._lock:
            if chat_id not in self._chats:
                raise KeyError(chat_id)
            history = self._history(chat_id)
            return [
                copy.deepcopy(m)
                for m in history
                if (since is None or m["time_sent"] >= since)
                and (until is None or m["time_sent"] < until)
            ]

    def import_messages(self, chat_id: str, count: int, at_ms: int) -> list[str]:
        """Give ``chat_id`` ``count`` messages all sent at ``at_ms`` (a bulk import); their ids."""
        with self._lock:
            ids = []
            for _ in range(count):
                self._serial += 1
                ids.append(f"msg_import{self._serial:010d}")
                self._receive(chat_id, at_ms, ids[-1])
            return ids

    def unsent_message_ids(self) -> set[str]:
        """Ids of the messages unsent so far (by ``unsent_per_request`` or
        ``chat_unsent_per_request``)."""
        with self._lock:
            return set(self._unsent)

    def messages_requests(self) -> list[RequestRecord]:
        """The ``GET /chats/{chat_id}/messages`` requests answered so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/messages")]

    # -- request handling (called from handler threads) ------------------------------------

    def _answer(self, path: str, query: dict[str, str], authorization: str | None) -> _Reply:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._respond(path, query, authorization)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(self, path: str, query: dict[str, str], authorization: str | None) -> _Reply:
        faults = self.faults
        drip = faults.drip_bytes_per_second or None
        if faults.latency:
            time.sleep(faults.latency)
        if authorization != f"Bearer {self.api_key}":
            return _Reply(*_error(401, "Authentication required or invalid", "unauthorized"), drip)
        with self._lock:
            limited = self._rate_limited(faults)
            if limited is not None:
                return _Reply(*limited, drip)
            override = faults.status_override
            if override is not None and (
                faults.status_override_rate >= 1.0
                or self._rng.random() < faults.status_override_rate
            ):
                return _Reply(*_overridden(override, path, query), drip)
            if faults.server_error_rate and self._rng.random() < faults.server_error_rate:
                status = self._rng.choice((500, 502, 503))
                return _Reply(*_error(status, HTTPStatus(status).phrase, "server_error"), drip)
            if self._error_due(faults, path, query):
                return _Reply(*_error(503, HTTPStatus(503).phrase, "server_error"), drip)
            truncate = bool(
                faults.truncated_body_rate and self._rng.random() < faults.truncated_body_rate
            )
            if path == f"{API_PREFIX}/chats":
                self._receive_messages(faults.messages_per_request)
                self._add_chats(faults.new_chats_per_request)
                self._delete_chats(faults.deletions_per_request)
                self._deliver_late(faults.late_messages_per_request)
                self._unsend(faults.unsent_per_request)
                self._list_requests_answered += 1
                status, headers, body = (
                    self._empty_replica_page(query)
                    if self._lagging_replica(faults)
                    else self._list_chats(query, faults)
                )
            elif path.startswith(f"{API_PREFIX}/chats/"):
                chat_path = path[len(API_PREFIX) + 7 :]
                if chat_path.endswith(_MESSAGES):
                    chat_id = unquote(chat_path[: -len(_MESSAGES)])
                    status, headers, body = self._list_messages(chat_id, query, faults)
                else:
                    status, headers, body = self._one_chat(unquote(chat_path))
            else:
                return _Reply(*_error(404, f"No route for GET {path}", "not_found"), drip)
        if status == 200 and faults.body_padding_bytes > 0:
            body = body[:-1] + b" " * faults.body_padding_bytes + b"}"
        if truncate and status == 200:
            body = body[: len(body) // 2]
        return _Reply(status, headers, body, drip)

    def _rate_limited(self, faults: Faults) -> tuple[int, dict[str, str], bytes] | None:
        """A 429 answer if one of the rate limit faults refuses this request, else None."""
        if faults.first_requests_429 > 0:
            mark = faults._set_mark("first_requests_429")[0]
            if mark != self._first_429_mark:
                self._first_429_mark, self._first_429_seen = mark, 0
            if self._first_429_seen < faults.first_requests_429:
                self._first_429_seen += 1
                return _too_many(1, None)
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
                return _too_many(1, None)
            self._window_seen += 1
        if faults.requests_per_second:
            if self._bucket is None or self._bucket.rate != faults.requests_per_second:
                rate = faults.requests_per_second
                self._bucket = _TokenBucket(rate=rate, tokens=rate, updated=self._clock())
            wait = self._bucket.take(self._clock())
            if wait > 0:
                return _too_many(
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

    def _list_chats(
        self, query: dict[str, str], faults: Faults
    ) -> tuple[int, dict[str, str], bytes]:
        limit, offset, invalid = _paging(query)
        if invalid is not None:
            return invalid
        sort = query.get("sort", "recent")
        if sort not in ("recent", "oldest"):
            return _error(400, "sort must be one of: recent, oldest", "invalid_sort")
        q = query.get("q")
        size = limit if faults.page_cap is None else min(limit, max(faults.page_cap, 1))
        start = 0 if faults.ignore_offset else offset
        if faults.ignore_sort:
            ids = self._creation_order(q)
            total = len(ids)
            window = ids[start : start + size]
        else:
            ids = self._matching(q) if q else self._order  # no copy of the whole list per request
            total = len(ids)
            if sort == "oldest":
                end = max(total - start, 0)
                low = max(end - size, 0)
            else:
                low, end = min(start, total), min(start + size, total)
            if faults.tie_order == "id":
                window = ids[low:end]
            else:
                keys = self._keys if not q else [self._sort_key(self._chats[i]) for i in ids]
                rng = (
                    self._rng
                    if faults.tie_order == "request"
                    else random.Random(f"{self._seed}:{sort}:{q}:{start}:{size}")
                )
                window = _shuffle_ties(ids, keys, low, end, rng)
            if sort == "oldest":
                window = window[::-1]
        window, pagination = self._page_faults(window, faults, size, limit, offset, total)
        items = b",".join([self._encode(chat_id) for chat_id in window])
        encoded = json.dumps(pagination).encode()
        return 200, {}, b'{"chats":[' + items + b'],"pagination":' + encoded + b"}"

    def _lagging_replica(self, faults: Faults) -> bool:
        """Whether this list request falls in ``Faults.empty_replica_*``'s run of empty pages."""
        after = faults.empty_replica_after
        return (
            after is not None
            and after < self._list_requests_answered <= after + faults.empty_replica_count
        )

    def _empty_replica_page(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        limit, offset, invalid = _paging(query)
        if invalid is not None:
            return invalid
        pagination = {"limit": limit, "offset": offset, "total": 0}
        return 200, {}, json.dumps({"chats": [], "pagination": pagination}).encode()

    def _page_faults(
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

    def _one_chat(self, chat_id: str) -> tuple[int, dict[str, str], bytes]:
        chat = self._chats.get(chat_id)
        if chat is None:
            return _error(404, f"Chat {chat_id} not found", "chat_not_found")
        body = dict(chat, first_message_time=self._first_times[chat_id])
        return 200, {}, json.dumps(body, ensure_ascii=False).encode()

    def _list_messages(
        self, chat_id: str, query: dict[str, str], faults: Faults
    ) -> tuple[int, dict[str, str], bytes]:
        if chat_id not in self._chats:
            return _error(404, f"Chat {chat_id} not found", "chat_not_found")
        self._messages_asked[chat_id] += 1
        turn = self._messages_asked[chat_id]
        if turn <= faults.messages_404_per_chat:
            return _error(404, f"Chat {chat_id} not found", "chat_not_found")
        misanswer = faults.misanswer if turn <= faults.misanswered_pages else None
        if misanswer == "other_chat":
            chat_id = self._order[(self._order.index(chat_id) + 1) % len(self._order)]
        limit, offset, invalid = _paging(query)
        if invalid is not None:
            return invalid
        if misanswer == "offset":
            offset += limit
        if misanswer == "until":
            query = {name: value for name, value in query.items() if name != "until"}
        sort = query.get("sort", "desc")
        if sort not in ("asc", "desc"):
            return _error(400, "sort must be one of: asc, desc", "invalid_sort")
        direction = query.get("direction")
        if direction is not None and direction not in ("inbound", "outbound"):
            return _error(400, "direction must be one of: inbound, outbound", "invalid_direction")
        bounds = {}
        for name in ("since", "until"):
            bound = _int_param(query, name, -1, 0, None)
            if bound is None:
                return _error(
                    400,
                    f"{name} must be a timestamp in milliseconds (an integer >= 0)",
                    f"invalid_{name}",
                )
            bounds[name] = None if bound < 0 else bound
        since, until = bounds["since"], bounds["until"]
        self._arrive_in(chat_id, faults.chat_messages_per_request)
        self._unsend_in(chat_id, faults.chat_unsent_per_request)
        low = -math.inf if since is None else since if faults.inclusive_bounds else since + 1
        high = math.inf if until is None else until if faults.inclusive_bounds else until - 1
        matching = [
            m
            for m in self._history(chat_id)
            if low <= m["time_sent"] <= high and (direction is None or m["direction"] == direction)
        ]
        if faults.queued_per_chat and since is None and until is None and direction != "inbound":
            matching += _queued_messages(chat_id, faults.queued_per_chat)
        total = len(matching)
        if faults.total_ignores_window:
            history = self._history(chat_id) + _queued_messages(chat_id, faults.queued_per_chat)
            total = sum(direction is None or m["direction"] == direction for m in history)
        if sort == "desc" and not faults.ignore_sort:
            matching.reverse()
        if faults.tie_order != "id":
            rng = (
                self._rng
                if faults.tie_order == "request"
                else random.Random(f"{self._seed}:{chat_id}:{sorted(query.items())}")
            )
            matching = _shuffle_message_ties(matching, rng)
        size = limit if faults.page_cap is None else min(limit, max(faults.page_cap, 1))
        start = 0 if faults.ignore_offset else offset
        window = matching[start : start + size]
        window, pagination = self._page_faults(window, faults, size, limit, offset, total)
        if faults.report_limit is not None:
            pagination["limit"] = faults.report_limit
        body = {"chat_id": chat_id, "messages": window, "pagination": pagination}
        return 200, {}, json.dumps(body, ensure_ascii=False).encode()

    def _matching(self, q: str | None) -> list[str]:
        if not q:
            return list(self._order)
        needle = q.casefold()
        return [i for i in self._order if _matches(self._chats[i], needle)]

    def _creation_order(self, q: str | None) -> list[str]:
        if self._created is None:
            never = 1 << 62  # chats that never had a message were created after the others

            def created(chat_id: str) -> tuple[int, str]:
                first = self._first_times[chat_id]
                return (never if first is None else first, chat_id)

            self._created = dict.fromkeys(sorted(self._chats, key=created))
        if not q:
            return list(self._created)
        needle = q.casefold()
        return [i for i in self._created if _matches(self._chats[i], needle)]

    def _encode(self, chat_id: str) -> bytes:
        encoded = self._encoded.get(chat_id)
        if encoded is None:
            encoded = _encode(self._chats[chat_id])
            self._encoded[chat_id] = encoded
        return encoded

    # -- the data changing (under the lock) ------------------------------------------------

    def _sort_key(self, chat: dict[str, Any]) -> _Key:
        time_ms = chat["last_message_time"]
        if time_ms is None:
            return (0 if self._nulls_first else 1, 0, chat["id"])
        return (1 if self._nulls_first else 0, -time_ms, chat["id"])

    def _timed_span(self) -> tuple[int, int, int]:
        """(block, start, end): the chats with a ``last_message_time``, as ``_order`` indices."""
        split = bisect_left(self._keys, (1,))
        if self._nulls_first:
            return 1, split, len(self._keys)
        return 0, 0, split

    def _place(self, chat_id: str, key: _Key) -> None:
        index = bisect_left(self._keys, key)
        self._keys.insert(index, key)
        self._order.insert(index, chat_id)

    def _unplace(self, key: _Key) -> None:
        index = bisect_left(self._keys, key)
        del self._keys[index]
        del self._order[index]

    def _changed_chat(self, chat_id: str, old_key: _Key) -> None:
        """Re-file a chat whose messages changed: its fields from its history, then its place."""
        chat = self._chats[chat_id]
        history = self._histories[chat_id]
        chat.update(chat_fields(history))
        self._first_times[chat_id] = history[0]["time_sent"] if history else None
        key = self._sort_key(chat)
        if key != old_key:
            self._unplace(old_key)
            self._place(chat_id, key)
        self._encoded.pop(chat_id, None)
        self._changed.add(chat_id)

    def _history(self, chat_id: str) -> list[dict[str, Any]]:
        """A chat's messages, oldest first: its own if they changed, else made from the chat."""
        history = self._histories.get(chat_id)
        if history is None:
            chat = self._chats[chat_id]
            history = generate_history(chat, self._first_times[chat_id], self._seed, self._now)
        return history

    def _own_history(self, chat_id: str) -> list[dict[str, Any]]:
        """A chat's history, kept from now on so that it can change."""
        history = self._histories.get(chat_id)
        if history is None:
            history = self._histories[chat_id] = self._history(chat_id)
        return history

    def _receive(
        self, chat_id: str, at_ms: int, message_id: str, *, direction: str | None = None
    ) -> None:
        """A message arrives in ``chat_id``, sent at ``at_ms``; in a random direction if none."""
        direction = direction or self._rng.choice(("inbound", "outbound"))
        text = self._rng.choice(TEXTS)
        chat = self._chats[chat_id]
        old_key = self._sort_key(chat)
        message = live_message(
            chat,
            message_id=message_id,
            direction=direction,
            text=text,
            at_ms=at_ms,
            seed=self._seed,
            serial=self._serial,
        )
        insort(self._own_history(chat_id), message, key=message_key)
        self._changed_chat(chat_id, old_key)

    def _remove_newest(self, chat_id: str) -> None:
        """Unsend a chat's newest message."""
        old_key = self._sort_key(self._chats[chat_id])
        self._unsent.add(self._own_history(chat_id).pop()["message_id"])
        self._changed_chat(chat_id, old_key)

    def clock_ms(self) -> int:
        """The server's clock (epoch ms), as its ``Date`` header tells it.

        The wall clock, or for a server made with a fixed ``now``, that instant plus the time
        since: its timeline stays consistent on any day.
        """
        if self._live:
            return int(self._wall_clock() * 1000)
        return self._now + int((self._clock() - self._made) * 1000)

    def _date_ms(self) -> int:
        """The clock a response's ``Date`` header tells, ``Faults.date_skew_seconds`` applied."""
        faults = self.faults
        with self._lock:
            self._responses += 1
            number = self._responses
        skewed = faults.date_skew_seconds and (number - 1) % max(faults.date_skew_every, 1) == 0
        return self.clock_ms() + (int(faults.date_skew_seconds * 1000) if skewed else 0)

    def _tick(self) -> int:
        # Strictly increasing, so a new message is the newest (future-dated chats aside). With
        # a fixed `now` it counts milliseconds from the data's newest message, which keeps the
        # answers to a seed and a request sequence the same on every run.
        self._clock_ms += 1
        if self._live:
            self._clock_ms = max(self._clock_ms, self.clock_ms())
        return self._clock_ms

    def _receive_messages(self, count: int) -> list[str]:
        moved = self._rng.sample(self._order, min(count, len(self._order)))
        for chat_id in moved:
            self._serial += 1
            self._receive(chat_id, self._tick(), f"msg_live{self._serial:010d}")
        return moved

    def _arrive_in(self, chat_id: str, count: int) -> None:
        for _ in range(count):
            self._serial += 1
            self._receive(chat_id, self._tick(), f"msg_live{self._serial:010d}")

    def _unsend_in(self, chat_id: str, count: int) -> None:
        for _ in range(count):
            if len(self._history(chat_id)) < 2:
                return
            self._remove_newest(chat_id)

    def _add_chats(self, count: int) -> None:
        for _ in range(count):
            self._serial += 1
            at_ms = self._tick()
            chat = new_chat(self._serial, self._rng, at_ms)
            chat_id, last = chat["id"], chat["last_message"]
            self._first_times[chat_id] = chat.pop("first_message_time")
            self._chats[chat_id] = chat
            self._histories[chat_id] = [
                live_message(
                    chat,
                    message_id=last["message_id"],
                    direction=last["direction"],
                    text=last["text"],
                    at_ms=at_ms,
                    seed=self._seed,
                    serial=self._serial,
                )
            ]
            self._place(chat_id, self._sort_key(chat))
            self._changed.add(chat_id)
            if self._created is not None:
                self._created[chat_id] = None

    def _delete_chats(self, count: int) -> None:
        if count <= 0:
            return
        for chat_id in self._rng.sample(self._order, min(count, len(self._order))):
            self._unplace(self._sort_key(self._chats[chat_id]))
            del self._chats[chat_id], self._first_times[chat_id]
            self._encoded.pop(chat_id, None)
            self._histories.pop(chat_id, None)
            if self._created is not None:
                del self._created[chat_id]
            self._deleted.add(chat_id)

    def _deliver_late(self, count: int) -> None:
        if count <= 0:
            return
        block, start, end = self._timed_span()
        now = max(self._clock_ms, self.clock_ms()) if self._live else self._clock_ms
        for _ in range(count):
            stamp = now - self._rng.randint(HOUR_MS, 12 * HOUR_MS)
            # The chats whose newest message is older than the stamp: the tail of the block.
            older = bisect_left(self._keys, (block, -stamp + 1), start, end)
            if older >= end:
                continue
            chat_id = self._order[self._rng.randrange(older, end)]
            self._serial += 1
            self._receive(chat_id, stamp, f"msg_live{self._serial:010d}")

    def _unsend(self, count: int) -> None:
        if count <= 0:
            return
        _, start, end = self._timed_span()
        if start >= end:
            return
        for _ in range(count):
            # A chat whose newest message is 1 minute to 3 days younger than the one before,
            # so unsending it takes the chat back in the list, by a bounded step.
            for _attempt in range(20):
                chat_id = self._order[self._rng.randrange(start, end)]
                history = self._history(chat_id)
                if len(history) >= 2 and (
                    MINUTE_MS <= history[-1]["time_sent"] - history[-2]["time_sent"] <= 3 * DAY_MS
                ):
                    break
            else:
                continue
            self._remove_newest(chat_id)

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)


def _make_ties(chats: list[dict[str, Any]], sizes: Sequence[int], rng: random.Random) -> None:
    """Give groups of ``sizes`` chats one ``last_message_time`` each, that of a random chat."""
    times = Counter(chat["last_message_time"] for chat in chats)
    free = list(range(len(chats)))
    rng.shuffle(free)
    for size in sizes:
        if size < 1 or not free:
            continue
        # A time no other chat has, so the group is exactly `size` chats.
        anchor = free.pop()
        while times[chats[anchor]["last_message_time"]] > 1 and free:
            anchor = free.pop()
        at_ms = chats[anchor]["last_message_time"]
        for _ in range(min(size - 1, len(free))):
            chat = chats[free.pop()]
            times[chat["last_message_time"]] -= 1
            redate_last_message(chat, at_ms)
            times[at_ms] += 1


def _future_chats(start: int, count: int, seed: int, now_ms: int) -> list[dict[str, Any]]:
    return future_chats(start, count, seed, now_ms) if count > 0 else []


def _untimed_chats(start: int, count: int, seed: int) -> list[dict[str, Any]]:
    return untimed_chats(start, count, seed) if count > 0 else []


def _shuffle_ties(
    ids: list[str], keys: list[_Key], low: int, high: int, rng: random.Random
) -> list[str]:
    """``ids[low:high]`` as SQL without a tiebreaker may give it: each tie group shuffled.

    A group that crosses the window's edges is shuffled as a whole before it is cut, so which of
    its chats fall inside the window is part of the chance.
    """
    window: list[str] = []
    pos = low
    while pos < high:
        block, neg_time, _ = keys[pos]
        first = bisect_left(keys, (block, neg_time), 0, pos) if pos == low else pos
        end = bisect_left(keys, (block, neg_time + 1), pos + 1)
        if end - first == 1:
            window.append(ids[pos])
            pos += 1
            continue
        group = ids[first:end]
        rng.shuffle(group)
        window += group[pos - first : min(end, high) - first]
        pos = end
    return window


def _shuffle_message_ties(
    messages: list[dict[str, Any]], rng: random.Random
) -> list[dict[str, Any]]:
    """``messages`` with each run sharing one ``time_sent`` shuffled, as SQL may give them."""
    shuffled: list[dict[str, Any]] = []
    for _, run in itertools.groupby(messages, key=lambda m: m["time_sent"]):
        group = list(run)
        if len(group) > 1:
            rng.shuffle(group)
        shuffled += group
    return shuffled


def _queued_messages(chat_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` outbound messages of ``chat_id`` queued to send, without a ``time_sent`` yet."""
    tag = hashlib.sha256(chat_id.encode()).hexdigest()[:12]
    return [
        {
            "message_id": f"msg_queued{tag}{index:03d}",
            "direction": "outbound",
            "text": None,
            "time_sent": None,
            "time_delivered": None,
            "status": "queued",
            "protocol": "imessage",
            "attachments": [],
            "reactions": [],
        }
        for index in range(count)
    ]


def _encode(chat: dict[str, Any]) -> bytes:
    return json.dumps(chat, ensure_ascii=False).encode()


def _matches(chat: dict[str, Any], needle: str) -> bool:
    contact = chat.get("contact") or {}
    fields = (chat.get("id"), contact.get("identifier"), contact.get("name"))
    return any(isinstance(v, str) and needle in v.casefold() for v in fields)


def _paging(query: dict[str, str]) -> tuple[int, int, tuple[int, dict[str, str], bytes] | None]:
    """``limit`` and ``offset`` as every list endpoint reads them, or the API's 400 answer."""
    limit = _int_param(query, "limit", 50, 1, 200)
    offset = _int_param(query, "offset", 0, 0, None)
    if limit is None:
        return 0, 0, _error(400, "limit must be an integer between 1 and 200", "invalid_limit")
    if offset is None:
        return (
            0,
            0,
            _error(400, "offset must be an integer greater than or equal to 0", "invalid_offset"),
        )
    return limit, offset, None


def _int_param(
    query: dict[str, str], name: str, default: int, low: int, high: int | None
) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    if value < low or (high is not None and value > high):
        return None
    return value


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _error(status: int, message: str, code: str) -> tuple[int, dict[str, str], bytes]:
    body = {"error": "ApiError", "message": message, "status": status, "code": code}
    return status, {}, json.dumps(body).encode()


def _too_many(retry_after: int, retry_after_ms: int | None) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = _error(429, "Too many requests", "rate_limited")
    headers["Retry-After"] = str(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return status, headers, body


def _overridden(status: int, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """The answer of ``Faults.status_override``: for 2xx and 3xx, what looks like an empty page."""
    if status in _NO_BODY:
        return status, {}, b""
    if status >= 400:
        return _error(status, _phrase(status), "status_override")
    pagination = {
        "limit": _int_param(query, "limit", 50, 1, 200) or 50,
        "offset": _int_param(query, "offset", 0, 0, None) or 0,
        "total": 0,
    }
    headers = {"Location": OVERRIDE_LOCATION} if 300 <= status < 400 else {}
    if path.endswith(_MESSAGES):
        chat_id = unquote(path[len(API_PREFIX) + 7 : -len(_MESSAGES)])
        page = {"chat_id": chat_id, "messages": [], "pagination": pagination}
    else:
        page = {"chats": [], "pagination": pagination}
    return status, headers, json.dumps(page).encode()


def _make_handler(server: BlooioTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "BlooioTestServer/1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            reply = server._answer(parts.path, query, self.headers.get("Authorization"))
            server._record(RequestRecord(parts.path, query, reply.status, server._clock()))
            self._send(reply.status, reply.headers, reply.body, reply.drip_bytes_per_second)

        def _refuse(self) -> None:
            status, headers, body = _error(
                405, f"{self.command} is not supported here", "method_not_allowed"
            )
            drip = server.faults.drip_bytes_per_second
            self._send(status, {**headers, "Allow": "GET"}, body, drip)

        do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

        def setup(self) -> None:
            super().setup()
            # Without this, Nagle's algorithm holds small responses back until the client's
            # delayed ACK (about 40 ms), which real API servers do not do.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(
            self,
            status: int,
            headers: dict[str, str],
            body: bytes,
            drip_bytes_per_second: float | None = None,
        ) -> None:
            head = [
                f"{self.protocol_version} {status} {_phrase(status)}",
                f"Server: {self.version_string()}",
                f"Date: {formatdate(server._date_ms() / 1000, usegmt=True)}",
            ]
            if status not in _NO_BODY:
                head.append("Content-Type: application/json; charset=utf-8")
                head.append(f"Content-Length: {len(body)}")
            head += [f"{name}: {value}" for name, value in headers.items()]
            head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            if not drip_bytes_per_second or not body:
                # Status line, headers and body in one write, as one response.
                self.wfile.write(head_bytes + body)
                return
            self.wfile.write(head_bytes)
            started = time.monotonic()
            try:
                for index in range(len(body)):
                    delay = started + index / drip_bytes_per_second - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    self.wfile.write(body[index : index + 1])
            except OSError:  # the client gave up waiting
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and benchmarks read the request log instead

    return Handler
