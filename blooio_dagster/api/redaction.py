"""Keeping API keys and chat ids out of what this package, httpx and httpcore log.

While a client holding a key is open, :func:`hide_in_logs` has a filter replace the key (any
run of 8 or more of its characters) with ``[redacted]`` in every record of the package's,
httpx's and httpcore's loggers, before any handler sees it, and chat ids (and the search term
``q``) in logged URLs with :func:`chat_ref`. :func:`redact` and :func:`redact_held` hide keys
in the text of errors.
Why: docs/design.md, section "The send loop: retries, pacing, concurrency, redaction".
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from urllib.parse import unquote

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
#: The package's own logger, filtered like the HTTP loggers: its messages may quote exceptions.
PACKAGE_LOGGER = "blooio_dagster"
REDACTED = "[redacted]"
#: The shortest run of a secret's characters that is hidden (a whole secret is always hidden).
MIN_SECRET_RUN = 8
#: The documented starts of every Blooio key: a run that is one of them gives nothing away, and
#: hiding it would garble the errors that name them ("such as bl_live_... or bl_test_...").
PUBLIC_KEY_PREFIXES = frozenset({"bl_live_", "bl_test_"})


def chat_ref(chat_id: str) -> str:
    """A short stable stand-in for a chat id in errors and logs: ``sha256:`` and the first
    8 hex digits of the SHA-256 of the id (a customer's number or email stays private).

    To find the chat an error names, compare with ``chat_ref`` of the ids you hold.
    """
    digest = hashlib.sha256(chat_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:8]}"


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
        for name in (*HTTP_LOGGERS, PACKAGE_LOGGER):
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
        redacted = _hide_chat_ids(_replace(message, needles))
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatted here, as a handler would, so that the traceback it shows is redacted.
            trace = logging.Formatter().formatException(record.exc_info)
            if _replace(trace, needles) != trace:
                record.exc_text = trace
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
    """``text`` with every run of ``MIN_SECRET_RUN`` or more characters of a needle hidden."""
    for needle in needles:
        if len(needle) < MIN_SECRET_RUN:
            text = text.replace(needle, REDACTED)
            continue
        runs = {needle[i : i + MIN_SECRET_RUN] for i in range(len(needle) - MIN_SECRET_RUN + 1)}
        prefixes = (runs & PUBLIC_KEY_PREFIXES) - {needle}
        runs -= prefixes
        if not any(run in text for run in runs):
            continue
        hidden = [False] * len(text)
        for start in range(len(text) - MIN_SECRET_RUN + 1):
            if text[start : start + MIN_SECRET_RUN] in runs:
                hidden[start : start + MIN_SECRET_RUN] = [True] * MIN_SECRET_RUN
        # A prefix followed by the key's own characters is hidden with them; alone, it stays.
        for start in range(len(text) - MIN_SECRET_RUN):
            if text[start : start + MIN_SECRET_RUN] in prefixes and hidden[start + 1]:
                hidden[start : start + MIN_SECRET_RUN] = [True] * MIN_SECRET_RUN
        pieces: list[str] = []
        for start, char in enumerate(text):
            if not hidden[start]:
                pieces.append(char)
            elif start == 0 or not hidden[start - 1]:
                pieces.append(REDACTED)
        text = "".join(pieces)
    return text


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret``, and every run of 8 or more of its characters, hidden."""
    return _replace(text, _needles({secret: 1}))


# A chat id in a request URL: the path segment after /chats/, up to a slash, query or quote
# (the package's own placeholder, ``{chat_id}``, is left alone).
_CHAT_IN_URL = re.compile(r"(/chats/)(?!sha256:)([^/?#{}\s\"'<>]+)")
# The search term of GET /chats, which may be a customer's name or number.
_SEARCH_IN_URL = re.compile(r"([?&]q=)[^&#\s\"'<>]*")


def _hide_chat_ids(text: str) -> str:
    if "/chats/" not in text and "q=" not in text:
        return text
    text = _CHAT_IN_URL.sub(lambda m: m.group(1) + chat_ref(unquote(m.group(2))), text)
    return _SEARCH_IN_URL.sub(lambda m: m.group(1) + "[hidden]", text)


_FILTER = _SecretFilter()


def hide_in_logs(secret: str) -> None:
    """Redact ``secret`` from the package's, httpx's and httpcore's log records (and hide
    chat ids in the URLs they log) until :func:`show_in_logs`.

    Calls are counted per secret: two clients with one key keep it hidden until both let go.
    """
    _FILTER.add(secret)


def redact_held(text: str) -> str:
    """``text`` with every secret held now (by an open client, see :func:`hide_in_logs`)
    hidden: for errors, whose text may quote what a server sent."""
    needles = _FILTER._needles
    return _replace(text, needles) if needles else text


def show_in_logs(secret: str) -> None:
    """Undo one :func:`hide_in_logs`; the filter is removed once no secret is left."""
    _FILTER.discard(secret)
