"""``BlooioTestServer``: a Blooio-compatible HTTP server on 127.0.0.1, as a test uses it.

It speaks the documented protocol of ``GET /chats``, ``GET /chats/{chat_id}`` and
``GET /chats/{chat_id}/messages`` over real sockets. This module holds the server object: making
it, starting and stopping it, its clocks, the truth tests compare against, the helpers that
change its data, and the way of one request (latency, the key, the faults that refuse it, the
endpoint, the faults that bend its body). The parts: :mod:`~blooio_dagster.testing.http` (the
wire), :mod:`~blooio_dagster.testing.endpoints` (the pages), :mod:`~blooio_dagster.testing.store`
(the data and its changes), :mod:`~blooio_dagster.testing.faults` (every opt-in misbehaviour).
How it is built and why: docs/design.md, section "The test server".
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self

from blooio_dagster.testing.endpoints import Endpoints
from blooio_dagster.testing.faults import Faults, FaultState, bent_body, date_skew_ms
from blooio_dagster.testing.http import API_PREFIX, Reply, error, make_handler
from blooio_dagster.testing.store import ChatStore


@dataclass
class RequestRecord:
    """One request the server answered: path, query, status, and when (the server's clock)."""

    path: str
    query: dict[str, str]
    status: int
    answered_at: float = field(default_factory=time.monotonic)


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
        self._now = int(self._wall_clock() * 1000) if now is None else now
        self._live = now is None
        self._made = self._clock()
        self._lock = threading.Lock()
        self._responses = 0
        # One RNG for every chance draw, so a seed and a request sequence give one answer.
        rng = random.Random(seed ^ 0x5EED)
        self._store = ChatStore(
            chats,
            seed,
            now_ms=self._now,
            live=self._live,
            clock_ms=self.clock_ms,
            rng=rng,
            tie_groups=tie_groups,
            untimed_chats=untimed_chats,
            nulls_first=nulls_first,
            future_chats=future_chats,
            profile=profile,
        )
        self._fault_state = FaultState(rng, self._clock, clock_injected=clock is not None)
        self._endpoints = Endpoints(self._store, self._fault_state)
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
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), make_handler(self))
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

    def truth(
        self, *, active_since: int | None = None, q: str | None = None
    ) -> list[dict[str, Any]]:
        """Copies of all chats as they are now, in the order ``GET /chats?sort=recent`` lists them.

        Ties come by id (as with ``tie_order="id"``) and chats that never had a message where
        they sort; ``active_since`` (epoch ms) keeps only chats with a message at or after it.
        """
        with self._lock:
            return self._store.truth(active_since, q)

    def chats_requests(self) -> list[RequestRecord]:
        """The ``GET /chats`` list requests answered so far."""
        with self._lock:
            return [r for r in self.requests if r.path == f"{API_PREFIX}/chats"]

    def receive_messages(self, count: int) -> list[str]:
        """Give ``count`` random chats a new message now; returns their ids."""
        with self._lock:
            return self._store.receive_messages(count)

    def add_message(self, chat_id: str, at_ms: int, *, direction: str = "inbound") -> str:
        """Put a message sent at ``at_ms`` (any time, even one no clock should give) in a chat.

        Returns its id. The chat's fields follow its history, as for any new message.
        """
        with self._lock:
            return self._store.add_message(chat_id, at_ms, direction)

    def deleted_ids(self) -> set[str]:
        """Ids of the chats deleted so far (by ``Faults.deletions_per_request``)."""
        with self._lock:
            return set(self._store.deleted)

    def changed_ids(self) -> set[str]:
        """Ids of the chats whose state changed since the server was made.

        New messages (late ones too), unsent messages and new chats; a chat stays here if it
        is deleted later.
        """
        with self._lock:
            return set(self._store.changed)

    def messages_of(
        self, chat_id: str, *, since: int | None = None, until: int | None = None
    ) -> list[dict[str, Any]]:
        """Copies of a chat's messages as they are now, oldest first by (time_sent, message_id).

        ``since``/``until`` (epoch ms) keep the messages sent in ``[since, until)``. Raises
        ``KeyError`` for a chat that does not exist (or was deleted).
        """
        with self._lock:
            return self._store.messages_of(chat_id, since, until)

    def import_messages(self, chat_id: str, count: int, at_ms: int) -> list[str]:
        """Give ``chat_id`` ``count`` messages all sent at ``at_ms`` (a bulk import); their ids."""
        with self._lock:
            return self._store.import_messages(chat_id, count, at_ms)

    def unsent_message_ids(self) -> set[str]:
        """Ids of the messages unsent so far (by ``unsent_per_request`` or
        ``chat_unsent_per_request``)."""
        with self._lock:
            return set(self._store.unsent)

    def messages_requests(self) -> list[RequestRecord]:
        """The ``GET /chats/{chat_id}/messages`` requests answered so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/messages")]

    def clock_ms(self) -> int:
        """The server's clock (epoch ms), as its ``Date`` header tells it.

        The wall clock, or for a server made with a fixed ``now``, that instant plus the time
        since: its timeline stays consistent on any day.
        """
        if self._live:
            return int(self._wall_clock() * 1000)
        return self._now + int((self._clock() - self._made) * 1000)

    # -- request handling (called from handler threads) ------------------------------------

    def _answer(self, path: str, query: dict[str, str], authorization: str | None) -> Reply:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._respond(path, query, authorization)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(self, path: str, query: dict[str, str], authorization: str | None) -> Reply:
        faults = self.faults
        drip = faults.drip_bytes_per_second or None
        if faults.latency:
            time.sleep(faults.latency)
        if authorization != f"Bearer {self.api_key}":
            return Reply(*error(401, "Authentication required or invalid", "unauthorized"), drip)
        with self._lock:
            refused = self._fault_state.refusal(faults, path, query)
            if refused is not None:
                return Reply(*refused, drip)
            truncate = self._fault_state.truncates(faults)
            status, headers, body = self._endpoints.answer(faults, path, query)
        return Reply(status, headers, bent_body(faults, status, body, truncate), drip)

    def _date_ms(self) -> int:
        """The clock a response's ``Date`` header tells, ``Faults.date_skew_seconds`` applied."""
        faults = self.faults
        with self._lock:
            self._responses += 1
            number = self._responses
        return self.clock_ms() + date_skew_ms(faults, number)

    def _record(self, path: str, query: dict[str, str], status: int) -> None:
        record = RequestRecord(path, query, status, self._clock())
        with self._lock:
            self.requests.append(record)
