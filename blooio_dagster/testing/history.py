"""Deterministic message histories for the synthetic chats, made on demand.

A chat's history is a function of the chat as it was generated (its counts, newest message per
direction, ``first_message_time``) and the server's seed: :func:`generate_history` makes it
whenever it is asked for, so a server with a million chats stores no messages up front. Only
chats that change (new, late or unsent messages) keep a history of their own, which
:func:`chat_fields` turns back into the chat's fields, so ``GET /chats`` and
``GET /chats/{chat_id}/messages`` always agree.

What agreeing means: ``message_count``/``inbound_count``/``outbound_count`` count the messages
(failed outbound messages too: they are messages of the chat like any other),
``last_message_time`` and ``last_{direction}_time`` are the newest ``time_sent`` (per
direction), ``last_message`` is the newest message by (``time_sent``, ``message_id``), and
``first_message_time`` is the oldest ``time_sent``.

The messages have every field of the vendor's typed spec: statuses ``delivered``, ``sent`` and
``failed`` (with an ``error``) for outbound messages, ``pending`` or ``queued`` for some that
just arrived, ``sender`` for inbound group messages, the contact's id as ``external_id`` and
one of the organization's numbers as ``internal_id``, attachments, reactions, and messages
sharing one millisecond.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from blooio_dagster.testing.data import TEXTS, other_direction

#: The organization's own numbers, one per chat as ``internal_id``.
ORG_NUMBERS = ("+18885550100", "+18885550101", "+18885550102")
#: Share of generated outbound messages that failed to send.
FAILED_SHARE = 0.07
#: Share of generated messages sent in the same millisecond as an earlier one of the chat.
TIE_SHARE = 0.04

_ERRORS = (
    "Recipient is not reachable",
    "Carrier rejected the message",
    "Device offline",
)
_REACTIONS = ("love", "like", "dislike", "laugh", "emphasize", "question", "😂", "👍")
_ATTACHMENT_TYPES = (("jpg", "image/jpeg"), ("png", "image/png"), ("pdf", "application/pdf"))


def message_key(message: dict[str, Any]) -> tuple[int, str]:
    """The order of a chat's messages: by ``time_sent``, equal times by ``message_id``."""
    return (message["time_sent"], message["message_id"])


def generate_history(
    chat: dict[str, Any], first_ms: int | None, seed: int, now_ms: int
) -> list[dict[str, Any]]:
    """Every message of ``chat`` as generated (no live change yet), oldest first.

    ``first_ms`` is the chat's ``first_message_time``; message times and reactions never pass
    ``now_ms``, except in chats dated after it. The same arguments always give the same
    history, and :func:`chat_fields` of it equals the chat's fields.
    """
    last_time = chat["last_message_time"]
    if last_time is None:
        return []
    rng = random.Random(f"{seed}:history:{chat['id']}")
    style = MessageStyle(chat, rng)
    clock = max(now_ms, last_time)
    last = chat["last_message"]
    messages = [
        make_message(
            style, rng, last["message_id"], last["direction"], last_time, last["text"], clock
        )
    ]
    other = other_direction(last["direction"])
    other_time = chat[f"last_{other}_time"]
    if other_time is not None:
        messages.append(
            make_message(style, rng, new_message_id(rng), other, other_time, _text(rng), clock)
        )
    extra = {
        direction: chat[f"{direction}_count"] - (chat[f"last_{direction}_time"] is not None)
        for direction in ("inbound", "outbound")
    }
    times: list[int] = []
    if extra["inbound"] + extra["outbound"] > 0:
        if first_ms is None:
            raise ValueError(f"chat {chat['id']} has messages but no first_message_time")
        # The first message sits exactly at first_message_time, the rest strictly between it
        # and the newest message of their direction.
        plan = [d for d in ("inbound", "outbound") for _ in range(extra[d])]
        first = rng.randrange(len(plan))
        for index, direction in enumerate(plan):
            newest = chat[f"last_{direction}_time"]
            if index == first:
                at = first_ms
            else:
                earlier = [t for t in times if t < newest]
                if earlier and rng.random() < TIE_SHARE:
                    at = rng.choice(earlier)
                else:
                    at = rng.randint(first_ms, newest - 1)
            times.append(at)
            messages.append(
                make_message(style, rng, new_message_id(rng), direction, at, _text(rng), clock)
            )
    messages.sort(key=message_key)
    return messages


def live_message(
    chat: dict[str, Any],
    *,
    message_id: str,
    direction: str,
    text: str | None,
    at_ms: int,
    seed: int,
    serial: int,
) -> dict[str, Any]:
    """A message that arrives in ``chat`` now (``at_ms``), drawn from its own RNG.

    Its own RNG (from ``seed`` and ``serial``) leaves the server's sequence of random choices
    as it was. Outbound ones are just sent (``pending``, ``queued`` or ``sent``) or failed, and
    nothing about them lies after ``at_ms``.
    """
    rng = random.Random(f"{seed}:live:{serial}")
    style = MessageStyle(chat, random.Random(f"{seed}:history:{chat['id']}"))
    message = make_message(style, rng, message_id, direction, at_ms, text, at_ms)
    if direction == "outbound" and message["status"] != "failed":
        message["status"] = rng.choice(("pending", "queued", "sent"))
        message["time_delivered"] = None
    return message


def queued_messages(chat_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` outbound messages of ``chat_id`` queued to send, without a ``time_sent`` yet."""
    tag = hashlib.sha256(chat_id.encode()).hexdigest()[:12]
    return [
        {
            "message_id": f"msg_queued{tag}{index:03d}",
            "direction": "outbound",
            "text": None,
            "time_sent": None,
            "time_delivered": None,
            "status": "queued",
            "protocol": "imessage",
            "attachments": [],
            "reactions": [],
        }
        for index in range(count)
    ]


def chat_fields(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields of ``GET /chats`` that ``history`` (oldest first) determines."""
    newest: dict[str, int | None] = {"inbound": None, "outbound": None}
    counts = {"inbound": 0, "outbound": 0}
    for message in history:
        counts[message["direction"]] += 1
        newest[message["direction"]] = message["time_sent"]
    last = history[-1] if history else None
    return {
        "message_count": len(history),
        "inbound_count": counts["inbound"],
        "outbound_count": counts["outbound"],
        "last_message_time": None if last is None else last["time_sent"],
        "last_inbound_time": newest["inbound"],
        "last_outbound_time": newest["outbound"],
        "last_message": None
        if last is None
        else {
            "message_id": last["message_id"],
            "text": last["text"],
            "direction": last["direction"],
            "time_sent": last["time_sent"],
        },
    }


class MessageStyle:
    """What a chat's messages share: protocol, the organization's number, group members."""

    def __init__(self, chat: dict[str, Any], rng: random.Random) -> None:
        kind = chat.get("type")
        self.external_id: str = chat["id"]
        self.internal_id = rng.choice(ORG_NUMBERS)
        if kind == "phone":
            self.protocol = rng.choices(("imessage", "sms", "rcs"), weights=(60, 25, 15))[0]
        else:
            self.protocol = "imessage"
        self.members: list[str] = []
        if chat.get("is_group"):
            for _ in range(max(int(chat.get("member_count") or 3) - 1, 2)):
                if rng.random() < 0.8:
                    self.members.append(f"+1{rng.randint(2_000_000_000, 9_999_999_999)}")
                else:
                    self.members.append(f"member{rng.getrandbits(24):06x}@example.com")


def make_message(
    style: MessageStyle,
    rng: random.Random,
    message_id: str,
    direction: str,
    at: int,
    text: str | None,
    clock: int,
) -> dict[str, Any]:
    """One message of a chat in the vendor's typed shape, sent at ``at``, drawn from ``rng``:
    its status (failed ones with an ``error``), delivery, attachments and reactions, none of
    them after ``clock``."""
    outbound = direction == "outbound"
    status, error = "delivered", None
    delivered: int | None = at
    if outbound:
        roll = rng.random()
        if roll < FAILED_SHARE:
            status, error, delivered = "failed", rng.choice(_ERRORS), None
        elif roll < FAILED_SHARE + 0.08:
            status, delivered = "sent", None
        else:
            delivered = min(at + rng.randint(300, 8_000), clock)
    attachments: list[dict[str, Any]] = []
    if rng.random() < 0.08:
        extension, mime = rng.choice(_ATTACHMENT_TYPES)
        name = f"{rng.getrandbits(48):012x}.{extension}"
        attachments.append(
            {"url": f"https://cdn.example.com/attachments/{name}", "mime_type": mime}
        )
    reactions: list[dict[str, Any]] = []
    if rng.random() < 0.05 and at < clock:
        reactions.append(
            {
                "reaction": rng.choice(_REACTIONS),
                # Reactions to our messages come from the customer (a member in a group);
                # ours have no sender.
                "sender": (rng.choice(style.members) if style.members else style.external_id)
                if outbound
                else None,
                "time_sent": min(at + rng.randint(1_000, 3_600_000), clock),
                "is_added": True,
            }
        )
    return {
        "message_id": message_id,
        "direction": direction,
        "text": text,
        "time_sent": at,
        "time_delivered": delivered,
        "status": status,
        "protocol": style.protocol,
        "sender": rng.choice(style.members) if style.members and not outbound else None,
        "error": error,
        "external_id": style.external_id,
        "internal_id": style.internal_id,
        "attachments": attachments,
        "reactions": reactions,
    }


def new_message_id(rng: random.Random) -> str:
    """A fresh ``msg_...`` id drawn from ``rng``."""
    return f"msg_{rng.getrandbits(64):016x}"


def _text(rng: random.Random) -> str | None:
    return None if rng.random() < 0.05 else rng.choice(TEXTS)
