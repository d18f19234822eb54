"""Reading many chats' messages at once: :func:`fetch_chats` reads each chat with
:func:`~blooio_dagster.crawl.messages.read_chat`, several at a time, through the client's one
pacer, so they share its concurrency and rate limits; chats deleted since they were listed are
reported, not raised.

Why: docs/design.md, section "Reading messages completely".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from blooio_dagster.api.errors import BlooioRequestError
from blooio_dagster.api.wire.messages import Message
from blooio_dagster.api.wording import counted
from blooio_dagster.crawl.messages import FetchMessages, read_unless_gone
from blooio_dagster.crawl.workers import run_workers

logger = logging.getLogger("blooio_dagster")


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
    """Read every chat of ``chat_ids`` with :func:`~blooio_dagster.crawl.messages.read_chat`,
    ``max_concurrency`` at a time, each worker taking the next chat; ``on_progress`` is called
    after every chat.

    A chat answered 404 is gone only once ``exists(chat_id)`` (``GET /chats/{chat_id}``),
    asked after a pause, agrees: a replica that lags behind the chat list answers 404 for a
    chat just listed, and such a chat is read again (see
    :func:`~blooio_dagster.crawl.messages.read_unless_gone`). Chats gone go to ``not_found``
    and their count is logged; if every chat is gone, the first 404 is raised (a wrong
    ``base_url`` looks the same). Without ``exists`` a 404 is believed. The first other error
    (or one raised by ``on_progress``) stops the fan-out and is raised. ``retries`` tells the
    retries so far, for the result.
    """
    started = time.monotonic()
    ids = list(dict.fromkeys(chat_ids))
    read: dict[str, list[Message]] = {}
    not_found: list[str] = []
    first_404: BlooioRequestError | None = None
    stopped = False  # a worker failed: the others take no more chats
    lock = threading.Lock()
    queue = iter(ids)
    totals = {"requests": 0, "messages": 0, "unsent_skipped": 0}

    def work() -> None:
        nonlocal stopped
        while True:
            with lock:
                if stopped:
                    return
                chat_id = next(queue, None)
            if chat_id is None:
                return
            try:
                read_one(chat_id)
            except BaseException:
                with lock:
                    stopped = True
                raise

    def read_one(chat_id: str) -> None:
        nonlocal first_404
        got, gone, asked = read_unless_gone(
            fetch,
            exists,
            chat_id,
            since=since,
            until=until,
            preceding=preceding,
            page_size=page_size,
        )
        with lock:
            if gone is not None:
                not_found.append(chat_id)
                first_404 = first_404 or gone
                totals["requests"] += asked
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
            on_progress(progress)

    workers = min(max_concurrency, len(ids))
    if workers:
        with ThreadPoolExecutor(workers, thread_name_prefix="blooio-messages") as pool:
            run_workers(pool, work, workers)
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
