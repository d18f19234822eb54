"""A Blooio-compatible HTTP server on 127.0.0.1, for tests, demos and benchmarks.

It speaks the documented protocol of ``GET /chats`` and ``GET /chats/{chat_id}`` over real
sockets (HTTP/1.1 keep-alive, one thread per connection), with opt-in faults that real APIs
have: latency, a rate limit answered with 429 and ``Retry-After``, 5xx, bodies cut off
mid-way, and chats receiving messages (or appearing) while a client pages.
"""

from __future__ import annotations

import copy
import json
import math
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from blooio_dagster.testing.data import generate_chats, new_chat, receive_message

API_PREFIX = "/v2/api"


@dataclass
class Faults:
    """Opt-in misbehaviour; change fields at any time, even while clients page.

    Attributes:
        latency: seconds added to every request before it is answered.
        requests_per_second: answer 429 past this rate (a token bucket holding one second's
            worth of requests); ``None`` for no limit.
        retry_after_ms: with 429s, also send ``retry-after-ms`` next to ``Retry-After``.
        server_error_rate: share of requests answered with 500, 502 or 503.
        truncated_body_rate: share of ``GET /chats`` answers whose JSON body is cut in half
            (a well-formed HTTP response carrying invalid JSON).
        messages_per_request: chats that receive a new message at each ``GET /chats``,
            so they jump to the front while a client pages.
        new_chats_per_request: brand-new chats created at each ``GET /chats``.
    """

    latency: float = 0.0
    requests_per_second: float | None = None
    retry_after_ms: bool = True
    server_error_rate: float = 0.0
    truncated_body_rate: float = 0.0
    messages_per_request: int = 0
    new_chats_per_request: int = 0


@dataclass
class RequestRecord:
    """One request the server answered: path, query, status, and when (``time.monotonic``)."""

    path: str
    query: dict[str, str]
    status: int
    answered_at: float = field(default_factory=time.monotonic)


@dataclass
class _TokenBucket:
    rate: float
    tokens: float
    updated: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0.0 if a request may pass now, else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class BlooioTestServer:
    """A local Blooio V2 API with ``chats`` deterministic synthetic chats.

    Usage::

        with BlooioTestServer(chats=5000, seed=1) as server:
            client = BlooioClient(server.api_key, base_url=server.base_url)

    Args:
        chats: how many chats the organization has.
        seed: makes the data reproducible.
        now: epoch ms the data's timeline ends at; defaults to the current time.
        api_key: the only key accepted; a fresh ``bl_test_...`` key by default.
        port: 0 picks a free port.
        faults: opt-in failures (see :class:`Faults`); ``server.faults`` can be changed later.
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
    ) -> None:
        self.api_key = api_key or f"bl_test_{secrets.token_hex(16)}"
        self.faults = faults or Faults()
        self.requests: list[RequestRecord] = []
        #: The most requests the server was answering at the same moment.
        self.max_in_flight = 0
        self._in_flight = 0
        self._now = int(time.time() * 1000) if now is None else now
        self._rng = random.Random(seed ^ 0x5EED)
        self._lock = threading.Lock()
        generated = generate_chats(chats, seed, self._now)
        self._first_times = {chat["id"]: chat.pop("first_message_time") for chat in generated}
        self._chats = {chat["id"]: chat for chat in generated}
        self._order = [chat["id"] for chat in generated]
        # Encoded up front so every client, first or not, sees the same response times.
        self._encoded = {chat_id: _encode(chat) for chat_id, chat in self._chats.items()}
        self._clock_ms = max((c["last_message_time"] for c in generated), default=self._now)
        self._serial = 0
        self._bucket: _TokenBucket | None = None
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving on 127.0.0.1 in a background thread."""
        httpd = self._bind()
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="blooio-test-server", daemon=True
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
        """Copies of all chats as they are now, newest first, as ``GET /chats`` would list them."""
        with self._lock:
            ids = self._matching(q)
            chats = [copy.deepcopy(self._chats[i]) for i in ids]
        if active_since is not None:
            chats = [c for c in chats if c["last_message_time"] >= active_since]
        return chats

    def chats_requests(self) -> list[RequestRecord]:
        """The ``GET /chats`` list requests answered so far."""
        with self._lock:
            return [r for r in self.requests if r.path == f"{API_PREFIX}/chats"]

    def receive_messages(self, count: int) -> list[str]:
        """Give ``count`` random chats a new message now; returns their ids."""
        with self._lock:
            return self._receive_messages(count)

    # -- request handling (called from handler threads) ------------------------------------

    def _answer(
        self, path: str, query: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._respond(path, query, authorization)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(
        self, path: str, query: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        if authorization != f"Bearer {self.api_key}":
            return _error(401, "Authentication required or invalid", "unauthorized")
        with self._lock:
            if faults.requests_per_second:
                if self._bucket is None or self._bucket.rate != faults.requests_per_second:
                    rate = faults.requests_per_second
                    self._bucket = _TokenBucket(rate=rate, tokens=rate)
                wait = self._bucket.take()
                if wait > 0:
                    status, headers, body = _error(429, "Too many requests", "rate_limited")
                    headers["Retry-After"] = str(max(1, math.ceil(wait)))
                    if faults.retry_after_ms:
                        headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
                    return status, headers, body
            if faults.server_error_rate and self._rng.random() < faults.server_error_rate:
                status = self._rng.choice((500, 502, 503))
                return _error(status, HTTPStatus(status).phrase, "server_error")
            truncate = bool(
                faults.truncated_body_rate and self._rng.random() < faults.truncated_body_rate
            )
            if path == f"{API_PREFIX}/chats":
                self._receive_messages(faults.messages_per_request)
                self._add_chats(faults.new_chats_per_request)
                status, headers, body = self._list_chats(query)
            elif path.startswith(f"{API_PREFIX}/chats/"):
                status, headers, body = self._one_chat(unquote(path[len(API_PREFIX) + 7 :]))
            else:
                return _error(404, f"No route for GET {path}", "not_found")
        if truncate and status == 200:
            body = body[: len(body) // 2]
        return status, headers, body

    def _list_chats(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        limit = _int_param(query, "limit", 50, 1, 200)
        offset = _int_param(query, "offset", 0, 0, None)
        if limit is None:
            return _error(400, "limit must be an integer between 1 and 200", "invalid_limit")
        if offset is None:
            return _error(
                400, "offset must be an integer greater than or equal to 0", "invalid_offset"
            )
        sort = query.get("sort", "recent")
        if sort not in ("recent", "oldest"):
            return _error(400, "sort must be one of: recent, oldest", "invalid_sort")
        q = query.get("q")
        ids = self._matching(q) if q else self._order  # no copy of the whole list per request
        total = len(ids)
        if sort == "oldest":
            end = max(total - offset, 0)
            window = ids[max(end - limit, 0) : end][::-1]
        else:
            window = ids[offset : offset + limit]
        items = b",".join([self._encode(chat_id) for chat_id in window])
        pagination = json.dumps({"limit": limit, "offset": offset, "total": total}).encode()
        return 200, {}, b'{"chats":[' + items + b'],"pagination":' + pagination + b"}"

    def _one_chat(self, chat_id: str) -> tuple[int, dict[str, str], bytes]:
        chat = self._chats.get(chat_id)
        if chat is None:
            return _error(404, f"Chat {chat_id} not found", "chat_not_found")
        body = dict(chat, first_message_time=self._first_times[chat_id])
        return 200, {}, json.dumps(body, ensure_ascii=False).encode()

    def _matching(self, q: str | None) -> list[str]:
        if not q:
            return list(self._order)
        needle = q.casefold()
        return [i for i in self._order if _matches(self._chats[i], needle)]

    def _encode(self, chat_id: str) -> bytes:
        encoded = self._encoded.get(chat_id)
        if encoded is None:
            encoded = _encode(self._chats[chat_id])
            self._encoded[chat_id] = encoded
        return encoded

    def _tick(self) -> int:
        # Strictly increasing, and never behind the wall clock: a new message is the newest.
        self._clock_ms = max(self._clock_ms + 1, int(time.time() * 1000))
        return self._clock_ms

    def _receive_messages(self, count: int) -> list[str]:
        moved = self._rng.sample(self._order, min(count, len(self._order)))
        for chat_id in moved:
            self._serial += 1
            receive_message(self._chats[chat_id], self._rng, self._tick(), self._serial)
            self._encoded.pop(chat_id, None)
            self._order.remove(chat_id)
            self._order.insert(0, chat_id)
        return moved

    def _add_chats(self, count: int) -> None:
        for _ in range(count):
            self._serial += 1
            chat = new_chat(self._serial, self._rng, self._tick())
            self._first_times[chat["id"]] = chat.pop("first_message_time")
            self._chats[chat["id"]] = chat
            self._order.insert(0, chat["id"])

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)


def _encode(chat: dict[str, Any]) -> bytes:
    return json.dumps(chat, ensure_ascii=False).encode()


def _matches(chat: dict[str, Any], needle: str) -> bool:
    contact = chat.get("contact") or {}
    fields = (chat.get("id"), contact.get("identifier"), contact.get("name"))
    return any(isinstance(v, str) and needle in v.casefold() for v in fields)


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


def _error(status: int, message: str, code: str) -> tuple[int, dict[str, str], bytes]:
    body = {"error": "ApiError", "message": message, "status": status, "code": code}
    return status, {}, json.dumps(body).encode()


def _make_handler(server: BlooioTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "BlooioTestServer/1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            status, headers, body = server._answer(
                parts.path, query, self.headers.get("Authorization")
            )
            server._record(RequestRecord(parts.path, query, status))
            self._send(status, headers, body)

        def _refuse(self) -> None:
            status, headers, body = _error(
                405, f"{self.command} is not supported here", "method_not_allowed"
            )
            self._send(status, {**headers, "Allow": "GET"}, body)

        do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

        def setup(self) -> None:
            super().setup()
            # Without this, Nagle's algorithm holds small responses back until the client's
            # delayed ACK (about 40 ms), which real API servers do not do.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            head = [
                f"{self.protocol_version} {status} {HTTPStatus(status).phrase}",
                f"Server: {self.version_string()}",
                f"Date: {self.date_time_string()}",
                "Content-Type: application/json; charset=utf-8",
                f"Content-Length: {len(body)}",
                *(f"{name}: {value}" for name, value in headers.items()),
            ]
            # Status line, headers and body in one write, as one response.
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and benchmarks read the request log instead

    return Handler
