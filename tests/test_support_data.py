"""The support-team inbox the demo shows: self-consistent, deterministic, replies in minutes."""

from __future__ import annotations

import itertools
import statistics

from blooio_dagster.testing import BlooioTestServer
from blooio_dagster.testing.history import chat_fields
from blooio_dagster.testing.support import support_chats
from tests.conftest import FIXED_NOW_MS, ClientFactory
from tests.test_server_messages import CHAT_FIELDS


def test_every_chat_agrees_with_its_messages_over_http(client_for: ClientFactory) -> None:
    with BlooioTestServer(chats=300, seed=4, now=FIXED_NOW_MS, profile="support") as server:
        client = client_for(server)
        chats = client.list_chats()
        disagreeing = [
            chat["id"]
            for chat in chats
            if {k: chat[k] for k in CHAT_FIELDS}
            != {k: v for k, v in chat_fields(client.list_messages(chat["id"])).items()}
        ]
        late = [
            m for c in chats for m in server.messages_of(c["id"]) if m["time_sent"] > FIXED_NOW_MS
        ]

    assert len(chats) == 300
    assert disagreeing == []
    assert late == []


def test_the_same_arguments_give_the_same_inbox() -> None:
    assert support_chats(50, 9, FIXED_NOW_MS) == support_chats(50, 9, FIXED_NOW_MS)
    assert support_chats(50, 9, FIXED_NOW_MS) != support_chats(50, 10, FIXED_NOW_MS)


def test_turns_are_answered_in_minutes_and_few_wait() -> None:
    replies, waiting = [], 0
    for _, history in support_chats(2000, 1, FIXED_NOW_MS):
        sent = [
            m for m in history if not (m["direction"] == "outbound" and m["status"] == "failed")
        ]
        for before, after in itertools.pairwise(sent):
            if before["direction"] == "inbound" and after["direction"] == "outbound":
                replies.append((after["time_sent"] - before["time_sent"]) / 60_000)
        waiting += bool(sent) and sent[-1]["direction"] == "inbound"

    median = statistics.median(replies)
    assert 5 <= median <= 30, median
    assert statistics.quantiles(replies, n=10)[-1] <= 6 * 60
    assert 0 < waiting < 2000 * 0.05, waiting
