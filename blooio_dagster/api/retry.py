"""When to retry a Blooio request, and how long to wait before the next attempt.

Connection errors, timeouts, protocol errors, bodies cut off or not decodable, 408, 429 and
5xx are transient; every other 4xx is the caller's mistake and is never retried, and so are
TLS failures no attempt mends (plain HTTP answering https, a certificate not trusted). Waits grow
exponentially with jitter, or follow the server's ``Retry-After``.
Why: docs/design.md, section "The send loop: retries, pacing, concurrency, redaction".
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime

import httpx

#: The longest wait a ``Retry-After`` header can impose on one attempt.
MAX_RETRY_AFTER_SECONDS = 60.0

#: Backoff before attempt n+1 grows as ``BACKOFF_BASE_SECONDS * 2**(n-1)``, capped here.
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0


def is_retryable_status(status_code: int) -> bool:
    """Whether an HTTP status is worth another attempt: 408, 429 and every 5xx."""
    return status_code in (408, 429) or status_code >= 500


def is_retryable_exception(exc: BaseException) -> bool:
    """Whether a failure while sending or reading a response is worth another attempt.

    ``httpx.TransportError`` covers refused and reset connections, timeouts, a server that
    closed the connection mid-response and malformed heads (protocol errors);
    ``httpx.DecodingError`` a body that does not decode as its ``Content-Encoding`` says
    (a proxy or server fault that the next attempt may not repeat). A TLS failure that
    :func:`tls_failure` names fails at once, as does every other error (``httpx.InvalidURL``,
    a stream used wrongly).
    """
    return isinstance(exc, httpx.TransportError | httpx.DecodingError) and not tls_failure(exc)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, innermost last."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def tls_failure(exc: BaseException) -> str | None:
    """``"plain_http"`` when an https request reached a server that answers plain HTTP,
    ``"certificate"`` when the server's certificate is not trusted here; ``None`` otherwise.
    Neither changes from one attempt to the next."""
    for cause in causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "certificate"
        if (
            isinstance(cause, ssl.SSLError)
            and getattr(cause, "reason", None) == "WRONG_VERSION_NUMBER"
        ):
            return "plain_http"
    return None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """How long the server asked us to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP date. Returns ``None`` when neither header
    is present or parseable, and never more than :data:`MAX_RETRY_AFTER_SECONDS`.
    """
    wait: float | None = None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            wait = float(raw_ms) / 1000.0
        except ValueError:
            wait = None
    raw = headers.get("retry-after")
    if wait is None and raw is not None:
        try:
            wait = float(raw)
        except ValueError:
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None:
                wait = when.timestamp() - (time.time() if now is None else now)
    if wait is None or wait != wait:  # NaN
        return None
    return min(max(wait, 0.0), MAX_RETRY_AFTER_SECONDS)


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter before retry number ``attempt`` (1-based).

    The jitter (50 to 100% of the exponential step) spreads out concurrent workers that
    failed together, so they do not retry in one burst.
    """
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(attempt - 1, 0))
    jitter = rng.random() if rng is not None else random.random()
    return step * (0.5 + 0.5 * jitter)
