"""``BlooioClient``: Blooio's V2 API endpoints, with complete chat and message reads.

Each endpoint checks its arguments, sends its request through the client's one
:class:`~blooio_dagster.api.transport.Transport` (which paces, retries and turns every failure
into one of the errors in :mod:`blooio_dagster.api.errors`), and checks the answer's shape
(:mod:`blooio_dagster.api.wire`). Paging lives in :mod:`blooio_dagster.crawl.chats` and
:mod:`blooio_dagster.crawl.messages`; this module gives them their pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx

from blooio_dagster.api.errors import (
    BlooioConfigError,
    BlooioError,
    BlooioRequestError,
    BlooioResponseError,
)
from blooio_dagster.api.redaction import chat_ref
from blooio_dagster.api.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    MAX_MISSING,
    MAX_PAGE_SIZE,
    MAX_RETRIES,
    REQUESTS_PER_SECOND,
    TIMEOUT,
    check_settings,
    is_loopback,
    to_epoch_ms,
)
from blooio_dagster.api.transport import RetryCounter, Transport
from blooio_dagster.api.wire.chats import (
    PageAnswer,
    Sort,
    check_sort,
    checked_chat,
    checked_chats_page,
    page_answer,
)
from blooio_dagster.api.wire.messages import (
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
from blooio_dagster.api.wire.records import decode_chats_page
from blooio_dagster.api.wire.values import CHATS_PATH, MESSAGES_PATH
from blooio_dagster.api.wording import every_attempt
from blooio_dagster.crawl.chats import ChatCrawler
from blooio_dagster.crawl.fanout import MessagesProgress, MessagesResult, fetch_chats, log_left_out
from blooio_dagster.crawl.messages import FetchMessages, MessagesWindow, read_chat
from blooio_dagster.crawl.reading import CrawlProgress
from blooio_dagster.crawl.result import ChatCrawlResult, crawl_result

logger = logging.getLogger("blooio_dagster")


class BlooioClient:
    """A client for Blooio's V2 API that reads complete chat lists quickly and politely.

    Usage::

        with BlooioClient(os.environ["BLOOIO_API_KEY"]) as client:
            chats = client.list_chats()

    Every setting is declared, with its range, in :mod:`blooio_dagster.api.settings`.

    Args:
        api_key: the organization's API key, sent as a bearer token and shown nowhere.
        base_url: the API root; ``http://`` only to loopback addresses.
        timeout: seconds per attempt, a finite number: for each connect, read and write, and
            for the whole response, head and body (a page over 256 KiB plus 16 KiB per row
            asked for is refused unread, see :func:`~blooio_dagster.api.http.body_cap`).
        max_retries: retries after the first attempt (0 to 20), for connection errors,
            timeouts, protocol errors, 408, 429, 5xx and bodies cut off or not decodable.
        page_size: chats per request, 1 to 200.
        max_concurrency: the most requests in flight at once, 1 to 256. A cap: the client
            starts with a few and adds more while the API answers as fast and refuses nothing,
            and backs off on 429s, 5xx, timeouts and rising latency (see
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
        timeout: float = TIMEOUT.default,
        max_retries: int = MAX_RETRIES.default,
        page_size: int = MAX_PAGE_SIZE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        requests_per_second: float | None = REQUESTS_PER_SECOND.default,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        check_settings(
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            page_size=page_size,
            max_concurrency=max_concurrency,
            requests_per_second=requests_per_second,
            api_key=api_key,
        )
        self.base_url = base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.page_size = page_size
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self._transport = Transport(
            api_key,
            base_url=base_url,
            loopback=is_loopback(httpx.URL(base_url).host),
            timeout=self.timeout,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            requests_per_second=requests_per_second,
            transport=transport,
        )
        self._pacer = self._transport.pacer

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
        self._transport.close()

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
        return checked_chat(self._transport.get(path, {}, retries=None)[0], path)

    def crawl_chats(
        self,
        *,
        q: str | None = None,
        sort: Sort = "recent",
        active_since: datetime | int | None = None,
        max_missing: int = MAX_MISSING.default,
        on_progress: Callable[[CrawlProgress], None] | None = None,
    ) -> ChatCrawlResult:
        """Like :meth:`list_chats`, returning also what the crawl verified and cost.

        ``on_progress`` is called after every page (from worker threads) with a
        :class:`~blooio_dagster.crawl.reading.CrawlProgress`.
        """
        check_sort(sort)
        if q is not None and not isinstance(q, str):
            raise BlooioConfigError(f"q must be a string or None, got {q!r}.")
        MAX_MISSING.check(max_missing)
        since_ms = None if active_since is None else to_epoch_ms(active_since)
        retries = RetryCounter()
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
        if sort == "oldest":
            chats.reverse()
        return crawl_result(crawler, chats, retries=retries.count, clocks=clocks)

    def list_chats(
        self,
        *,
        q: str | None = None,
        sort: Sort = "recent",
        active_since: datetime | int | None = None,
        max_missing: int = MAX_MISSING.default,
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
        _check_page_request(limit, offset)
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
            self._messages_fetcher(RetryCounter()),
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
        retries = RetryCounter()
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

    def _messages_fetcher(self, retries: RetryCounter) -> FetchMessages:
        def fetch(chat_id: str, window: MessagesWindow) -> MessagesPage:
            params = window.params()
            return parse_messages_page(self._checked_messages_answer(chat_id, params, retries))

        return fetch

    def _checked_messages_answer(
        self, chat_id: str, params: dict[str, str | int], retries: RetryCounter | None
    ) -> Any:
        """A messages page's decoded JSON, read again while it answers another request.

        A cache or proxy may serve another chat's page, or another window's: that is
        retried like a 5xx; a page of another chat or offset still there on the last attempt
        raises :class:`BlooioResponseError` (naming the chat only by :func:`chat_ref`), never
        to be stored as this chat's (see :func:`~blooio_dagster.crawl.messages.misanswered`).
        Errors carry the chat id only as an attribute, never in their text.
        """

        def give_up(problem: str, attempts: int) -> BlooioError:
            return BlooioResponseError(
                f"{problem} on {every_attempt(attempts)} for chat {chat_ref(chat_id)}; a cache or "
                "proxy between here and Blooio seems to serve other requests' answers",
                MESSAGES_PATH,
            )

        try:
            return self._transport.get_matching(
                f"/chats/{quote(chat_id, safe='')}/messages",
                params,
                retries=retries,
                mismatch=lambda payload: misanswered(payload, chat_id, params),
                give_up=give_up,
            )
        except BlooioError as exc:
            raise hide_chat_id(exc, chat_id) from None

    def _chat_exists(self, chat_id: str, retries: RetryCounter) -> bool:
        """Whether ``GET /chats/{chat_id}`` finds the chat (False on 404); errors hide the id."""
        try:
            self._transport.get(f"/chats/{quote(chat_id, safe='')}", {}, retries=retries)
        except BlooioRequestError as exc:
            if exc.status_code == 404:
                return False
            raise hide_chat_id(exc, chat_id) from None
        except BlooioError as exc:
            raise hide_chat_id(exc, chat_id) from None
        return True

    # -- chat-list pages -------------------------------------------------------------------

    def _chats_page(
        self,
        *,
        limit: int,
        offset: int,
        q: str | None,
        sort: str,
        retries: RetryCounter | None,
    ) -> tuple[dict[str, Any], int | None]:
        """One checked ``GET /chats`` page, and the server's clock (epoch ms) when it answered."""
        _check_page_request(limit, offset)
        check_sort(sort)
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "sort": sort}
        if q is not None:
            params["q"] = q
        payload, server_time = self._transport.get(
            CHATS_PATH, params, retries=retries, offset=offset
        )
        return checked_chats_page(payload, limit, offset), server_time

    def _crawl_page(
        self, *, limit: int, offset: int, q: str | None, retries: RetryCounter
    ) -> PageAnswer:
        """One ``GET /chats?sort=recent`` page for a crawl, its chats as compact records
        when they have the documented shape (see :mod:`blooio_dagster.api.wire.records`)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset, "sort": "recent"}
        if q is not None:
            params["q"] = q
        page, server_time = self._transport.get(
            CHATS_PATH, params, retries=retries, offset=offset, decode=decode_chats_page
        )
        return page_answer(page, limit, offset, server_time)


def _check_page_request(limit: object, offset: object) -> None:
    """Refuse a page request no page could answer: ``limit`` 1 to 200, ``offset`` >= 0."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise BlooioConfigError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit!r}.")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise BlooioConfigError(f"offset must be a whole number >= 0, got {offset!r}.")
