"""The test server on the wire: its HTTP handler, status lines, headers and JSON error bodies.

One thread per connection, HTTP/1.1 keep-alive, ``GET`` only (other methods: 405). Each answer
is written as one response with a correct ``Content-Length`` and the server's ``Date``, or
dripped byte by byte after its headers (``Faults.drip_bytes_per_second``). Also here: the API's
error body, its 429 answer, and how the list endpoints read ``limit``, ``offset`` and the
other integer parameters (the API's 400 answers).
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from blooio_dagster.testing.server import BlooioTestServer

API_PREFIX = "/v2/api"
MESSAGES = "/messages"
#: Statuses whose responses have no body.
NO_BODY = frozenset({204, 304})

#: An answer before it is sent: status, extra headers, body.
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    drip_bytes_per_second: float | None = None


def paging(query: dict[str, str]) -> tuple[int, int, Answer | None]:
    """``limit`` and ``offset`` as every list endpoint reads them, or the API's 400 answer."""
    limit = int_param(query, "limit", 50, 1, 200)
    offset = int_param(query, "offset", 0, 0, None)
    if limit is None:
        return 0, 0, error(400, "limit must be an integer between 1 and 200", "invalid_limit")
    if offset is None:
        return (
            0,
            0,
            error(400, "offset must be an integer greater than or equal to 0", "invalid_offset"),
        )
    return limit, offset, None


def int_param(
    query: dict[str, str], name: str, default: int, low: int, high: int | None
) -> int | None:
    """The integer parameter ``name`` (``default`` if absent), or None if not one in range."""
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


def phrase(status: int) -> str:
    """The reason phrase of ``status``, ``"Unknown"`` for statuses HTTP does not name."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def error(status: int, message: str, code: str) -> Answer:
    """An answer with the API's error body."""
    body = {"error": "ApiError", "message": message, "status": status, "code": code}
    return status, {}, json.dumps(body).encode()


def too_many(retry_after: int, retry_after_ms: int | None) -> Answer:
    """The API's 429, with ``Retry-After`` (and ``retry-after-ms`` if given)."""
    status, headers, body = error(429, "Too many requests", "rate_limited")
    headers["Retry-After"] = str(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return status, headers, body


def make_handler(server: BlooioTestServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class of one server."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "BlooioTestServer/1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            reply = server._answer(parts.path, query, self.headers.get("Authorization"))
            server._record(parts.path, query, reply.status)
            self._send(reply.status, reply.headers, reply.body, reply.drip_bytes_per_second)

        def _refuse(self) -> None:
            status, headers, body = error(
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
                f"{self.protocol_version} {status} {phrase(status)}",
                f"Server: {self.version_string()}",
                f"Date: {formatdate(server._date_ms() / 1000, usegmt=True)}",
            ]
            if status not in NO_BODY:
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
