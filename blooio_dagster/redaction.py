"""Keeping API keys out of what httpx and httpcore log.

At DEBUG, httpcore logs every response's headers (``receive_response_headers.complete
return_value=(..., [(b'Header', b'value'), ...])``), so a proxy that echoes ``Authorization``
into a response header would put the key in the logs. While a client holding a key is open,
:func:`hide_in_logs` has a filter replace the key with ``[redacted]`` in every record of
those loggers, before any handler sees it.

A filter on a logger sees only the records logged through that very logger, not those its
children propagate to it, so the filter is attached to each logger httpx and httpcore use.
"""

from __future__ import annotations

import logging
import threading

#: Every logger httpx and httpcore write to (httpcore names one per module).
HTTP_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
REDACTED = "[redacted]"


class _SecretFilter(logging.Filter):
    """Replaces registered secrets in a record's message; never drops a record."""

    def __init__(self) -> None:
        super().__init__("blooio-secrets")
        # Reentrant: a client's finalizer may release its key from inside a garbage
        # collection that starts while this thread holds the lock.
        self._lock = threading.RLock()
        self._holders: dict[str, int] = {}
        #: Every spelling of every secret, longest first; read without the lock.
        self._needles: tuple[str, ...] = ()

    def add(self, secret: str) -> None:
        """Count one more holder of ``secret``."""
        with self._lock:
            self._holders[secret] = self._holders.get(secret, 0) + 1
            self._update()

    def discard(self, secret: str) -> None:
        """Count one holder less of ``secret``."""
        with self._lock:
            left = self._holders.pop(secret, 0) - 1
            if left > 0:
                self._holders[secret] = left
            self._update()

    def _update(self) -> None:
        # Attached exactly while some secret is held (addFilter and removeFilter are idempotent).
        self._needles = _needles(self._holders)
        for name in HTTP_LOGGERS:
            if self._holders:
                logging.getLogger(name).addFilter(self)
            else:
                logging.getLogger(name).removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        needles = self._needles
        if not needles:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging call's problem, not ours
            return True
        redacted = _replace(message, needles)
        if redacted != message:
            record.msg, record.args = redacted, ()
        for attribute in ("exc_text", "stack_info"):
            text = getattr(record, attribute, None)
            if text:
                setattr(record, attribute, _replace(text, needles))
        return True


def _needles(holders: dict[str, int]) -> tuple[str, ...]:
    # httpcore logs headers as bytes reprs, which escape backslashes and quotes.
    spellings = {
        spelling
        for secret in holders
        for spelling in (secret, repr(secret)[1:-1], repr(secret.encode())[2:-1])
        if spelling
    }
    return tuple(sorted(spellings, key=len, reverse=True))


def _replace(text: str, needles: tuple[str, ...]) -> str:
    for needle in needles:
        if needle in text:
            text = text.replace(needle, REDACTED)
    return text


_FILTER = _SecretFilter()


def hide_in_logs(secret: str) -> None:
    """Redact ``secret`` from httpx's and httpcore's log records until :func:`show_in_logs`.

    Calls are counted per secret: two clients with one key keep it hidden until both let go.
    """
    _FILTER.add(secret)


def show_in_logs(secret: str) -> None:
    """Undo one :func:`hide_in_logs`; the filter is removed once no secret is left."""
    _FILTER.discard(secret)
