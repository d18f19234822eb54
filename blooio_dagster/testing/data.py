"""Deterministic synthetic Blooio chats: phone, email and group chats with unicode text.

Every field of the ``GET /chats`` reference appears, with nulls where the API has them:
contacts without a name, chats nobody answered (no outbound message), chats where the
customer never wrote (no inbound message), groups without a name, and a few chat backgrounds.
The server can also reshape the data: chats sharing one ``last_message_time``, chats that never
had a message (every time null) and chats dated in the future. Each chat's messages are made
from it on demand by :mod:`blooio_dagster.testing.history`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_FIRST_NAMES = [
    "Ana",
    "José",
    "Zoë",
    "Søren",
    "Chloé",
    "Mateus",
    "Ngozi",
    "Aiyana",
    "Łukasz",
    "Ayşe",
    "李雷",
    "さくら",
    "Дмитрий",
    "Οδυσσέας",
    "محمد",
    "Priya",
    "Nguyễn",
    "Björk",
    "Kwame",
    "Maëlle",
]
_LAST_NAMES = [
    "García",
    "Müller",
    "O'Brien",
    "Nakamura",
    "Kowalski",
    "Dubois",
    "Okafor",
    "Haddad",
    "Øvergaard",
    "Van der Berg",
    "Smith",
    "Ivanova",
    "王",
    "Fernández",
    "Thompson",
]
TEXTS = [
    "Hi! Is my order on its way?",
    "Thanks, that worked 🙌",
    "Can we move the appointment to Friday?",
    "¿Tienen envío a México?",
    "Merci beaucoup !",
    "Your code is 482913",
    "Our store opens at 9am tomorrow.",
    "Ça marche, à demain",
    "請問營業時間是？",  # noqa: RUF001 (a real Chinese question mark)
    "👍",
    "Following up on the quote: any questions?",
    'He said "call me" & left 🤷',
    "Line one\nline two",
]
_GROUP_NAMES = [
    "Support squad 🛟",
    "Équipe Paris",
    "Wedding planning 💍",
    "東京チーム",
    "Ops on-call",
]


def generate_chats(count: int, seed: int, now_ms: int) -> list[dict[str, Any]]:
    """``count`` chats whose last messages fall in the year before ``now_ms``, newest first.

    Activity is skewed to recent days (about a sixtieth of the chats per day near ``now``),
    like a real inbox. The same ``count``, ``seed`` and ``now_ms`` always give the same chats.
    """
    rng = random.Random(seed)
    chats = [_chat(index, rng, now_ms) for index in range(count)]
    chats.sort(key=sort_key)
    return chats


def chat_identity(index: int, rng: random.Random) -> dict[str, Any]:
    """A chat's id, type, contact, group and background, for data whose messages come first.

    Its message fields are placeholders, to be set from the chat's history.
    """
    chat = _chat(index, rng, 365 * DAY_MS)
    del chat["first_message_time"]
    return chat


def sort_key(chat: dict[str, Any]) -> tuple[int, str]:
    """Newest first; equal times by id, so the order is total and stable."""
    return (-chat["last_message_time"], chat["id"])


def _chat(index: int, rng: random.Random, now_ms: int) -> dict[str, Any]:
    kind = rng.choices(("phone", "email", "group"), weights=(70, 20, 10))[0]
    # Exponential ages with a 60-day mean, cut at a year: busy recent days, a long tail.
    age_ms = min(int(rng.expovariate(1 / 60) * DAY_MS), 365 * DAY_MS - 1)
    last_time = now_ms - age_ms
    mix = rng.random()
    inbound = 0 if mix < 0.1 else rng.randint(1, 40)
    outbound = 0 if 0.1 <= mix < 0.2 else rng.randint(1, 40)
    if inbound == 0:
        direction = "outbound"
    elif outbound == 0:
        direction = "inbound"
    else:
        direction = rng.choice(("inbound", "outbound"))
    # The other direction's last message: usually minutes before, sometimes days.
    earlier = last_time - min(int(rng.expovariate(1 / 2_400) * 1000) + 1_000, 3 * DAY_MS)
    chat: dict[str, Any] = {
        "id": "",
        "type": kind,
        "is_group": kind == "group",
        "group_id": None,
        "group_name": None,
        "contact": None,
        "message_count": inbound + outbound,
        "inbound_count": inbound,
        "outbound_count": outbound,
        "background_url": None,
        "background_id": None,
        "last_message_time": last_time,
        "last_inbound_time": None
        if inbound == 0
        else (last_time if direction == "inbound" else earlier),
        "last_outbound_time": None
        if outbound == 0
        else (last_time if direction == "outbound" else earlier),
        "last_message": {
            "message_id": f"msg_{index:06d}{rng.getrandbits(32):08x}",
            "text": None if rng.random() < 0.05 else rng.choice(TEXTS),
            "direction": direction,
            "time_sent": last_time,
        },
    }
    name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
    if kind == "group":
        chat["id"] = chat["group_id"] = f"grp_{index:08x}"
        chat["group_name"] = None if rng.random() < 0.3 else rng.choice(_GROUP_NAMES)
        chat["member_count"] = rng.randint(3, 12)
    else:
        if kind == "phone":
            chat["id"] = f"+1{2_000_000_000 + index * 7 % 8_000_000_000:010d}"
        else:
            chat["id"] = f"customer{index}@example.com"
        if rng.random() >= 0.05:
            chat["contact"] = {
                "contact_id": f"ct_{index:08x}",
                "name": None if rng.random() < 0.2 else name,
                "identifier": chat["id"],
            }
    if rng.random() < 0.1:
        chat["background_id"] = f"bg_{index:06x}"
        chat["background_url"] = f"https://cdn.example.com/backgrounds/{index:06x}.png"
    # The first message: the earliest of the newest per direction when those are all the
    # messages, otherwise up to 30 days (at least 1 ms) before it, so the chat's other messages
    # fit strictly between the first and the newest ones (see testing.history).
    spread = max(rng.randint(0, 30 * DAY_MS), 1)
    earliest = earlier if inbound and outbound else last_time
    has_more = inbound + outbound > (inbound > 0) + (outbound > 0)
    chat["first_message_time"] = earliest - spread if has_more else earliest
    return chat


def new_chat(serial: int, rng: random.Random, at_ms: int) -> dict[str, Any]:
    """A chat that did not exist before, whose first message arrives at ``at_ms``."""
    direction = rng.choice(("inbound", "outbound"))
    chat_id = f"+1{9_000_000_000 + serial:010d}"
    return {
        "id": chat_id,
        "type": "phone",
        "is_group": False,
        "group_id": None,
        "group_name": None,
        "contact": {"contact_id": f"ct_new{serial:06d}", "name": None, "identifier": chat_id},
        "message_count": 1,
        "inbound_count": int(direction == "inbound"),
        "outbound_count": int(direction == "outbound"),
        "background_url": None,
        "background_id": None,
        "last_message_time": at_ms,
        "last_inbound_time": at_ms if direction == "inbound" else None,
        "last_outbound_time": at_ms if direction == "outbound" else None,
        "last_message": _last_message(f"msg_new{serial:010d}", rng, direction, at_ms),
        "first_message_time": at_ms,
    }


def future_chats(start_index: int, count: int, seed: int, now_ms: int) -> list[dict[str, Any]]:
    """``count`` chats whose last message is dated a day (up to an hour more) after ``now_ms``.

    As from a device whose clock is wrong. Ids continue from ``start_index``, so they do not
    collide with the ``start_index`` chats of :func:`generate_chats`.
    """
    rng = random.Random(f"{seed}:future")
    chats = []
    for index in range(start_index, start_index + count):
        chat = _chat(index, rng, now_ms)
        redate_last_message(chat, now_ms + DAY_MS + rng.randint(0, HOUR_MS))
        chats.append(chat)
    return chats


def untimed_chats(start_index: int, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` phone and email chats that never had a message: every time and count empty."""
    rng = random.Random(f"{seed}:untimed")
    chats = []
    for index in range(start_index, start_index + count):
        if rng.random() < 0.7:
            kind, chat_id = "phone", f"+1{2_000_000_000 + index * 7 % 8_000_000_000:010d}"
        else:
            kind, chat_id = "email", f"customer{index}@example.com"
        name = (
            None if rng.random() < 0.3 else f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        )
        chats.append(
            {
                "id": chat_id,
                "type": kind,
                "is_group": False,
                "group_id": None,
                "group_name": None,
                "contact": {"contact_id": f"ct_{index:08x}", "name": name, "identifier": chat_id},
                "message_count": 0,
                "inbound_count": 0,
                "outbound_count": 0,
                "background_url": None,
                "background_id": None,
                "last_message_time": None,
                "last_inbound_time": None,
                "last_outbound_time": None,
                "last_message": None,
                "first_message_time": None,
            }
        )
    return chats


def redate_last_message(chat: dict[str, Any], at_ms: int) -> None:
    """Move ``chat``'s last message to ``at_ms``, keeping the chat self-consistent.

    The other direction's last message keeps its distance before the last one when it would
    otherwise come after ``at_ms``; a ``first_message_time`` key, if present, keeps its
    distance before the earliest of the two, so the chat's history still fits between them.
    """
    old = chat["last_message_time"]
    direction = chat["last_message"]["direction"]
    other = other_direction(direction)
    old_other = chat[f"last_{other}_time"]
    chat["last_message_time"] = at_ms
    chat["last_message"]["time_sent"] = at_ms
    chat[f"last_{direction}_time"] = at_ms
    other_time = old_other
    if other_time is not None and other_time > at_ms:
        other_time = chat[f"last_{other}_time"] = max(at_ms - (old - other_time), 1)
    if chat.get("first_message_time") is not None:
        old_earliest = old if old_other is None else min(old, old_other)
        earliest = at_ms if other_time is None else min(at_ms, other_time)
        chat["first_message_time"] += earliest - old_earliest


def make_ties(chats: list[dict[str, Any]], sizes: Sequence[int], rng: random.Random) -> None:
    """Give groups of ``sizes`` chats one ``last_message_time`` each, that of a random chat."""
    times = Counter(chat["last_message_time"] for chat in chats)
    free = list(range(len(chats)))
    rng.shuffle(free)
    for size in sizes:
        if size < 1 or not free:
            continue
        # A time no other chat has, so the group is exactly `size` chats.
        anchor = free.pop()
        while times[chats[anchor]["last_message_time"]] > 1 and free:
            anchor = free.pop()
        at_ms = chats[anchor]["last_message_time"]
        for _ in range(min(size - 1, len(free))):
            chat = chats[free.pop()]
            times[chat["last_message_time"]] -= 1
            redate_last_message(chat, at_ms)
            times[at_ms] += 1


def _last_message(
    message_id: str, rng: random.Random, direction: str, at_ms: int
) -> dict[str, Any]:
    """A chat's ``last_message`` object for a message sent at ``at_ms``."""
    return {
        "message_id": message_id,
        "text": rng.choice(TEXTS),
        "direction": direction,
        "time_sent": at_ms,
    }


def other_direction(direction: str) -> str:
    """``"outbound"`` for ``"inbound"`` and the reverse."""
    return "outbound" if direction == "inbound" else "inbound"
