"""Reading one HTTP response within a deadline and under a size cap, for the send loop.

:class:`DeadlineTransport` bounds every connect, read and write of an attempt, its response
head included, by the attempt's :func:`attempt_deadline`; :func:`read_body` reads a streamed
body within that deadline and under :func:`body_cap`. :func:`describe_unexpected_status` words
the answers that are neither success nor an API error (redirects and 2xx other than 200), and
:func:`environment_proxy` finds the proxy an ``https`` base URL goes through.
Why: docs/design.md, section "The send loop: retries, pacing, concurrency, redaction".
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

#: The largest body the client reads. A ``GET /chats`` page of 200 chats is about 110 KB;
#: anything near this is not a Blooio page, and reading it would only exhaust memory.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: A page may take this many bytes per row it was asked for (plus :data:`PAGE_BYTES_BASE`):
#: about 30 times an honest chat (about 550 bytes), room for long texts and names.
PAGE_BYTES_PER_ROW = 16 * 1024
PAGE_BYTES_BASE = 256 * 1024


def body_cap(limit: object) -> int:
    """The most bytes the answer to a request for ``limit`` rows may take.

    A page far larger than asked for is refused while it arrives, before it is decoded into
    memory many times its size; a request without a ``limit`` gets :data:`MAX_BODY_BYTES`.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        return MAX_BODY_BYTES
    return min(MAX_BODY_BYTES, PAGE_BYTES_BASE + limit * PAGE_BYTES_PER_ROW)


class BodyTooLarge(Exception):
    """A response body is larger than :data:`MAX_BODY_BYTES`; it was not read in full."""

    def __init__(self, size: int, cap: int, *, declared: bool) -> None:
        self.size = size
        self.cap = cap
        if declared:
            what = f"the body is {size:,} bytes (its Content-Length)"
        else:
            what = f"the body grew past {size:,} bytes while being read"
        limit = "this client reads" if cap >= MAX_BODY_BYTES else "for the rows asked for"
        super().__init__(
            f"{what}, over the {cap:,}-byte limit {limit} (a page of 200 chats is about "
            "110 KB); reading stopped there"
        )


def read_body(
    response: httpx.Response, *, deadline: float, timeout: float, cap: int = MAX_BODY_BYTES
) -> bytes:
    """The whole (decoded) body of a streamed ``response``, read by ``deadline``.

    ``deadline`` is a :func:`time.monotonic` moment, checked as each chunk arrives; the
    per-read ``timeout`` the response was sent with still bounds a server that goes silent.
    Chunks are read as the network delivers them (up to 64 KiB) and joined once.

    Raises:
        httpx.ReadTimeout: the body was still arriving at ``deadline`` (retryable, like any
            other timeout).
        BodyTooLarge: the body declares or reaches more than ``cap`` bytes.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(int(declared), cap, declared=True)
    chunks: list[bytes] = []
    size = 0

    def late() -> httpx.ReadTimeout:
        return httpx.ReadTimeout(
            f"the response body took longer than timeout={timeout:g} s to arrive in full "
            f"({size:,} bytes by then)",
            request=response.request,
        )

    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise BodyTooLarge(size, cap, declared=False)
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise late()
    except httpx.ReadTimeout:
        # A read cut short by the attempt's deadline (see DeadlineTransport), said as such.
        if time.monotonic() < deadline:
            raise
        raise late() from None
    return b"".join(chunks)


def describe_unexpected_status(response: httpx.Response) -> str:
    """Why a response that is neither 200 nor an error status cannot be used, for an error.

    A redirect is named by the host it points to (never its query, which may carry tokens).
    """
    status = response.status_code
    if 300 <= status < 400:
        return (
            f"HTTP {status} ({response.reason_phrase}), a redirect {_redirect_target(response)}. "
            "Redirects are not followed, so that the API key is never sent to another host; "
            "set base_url (BLOOIO_BASE_URL) to the API root itself"
        )
    return (
        f"HTTP {status} ({response.reason_phrase}) where only 200 with a JSON body is a "
        "successful answer"
    )


def _redirect_target(response: httpx.Response) -> str:
    location = response.headers.get("location")
    if not location:
        return "without a Location"
    try:
        parts = urlsplit(location.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "to a Location that is not a valid URL"
    if not host:
        return f"to another path on {response.request.url.host}"
    scheme = f"{parts.scheme}://" if parts.scheme else "//"
    return f"to host {scheme}{host}{f':{port}' if port else ''}"


# -- a deadline for the whole attempt ---------------------------------------------------------

#: The attempt in progress on this thread: its :func:`time.monotonic` deadline and timeout.
_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("blooio_deadline", default=None)


@contextmanager
def attempt_deadline(moment: float, timeout: float) -> Iterator[None]:
    """Bound every network operation of :class:`DeadlineTransport` on this thread by
    ``moment`` (a :func:`time.monotonic` time) while the block runs.

    httpx sends synchronous requests on the calling thread, so the connection the request
    gets, new or reused, reads and writes under this deadline.
    """
    token = _DEADLINE.set((moment, timeout))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _within_deadline(timeout: float | None, expired: type[Exception]) -> float | None:
    """The socket timeout for the next operation: ``timeout``, or less near the deadline."""
    attempt = _DEADLINE.get()
    if attempt is None:
        return timeout
    left = attempt[0] - time.monotonic()
    if left <= 0:
        raise expired(_late(attempt[1]))
    return left if timeout is None else min(timeout, left)


def _late(timeout: float) -> str:
    return f"the response took longer than timeout={timeout:g} s to arrive in full"


def _deadline_passed() -> bool:
    attempt = _DEADLINE.get()
    return attempt is not None and time.monotonic() >= attempt[0]


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))
        except httpcore.ReadTimeout:
            attempt = _DEADLINE.get()
            if attempt is None or not _deadline_passed():
                raise
            # Said as such: a bare "timed out" would read as a silent server.
            raise httpcore.ReadTimeout(_late(attempt[1])) from None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        wait = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (same arguments), whose connections honour
    :func:`attempt_deadline`.

    httpx offers no public hook for the network layer of its transport; httpcore's pool
    takes one (``network_backend``), set here on the pool httpx built.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._pool._network_backend = _DeadlineBackend(self._pool._network_backend)


def environment_proxy(base_url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, or the
    system's settings where Python reads them, as httpx does) sets for an
    ``https://`` ``base_url``, as httpx would use it; ``None`` for none, and always for plain
    http, which is only allowed to loopback and must not carry the key through a proxy."""
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https") or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"
