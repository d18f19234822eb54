"""Pages of Blooio's chat list, the order they are sorted in, and the newest state of each chat.

``GET /chats?sort=recent`` is answered, like any SQL ``ORDER BY ... LIMIT ... OFFSET``, from
one consistent snapshot per request. So a page is hard evidence about the list *at the moment
it was answered*: its rows are exactly the chats whose sort key lies strictly between its last
and its first row's key. The crawl (:mod:`blooio_dagster.crawl`) builds its proof of
completeness out of that fact; this module holds the pieces it reasons about:

- :class:`SortKeys` turns a chat into its sort key. ``last_message_time`` is the key; chats
  without one (never messaged) sort first or last depending on the server's database
  (PostgreSQL puts nulls first for ``DESC``), which the first page tells.
- :class:`ChatPage` is one answered request with its keys and when it was sent and answered.
- :class:`NewestChats` keeps the newest state of every chat read so far.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import Any

Chat = dict[str, Any]

#: The key of a chat without ``last_message_time`` when the server lists those first, and last.
NULL_FIRST_KEY = 2**62
NULL_LAST_KEY = -(2**62)
#: Above every key: "from the very top of the list".
TOP_KEY = 2**63
#: The highest key a chat with a ``last_message_time`` can have.
TIMED_TOP_KEY = NULL_FIRST_KEY - 1


@dataclass(frozen=True)
class PageAnswer:
    """What one ``GET /chats`` request returned, as the crawl needs it.

    Attributes:
        chats: the chats, in the order the server sent them.
        total: ``pagination.total``, when the server sent a whole number.
        limit: ``pagination.limit``, the most chats the server says one page holds.
        server_time: the server's clock when it answered (epoch ms, from the ``Date`` header).
    """

    chats: list[Chat]
    total: int | None = None
    limit: int | None = None
    server_time: int | None = None


class SortKeys:
    """Sort keys of chats: ``last_message_time``, with null times first or last.

    Where the server puts chats without a time is learned from the first non-empty page at
    offset 0: its first row has no time only if nulls sort first.
    """

    def __init__(self) -> None:
        self.nulls_first: bool | None = None

    def learn(self, offset: int, chats: list[Chat]) -> None:
        if self.nulls_first is None and offset == 0 and chats:
            self.nulls_first = type(chats[0].get("last_message_time")) is not int

    @property
    def null_key(self) -> int:
        return NULL_FIRST_KEY if self.nulls_first else NULL_LAST_KEY

    def of(self, chats: list[Chat]) -> list[int]:
        null = self.null_key
        return [
            t if type(t) is int else null for t in map(dict.get, chats, repeat("last_message_time"))
        ]


def is_timed(key: int) -> bool:
    """Whether a key is a real ``last_message_time`` rather than a null's placeholder."""
    return NULL_LAST_KEY < key < NULL_FIRST_KEY


@dataclass(frozen=True)
class ChatPage:
    """One answered ``GET /chats`` request, with its rows' sort keys.

    ``sent`` and ``received`` are ticks of one counter shared by every request of a crawl:
    ``a.received < b.sent`` proves the server answered ``a`` before it saw ``b``.
    """

    offset: int
    limit: int
    chats: list[Chat]
    keys: list[int]
    total: int | None
    reported_limit: int | None
    server_time: int | None
    sent: int
    received: int

    def __len__(self) -> int:
        return len(self.chats)

    @property
    def first_key(self) -> int:
        return self.keys[0]

    @property
    def last_key(self) -> int:
        return self.keys[-1]

    @cached_property
    def ids(self) -> list[str]:
        return [chat["id"] for chat in self.chats]

    @cached_property
    def timed_keys(self) -> list[int]:
        return [key for key in self.keys if is_timed(key)]

    def first_index_of(self, key: int) -> int | None:
        """The index of the first row with this key, if any."""
        for index, value in enumerate(self.keys):
            if value == key:
                return index
            if value < key:
                return None
        return None

    def first_index_below(self, key: int) -> int | None:
        """The index of the first row whose key is below ``key``, if any."""
        for index, value in enumerate(self.keys):
            if value < key:
                return index
        return None

    def is_sorted(self) -> bool:
        keys = self.keys
        return all(map(int.__ge__, keys, keys[1:]))

    def run_start(self, key: int) -> int | None:
        """Where a run of rows with ``key`` starts on this page, if the page shows its start:
        a newer row comes before it, or the page is the top of the list."""
        index = self.first_index_of(key)
        if index is None or not (self.first_key > key or self.offset == 0):
            return None
        return index


class NewestChats:
    """The newest state of every chat read so far; pages are added as they arrive.

    Of two reads of a chat, the one the server answered later wins. When the two requests
    were in flight together, their order is unknown and the later ``last_message_time``
    wins, which is the newer state whenever times only grow. Not thread-safe: the crawler
    adds pages under its own lock.
    """

    def __init__(self) -> None:
        # id -> (sent, received, key, chat) of the newest read
        self._entries: dict[str, tuple[int, int, int, Chat]] = {}
        self.gone: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries) - len(self.gone)

    def add(self, page: ChatPage) -> None:
        entries, sent, received = self._entries, page.sent, page.received
        for chat, key in zip(page.chats, page.keys, strict=True):
            chat_id = chat["id"]
            held = entries.get(chat_id)
            if held is None or _newer(sent, received, key, held):
                entries[chat_id] = (sent, received, key, chat)
                if held is not None and chat_id in self.gone:
                    self.gone.discard(chat_id)

    def observed(self) -> Iterator[tuple[str, int, int]]:
        """``(id, key, received)`` of every chat's newest read, gone chats left out."""
        gone = self.gone
        for chat_id, (_, received, key, _) in self._entries.items():
            if chat_id not in gone:
                yield chat_id, key, received

    def count_keys(self, low: int, high: int = TOP_KEY, *, since: int = -1) -> int:
        """How many chats (not gone) have a newest key in ``[low, high]``, read at ``since``
        or later (a tick of the crawl's counter)."""
        return sum(
            1 for _, key, received in self.observed() if low <= key <= high and received >= since
        )

    def mark_gone(self, chat_id: str) -> None:
        """A chat the crawl saw missing from where its newest read put it: deleted."""
        self.gone.add(chat_id)

    def newest_first(self) -> list[Chat]:
        """One chat per id (gone chats left out), newest first; equal keys keep read order."""
        gone = self.gone
        entries = [entry for chat_id, entry in self._entries.items() if chat_id not in gone]
        entries.sort(key=_by_key, reverse=True)
        return [entry[3] for entry in entries]


def _by_key(entry: tuple[int, int, int, Chat]) -> int:
    return entry[2]


def _newer(sent: int, received: int, key: int, held: tuple[int, int, int, Chat]) -> bool:
    held_sent, held_received, held_key, _ = held
    if held_received < sent:
        return True
    if received < held_sent:
        return False
    return key >= held_key
