"""``BlooioClient``: an authenticated httpx client for Blooio's V2 API, with complete paging.

All HTTP goes through :meth:`BlooioClient._get`, which paces, retries and turns every failure
into one of the errors in :mod:`blooio_dagster.api.errors`. Paging logic lives in
:mod:`blooio_dagster.crawl.chats`; this module only fetches and validates pages for it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import statistics
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import repeat
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote, unquote, urlsplit

import httpx

from blooio_dagster._version import __version__
from blooio_dagster.api.errors import (
    BlooioAuthError,
    BlooioConfigError,
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
    checked_pagination,
    describe_unexpected_status,
    environment_proxy,
    read_body,
)
from blooio_dagster.api.pacing import RequestPacer
from blooio_dagster.api.records import ChatList, Pagination, RecordPage, decode_chats_page
from blooio_dagster.api.redaction import REDACTED, chat_ref, hide_in_logs, redact, show_in_logs
from blooio_dagster.api.retry import (
    backoff_seconds,
    is_retryable_exception,
    is_retryable_status,
    retry_after_seconds,
)
from blooio_dagster.api.wire.messages import (
    MESSAGES_PATH,
    Direction,
    MessagesPage,
    check_chat_id,
    check_chat_ids,
    check_direction,
    check_window,
    hide_chat_id,
    misanswered,
    parse_messages_page,
)
from blooio_dagster.api.wording import counted, every_attempt
from blooio_dagster.crawl.chats import ChatCrawler
from blooio_dagster.crawl.fanout import MessagesProgress, MessagesResult, fetch_chats, log_left_out
from blooio_dagster.crawl.messages import FetchMessages, MessagesWindow, read_chat
from blooio_dagster.crawl.pages import PageAnswer
from blooio_dagster.crawl.reading import CrawlProgress

logger = logging.getLogger("blooio_dagster")

DEFAULT_BASE_URL = "https://backend.blooio.com/v2/api"
#: The default cap on requests in flight; the adaptive limit stays below it.
DEFAULT_MAX_CONCURRENCY = 32
MAX_PAGE_SIZE = 200
SORTS = ("recent", "oldest")
Sort = Literal["recent", "oldest"]

USER_AGENT = f"blooio-dagster/{__version__}"


@dataclass(frozen=True)
class ChatCrawlResult:
    """Every chat a crawl found, what it verified, and what it cost (for metadata and logs).

    Attributes:
        chats: every chat, newest first (or oldest first for ``sort="oldest"``), read as
            dicts; held as compact records, so
            :func:`~blooio_dagster.tables.frames.chats_to_frame` converts them without dicts.
        verified: whether every chat is accounted for (always true unless ``max_missing``
            let a shortfall through).
        expected_total: chats the API says exist (in the ``active_since`` window); ``None``
            when it sends no ``pagination.total``.
        unique_chats: distinct chats read; ``len(chats)``.
        missing: chats unaccounted for (0 when verified); ``None`` when not countable.
        deleted: chats the crawl read, then saw gone from the list, and left out.
        repaired_regions: parts of the list that did not add up and were read again.
        pages: requests answered with a page, re-reads included.
        refetched_pages: re-reads: windows read again to join pages, ties or the end.
        passes: passes over the list, each reading what changed during the one before.
        retries: requests retried after a failure (5xx, 429, timeouts, cut-off bodies).
        elapsed_seconds: how long the crawl took.
        server_time: the API's clock during the crawl: the median of its answers' ``Date``
            headers, so one node whose clock is off cannot move it far; ``None`` if it sends
            none. What "now" means for the chats read.
        server_clocks: every ``Date`` header the crawl's answers carried, in order of arrival.
    """

    chats: ChatList
    verified: bool
    expected_total: int | None
    unique_chats: int
    missing: int | None
    deleted: int
    repaired_regions: int
    pages: int
    refetched_pages: int
    passes: int
    retries: int
    elapsed_seconds: float
    server_time: datetime | None = None
    server_clocks: tuple[datetime, ...] = ()


class _RetryCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


def to_epoch_ms(moment: datetime | int, name: str = "active_since") -> int:
    """An aware datetime or epoch milliseconds as epoch milliseconds."""
    if isinstance(moment, bool) or not isinstance(moment, datetime | int):
        raise BlooioConfigError(
            f"{name} must be a timezone-aware datetime or epoch milliseconds (int), "
            f"got {type(moment).__name__}."
        )
    if isinstance(moment, int):
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BlooioConfigError(
            f"{name} must be timezone-aware (for example datetime(2026, 1, 1, tzinfo=UTC)); "
            "a naive datetime is ambiguous."
        )
    return int(moment.timestamp() * 1000)


def validate_settings(
    *,
    base_url: str,
    timeout: float,
    max_retries: int,
    page_size: int,
    max_concurrency: int,
    requests_per_second: float | None,
) -> None:
    """Refuse settings no request could succeed with; each message names the setting."""

    def whole(name: str, value: object, low: int, high: int | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BlooioConfigError(f"{name} must be a whole number, got {value!r}.")
        if value < low or (high is not None and value > high):
            allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise BlooioConfigError(f"{name} must be {allowed}, got {value}.")

    whole("page_size", page_size, 1, MAX_PAGE_SIZE)
    whole("max_retries", max_retries, 0)
    whole("max_concurrency", max_concurrency, 1)
    check_timeout(timeout)
    check_requests_per_second(requests_per_second)
    check_base_url(base_url)


def check_timeout(timeout: float) -> None:
    """Refuse a timeout that is not a finite number of seconds above 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise BlooioConfigError(f"timeout must be a number of seconds above 0, got {timeout!r}.")
    if not math.isfinite(timeout):
        raise BlooioConfigError(
            f"timeout must be a finite number of seconds, got {timeout!r}. Use a number such "
            "as timeout=30: without a limit a stalled connection would hang the run forever."
        )
    if timeout <= 0:
        raise BlooioConfigError(f"timeout must be a number of seconds above 0, got {timeout!r}.")


def check_requests_per_second(requests_per_second: float | None) -> None:
    """Refuse a rate cap that is not a finite number above 0 (``None`` means no cap)."""
    if requests_per_second is None:
        return
    rate = requests_per_second
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        raise BlooioConfigError(
            f"requests_per_second must be above 0, or None for no cap; got {rate!r}."
        )
    if not math.isfinite(rate):
        raise BlooioConfigError(
            f"requests_per_second must be a finite number, got {rate!r}. For no cap, leave "
            "it unset (None): the client then learns Blooio's limit from its 429 answers."
        )


def check_base_url(base_url: str) -> None:
    """Refuse a base URL no request should go to, naming what is wrong.

    It must be an http(s) URL with a host, without user name or password, query string,
    fragment or whitespace (also percent-encoded), and plain http only to a loopback host.
    Messages show at most the URL's scheme, host, port and path (see :func:`shown_url`),
    never a user name, password, query or fragment, which may be secrets; a value that is
    not an http(s) URL at all (an API key put in BLOOIO_BASE_URL by mistake) is not shown.
    """
    example = f"such as {DEFAULT_BASE_URL}"
    try:
        parts = urlsplit(base_url) if isinstance(base_url, str) else None
        hostname = parts.hostname if parts is not None else None
    except ValueError:  # for example an unclosed IPv6 bracket
        parts, hostname = None, None
    if parts is not None and "@" in parts.netloc:
        raise BlooioConfigError(
            "base_url must not contain a user name or password (user:password@host); Blooio "
            f"authenticates with the API key alone. Remove them from base_url, {example}."
        )
    if parts is None or parts.scheme not in ("http", "https") or not hostname:
        got = "a value that is not one (not shown, as it may be a secret)"
        if not isinstance(base_url, str):
            got = f"a {type(base_url).__name__}"
        raise BlooioConfigError(f"base_url must be an http(s) URL {example}, got {got}.")
    shown = shown_url(base_url)
    for mark, part in (("?", "a query string"), ("#", "a fragment")):
        if mark in base_url:
            raise BlooioConfigError(
                f"base_url must not have {part} ('{mark}...'); got one after {shown!r} (not "
                "shown). The client adds its own query parameters; give only the API root, "
                f"{example}."
            )
    if any(ch.isspace() for ch in unquote(base_url)):
        raise BlooioConfigError(
            f"base_url must not contain spaces or other whitespace (also not encoded as %20), "
            f"got {shown!r}. Remove them; often a stray space or newline was copied with it."
        )
    if parts.scheme == "http" and not _is_loopback(hostname):
        raise BlooioConfigError(
            f"base_url {shown!r} uses plain http to {hostname}, which would send the "
            "API key in clear text. Use https, or http only to a loopback address (127.0.0.1, "
            "localhost, ::1) such as the bundled test server."
        )


def shown_url(url: str) -> str:
    """``url`` as errors may show it: scheme, host, port and path only (no user name,
    password, query or fragment); empty when it cannot be parsed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if not parts.scheme or not parts.hostname:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}{parts.path}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_api_key(api_key: object) -> str:
    if not isinstance(api_key, str) or not api_key:
        raise BlooioConfigError(
            "api_key is empty. Set BLOOIO_API_KEY to your organization's key (bl_live_... or "
            "bl_test_...)."
        )
    if api_key != api_key.strip() or any(ch.isspace() for ch in api_key):
        raise BlooioConfigError(
            "api_key contains whitespace (often a trailing newline from a file or a shell). "
            "Remove it from BLOOIO_API_KEY."
        )
    if not api_key.isascii() or not api_key.isprintable():
        raise BlooioConfigError("api_key contains characters an HTTP header cannot carry.")
    return api_key


class BlooioClient:
    """A client for Blooio's V2 API that reads complete chat lists quickly and politely.

    Usage::

        with BlooioClient(os.environ["BLOOIO_API_KEY"]) as client:
            chats = client.list_chats()

    Args:
        api_key: the organization's API key, sent as a bearer token and shown nowhere.
        base_url: the API root; ``http://`` only to loopback addresses.
        timeout: seconds per attempt, a finite number: for each connect, read and write, and
            for the whole response, head and body (a page over 256 KiB plus 16 KiB per row
            asked for is refused unread, see :func:`~blooio_dagster.api.http.body_cap`).
        max_retries: retries after the first attempt, for connection errors, timeouts,
            protocol errors, 408, 429, 5xx and bodies cut off or not decodable.
        page_size: chats per request, 1 to 200.
        max_concurrency: the most requests in flight at once. A cap: the client starts with
            a few and adds more while the API answers as fast and refuses nothing, and backs
            off on 429s, 5xx, timeouts and rising latency (see
            :mod:`blooio_dagster.api.concurrency`).
        requests_per_second: a hard cap on request rate; ``None`` learns the limit from 429s.
        transport: an httpx transport to use instead of the network (for tests). Without
            one, plain http (loopback only) never goes through a proxy from the environment;
            https uses the one ``HTTPS_PROXY``/``ALL_PROXY`` sets unless ``NO_PROXY`` names the
            host.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_retries: int = 5,
        page_size: int = MAX_PAGE_SIZE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        requests_per_second: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url.rstrip("/") if isinstance(base_url, str) else base_url
        validate_settings(
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            page_size=page_size,
            max_concurrency=max_concurrency,
            requests_per_second=requests_per_second,
        )
        self._api_key = _validate_api_key(api_key)
        self.base_url = base_url
        self._loopback = _is_loopback(httpx.URL(base_url).host)
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.page_size = page_size
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self._pacer = RequestPacer(max_concurrency, requests_per_second)
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

    def __repr__(self) -> str:
        return (
            f"BlooioClient(base_url={self.base_url!r}, page_size={self.page_size}, "
            f"max_concurrency={self.max_concurrency}, "
            f"requests_per_second={self.requests_per_second!r}, max_retries={self.max_retries})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool. The client cannot be used afterwards."""
        try:
            self._http.close()
        finally:
            self._show_key_in_logs()

    # -- endpoints -------------------------------------------------------------------------

    def get_chats_page(
        self, *, limit: int, offset: int, q: str | None = None, sort: Sort = "recent"
    ) -> dict[str, Any]:
        """One raw ``GET /chats`` page: ``{"chats": [...], "pagination": {...}}``.

        The shape is checked (see :class:`BlooioResponseError`); unknown fields are kept.
        """
        return self._chats_page(limit=limit, offset=offset, q=q, sort=sort, retries=None)[0]

    def sample_api_clock(self, answers: int) -> tuple[datetime, ...]:
        """The API's clock as the ``Date`` headers of ``answers`` one-row ``GET /chats``
        answers tell it (those without a ``Date`` header are left out).

        One answer is one API node's clock, to the second: a run whose crawl was answered a
        few times samples more, so that one node whose clock is off cannot decide alone.
        """
        clocks = []
        for _ in range(answers):
            _, server_time = self._chats_page(
                limit=1, offset=0, q=None, sort="recent", retries=None
            )
            if server_time is not None:
                clocks.append(datetime.fromtimestamp(server_time / 1000, UTC))
        return tuple(clocks)

    def get_chat(self, chat_id: str) -> dict[str, Any]:
        """One chat (``GET /chats/{chat_id}``), including ``first_message_time``."""
        if not isinstance(chat_id, str) or not chat_id:
            raise BlooioConfigError(f"chat_id must be a non-empty string, got {chat_id!r}.")
        path = f"/chats/{quote(chat_id, safe='')}"
        payload = self._get(path, {}, retries=None)
        if not isinstance(payload, dict):
            raise BlooioResponseError("expected a JSON object", path)
        return payload

    def crawl_chats(
        self,
        *,
        q: str | None = None,
        sort: Sort = "recent",
        active_since: datetime | int | None = None,
        max_missing: int = 0,
        on_progress: Callable[[CrawlProgress], None] | None = None,
    ) -> ChatCrawlResult:
        """Like :meth:`list_chats`, returning also what the crawl verified and cost.

        ``on_progress`` is called after every page (from worker threads) with a
        :class:`~blooio_dagster.crawl.reading.CrawlProgress`.
        """
        _check_sort(sort)
        if q is not None and not isinstance(q, str):
            raise BlooioConfigError(f"q must be a string or None, got {q!r}.")
        if isinstance(max_missing, bool) or not isinstance(max_missing, int) or max_missing < 0:
            raise BlooioConfigError(
                f"max_missing must be a whole number >= 0 (0: every chat or an error), "
                f"got {max_missing!r}."
            )
        since_ms = None if active_since is None else to_epoch_ms(active_since)
        retries = _RetryCounter()
        clocks: list[int] = []

        def fetch(offset: int, limit: int) -> PageAnswer:
            # Always newest first: only that order lets the crawl catch chats that move.
            answer = self._crawl_page(limit=limit, offset=offset, q=q, retries=retries)
            if answer.server_time is not None:
                clocks.append(answer.server_time)
            return answer

        crawler = ChatCrawler(
            fetch,
            page_size=self.page_size,
            max_concurrency=self.max_concurrency,
            max_missing=max_missing,
            on_progress=on_progress,
            concurrency=lambda: self._pacer.concurrency_limit,
        )
        chats = crawler.crawl(active_since=since_ms)
        verdict, stats = crawler.verdict, crawler.stats
        if not verdict.verified:
            logger.warning(
                "Blooio: %s chats unaccounted for (max_missing=%d lets the crawl return): %s",
                verdict.missing,
                max_missing,
                "; ".join(verdict.regions),
            )
        if sort == "oldest":
            chats.reverse()
        return ChatCrawlResult(
            chats=ChatList(chats),
            verified=verdict.verified,
            expected_total=verdict.expected,
            unique_chats=len(chats),
            missing=verdict.missing,
            deleted=verdict.deleted,
            repaired_regions=stats.repaired_regions,
            pages=stats.pages,
            refetched_pages=stats.refetched_pages,
            passes=stats.passes,
            retries=retries.count,
            elapsed_seconds=stats.elapsed_seconds,
            server_time=(
                datetime.fromtimestamp(statistics.median_high(clocks) / 1000, UTC)
                if clocks
                else None
            ),
            server_clocks=tuple(datetime.fromtimestamp(ms / 1000, UTC) for ms in clocks),
        )

    def list_chats(
        self,
        *,
        q: str | None = None,
        sort: Sort = "recent",
        active_since: datetime | int | None = None,
        max_missing: int = 0,
    ) -> list[dict[str, Any]]:
        """Every chat of the organization exactly once, in its newest state, as Blooio sent it.

        Complete even while the list changes during paging (chats moving to the front, new
        chats, deletions, short or empty pages, a drifting ``pagination.total``): the crawl
        counts what it read against the API's total and raises
        :class:`~blooio_dagster.api.errors.BlooioIncompleteError` rather than return a short
        list. See :mod:`blooio_dagster.crawl.chats` for how.

        Args:
            q: only chats whose phone/email or contact name matches.
            sort: ``"recent"`` (newest first) or ``"oldest"``; orders the result.
            active_since: only chats with ``last_message_time`` at or after this moment (an
                aware datetime or epoch ms); paging stops once the crawl is past it.
            max_missing: how many chats may stay unaccounted for before the crawl raises;
                a shortfall within it is logged as a warning. 0 (the default): every chat,
                or an error.
        """
        result = self.crawl_chats(
            q=q, sort=sort, active_since=active_since, max_missing=max_missing
        )
        return list(result.chats)

    # -- messages --------------------------------------------------------------------------

    def get_messages_page(
        self,
        chat_id: str,
        *,
        limit: int = 50,
        offset: int = 0,
        sort: Literal["asc", "desc"] = "desc",
        direction: Direction | None = None,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
    ) -> dict[str, Any]:
        """One raw ``GET /chats/{chat_id}/messages`` page: ``{"chat_id", "messages", "pagination"}``.

        The bounds go to the API as given (its inclusivity applies). The shape is checked
        (see :class:`BlooioResponseError`); unknown fields are kept.
        """
        check_chat_id(chat_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise BlooioConfigError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit!r}.")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise BlooioConfigError(f"offset must be a whole number >= 0, got {offset!r}.")
        if sort not in ("asc", "desc"):
            raise BlooioConfigError(f"sort must be 'asc' or 'desc', got {sort!r}.")
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "sort": sort}
        checked = check_direction(direction)
        if checked is not None:
            params["direction"] = checked
        for name, bound in (("since", since), ("until", until)):
            if bound is not None:
                params[name] = to_epoch_ms(bound, name)
        payload: dict[str, Any] = self._checked_messages_answer(chat_id, params, None)
        parse_messages_page(payload)  # raises unless it is a documented page
        return payload

    def list_messages(
        self,
        chat_id: str,
        *,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        direction: Direction | None = None,
    ) -> list[dict[str, Any]]:
        """Every message of a chat sent in ``[since, until)`` exactly once, oldest first.

        Ordered by (``time_sent``, ``message_id``), as Blooio sent them. Complete while
        messages arrive or are unsent during the read (see :mod:`blooio_dagster.crawl.messages`):
        every message that exists throughout the read is returned once, or
        :class:`~blooio_dagster.api.errors.BlooioIncompleteError` is raised. A chat that does not
        exist raises :class:`~blooio_dagster.api.errors.BlooioRequestError` (404). Errors never
        name the chat; their ``chat_id`` attribute does.

        Args:
            chat_id: a phone number (E.164), an email, or a group id (``grp_...``).
            since: the window's start, inclusive (an aware datetime or epoch ms); ``None``:
                from the first message.
            until: the window's end, exclusive; ``None``: up to the read's first request.
            direction: only ``"inbound"`` or only ``"outbound"`` messages; ``None``: both.
        """
        check_chat_id(chat_id)
        direction = check_direction(direction)
        since_ms, until_ms = self._message_window(since, until)
        read = read_chat(
            self._messages_fetcher(_RetryCounter()),
            chat_id,
            since=since_ms,
            until=until_ms,
            direction=direction,
            page_size=self.page_size,
        )
        log_left_out(0, read.unsent_skipped)
        return read.messages

    def fetch_messages(
        self,
        chat_ids: Iterable[str],
        *,
        since: datetime | int | None,
        until: datetime | int | None = None,
        preceding: bool = False,
        max_concurrency: int | None = None,
        on_progress: Callable[[MessagesProgress], None] | None = None,
    ) -> MessagesResult:
        """The messages of many chats in ``[since, until)``, read concurrently.

        Each chat as :meth:`list_messages` reads it; the chats share this client's
        concurrency limit, rate limit and 429 backoff. A chat with fewer messages than a page
        (``page_size``) from ``until`` back to ``since`` costs one request. A chat answered
        404 is read again while ``GET /chats/{chat_id}`` still finds it (a replica lagging
        behind); one deleted since it was listed is reported in ``not_found`` and counted in
        ``deleted_chats``. Queued messages without a ``time_sent`` are left out and counted
        in ``unsent_skipped``. The first other error stops the fan-out and is raised.

        Args:
            chat_ids: the chats to read; repeated ids are read once.
            since: the window's start, inclusive (an aware datetime or epoch ms); ``None``:
                each chat's whole history.
            until: the window's end, exclusive; ``None``: up to each chat's first request.
            preceding: also return, per chat, the messages before ``since`` back to and
                including the newest that is not a failed outbound message (the whole
                history before ``since`` when there is none), so a caller can tell whether
                the window's first inbound message starts a new customer turn.
            max_concurrency: chats read at once; ``None``: the client's ``max_concurrency``
                (which caps requests in flight in any case).
            on_progress: called after every chat (from worker threads) with a
                :class:`~blooio_dagster.crawl.fanout.MessagesProgress`.
        """
        ids = check_chat_ids(chat_ids)
        since_ms, until_ms = self._message_window(since, until)
        if not isinstance(preceding, bool):
            raise BlooioConfigError(f"preceding must be True or False, got {preceding!r}.")
        workers = self.max_concurrency if max_concurrency is None else max_concurrency
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise BlooioConfigError(
                f"max_concurrency must be a whole number >= 1 or None, got {max_concurrency!r}."
            )
        if on_progress is not None and not callable(on_progress):
            raise BlooioConfigError(f"on_progress must be callable or None, got {on_progress!r}.")
        retries = _RetryCounter()
        return fetch_chats(
            self._messages_fetcher(retries),
            ids,
            since=since_ms,
            until=until_ms,
            preceding=preceding,
            page_size=self.page_size,
            max_concurrency=workers,
            on_progress=on_progress,
            retries=lambda: retries.count,
            exists=lambda chat_id: self._chat_exists(chat_id, retries),
        )

    def _message_window(
        self, since: datetime | int | None, until: datetime | int | None
    ) -> tuple[int | None, int | None]:
        since_ms = None if since is None else to_epoch_ms(since, "since")
        until_ms = None if until is None else to_epoch_ms(until, "until")
        check_window(since_ms, until_ms)
        return since_ms, until_ms

    def _messages_fetcher(self, retries: _RetryCounter) -> FetchMessages:
        def fetch(chat_id: str, window: MessagesWindow) -> MessagesPage:
            params = window.params()
            return parse_messages_page(self._checked_messages_answer(chat_id, params, retries))

        return fetch

    def _checked_messages_answer(
        self, chat_id: str, params: dict[str, str | int], retries: _RetryCounter | None
    ) -> Any:
        """A messages page's decoded JSON, read again while it answers another request.

        A cache or proxy may serve another chat's page, or another window's: that is
        retried like a 5xx; a page of another chat or offset still there on the last attempt
        raises :class:`BlooioResponseError` (naming the chat only by :func:`chat_ref`), never
        to be stored as this chat's (see :func:`~blooio_dagster.api.wire.messages.misanswered`).
        """
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            payload = self._messages_answer(chat_id, params, retries)
            mismatch = misanswered(payload, chat_id, params)
            if mismatch is None:
                return payload
            problem, fatal = mismatch
            if attempt == attempts:
                if not fatal:
                    return payload  # the reader names what is wrong with it
                error = BlooioResponseError(
                    f"{problem} on {every_attempt(attempts)} for chat {chat_ref(chat_id)}; a cache "
                    "or proxy between here and Blooio seems to serve other requests' answers",
                    MESSAGES_PATH,
                )
                raise hide_chat_id(error, chat_id)
            if retries is not None:
                retries.add()
            wait = backoff_seconds(attempt)
            logger.warning(
                "Blooio: %s for GET %s; retrying in %.2fs (attempt %d of %d).",
                problem,
                MESSAGES_PATH,
                wait,
                attempt + 1,
                attempts,
            )
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _chat_exists(self, chat_id: str, retries: _RetryCounter) -> bool:
        """Whether ``GET /chats/{chat_id}`` finds the chat (False on 404); errors hide the id."""
        try:
            self._get(f"/chats/{quote(chat_id, safe='')}", {}, retries=retries)
        except BlooioRequestError as exc:
            if exc.status_code == 404:
                return False
            raise hide_chat_id(exc, chat_id) from None
        except BlooioError as exc:
            raise hide_chat_id(exc, chat_id) from None
        return True

    def _messages_answer(
        self, chat_id: str, params: dict[str, str | int], retries: _RetryCounter | None
    ) -> Any:
        """A messages page's decoded JSON; errors (raised as :meth:`_get` raises them) carry
        the chat id only as an attribute, never in their text."""
        try:
            return self._get(f"/chats/{quote(chat_id, safe='')}/messages", params, retries=retries)
        except BlooioError as exc:
            raise hide_chat_id(exc, chat_id) from None

    # -- plumbing --------------------------------------------------------------------------

    def _chats_page(
        self,
        *,
        limit: int,
        offset: int,
        q: str | None,
        sort: str,
        retries: _RetryCounter | None,
    ) -> tuple[dict[str, Any], int | None]:
        """One checked ``GET /chats`` page, and the server's clock (epoch ms) when it answered."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise BlooioConfigError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit!r}.")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise BlooioConfigError(f"offset must be a whole number >= 0, got {offset!r}.")
        _check_sort(sort)
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "sort": sort}
        if q is not None:
            params["q"] = q
        payload, headers = self._get_answer("/chats", params, retries=retries, offset=offset)
        _check_chats_page(payload, offset)
        _check_row_count(len(payload["chats"]), limit, offset)
        return payload, _server_time(headers)

    def _crawl_page(
        self, *, limit: int, offset: int, q: str | None, retries: _RetryCounter
    ) -> PageAnswer:
        """One ``GET /chats?sort=recent`` page for a crawl, its chats as compact records
        when they have the documented shape (see :mod:`blooio_dagster.api.records`)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "sort": "recent"}
        if q is not None:
            params["q"] = q
        page, headers = self._get_answer(
            "/chats", params, retries=retries, offset=offset, decode=decode_chats_page
        )
        server_time = _server_time(headers)
        if not isinstance(page, RecordPage):  # kept as sent, after the usual checks
            _check_chats_page(page, offset)
            _check_row_count(len(page["chats"]), limit, offset)
            pagination = page.get("pagination") or {}
            total, reported = pagination.get("total"), pagination.get("limit")
            return PageAnswer(
                chats=page["chats"],
                total=total,
                limit=reported if type(reported) is int else None,
                server_time=server_time,
            )
        _check_row_count(len(page.chats), limit, offset)
        for index, record in enumerate(page.chats):
            if not record.id:
                raise BlooioResponseError(
                    f"chats[{index}] has no string 'id' (got '')", "/chats", offset
                )
        total = reported = None
        if isinstance(page.pagination, Pagination):
            total, reported = page.pagination.total, page.pagination.limit
        if type(total) is not int:
            total = None
        elif total < 0:
            raise BlooioResponseError(
                f"'pagination.total' must be a whole number >= 0, got {total!r}", "/chats", offset
            )
        return PageAnswer(
            chats=page.chats,
            total=total,
            limit=reported if type(reported) is int else None,
            server_time=server_time,
        )

    def _get(
        self,
        path: str,
        params: dict[str, str | int],
        *,
        retries: _RetryCounter | None,
        offset: int | None = None,
        decode: Callable[[bytes], Any] = json.loads,
    ) -> Any:
        """GET ``path`` and decode its JSON body; see :meth:`_get_answer`."""
        return self._get_answer(path, params, retries=retries, offset=offset, decode=decode)[0]

    def _get_answer(
        self,
        path: str,
        params: dict[str, str | int],
        *,
        retries: _RetryCounter | None,
        offset: int | None = None,
        decode: Callable[[bytes], Any] = json.loads,
    ) -> tuple[Any, httpx.Headers]:
        """GET ``path``, with pacing and retries: its decoded JSON and the response headers.

        Raises BlooioError, and only that, never chained to another exception (whose text
        might quote the key or a malformed response): every message is redacted.

        Only HTTP 200 is success. Each attempt, response head and body, must arrive within
        ``timeout`` seconds, and the body under :func:`~blooio_dagster.api.http.body_cap` of the
        ``limit`` asked for. ``decode`` turns the body into the value returned; a
        ``ValueError`` from it (a body cut off) is retried like a failed request, a body
        nested too deep to decode is refused.
        """
        attempts = self.max_retries + 1
        shown = _without_chat_id(path)
        where = f"{shown} (offset {offset})" if offset is not None else shown
        cap = body_cap(params.get("limit"))
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            started = time.monotonic()
            with self._pacer.slot() as sent_at:
                fetched = self._attempt(path, params, cap)
                if isinstance(fetched, _Failure) and not fetched.too_large:
                    self._pacer.record_failure(sent_at)
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
                    self._pacer.record_rate_limited(sent_at, hinted)
                    if last:
                        raise BlooioRateLimitError(attempts, path)
                    failure, wait = (
                        "HTTP 429",
                        hinted if hinted is not None else backoff_seconds(attempt),
                    )
                elif is_retryable_status(status):
                    self._pacer.record_failure(sent_at)
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
                    self._pacer.record_success(sent_at)
                    decoded = _decoded(decode, body)
                    if not isinstance(decoded, _Undecodable):
                        return decoded, response.headers
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
    #: What to check, for a connection that failed (see ``BlooioClient._connection_hint``).
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


def _refused(exc: BaseException) -> bool:
    """Whether a connection failed because the host refused it (nothing listening)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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


def _check_sort(sort: object) -> None:
    if sort not in SORTS:
        raise BlooioConfigError(f"sort must be 'recent' or 'oldest', got {sort!r}.")


def _check_chats_page(payload: Any, offset: int) -> None:
    """Raise BlooioResponseError unless ``payload`` is a documented ``GET /chats`` page.

    The common case is checked with C-level passes (``map`` and ``set``); only a page that
    fails them is walked chat by chat, to name the first bad one.
    """

    def bad(problem: str) -> BlooioResponseError:
        return BlooioResponseError(problem, "/chats", offset)

    if not isinstance(payload, dict):
        raise bad(f"expected a JSON object, got {type(payload).__name__}")
    chats = payload.get("chats")
    if not isinstance(chats, list):
        raise bad(f"'chats' must be a list, got {type(chats).__name__}")
    if chats and (
        set(map(type, chats)) != {dict}
        or set(map(type, ids := list(map(dict.get, chats, repeat("id"))))) != {str}
        or "" in ids
        or not set(map(type, map(dict.get, chats, repeat("last_message_time")))) <= _WHOLE_OR_NULL
    ):
        _raise_for_first_bad_chat(chats, bad)
    checked_pagination(payload, bad)


_WHOLE_OR_NULL = {int, type(None)}


def _raise_for_first_bad_chat(chats: list[Any], bad: Callable[[str], BlooioResponseError]) -> None:
    for index, chat in enumerate(chats):
        if not isinstance(chat, dict):
            raise bad(f"chats[{index}] must be an object, got {type(chat).__name__}")
        chat_id = chat.get("id")
        if not isinstance(chat_id, str) or not chat_id:
            got = repr(chat_id) if chat_id in (None, "") else f"a {type(chat_id).__name__}"
            raise bad(f"chats[{index}] has no string 'id' (got {got})")
        moment = chat.get("last_message_time")
        if type(moment) not in _WHOLE_OR_NULL:
            # The chat is named by its position only: its id is a customer's number or email.
            raise bad(
                f"chats[{index}] has last_message_time {_shape(moment)}; "
                "expected epoch milliseconds"
            )


def _shape(value: Any) -> str:
    """A value for an error: numbers and literals as they are, anything else by its type
    (text may be a customer's name or number)."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _check_row_count(rows: int, limit: int, offset: int) -> None:
    """Refuse a page with more rows than ``limit`` asked for: no honest API sends one, and
    reading on would hold all of them in memory."""
    if rows > limit:
        raise BlooioResponseError(
            f"the page has {counted(rows, 'chat')} where limit={limit} asked for at most "
            f"{counted(limit, 'chat')}; a page larger than asked for is refused",
            "/chats",
            offset,
        )
