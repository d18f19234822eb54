"""Reading one chat's messages completely from ``GET /chats/{chat_id}/messages``.

:func:`read_chat` returns every message of a chat sent in a window exactly once, oldest first,
or raises :class:`~blooio_dagster.api.errors.BlooioIncompleteMessagesError`. It never pages by
offset: each request asks newest first for the messages up to the oldest millisecond of the
page before, inclusive, until a page shows the window's end. A millisecond holding more than a
page is read by offset within it (:func:`_read_millisecond`); whether ``pagination.total``
counts the window or the whole history is asked once (:func:`_totals_count_the_window`); a 404
is believed once ``GET /chats/{chat_id}`` agrees (:func:`read_unless_gone`). Many chats at
once: :mod:`blooio_dagster.crawl.fanout`.

Why: docs/design.md, section "Reading messages completely".
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blooio_dagster.api.errors import BlooioIncompleteMessagesError, BlooioRequestError
from blooio_dagster.api.retry import backoff_seconds
from blooio_dagster.api.wire.messages import (
    Direction,
    Message,
    MessagesPage,
    check_newest_first,
)

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


FetchMessages = Callable[[str, MessagesWindow], MessagesPage]
"""``fetch(chat_id, window)``: one page; must be safe to call from several threads."""


@dataclass(frozen=True)
class ChatMessages:
    """One chat's messages (oldest first), the requests that read them, and how many
    messages without a ``time_sent`` (queued, not sent yet) were left out."""

    messages: list[Message]
    requests: int
    unsent_skipped: int = 0


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
        check_newest_first(rows, top)
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
            check_newest_first(page.messages, at + 1)
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


def read_unless_gone(
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
