"""A raw-socket HTTP server on 127.0.0.1 that answers with whatever bytes a test gives it.

``http.server`` cannot send a malformed head, lie in ``Content-Encoding`` or drip a head
line by line; this server writes exactly what its ``answer`` function writes. Use it as a
context manager, or through the ``raw_server`` fixture in the tests that need it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self


class Connection:
    """One accepted connection: the request head it sent, and a way to answer it."""

    def __init__(self, sock: socket.socket, head: bytes, stopping: threading.Event) -> None:
        self.sock = sock
        self.head = head
        self._stopping = stopping

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    def header(self, name: str) -> str | None:
        """A request header's value (the first with this name), or ``None``."""
        for line in self.head.split(b"\r\n")[1:]:
            key, sep, value = line.decode("latin-1").partition(":")
            if sep and key.strip().lower() == name.lower():
                return value.strip()
        return None

    def send(self, data: bytes) -> bool:
        """Write ``data``; False once the client has gone (or the server is stopping)."""
        if self._stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the server stops first; True if it is still running."""
        return not self._stopping.wait(seconds)


Answer = Callable[[Connection], object]


class RawServer:
    """Accepts connections on 127.0.0.1; each request head read is answered by ``answer``.

    Every answer closes its connection afterwards (one request per connection), so a client
    never reuses a connection a test left in a broken state.
    """

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        #: The request heads received, in order.
        self.requests: list[bytes] = []
        self.port: int = self._listener.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/api"

    def start(self) -> Self:
        thread = threading.Thread(target=self._accept, name="raw-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=10)
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        # Polled: closing a socket does not wake a thread blocked in accept() on Linux.
        self._listener.settimeout(0.05)
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            sock.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            sock.settimeout(10)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            with self._lock:
                self.requests.append(head)
            with contextlib.suppress(OSError):  # the client hung up
                self._answer(Connection(sock, head, self._stopping))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def response(
    body: bytes,
    *,
    status: str = "200 OK",
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bytes:
    """A whole HTTP/1.1 response with ``body`` and a correct Content-Length (unless given)."""
    fields = {"Content-Type": content_type, "Content-Length": str(len(body))}
    fields.update(headers or {})
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
