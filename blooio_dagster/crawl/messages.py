"""Reading chats' messages completely from ``GET /chats/{chat_id}/messages``, one chat or many.

A chat's history is offset-paged like the chat list, and like it, it changes while a client
pages: new messages arrive at the newest end, messages are unsent. Offset paging newest first
repeats messages when one arrives and skips one when a message is unsent. So this reader never
pages by offset.

**How one chat is read.** Every request asks, newest first (``sort=desc``, ``offset=0``), for
the messages up to an ``until``; the first for the caller's window, each next one for the
millisecond of the oldest message of the page before and below. A request is answered from one
consistent snapshot and a page is a prefix of its window (SQL's ``LIMIT``), so a page holds
every message of its window sent after its own oldest message; the next window starts at that
millisecond, inclusive, so the windows join without a gap however the history changed between
the requests: a message's ``time_sent`` never changes. Messages read twice (the shared
millisecond, an inclusive bound) are kept once, by ``message_id``, in their newest state.
Messages that arrive during the read sort above the windows still to come and never enter them.

The read ends with a page that is not full (fewer rows than ``limit`` and the
``pagination.limit`` the API reports) and whose ``pagination.total`` its rows reach: that page
saw the rest of the window at once. Without a total, a page is the end only when the next
window (from its oldest millisecond) ends at the same millisecond, both are shorter than
any short page that more messages followed (an unreported cap), and the second is shorter
than the longest page of the read, or one row. A page that reaches below
``since`` ends the read too, since it holds every message of the window; with ``preceding`` it
must also hold the message the window's first message follows (see :func:`read_chat`). A
total is believed for a windowed read only if a window that holds no message reports 0 (an
API may count the chat's whole history whatever the window); it is asked once, when a short
page's total says more follow. A window that stops moving (its page all in the millisecond it
ends at: a bulk import of more than a page) is read by offset within that millisecond (see
:func:`_read_millisecond`), and the windows go on below it. Messages without a ``time_sent``
(queued, not sent yet) are left out and counted.

The window's bounds are sent so that they cover the caller's ``[since, until)`` whether the API
treats them as inclusive or exclusive (``since - 1`` and ``until``), and the result is cut to
``[since, until)`` here.

**What is guaranteed.** Every message sent in the window that exists from the read's first
request to its last is returned exactly once; a message that arrives or is unsent while the
chat is read may be returned or not. With ``until`` before the read starts, nothing arrives in
the window. A read that cannot show this raises
:class:`~blooio_dagster.api.errors.BlooioIncompleteMessagesError` (a
:class:`~blooio_dagster.api.errors.BlooioIncompleteError`): pages not newest first (``sort``
ignored), messages newer than the ``until`` asked for (``until`` ignored), empty pages where the
total says messages exist, or a millisecond holding more than a page that ``offset`` cannot
page through (without totals, that includes a window whose messages all share one
millisecond and are as many as a page held: it cannot be told from a capped page but by
offset). A message delivered late with an old ``time_sent`` into a part already read is
not seen, as by any reader.

**Many chats.** :func:`fetch_chats` reads chats concurrently, each worker taking the next chat,
through the client's one pacer, so they share its concurrency and rate limits. A chat with
fewer messages than a page in the window costs one request.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from blooio_dagster.api.errors import (
    BlooioConfigError,
    BlooioError,
    BlooioIncompleteMessagesError,
    BlooioRequestError,
    BlooioResponseError,
)
from blooio_dagster.api.retry import backoff_seconds
from blooio_dagster.api.wire.chats import checked_pagination
from blooio_dagster.api.wording import counted

logger = logging.getLogger("blooio_dagster")

Message = dict[str, Any]
_Error = TypeVar("_Error", bound=BlooioError)
Direction = Literal["inbound", "outbound"]
DIRECTIONS = ("inbound", "outbound")
#: How errors and logs name the endpoint: never with the chat id, a customer's number or email.
MESSAGES_PATH = "/chats/{chat_id}/messages"
#: Reads in a row of a page that came back empty although its total says messages exist.
MAX_EMPTY_READS = 4
#: Sweeps by offset over a millisecond holding more than a page, gathering its messages.
MAX_MILLISECOND_SWEEPS = 8
#: Reads of a chat answered 404 while ``GET /chats/{chat_id}`` still finds it.
MAX_GONE_CHECKS = 3
#: An ``until`` after every message (9999-12-31): a window that leaves out the messages
#: without a time (a null fails every comparison), which come first in an open one.
END_OF_TIME_MS = 253_402_300_799_999


@dataclass(frozen=True)
class MessagesWindow:
    """One request of a read: ``sort=desc``, at most ``limit`` messages from ``offset``
    (0 except within a millisecond holding more than a page)."""

    limit: int
    since: int | None
    until: int | None
    direction: Direction | None
    offset: int = 0

    def params(self) -> dict[str, str | int]:
        """The query string of this request."""
        params: dict[str, str | int] = {"limit": self.limit, "offset": self.offset, "sort": "desc"}
        if self.since is not None:
            params["since"] = self.since
        if self.until is not None:
            params["until"] = self.until
        if self.direction is not None:
            params["direction"] = self.direction
        return params


@dataclass(frozen=True)
class MessagesPage:
    """A checked page: its messages as sent, ``pagination.total`` and ``pagination.limit``.

    ``untimed`` holds the ids of the messages the page listed with ``time_sent`` null (queued,
    not sent yet): they have no place in the history yet, so they are not in ``messages``.
    """

    messages: list[Message]
    total: int | None
    limit: int | None
    untimed: tuple[str, ...] = ()


FetchMessages = Callable[[str, MessagesWindow], MessagesPage]
"""``fetch(chat_id, window)``: one page; must be safe to call from several threads."""


@dataclass(frozen=True)
class ChatMessages:
    """One chat's messages (oldest first), the requests that read them, and how many
    messages without a ``time_sent`` (queued, not sent yet) were left out."""

    messages: list[Message]
    requests: int
    unsent_skipped: int = 0


@dataclass(frozen=True)
class MessagesProgress:
    """Where a fan-out stands, given to ``on_progress`` after every chat."""

    chats_done: int
    chats_total: int
    requests: int
    messages: int
    elapsed_seconds: float


@dataclass(frozen=True)
class MessagesResult:
    """The messages of many chats, and what reading them cost.

    Attributes:
        messages: each chat's messages, oldest first by (``time_sent``, ``message_id``), as
            Blooio sent them, keyed by chat id in the order the chats were given; every chat
            that exists is a key, with an empty list when it had no message in the window.
        not_found: chats deleted since they were listed: answered 404, and still 404 at
            ``GET /chats/{chat_id}`` after a pause (a lagging replica's 404 is read again);
            they are not in ``messages``, and their count is logged.
        since: the window's start (epoch ms, inclusive), ``None`` for the whole history.
        until: the window's end (epoch ms, exclusive), ``None`` for up to each chat's read.
        preceding: whether each chat's messages also reach back before ``since`` to the
            newest message there that is not a failed outbound one (the whole history
            before ``since`` when there is none).
        requests: requests answered with a page or a 404 (retries not counted).
        retries: requests retried after a failure (5xx, 429, timeouts, cut-off bodies).
        elapsed_seconds: how long the fan-out took.
        unsent_skipped: messages listed without a ``time_sent`` (queued, not sent yet), left
            out: they have no place in a conversation until they are sent.
    """

    messages: dict[str, list[Message]]
    not_found: tuple[str, ...]
    since: int | None
    until: int | None
    preceding: bool
    requests: int
    retries: int
    elapsed_seconds: float
    unsent_skipped: int = 0

    @property
    def deleted_chats(self) -> int:
        """Chats confirmed deleted since they were listed (``len(not_found)``)."""
        return len(self.not_found)

    @property
    def message_count(self) -> int:
        """Messages over all chats."""
        return sum(map(len, self.messages.values()))

    def rows(self) -> list[Message]:
        """Every message, each with its ``chat_id`` added, chat by chat, oldest first."""
        return [
            {**message, "chat_id": chat_id}
            for chat_id, messages in self.messages.items()
            for message in messages
        ]


def message_key(message: Message) -> tuple[int, str]:
    """The order of a chat's messages: by ``time_sent``, equal times by ``message_id``."""
    return (message["time_sent"], message["message_id"])


def is_failed_outbound(message: Message) -> bool:
    """Whether ``message`` is one of ours that failed to send (no reply, no turn)."""
    return message.get("direction") == "outbound" and message.get("status") == "failed"


def read_chat(
    fetch: FetchMessages,
    chat_id: str,
    *,
    since: int | None,
    until: int | None,
    direction: Direction | None = None,
    preceding: bool = False,
    page_size: int = 200,
) -> ChatMessages:
    """Every message of ``chat_id`` sent in ``[since, until)`` exactly once, oldest first.

    ``None`` leaves a bound open (``until=None``: up to the read's first request). With
    ``preceding``, the messages before ``since`` back to, and including, the newest one that
    is not a failed outbound message (all of them when there is none) come too, so a caller
    can tell whether the window's first inbound message starts a new customer turn.

    Raises:
        BlooioIncompleteMessagesError: the pages cannot show the window complete (see the
            module); its ``chat_id`` names the chat.
        BlooioError: a request failed (from ``fetch``).
    """
    try:
        return _read_chat(fetch, chat_id, since, until, direction, preceding, page_size)
    except BlooioIncompleteMessagesError as exc:
        exc.chat_id = chat_id
        raise


def _read_chat(
    fetch: FetchMessages,
    chat_id: str,
    since: int | None,
    until: int | None,
    direction: Direction | None,
    preceding: bool,
    page_size: int,
) -> ChatMessages:
    floor = None if since is None or preceding else since - 1
    top = until
    seen: dict[str, Message] = {}
    untimed: set[str] = set()
    requests = empty_reads = 0
    stalled = False  # whether the window before did not move either
    end_time: int | None = None  # the oldest time of a short page that sent no total
    # An unreported cap, learned from short pages that more messages followed. It matters
    # only without totals: a page is then the end only if it is shorter than the cap.
    learned_cap = page_size
    short: tuple[int, int] | None = None  # (rows, oldest time) of the last short page
    largest = 0  # the most rows a page of this read held
    # Whether totals count the window asked for: None until a page's total disagrees with it.
    windowed_totals: bool | None = None

    def totals_count_the_window() -> bool:
        nonlocal windowed_totals, requests
        if windowed_totals is None:
            requests += 1
            windowed_totals = _totals_count_the_window(fetch, chat_id, direction)
        return windowed_totals

    read_whole: set[int] = set()  # milliseconds read whole by offset
    below_read = False  # whether the window ends below every message read (none shared)
    while True:
        page = fetch(chat_id, MessagesWindow(page_size, floor, top, direction))
        requests += 1
        rows = page.messages
        untimed.update(page.untimed)
        held = len(rows) + len(page.untimed)  # what the total counts
        cap = page_size if page.limit is None else min(page_size, page.limit)
        total = None if windowed_totals is False else page.total
        if (
            total is not None
            and total > held
            and held < cap
            and (floor is not None or top is not None)
            and not totals_count_the_window()
        ):
            # A short page the total says is not the end: a page cut short, or a total of
            # the chat's whole history, which no windowed read could ever reach.
            total = None
        _check_newest_first(rows, top)
        for row in rows:
            seen[row["message_id"]] = row
        if not rows:
            # Empty is the end only with a total its untimed rows reach, or for a window that
            # came back empty twice without a total and shares no millisecond with the pages
            # read (the first, or one below a millisecond read whole); every other window
            # holds the messages of the millisecond it starts at, which were just read.
            if (total is not None and total <= held) or (
                total is None and (below_read or not seen) and empty_reads
            ):
                break
            if page.untimed and top is None:
                # Only messages without a time, listed first: the timed ones lie below them.
                top = END_OF_TIME_MS
                continue
            empty_reads += 1
            if empty_reads > MAX_EMPTY_READS:
                raise _incomplete(
                    f"{empty_reads} pages in a row came back empty although "
                    + (
                        f"pagination.total said {total} messages exist"
                        if total is not None
                        else "earlier pages showed messages there"
                    )
                )
            continue
        empty_reads = 0
        oldest: int = rows[-1]["time_sent"]
        if short is not None and oldest < short[1]:
            learned_cap = min(learned_cap, short[0])
        short = (len(rows), oldest) if len(rows) < cap else None
        if len(rows) < (cap if total is not None else min(cap, learned_cap)):
            # Not full: either the end of the window, or a page the API cut short.
            if total is not None and total <= held:
                break
            if total is None:
                # The window from the short page's oldest millisecond holds only that
                # millisecond: it is the end, unless it is as long as a page has been, when
                # an unreported cap may hide more of it (then it is read by offset). No API
                # caps pages at one row.
                if end_time == oldest and (len(rows) < largest or len(rows) == 1):
                    break
                end_time = oldest
        largest = max(largest, len(rows))
        if (
            since is not None
            and oldest < since
            and (not preceding or _predecessor_read(seen.values(), since, oldest))
        ):
            break
        if top is not None and oldest + 1 >= top:
            # The window did not move: its page holds only the millisecond it ends at,
            # ``oldest`` (with bounds kept inclusively, that may be ``top`` itself).
            if oldest in read_whole:  # read whole: the API keeps messages at until
                top, below_read = (oldest - 1 if oldest == top else oldest), True
                continue
            if len(rows) >= min(cap, learned_cap) or stalled:
                # Full (or short twice: a cap): more than a page may share the millisecond.
                # Cut short once, reading the window again will do.
                found, asked = _read_millisecond(
                    fetch, chat_id, oldest, direction, page_size, totals_count_the_window
                )
                requests += asked
                seen.update(found)
                read_whole.add(oldest)
                top, below_read, stalled = oldest, True, False
                continue
            stalled = True
        else:
            stalled = False
        top = oldest + 1 if top is None else min(top, oldest + 1)
        below_read = False
    return ChatMessages(
        _select(seen, since, until, direction, preceding), requests, len(untimed - seen.keys())
    )


def _totals_count_the_window(
    fetch: FetchMessages, chat_id: str, direction: Direction | None
) -> bool:
    """Whether ``pagination.total`` counts only the window asked for, by asking for a window
    that holds no message (sent before 1970-01-01 00:00:00.001): its total must be 0.

    An API whose totals count the chat's whole history (``since`` and ``until`` ignored)
    answers more; its totals then tell nothing, and the read ends as without totals. No total
    at all tells nothing either way: totals are then taken as sent.
    """
    probe = fetch(chat_id, MessagesWindow(1, None, 1, direction))
    return probe.total is None or probe.total == 0


def _read_millisecond(
    fetch: FetchMessages,
    chat_id: str,
    at: int,
    direction: Direction | None,
    page_size: int,
    totals_count_the_window: Callable[[], bool],
) -> tuple[dict[str, Message], int]:
    """Every message sent at ``at`` ms (a bulk import: more than a page), by offset within
    ``[at, at + 1)``, and the requests that took.

    Sweeps read the pages from offset 0 until one comes back empty; the millisecond is read
    whole after such a sweep that found nothing new, once the messages found reach the
    window's total (when one is sent). A page holding only messages its sweep had read
    (``offset`` ignored) ends the sweep, which then proves nothing, unless its first page was
    short: the millisecond fit in one page (a window stuck on a page cut short gets here). Rows at ``at - 1`` and
    ``at + 1`` (an API keeping its bounds) count too, as the total counts them; a total they
    never reach is checked with ``totals_count_the_window`` (a total of the whole history
    proves nothing). Messages sent at one millisecond have no order of their own, so an API
    may order them differently per request: sweeps go on until they agree, up to
    :data:`MAX_MILLISECOND_SWEEPS`.
    """
    found: dict[str, Message] = {}
    requests = 0
    total: int | None = None
    for sweep in range(MAX_MILLISECOND_SWEEPS):
        before = len(found)
        swept: set[str] = set()
        offset = empty_reads = 0
        clean = False  # whether the sweep ended at an empty page, not at one it had read
        whole_page = False  # whether its first page was short: the millisecond fit in it
        while True:
            page = fetch(chat_id, MessagesWindow(page_size, at - 1, at + 1, direction, offset))
            requests += 1
            _check_newest_first(page.messages, at + 1)
            rows = [row for row in page.messages if row["time_sent"] >= at - 1]
            if page.total is not None:
                total = page.total
            if not rows:
                more = total is not None and offset < total and totals_count_the_window()
                if more and empty_reads < MAX_EMPTY_READS:
                    empty_reads += 1
                    continue
                clean = True
                break
            empty_reads = 0
            if offset == 0:
                whole_page = len(rows) < min(page_size, page.limit or page_size)
            ids = {row["message_id"] for row in rows}
            if ids <= swept:  # nothing new at this offset: the API ignores it, or reorders
                break
            swept |= ids
            found.update((row["message_id"], row) for row in rows)
            offset += len(rows)
        agreed = (clean or whole_page) and sweep > 0 and len(found) == before
        if agreed and (total is None or len(found) >= total or not totals_count_the_window()):
            return found, requests
    raise _incomplete(
        f"more than a page of messages share the millisecond {at}; reading them by offset "
        f"found {len(found)} of {'?' if total is None else total} in {MAX_MILLISECOND_SWEEPS} "
        "sweeps that did not agree (the API seems to ignore offset, or to order them "
        "differently on every request)"
    )


def fetch_chats(
    fetch: FetchMessages,
    chat_ids: Sequence[str],
    *,
    since: int | None,
    until: int | None,
    preceding: bool,
    page_size: int,
    max_concurrency: int,
    on_progress: Callable[[MessagesProgress], None] | None = None,
    retries: Callable[[], int] = lambda: 0,
    exists: Callable[[str], bool] | None = None,
) -> MessagesResult:
    """Read every chat of ``chat_ids`` with :func:`read_chat`, ``max_concurrency`` at a time.

    A chat answered 404 is gone only once ``exists(chat_id)`` (``GET /chats/{chat_id}``),
    asked after a pause, agrees: a replica that lags behind the chat list answers 404 for a
    chat just listed, and such a chat is read again (see :func:`_read_unless_gone`). Chats
    gone go to ``not_found`` and their count is logged; if every chat is gone, the first 404
    is raised (a wrong ``base_url`` looks the same). Without ``exists`` a 404 is believed.
    The first other error stops the fan-out and is raised. ``retries`` tells the retries so
    far, for the result.
    """
    started = time.monotonic()
    ids = list(dict.fromkeys(chat_ids))
    read: dict[str, list[Message]] = {}
    not_found: list[str] = []
    first_404: BlooioRequestError | None = None
    failures: list[BaseException] = []
    lock = threading.Lock()
    queue = iter(ids)
    totals = {"requests": 0, "messages": 0, "unsent_skipped": 0}

    def work() -> None:
        nonlocal first_404
        while True:
            with lock:
                if failures:
                    return
                chat_id = next(queue, None)
            if chat_id is None:
                return
            try:
                got, gone, asked = _read_unless_gone(
                    fetch,
                    exists,
                    chat_id,
                    since=since,
                    until=until,
                    preceding=preceding,
                    page_size=page_size,
                )
                if gone is not None:
                    with lock:
                        not_found.append(chat_id)
                        first_404 = first_404 or gone
                        totals["requests"] += asked
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                return
            with lock:
                if got is not None:
                    read[chat_id] = got.messages
                    totals["requests"] += got.requests + asked
                    totals["messages"] += len(got.messages)
                    totals["unsent_skipped"] += got.unsent_skipped
                progress = MessagesProgress(
                    chats_done=len(read) + len(not_found),
                    chats_total=len(ids),
                    requests=totals["requests"],
                    messages=totals["messages"],
                    elapsed_seconds=time.monotonic() - started,
                )
            if on_progress is not None:
                try:
                    on_progress(progress)
                except BaseException as exc:
                    with lock:
                        failures.append(exc)
                    return

    workers = [
        threading.Thread(target=work, name=f"blooio-messages-{n}", daemon=True)
        for n in range(min(max_concurrency, len(ids)))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    if ids and len(not_found) == len(ids) and first_404 is not None:
        raise first_404
    gone = set(not_found)
    log_left_out(len(gone), totals["unsent_skipped"])
    return MessagesResult(
        messages={chat_id: read[chat_id] for chat_id in ids if chat_id in read},
        not_found=tuple(chat_id for chat_id in ids if chat_id in gone),
        since=since,
        until=until,
        preceding=preceding,
        requests=totals["requests"],
        retries=retries(),
        elapsed_seconds=time.monotonic() - started,
        unsent_skipped=totals["unsent_skipped"],
    )


def _read_unless_gone(
    fetch: FetchMessages,
    exists: Callable[[str], bool] | None,
    chat_id: str,
    **window: Any,
) -> tuple[ChatMessages | None, BlooioRequestError | None, int]:
    """``chat_id``'s messages, or the 404 that shows it gone; and the requests spent on 404s.

    A 404 is believed when ``exists`` is not given, or when, after a backoff,
    ``GET /chats/{chat_id}`` answers 404 too: two reads at different moments agree. While
    the chat is still found, its messages are read again, up to :data:`MAX_GONE_CHECKS`
    times; a chat found whose messages keep answering 404 cannot be read, and raises.
    """
    asked = 0
    for check in range(1, MAX_GONE_CHECKS + 1):
        try:
            return read_chat(fetch, chat_id, **window), None, asked
        except BlooioRequestError as exc:
            if exc.status_code != 404:
                raise
            asked += 1
            if exists is None:
                return None, exc, asked
            time.sleep(backoff_seconds(check))
            asked += 1
            if not exists(chat_id):
                return None, exc, asked
    raise BlooioIncompleteMessagesError(
        f"the chat's messages answered 404 on {MAX_GONE_CHECKS} reads while "
        "GET /chats/{chat_id} kept finding it (a replica lagging behind?)",
        chat_id=chat_id,
    )


def log_left_out(deleted_chats: int, unsent_skipped: int) -> None:
    """Log by count (never by id) what a read left out: chats deleted, messages not sent."""
    if deleted_chats:
        logger.warning(
            "Blooio: %s deleted since they were listed (404, confirmed by GET /chats/{chat_id}) "
            "%s left out of the messages.",
            counted(deleted_chats, "chat"),
            "is" if deleted_chats == 1 else "are",
        )
    if unsent_skipped:
        logger.info(
            "Blooio: %s without a time_sent yet (queued, not sent) left out.",
            counted(unsent_skipped, "message"),
        )


def chat_ref(chat_id: str) -> str:
    """A short stable name for a chat in errors and logs that must not show its id: the
    first 8 hex digits of the id's SHA-256 (the same chat always gets the same one)."""
    return "chat sha256:" + hashlib.sha256(chat_id.encode()).hexdigest()[:8]


def misanswered(
    payload: Any, chat_id: str, params: dict[str, str | int]
) -> tuple[str, bool] | None:
    """How a messages answer is not the one asked for, and whether that is fatal; ``None``
    when it is (as far as it says).

    A cache or proxy can serve the page of another request. Another chat's page, or the
    page of another offset, would be stored as this chat's, or leave a gap: fatal (raised
    once retries do not help). A message newer than ``until``: the page of another window,
    or an API ignoring ``until``, which the reader names; not fatal. A ``pagination.limit``
    other than the one asked for is no mismatch: a smaller one is a cap the reader pages
    by, a larger one changes nothing. Messages older than ``since`` are kept out by the
    reader (a page of a window reaching further back holds the newest of this one too).
    """
    if not isinstance(payload, dict):
        return None  # the shape check names it
    answered = payload.get("chat_id")
    if isinstance(answered, str) and _chat_form(answered) != _chat_form(chat_id):
        return "the page is another chat's (its chat_id is not the one asked for)", True
    pagination = payload.get("pagination")
    offset = pagination.get("offset") if isinstance(pagination, dict) else None
    if type(offset) is int and offset != params.get("offset", 0):
        return f"the page is the one at offset {offset}, not {params.get('offset', 0)}", True
    until = params.get("until")
    messages = payload.get("messages")
    if type(until) is int and isinstance(messages, list):
        times = [m.get("time_sent") for m in messages if isinstance(m, dict)]
        if any(type(t) is int and t > until for t in times):
            return f"the page holds messages sent after the until asked for ({until} ms)", False
    return None


# -- checks ----------------------------------------------------------------------------------


def check_chat_id(chat_id: object) -> str:
    """``chat_id`` if it is a non-empty string, else a clear error."""
    if not isinstance(chat_id, str) or not chat_id:
        raise BlooioConfigError(
            f"chat_id must be a non-empty string such as '+15551234567', an email or a "
            f"'grp_...' id, got {chat_id!r}."
        )
    return chat_id


def check_chat_ids(chat_ids: object) -> list[str]:
    """``chat_ids`` as a list if it is a collection of non-empty strings, else a clear error."""
    if isinstance(chat_ids, str | bytes) or not hasattr(chat_ids, "__iter__"):
        raise BlooioConfigError(
            f"chat_ids must be a list (or other iterable) of chat ids, got "
            f"{type(chat_ids).__name__}; for one chat use list_messages or pass [chat_id]."
        )
    ids = list(chat_ids)
    for index, chat_id in enumerate(ids):
        if not isinstance(chat_id, str) or not chat_id:
            got = "an empty string" if chat_id == "" else type(chat_id).__name__
            raise BlooioConfigError(f"chat_ids[{index}] must be a non-empty string, got {got}.")
    return ids


def check_direction(direction: object) -> Direction | None:
    """``direction`` if it is ``None``, ``"inbound"`` or ``"outbound"``, else a clear error."""
    if direction is None:
        return None
    if direction == "inbound":
        return "inbound"
    if direction == "outbound":
        return "outbound"
    raise BlooioConfigError(
        f"direction must be 'inbound', 'outbound' or None (both), got {direction!r}."
    )


def check_window(since: int | None, until: int | None) -> None:
    """Refuse a window that holds no time: ``since`` must come before ``until``."""
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound < 0:
            raise BlooioConfigError(f"{name} must be at or after 1970-01-01, got {bound} ms.")
    if since is not None and until is not None and since >= until:
        raise BlooioConfigError(
            f"since ({since} ms) must come before until ({until} ms): the window is [since, until)."
        )


def _chat_form(chat_id: str) -> str:
    """``chat_id`` as an API may echo it back: case and phone punctuation do not matter."""
    return _PHONE_PUNCTUATION.sub("", chat_id).casefold()


_PHONE_PUNCTUATION = re.compile(r"[\s()\-]")


def parse_messages_page(payload: Any) -> MessagesPage:
    """``payload`` as a :class:`MessagesPage`, or :class:`BlooioResponseError` naming the fault."""

    def bad(problem: str) -> BlooioResponseError:
        return BlooioResponseError(problem, MESSAGES_PATH)

    if not isinstance(payload, dict):
        raise bad(f"expected a JSON object, got {type(payload).__name__}")
    messages = payload.get("messages")
    if not isinstance(messages, list):
        raise bad(f"'messages' must be a list, got {type(messages).__name__}")
    untimed: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad(f"messages[{index}] must be an object, got {type(message).__name__}")
        message_id = message.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise bad(f"messages[{index}] has no string 'message_id'")
        sent = message.get("time_sent")
        if sent is None:
            untimed.append(message_id)
        elif type(sent) is not int:
            raise bad(
                f"messages[{index}] ('{message_id}') has time_sent {sent!r}; "
                "expected epoch milliseconds"
            )
    pagination, total = checked_pagination(payload, bad)
    limit = pagination.get("limit")
    return MessagesPage(
        messages=[m for m in messages if m["time_sent"] is not None] if untimed else messages,
        total=total,
        limit=limit if type(limit) is int and limit >= 1 else None,
        untimed=tuple(untimed),
    )


def hide_chat_id(error: _Error, chat_id: str) -> _Error:
    """``error`` with ``chat_id`` (a customer's number or email) replaced by ``{chat_id}``.

    Errors end up in Dagster's event log, which must not carry customers' identities. The
    copy keeps the class and attributes (``status_code``, ``api_code``...) and gains
    ``chat_id`` as an attribute, for code that needs it.
    """
    forms = sorted({quote(chat_id, safe=""), quote(chat_id), chat_id}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for form in forms:
            text = text.replace(form, "{chat_id}")
        return text

    hidden = type(error).__new__(type(error))
    hidden.__dict__.update(error.__dict__)
    hidden.args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in error.args)
    for name in ("path", "api_message", "problem"):
        value = getattr(hidden, name, None)
        if isinstance(value, str):
            setattr(hidden, name, scrub(value))
    hidden.chat_id = chat_id  # type: ignore[attr-defined]
    return hidden


# -- internals -------------------------------------------------------------------------------


def _check_newest_first(rows: list[Message], top: int | None) -> None:
    times = [row["time_sent"] for row in rows]
    if any(later > earlier for earlier, later in pairwise(times)):
        raise _incomplete(
            "a page asked for newest first (sort=desc) came in another order, so pages "
            "cannot be joined; the API seems to ignore sort"
        )
    if top is not None and times and times[0] > top:
        raise _incomplete(
            f"a page asked for messages up to {top} ms held one sent at {times[0]} ms; "
            "the API seems to ignore until"
        )


def _predecessor_read(seen: Any, since: int, oldest: int) -> bool:
    """Whether a message the window's first one can follow lies read between ``oldest`` and
    ``since``: everything sent after ``oldest`` is read, so the newest such is known."""
    return any(oldest < m["time_sent"] < since and not is_failed_outbound(m) for m in seen)


def _select(
    seen: dict[str, Message],
    since: int | None,
    until: int | None,
    direction: Direction | None,
    preceding: bool,
) -> list[Message]:
    """The read messages in ``[since, until)`` (and their predecessors), oldest first."""
    ordered = sorted(seen.values(), key=message_key)
    if direction is not None:
        ordered = [m for m in ordered if m.get("direction") == direction]
    times = [m["time_sent"] for m in ordered]
    low = 0 if since is None else bisect_left(times, since)
    high = len(ordered) if until is None else bisect_left(times, until)
    if preceding and since is not None:
        while low > 0:
            low -= 1
            if not is_failed_outbound(ordered[low]):
                break
    return ordered[low:high]


def _incomplete(problem: str) -> BlooioIncompleteMessagesError:
    return BlooioIncompleteMessagesError(problem)
