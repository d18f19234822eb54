"""The test server's data: chats and their messages as a SQL backend holds them, and changes.

The chats are kept in the ``sort=recent`` order (``ORDER BY last_message_time DESC``, ties by
id, chats that never had a message in a block of their own, first or last), each beside its
sort key, both kept in order with bisect as chats change, never re-sorted. A chat's messages
are made on demand from the chat and the seed (:mod:`blooio_dagster.testing.history`) until
they change; from then on the chat keeps a history of its own, and its fields follow from it,
so ``GET /chats`` and the messages always agree. The changes: messages that arrive (now, late,
in bulk, or at any time a test names), newest messages unsent, chats created and deleted.

Every method runs under the server's lock; random choices come from the server's seeded RNG.
"""

from __future__ import annotations

import copy
import json
import random
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from typing import Any, Literal

from blooio_dagster.testing.data import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    TEXTS,
    future_chats as make_future_chats,
    generate_chats,
    make_ties,
    new_chat,
    untimed_chats as make_untimed_chats,
)
from blooio_dagster.testing.history import (
    chat_fields,
    generate_history,
    live_message,
    message_key,
)
from blooio_dagster.testing.support import support_chats

# The position of a chat in the ``sort=recent`` list: (block, -last_message_time, id). Chats that
# never had a message form their own block (first or last, per ``nulls_first``) with time 0.
Key = tuple[int, int, str]


class ChatStore:
    """The chats, their order and their messages, as they are now.

    Args:
        chats, seed, tie_groups, untimed_chats, nulls_first, future_chats, profile: as for
            :class:`~blooio_dagster.testing.BlooioTestServer`.
        now_ms: epoch ms the data's timeline ends at.
        live: whether the timeline runs on ``clock_ms`` (no fixed ``now``).
        clock_ms: the server's clock (epoch ms).
        rng: the server's seeded RNG.
    """

    def __init__(
        self,
        chats: int,
        seed: int,
        *,
        now_ms: int,
        live: bool,
        clock_ms: Callable[[], int],
        rng: random.Random,
        tie_groups: Sequence[int],
        untimed_chats: int,
        nulls_first: bool,
        future_chats: int,
        profile: Literal["inbox", "support"],
    ) -> None:
        self.seed = seed
        self.rng = rng
        self._now = now_ms
        self._live = live
        self._server_clock_ms = clock_ms
        self._nulls_first = nulls_first
        # "support": conversations of answered turns, made with their messages (for demos).
        support = support_chats(chats, seed, self._now) if profile == "support" else []
        generated = [c for c, _ in support] if support else generate_chats(chats, seed, self._now)
        # The message clock starts from the ordinary chats, never from future-dated ones.
        self._clock_ms = max((c["last_message_time"] for c in generated), default=self._now)
        reshaped = bool(tie_groups or untimed_chats or future_chats)
        if tie_groups:
            make_ties(generated, tie_groups, random.Random(f"{seed}:tie_groups"))
        generated += make_future_chats(chats, future_chats, seed, self._now)
        generated += make_untimed_chats(chats + future_chats, untimed_chats, seed)
        if reshaped:
            generated.sort(key=self.sort_key)
        self.first_times: dict[str, int | None] = {
            chat["id"]: chat.pop("first_message_time") for chat in generated
        }
        self.chats = {chat["id"]: chat for chat in generated}
        # The sort=recent order (ties by id), and each chat's sort key at the same index:
        # kept in order with bisect as chats change, never re-sorted.
        self.order = [chat["id"] for chat in generated]
        self.keys = [self.sort_key(chat) for chat in generated]
        # Encoded up front so every client, first or not, sees the same response times.
        self._encoded = {chat_id: _encode(chat) for chat_id, chat in self.chats.items()}
        # Creation order, for Faults.ignore_sort: built on first use, then kept up to date.
        self._created: dict[str, None] | None = None
        self.deleted: set[str] = set()
        self.changed: set[str] = set()
        # The histories of chats whose messages changed; every other chat's history is made
        # from the chat on demand, so nothing is stored up front.
        self.histories: dict[str, list[dict[str, Any]]] = {c["id"]: h for c, h in support}
        self.unsent: set[str] = set()
        self._serial = 0

    # -- the truth, for tests --------------------------------------------------------------

    def truth(self, active_since: int | None, q: str | None) -> list[dict[str, Any]]:
        """Copies of the chats in the ``sort=recent`` order (see ``BlooioTestServer.truth``)."""
        chats = (self.chats[i] for i in self.matching(q))
        if active_since is not None:
            chats = (
                c
                for c in chats
                if c["last_message_time"] is not None and c["last_message_time"] >= active_since
            )
        # Copied after the filter: a test asking for a day's chats copies that day's only.
        return [copy.deepcopy(c) for c in chats]

    def messages_of(
        self, chat_id: str, since: int | None, until: int | None
    ) -> list[dict[str, Any]]:
        """Copies of a chat's messages sent in ``[since, until)``, oldest first; ``KeyError``."""
        if chat_id not in self.chats:
            raise KeyError(chat_id)
        history = self.history(chat_id)
        return [
            copy.deepcopy(m)
            for m in history
            if (since is None or m["time_sent"] >= since)
            and (until is None or m["time_sent"] < until)
        ]

    def add_message(self, chat_id: str, at_ms: int, direction: str) -> str:
        """Put a message sent at ``at_ms`` in a chat; its id."""
        self._serial += 1
        message_id = f"msg_added{self._serial:010d}"
        self._receive(chat_id, at_ms, message_id, direction=direction)
        return message_id

    def import_messages(self, chat_id: str, count: int, at_ms: int) -> list[str]:
        """Give ``chat_id`` ``count`` messages all sent at ``at_ms``; their ids."""
        ids = []
        for _ in range(count):
            self._serial += 1
            ids.append(f"msg_import{self._serial:010d}")
            self._receive(chat_id, at_ms, ids[-1])
        return ids

    # -- reading, for the endpoints --------------------------------------------------------

    def sort_key(self, chat: dict[str, Any]) -> Key:
        """A chat's position in the ``sort=recent`` order."""
        time_ms = chat["last_message_time"]
        if time_ms is None:
            return (0 if self._nulls_first else 1, 0, chat["id"])
        return (1 if self._nulls_first else 0, -time_ms, chat["id"])

    def matching(self, q: str | None) -> list[str]:
        """The ids of the chats ``q`` finds (all without one), in the ``sort=recent`` order."""
        if not q:
            return list(self.order)
        needle = q.casefold()
        return [i for i in self.order if _matches(self.chats[i], needle)]

    def creation_order(self, q: str | None) -> list[str]:
        """The ids of the chats ``q`` finds (all without one), oldest first message first."""
        if self._created is None:
            never = 1 << 62  # chats that never had a message were created after the others

            def created(chat_id: str) -> tuple[int, str]:
                first = self.first_times[chat_id]
                return (never if first is None else first, chat_id)

            self._created = dict.fromkeys(sorted(self.chats, key=created))
        if not q:
            return list(self._created)
        needle = q.casefold()
        return [i for i in self._created if _matches(self.chats[i], needle)]

    def encoded(self, chat_id: str) -> bytes:
        """A chat's JSON, as ``GET /chats`` lists it."""
        encoded = self._encoded.get(chat_id)
        if encoded is None:
            encoded = _encode(self.chats[chat_id])
            self._encoded[chat_id] = encoded
        return encoded

    def history(self, chat_id: str) -> list[dict[str, Any]]:
        """A chat's messages, oldest first: its own if they changed, else made from the chat."""
        history = self.histories.get(chat_id)
        if history is None:
            chat = self.chats[chat_id]
            history = generate_history(chat, self.first_times[chat_id], self.seed, self._now)
        return history

    # -- the data changing -----------------------------------------------------------------

    def _timed_span(self) -> tuple[int, int, int]:
        """(block, start, end): the chats with a ``last_message_time``, as ``order`` indices."""
        split = bisect_left(self.keys, (1,))
        if self._nulls_first:
            return 1, split, len(self.keys)
        return 0, 0, split

    def _place(self, chat_id: str, key: Key) -> None:
        index = bisect_left(self.keys, key)
        self.keys.insert(index, key)
        self.order.insert(index, chat_id)

    def _unplace(self, key: Key) -> None:
        index = bisect_left(self.keys, key)
        del self.keys[index]
        del self.order[index]

    def _changed_chat(self, chat_id: str, old_key: Key) -> None:
        """Re-file a chat whose messages changed: its fields from its history, then its place."""
        chat = self.chats[chat_id]
        history = self.histories[chat_id]
        chat.update(chat_fields(history))
        self.first_times[chat_id] = history[0]["time_sent"] if history else None
        key = self.sort_key(chat)
        if key != old_key:
            self._unplace(old_key)
            self._place(chat_id, key)
        self._encoded.pop(chat_id, None)
        self.changed.add(chat_id)

    def _own_history(self, chat_id: str) -> list[dict[str, Any]]:
        """A chat's history, kept from now on so that it can change."""
        history = self.histories.get(chat_id)
        if history is None:
            history = self.histories[chat_id] = self.history(chat_id)
        return history

    def _receive(
        self, chat_id: str, at_ms: int, message_id: str, *, direction: str | None = None
    ) -> None:
        """A message arrives in ``chat_id``, sent at ``at_ms``; in a random direction if none."""
        direction = direction or self.rng.choice(("inbound", "outbound"))
        text = self.rng.choice(TEXTS)
        chat = self.chats[chat_id]
        old_key = self.sort_key(chat)
        message = live_message(
            chat,
            message_id=message_id,
            direction=direction,
            text=text,
            at_ms=at_ms,
            seed=self.seed,
            serial=self._serial,
        )
        insort(self._own_history(chat_id), message, key=message_key)
        self._changed_chat(chat_id, old_key)

    def _remove_newest(self, chat_id: str) -> None:
        """Unsend a chat's newest message."""
        old_key = self.sort_key(self.chats[chat_id])
        self.unsent.add(self._own_history(chat_id).pop()["message_id"])
        self._changed_chat(chat_id, old_key)

    def _tick(self) -> int:
        # Strictly increasing, so a new message is the newest (future-dated chats aside). With
        # a fixed `now` it counts milliseconds from the data's newest message, which keeps the
        # answers to a seed and a request sequence the same on every run.
        self._clock_ms += 1
        if self._live:
            self._clock_ms = max(self._clock_ms, self._server_clock_ms())
        return self._clock_ms

    def receive_messages(self, count: int) -> list[str]:
        """Give ``count`` random chats a new message now; their ids."""
        moved = self.rng.sample(self.order, min(count, len(self.order)))
        for chat_id in moved:
            self.arrive_in(chat_id, 1)
        return moved

    def arrive_in(self, chat_id: str, count: int) -> None:
        """``count`` new messages in ``chat_id``, sent now."""
        for _ in range(count):
            self._serial += 1
            self._receive(chat_id, self._tick(), f"msg_live{self._serial:010d}")

    def unsend_in(self, chat_id: str, count: int) -> None:
        """Unsend ``chat_id``'s newest message ``count`` times, keeping at least one message."""
        for _ in range(count):
            if len(self.history(chat_id)) < 2:
                return
            self._remove_newest(chat_id)

    def add_chats(self, count: int) -> None:
        """Create ``count`` chats, each with one message sent now."""
        for _ in range(count):
            self._serial += 1
            at_ms = self._tick()
            chat = new_chat(self._serial, self.rng, at_ms)
            chat_id, last = chat["id"], chat["last_message"]
            self.first_times[chat_id] = chat.pop("first_message_time")
            self.chats[chat_id] = chat
            self.histories[chat_id] = [
                live_message(
                    chat,
                    message_id=last["message_id"],
                    direction=last["direction"],
                    text=last["text"],
                    at_ms=at_ms,
                    seed=self.seed,
                    serial=self._serial,
                )
            ]
            self._place(chat_id, self.sort_key(chat))
            self.changed.add(chat_id)
            if self._created is not None:
                self._created[chat_id] = None

    def delete_chats(self, count: int) -> None:
        """Delete ``count`` random chats; the chats after them move up."""
        if count <= 0:
            return
        for chat_id in self.rng.sample(self.order, min(count, len(self.order))):
            self._unplace(self.sort_key(self.chats[chat_id]))
            del self.chats[chat_id], self.first_times[chat_id]
            self._encoded.pop(chat_id, None)
            self.histories.pop(chat_id, None)
            if self._created is not None:
                del self._created[chat_id]
            self.deleted.add(chat_id)

    def deliver_late(self, count: int) -> None:
        """Give ``count`` chats a message 1 to 12 hours old, each a chat older than that."""
        if count <= 0:
            return
        block, start, end = self._timed_span()
        now = max(self._clock_ms, self._server_clock_ms()) if self._live else self._clock_ms
        for _ in range(count):
            stamp = now - self.rng.randint(HOUR_MS, 12 * HOUR_MS)
            # The chats whose newest message is older than the stamp: the tail of the block.
            older = bisect_left(self.keys, (block, -stamp + 1), start, end)
            if older >= end:
                continue
            chat_id = self.order[self.rng.randrange(older, end)]
            self._serial += 1
            self._receive(chat_id, stamp, f"msg_live{self._serial:010d}")

    def unsend(self, count: int) -> None:
        """Unsend the newest message of ``count`` random chats (a bounded step back each)."""
        if count <= 0:
            return
        _, start, end = self._timed_span()
        if start >= end:
            return
        for _ in range(count):
            # A chat whose newest message is 1 minute to 3 days younger than the one before,
            # so unsending it takes the chat back in the list, by a bounded step.
            for _attempt in range(20):
                chat_id = self.order[self.rng.randrange(start, end)]
                history = self.history(chat_id)
                if len(history) >= 2 and (
                    MINUTE_MS <= history[-1]["time_sent"] - history[-2]["time_sent"] <= 3 * DAY_MS
                ):
                    break
            else:
                continue
            self._remove_newest(chat_id)


def _encode(chat: dict[str, Any]) -> bytes:
    return json.dumps(chat, ensure_ascii=False).encode()


def _matches(chat: dict[str, Any], needle: str) -> bool:
    contact = chat.get("contact") or {}
    fields = (chat.get("id"), contact.get("identifier"), contact.get("name"))
    return any(isinstance(v, str) and needle in v.casefold() for v in fields)
