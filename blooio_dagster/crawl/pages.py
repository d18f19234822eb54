"""Pages of Blooio's chat list, the order they are sorted in, and the newest state of each chat.

``GET /chats?sort=recent`` is answered, like any SQL ``ORDER BY ... LIMIT ... OFFSET``, from
one consistent snapshot per request. So a page is hard evidence about the list *at the moment
it was answered*: its rows are exactly the chats whose sort key lies strictly between its last
and its first row's key. The crawl (:mod:`blooio_dagster.crawl.chats`) builds its proof of
completeness out of that fact; this module holds the pieces it reasons about:

- :class:`SortKeys` turns a chat into its sort key. ``last_message_time`` is the key; chats
  without one (never messaged) sort first or last depending on the server's database
  (PostgreSQL puts nulls first for ``DESC``), which the first page tells.
- :class:`ChatPage` is one answered request with its ids and keys and when it was sent and
  answered; the chats themselves go straight to :class:`NewestChats`.
- :class:`NewestChats` keeps the newest state of every chat read so far, as the compact
  records of :mod:`blooio_dagster.api.wire.records` (or dicts), and nothing else per page.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import Any

#: The key of a chat without ``last_message_time`` when the server lists those first, and last.
NULL_FIRST_KEY = 2**62
NULL_LAST_KEY = -(2**62)
#: Above every key: "from the very top of the list".
TOP_KEY = 2**63
#: The highest key a chat with a ``last_message_time`` can have.
TIMED_TOP_KEY = NULL_FIRST_KEY - 1


class SortKeys:
    """Sort keys of chats: ``last_message_time``, with null times first or last.

    Where the server puts chats without a time is learned from the first non-empty page at
    offset 0: its first row has no time only if nulls sort first.
    """

    def __init__(self) -> None:
        self.nulls_first: bool | None = None

    def learn(self, offset: int, times: list[Any]) -> None:
        """Learn from a page's ``last_message_time`` values, read at ``offset``."""
        if self.nulls_first is None and offset == 0 and times:
            self.nulls_first = type(times[0]) is not int

    @property
    def null_key(self) -> int:
        return NULL_FIRST_KEY if self.nulls_first else NULL_LAST_KEY

    def of(self, times: list[Any]) -> list[int]:
        """The keys of a page's ``last_message_time`` values."""
        null = self.null_key
        return [t if type(t) is int else null for t in times]


def is_timed(key: int) -> bool:
    """Whether a key is a real ``last_message_time`` rather than a null's placeholder."""
    return NULL_LAST_KEY < key < NULL_FIRST_KEY


@dataclass(frozen=True)
class ChatPage:
    """One answered ``GET /chats`` request: its rows' ids and sort keys.

    ``sent`` and ``received`` are ticks of one counter shared by every request of a crawl:
    ``a.received < b.sent`` proves the server answered ``a`` before it saw ``b``.
    """

    offset: int
    limit: int
    ids: list[str]
    keys: list[int]
    total: int | None
    reported_limit: int | None
    server_time: int | None
    sent: int
    received: int

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def end(self) -> int:
        """The position just past its last row."""
        return self.offset + len(self.keys)

    @property
    def first_key(self) -> int:
        return self.keys[0]

    @property
    def last_key(self) -> int:
        return self.keys[-1]

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
    wins, which is the newer state whenever times only grow. Only the winning read's record
    is kept: a superseded one is released at once, so memory follows the distinct chats, not
    the pages read. Not thread-safe: the crawler adds pages under its own lock.
    """

    def __init__(self) -> None:
        self._index: dict[str, int] = {}  # id -> row of its newest read
        # Per row ever added: its record (None once superseded), and the read's ticks and key.
        self._records: list[Any] = []
        self._sent: list[int] = []
        self._received: list[int] = []
        self._keys: list[int] = []
        self.gone: set[str] = set()

    def __len__(self) -> int:
        return len(self._index) - len(self.gone)

    def add(self, page: ChatPage, records: Sequence[Any]) -> None:
        """Add a page's chats (``records``, in the page's order)."""
        index, kept, keys, received = self._index, self._records, self._keys, self._received
        first = len(kept)
        kept.extend(records)
        self._sent.extend(repeat(page.sent, len(page)))
        received.extend(repeat(page.received, len(page)))
        keys.extend(page.keys)
        for row, chat_id in enumerate(page.ids, first):
            held = index.get(chat_id)
            if held is None:
                index[chat_id] = row
            elif self._newer(page.sent, page.received, keys[row], held):
                index[chat_id] = row
                kept[held] = None
                self.gone.discard(chat_id)
            else:
                kept[row] = None

    def _newer(self, sent: int, received: int, key: int, held: int) -> bool:
        """Whether a read (``sent``, ``received``, ``key``) is newer than row ``held``'s."""
        if self._received[held] < sent:
            return True
        if received < self._sent[held]:
            return False
        return key >= self._keys[held]

    def observed(self) -> Iterator[tuple[str, int, int]]:
        """``(id, key, received)`` of every chat's newest read, gone chats left out."""
        gone, keys, received = self.gone, self._keys, self._received
        for chat_id, row in self._index.items():
            if chat_id not in gone:
                yield chat_id, keys[row], received[row]

    def count_keys(self, low: int, high: int = TOP_KEY, *, since: int = -1) -> int:
        """How many chats (not gone) have a newest key in ``[low, high]``, read at ``since``
        or later (a tick of the crawl's counter)."""
        return sum(
            1 for _, key, received in self.observed() if low <= key <= high and received >= since
        )

    def mark_gone(self, chat_id: str) -> None:
        """A chat the crawl saw missing from where its newest read put it: deleted."""
        self.gone.add(chat_id)

    def newest_first(self) -> list[Any]:
        """One record per chat (gone chats left out), newest first; equal keys keep the
        order in which the chats were first read."""
        gone = self.gone
        rows = [row for chat_id, row in self._index.items() if chat_id not in gone]
        rows.sort(key=self._keys.__getitem__, reverse=True)  # stable, also reversed
        return list(map(self._records.__getitem__, rows))
