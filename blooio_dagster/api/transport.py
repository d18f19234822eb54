"""The send loop: every request to Blooio, sent to completion by one :class:`Transport`.

:class:`Transport` owns the httpx client (its headers, proxy and deadline-bound connections)
and sends one GET at a time to completion: it paces every attempt
(:mod:`~blooio_dagster.api.pacing`, which adapts concurrency), retries what is transient
(:mod:`~blooio_dagster.api.retry`), bounds each attempt by its deadline and body cap
(:mod:`~blooio_dagster.api.http`), and turns every failure into one of the errors in
:mod:`~blooio_dagster.api.errors`, redacted. It returns the decoded body and the server's clock.
Why: docs/design.md, section "The send loop: retries, pacing, concurrency, redaction".
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from blooio_dagster._version import __version__
from blooio_dagster.api.errors import (
    BlooioAuthError,
    BlooioConnectionError,
    BlooioError,
    BlooioRateLimitError,
    BlooioRequestError,
    BlooioResponseError,
    BlooioServerError,
)
from blooio_dagster.api.http import (
    MAX_BODY_BYTES,
    BodyTooLarge,
    DeadlineTransport,
    attempt_deadline,
    body_cap,
    describe_unexpected_status,
    environment_proxy,
    read_body,
)
from blooio_dagster.api.pacing import RequestPacer
from blooio_dagster.api.redaction import REDACTED, hide_in_logs, redact, show_in_logs
from blooio_dagster.api.retry import (
    backoff_seconds,
    causes,
    is_retryable_exception,
    is_retryable_status,
    retry_after_seconds,
    tls_failure,
)
from blooio_dagster.api.settings import DEFAULT_BASE_URL
from blooio_dagster.api.wording import counted, every_attempt

logger = logging.getLogger("blooio_dagster")

USER_AGENT = f"blooio-dagster/{__version__}"


class RetryCounter:
    """Counts the retries of the requests it is passed to (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


class Transport:
    """The httpx client of one :class:`~blooio_dagster.client.BlooioClient`, and its send loop.

    Args:
        api_key: sent as a bearer token; hidden from the logs of this package, httpx and
            httpcore until :meth:`close` (or garbage collection).
        base_url: the API root, already checked.
        loopback: whether ``base_url``'s host is a loopback address.
        timeout: seconds per attempt, head and body.
        max_retries: retries after the first attempt.
        max_concurrency: the most requests in flight at once.
        requests_per_second: a hard cap on request rate; ``None`` learns it from 429s.
        transport: an httpx transport to use instead of the network (for tests).
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        loopback: bool,
        timeout: float,
        max_retries: int,
        max_concurrency: int,
        requests_per_second: float | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self._api_key = api_key
        self.base_url = base_url
        self._loopback = loopback
        self.timeout = timeout
        self.max_retries = max_retries
        #: Paces every attempt; its ``concurrency_limit`` is the adaptive limit now.
        self.pacer = RequestPacer(max_concurrency, requests_per_second)
        # Kept out of httpx's and httpcore's logs until close() (or garbage collection).
        hide_in_logs(self._api_key)
        self._show_key_in_logs = weakref.finalize(self, show_in_logs, self._api_key)
        limits = httpx.Limits(
            max_connections=max_concurrency, max_keepalive_connections=max_concurrency
        )
        if transport is None:
            # Given explicitly, so that httpx adds no proxies of its own from the
            # environment: plain http (loopback only) never goes through one, https keeps
            # the one HTTPS_PROXY/ALL_PROXY set (unless NO_PROXY names the host).
            transport = DeadlineTransport(limits=limits, proxy=environment_proxy(base_url))
        self._http = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=self.timeout,
            limits=limits,
            transport=transport,
            trust_env=False,
        )

    def close(self) -> None:
        """Close the connection pool; no request is sent afterwards."""
        try:
            self._http.close()
        finally:
            self._show_key_in_logs()

    def get(
        self,
        path: str,
        params: dict[str, str | int],
        *,
        retries: RetryCounter | None,
        offset: int | None = None,
        decode: Callable[[bytes], Any] = json.loads,
    ) -> tuple[Any, int | None]:
        """GET ``path``, with pacing and retries: its decoded JSON and the server's clock
        when it answered (epoch ms, to the second, from its ``Date`` header; ``None``
        without one).

        Raises BlooioError, and only that, never chained to another exception (whose text
        might quote the key or a malformed response): every message is redacted.

        Only HTTP 200 is success. Each attempt, response head and body, must arrive within
        ``timeout`` seconds, and the body under :func:`~blooio_dagster.api.http.body_cap` of the
        ``limit`` asked for. ``decode`` turns the body into the value returned; a
        ``ValueError`` from it (a body cut off) is retried like a failed request, a body
        nested too deep to decode is refused. ``retries`` counts the retries; ``offset``
        names the page in errors and logs.
        """
        attempts = self.max_retries + 1
        shown = _without_chat_id(path)
        where = f"{shown} (offset {offset})" if offset is not None else shown
        cap = body_cap(params.get("limit"))
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            started = time.monotonic()
            with self.pacer.slot() as sent_at:
                fetched = self._attempt(path, params, cap)
                if isinstance(fetched, _Failure) and not fetched.too_large:
                    self.pacer.record_failure(sent_at)
            if isinstance(fetched, _Failure):
                if fetched.too_large:
                    raise BlooioResponseError(fetched.description, path, offset)
                # On loopback, a refused connection is a stopped server or a wrong port, which
                # waiting does not mend: give up after a second try, not after every backoff.
                refused_here = self._loopback and fetched.refused and attempt >= 2
                if not fetched.retryable or last or refused_here:
                    raise fetched.error(attempt, self.base_url, path, offset)
                failure, wait = fetched.description, backoff_seconds(attempt)
            else:
                response, body = fetched
                logger.debug(
                    "GET %s -> %s in %.3fs", where, response.status_code, time.monotonic() - started
                )
                status = response.status_code
                if status == 429:
                    hinted = retry_after_seconds(response.headers)
                    self.pacer.record_rate_limited(sent_at, hinted)
                    if last:
                        raise BlooioRateLimitError(attempts, path)
                    failure, wait = (
                        "HTTP 429",
                        hinted if hinted is not None else backoff_seconds(attempt),
                    )
                elif is_retryable_status(status):
                    self.pacer.record_failure(sent_at)
                    if last:
                        raise BlooioServerError(status, attempts, self._api_message(body)[0], path)
                    hinted = retry_after_seconds(response.headers)
                    failure = f"HTTP {status}"
                    wait = hinted if hinted is not None else backoff_seconds(attempt)
                elif status >= 400:
                    message, code = self._api_message(body)
                    if status in (401, 403):
                        raise BlooioAuthError(status, message)
                    raise BlooioRequestError(status, message, code, path, base_url=self.base_url)
                elif status != 200:
                    # Redirects and other 2xx: never followed, never taken for an empty page.
                    problem = self._redact(describe_unexpected_status(response))
                    raise BlooioResponseError(problem, path, offset)
                else:
                    self.pacer.record_success(sent_at)
                    decoded = _decoded(decode, body)
                    if not isinstance(decoded, _Undecodable):
                        return decoded, _server_time(response.headers)
                    if decoded.too_deep:
                        raise BlooioResponseError(
                            f"the body nests JSON deeper than can be decoded ({len(body):,} "
                            "bytes); no Blooio page does",
                            path,
                            offset,
                        )
                    if last:
                        raise BlooioResponseError(
                            f"the body is not valid JSON ({len(body)} bytes; "
                            f"cut off?) on {every_attempt(attempts)}",
                            path,
                            offset,
                        )
                    failure, wait = "a body that is not valid JSON", backoff_seconds(attempt)
            _wait_to_retry(failure, where, wait, attempt, attempts, retries)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def get_matching(
        self,
        path: str,
        params: dict[str, str | int],
        *,
        retries: RetryCounter | None,
        mismatch: Callable[[Any], tuple[str, bool] | None],
        give_up: Callable[[str, int], BlooioError],
    ) -> Any:
        """GET ``path`` as :meth:`get` does, again while the answer is another request's.

        ``mismatch`` says how an answer is not the one asked for (a cache or proxy may serve
        another request's) and whether that is fatal, or ``None``. Such an answer is read
        again like a 5xx; on the last attempt, a fatal mismatch raises what ``give_up``
        makes of it and the number of attempts, and one that is not is returned.
        """
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            payload, _ = self.get(path, params, retries=retries)
            found = mismatch(payload)
            if found is None:
                return payload
            problem, fatal = found
            if attempt == attempts:
                if not fatal:
                    return payload  # the caller's checks name what is wrong with it
                raise give_up(problem, attempts)
            wait = backoff_seconds(attempt)
            _wait_to_retry(problem, _without_chat_id(path), wait, attempt, attempts, retries)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(
        self, path: str, params: dict[str, str | int], cap: int
    ) -> tuple[httpx.Response, bytes] | _Failure:
        """One attempt, its failure returned rather than raised, so that the error made of
        it is raised outside this ``except`` and carries no exception whose text quotes
        the key."""
        try:
            return self._fetch(path, params, cap)
        except BodyTooLarge as exc:
            return _Failure(str(exc), retryable=False, too_large=True)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            return _Failure(
                self._redact(_describe(exc)),
                retryable=is_retryable_exception(exc),
                decoding=isinstance(exc, httpx.DecodingError),
                refused=_refused(exc),
                hint=self._connection_hint(exc),
            )

    def _connection_hint(self, exc: Exception) -> str | None:
        """What to check for a connection that failed this way, or ``None`` for the default."""
        if isinstance(exc, httpx.TimeoutException):
            return (
                f"No answer came within timeout={self.timeout:g}s: check the network, or raise "
                "timeout if the API is slow."
            )
        tls = tls_failure(exc)
        if tls == "plain_http":
            return (
                "The server there answers plain HTTP, not https: for a server on this machine, "
                "such as the bundled one, start base_url (BLOOIO_BASE_URL) with http://."
            )
        if tls == "certificate":
            return (
                "The server's TLS certificate is not trusted here: check the host in base_url "
                "(BLOOIO_BASE_URL); behind a proxy that inspects TLS, point SSL_CERT_FILE at "
                "its certificate authority."
            )
        if _unresolved(exc):
            hint = (
                "The host name in base_url could not be resolved: check its spelling "
                "(BLOOIO_BASE_URL) and this machine's DNS."
            )
            if self.base_url.rstrip("/") == DEFAULT_BASE_URL:
                hint += (
                    " base_url is Blooio's own API, the default when BLOOIO_BASE_URL is unset: "
                    "to use the bundled test server, export the BLOOIO_BASE_URL it prints."
                )
            return hint
        if not _refused(exc):
            return None
        if self._loopback:
            return (
                "Nothing is listening there: start the server (the bundled one, python -m "
                "blooio_dagster.testing, prints the BLOOIO_BASE_URL to export), or fix the "
                "port in base_url (BLOOIO_BASE_URL)."
            )
        return (
            "The host refused the connection: check the host and port in base_url "
            "(BLOOIO_BASE_URL), and any firewall in between."
        )

    def _fetch(
        self, path: str, params: dict[str, str | int], cap: int = MAX_BODY_BYTES
    ) -> tuple[httpx.Response, bytes]:
        """One attempt: the response and its whole body, head and body within ``timeout``
        seconds (see :class:`~blooio_dagster.api.http.DeadlineTransport`)."""
        deadline = time.monotonic() + self.timeout
        try:
            with attempt_deadline(deadline, self.timeout):
                with self._http.stream("GET", path, params=params) as response:
                    body = read_body(response, deadline=deadline, timeout=self.timeout, cap=cap)
                    return response, body
        except RuntimeError:
            if self._http.is_closed:
                raise _closed_error() from None
            raise

    def _api_message(self, body: bytes) -> tuple[str | None, str | None]:
        """The API's ``message`` and ``code`` from an error body, or a short text excerpt."""
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = _NOT_JSON
        if payload is _NOT_JSON:
            # Redacted before it is cut, so that no part of a key echoed near the cut is left.
            excerpt = body[: _EXCERPT_CHARS * 4 + 4 * len(self._api_key)]
            text = self._redact(excerpt.decode("utf-8", errors="replace").strip())
            end = _EXCERPT_CHARS
            marker = text.find(REDACTED, max(0, end - len(REDACTED) + 1))
            if 0 <= marker < end:  # cut after the marker, not inside it
                end = marker + len(REDACTED)
            return (text[:end].strip() or None), None
        if not isinstance(payload, dict):
            return None, None
        message, code = payload.get("message"), payload.get("code")
        return (
            self._redact(str(message)) if message is not None else None,
            self._redact(str(code)) if code is not None else None,
        )

    def _redact(self, text: str) -> str:
        # A misbehaving proxy may echo request headers into a body or an error we quote.
        return redact(text, self._api_key)


#: How much of an error body that is not JSON an error quotes.
_EXCERPT_CHARS = 200
_NOT_JSON = object()


@dataclass(frozen=True)
class _Failure:
    """An attempt that failed before a status could be read, described (redacted)."""

    description: str
    retryable: bool
    too_large: bool = False
    decoding: bool = False
    #: The host refused the connection: nothing listens at the address.
    refused: bool = False
    #: What to check, for a connection that failed (see ``Transport._connection_hint``).
    hint: str | None = None

    def error(self, attempts: int, base_url: str, path: str, offset: int | None) -> BlooioError:
        if self.decoding:
            return BlooioResponseError(
                f"the body does not decode as its headers declare ({self.description}) on "
                f"{counted(attempts, 'attempt')}",
                path,
                offset,
            )
        return BlooioConnectionError(attempts, base_url, self.description, self.hint)


def _unresolved(exc: BaseException) -> bool:
    """Whether a connection failed because the host name could not be resolved."""
    return any(
        isinstance(cause, socket.gaierror)
        or "Name or service not known" in str(cause)
        or "nodename nor servname" in str(cause)
        for cause in causes(exc)
    )


def _refused(exc: BaseException) -> bool:
    """Whether a connection failed because the host refused it (nothing listening)."""
    return any(
        isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(cause)
        for cause in causes(exc)
    )


@dataclass(frozen=True)
class _Undecodable:
    too_deep: bool


def _decoded(decode: Callable[[bytes], Any], body: bytes) -> Any:
    """``decode(body)``, or why it could not be decoded (returned, not raised: an error
    raised in an ``except`` would carry the decoder's exception along)."""
    try:
        return decode(body)
    except ValueError:
        return _Undecodable(too_deep=False)
    except RecursionError:
        return _Undecodable(too_deep=True)


def _describe(exc: Exception) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _closed_error() -> BlooioError:
    return BlooioError(
        "This BlooioClient is closed (its with block ended, or close() was called) and sends "
        "no more requests. Create a new client, for example in a new "
        "`with BlooioClient(...) as client:` block or from BlooioResource.get_client()."
    )


def _wait_to_retry(
    failure: str, where: str, wait: float, attempt: int, attempts: int, retries: RetryCounter | None
) -> None:
    """Count and log a retry of GET ``where`` after ``failure``, and wait ``wait`` seconds."""
    if retries is not None:
        retries.add()
    logger.warning(
        "Blooio: %s for GET %s; retrying in %.2fs (attempt %d of %d).",
        failure,
        where,
        wait,
        attempt + 1,
        attempts,
    )
    time.sleep(wait)


def _without_chat_id(path: str) -> str:
    """``path`` with a chat id (a customer's number or email) replaced, for logs."""
    head, sep, rest = path.partition("/chats/")
    if not sep or not rest:
        return path
    _, slash, tail = rest.partition("/")
    return f"{head}/chats/{{chat_id}}{slash}{tail}"


def _server_time(headers: httpx.Headers) -> int | None:
    """The server's clock from the ``Date`` header (epoch ms, to the second), if it sent one."""
    raw = headers.get("date")
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return None if moment.tzinfo is None else int(moment.timestamp() * 1000)
