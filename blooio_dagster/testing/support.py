"""Synthetic chats shaped like a support team's inbox, for demos a support lead would believe.

The default data (:mod:`blooio_dagster.testing.data`) stresses the crawl: any mix of directions
and times. Here every chat is a conversation of customer turns, each answered by the team after
a delay of minutes (median about a quarter of an hour, a long tail of hours and a few days),
a few answers that failed and were sent again, turns still waiting because they came in just
before "now", and a few left unanswered for days. Histories are made up front and the chat's
fields come from them, so ``GET /chats`` and the messages always agree.
"""

from __future__ import annotations

import math
import random
from typing import Any

from blooio_dagster.testing.data import DAY_MS, MINUTE_MS, TEXTS, chat_identity, sort_key
from blooio_dagster.testing.history import MessageStyle, chat_fields, make_message, new_message_id

#: Median of the team's reply time, and how widely reply times spread around it.
REPLY_MEDIAN_MS = 15 * MINUTE_MS
REPLY_SIGMA = 1.2
#: Share of turns that slip into the long tail (hours to days), and of turns never answered.
SLOW_SHARE = 0.05
DROPPED_SHARE = 0.005
#: Mean age of a chat's first message, and mean gap between a chat's turns.
FIRST_AGE_MEAN_MS = 45 * DAY_MS
TURN_GAP_MEAN_MS = 4 * DAY_MS


def support_chats(
    count: int, seed: int, now_ms: int
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """``count`` chats, newest first, each with its history (oldest first), none after ``now_ms``.

    Each chat has the server's ``first_message_time``. The same arguments always give the same
    chats.
    """
    rng = random.Random(f"{seed}:support")
    made = []
    for index in range(count):
        chat = chat_identity(index, rng)
        history = _conversation(chat, rng, now_ms)
        chat.update(chat_fields(history), first_message_time=history[0]["time_sent"])
        made.append((chat, history))
    made.sort(key=lambda pair: sort_key(pair[0]))
    return made


def _conversation(chat: dict[str, Any], rng: random.Random, now_ms: int) -> list[dict[str, Any]]:
    style = MessageStyle(chat, rng)
    at = now_ms - min(int(rng.expovariate(1 / FIRST_AGE_MEAN_MS)), 300 * DAY_MS)
    messages: list[dict[str, Any]] = []

    def send(direction: str, when: int) -> dict[str, Any]:
        text = rng.choice(TEXTS)
        message = make_message(style, rng, new_message_id(rng), direction, when, text, now_ms)
        messages.append(message)
        return message

    if rng.random() < 0.05:  # a notice the customer never answered
        send("outbound", at)
        return messages
    turns = 1 + min(int(rng.expovariate(1 / 1.5)), 7)
    for _ in range(turns):
        if at >= now_ms:
            break
        for _ in range(rng.choice((1, 1, 1, 2, 3))):  # the customer writes, maybe in a burst
            send("inbound", min(at, now_ms))
            at += rng.randint(5_000, 90_000)
        if rng.random() < DROPPED_SHARE:
            break
        reply_at = at + _reply_delay(rng)
        while reply_at <= now_ms:
            reply = send("outbound", reply_at)
            if reply["status"] != "failed":
                break
            reply_at += rng.randint(MINUTE_MS, 10 * MINUTE_MS)  # sent again after a failure
        else:
            break  # still waiting at now_ms
        at = reply_at + int(rng.expovariate(1 / TURN_GAP_MEAN_MS))
    return messages


def _reply_delay(rng: random.Random) -> int:
    delay = rng.lognormvariate(math.log(REPLY_MEDIAN_MS), REPLY_SIGMA)
    if rng.random() < SLOW_SHARE:
        delay *= rng.uniform(8, 60)
    return max(int(delay), 20_000)
