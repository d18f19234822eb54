"""``BlooioClient.fetch_messages``: many chats' windows at once, over real HTTP.

The result equals an independent computation from the server's truth for many chats, costs
one request per chat whose window fits a page, reaches back to each window's predecessor with
``preceding``, stays complete while messages arrive, shares the client's concurrency and rate
limits, and reports deleted chats instead of failing on them.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from blooio_dagster import BlooioConfigError, BlooioIncompleteError, BlooioRequestError
from blooio_dagster.crawl.fanout import MessagesProgress, MessagesResult
from blooio_dagster.testing import BlooioTestServer, Faults
from blooio_dagster.testing.data import DAY_MS, HOUR_MS
from tests.conftest import FIXED_NOW_MS, ClientFactory, ServerFactory
from tests.messages_truth import assert_read_exactly, expected_messages, failed_outbound


def chat_ids(server: BlooioTestServer, **truth: Any) -> list[str]:
    return [chat["id"] for chat in server.truth(**truth)]


def test_many_chats_equal_the_truth_at_one_request_each(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=3000, seed=41, tie_groups=(30,), untimed_chats=5)
    client = client_for(server)
    since = FIXED_NOW_MS - 7 * DAY_MS
    active = chat_ids(server, active_since=since)

    result = client.fetch_messages(active, since=since, until=FIXED_NOW_MS)

    assert len(active) > 200
    assert list(result.messages) == active
    for chat_id in active:
        history = server.messages_of(chat_id)
        assert result.messages[chat_id] == expected_messages(
            history, since=since, until=FIXED_NOW_MS
        )
        assert result.messages[chat_id], "every chat active since `since` has a message there"
    assert result.requests == len(active) == len(server.messages_requests())
    assert result.not_found == ()
    assert result.retries == 0
    assert result.message_count == sum(map(len, result.messages.values()))
    assert (result.since, result.until, result.preceding) == (since, FIXED_NOW_MS, False)
    rows = result.rows()
    assert len(rows) == result.message_count
    assert rows[0]["chat_id"] == active[0]


def test_preceding_reaches_back_to_the_message_a_turn_follows(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=3000, seed=42)
    client = client_for(server)
    since = FIXED_NOW_MS - 2 * DAY_MS
    active = chat_ids(server, active_since=since)

    result = client.fetch_messages(active, since=since, preceding=True)

    shapes = {"failed before": 0, "whole history": 0, "predecessor": 0}
    for chat_id in active:
        history = server.messages_of(chat_id)
        got = result.messages[chat_id]
        assert got == expected_messages(history, since=since, preceding=True)
        lead = [m for m in got if m["time_sent"] < since]
        if lead and all(failed_outbound(m) for m in lead):
            assert lead[0] == history[0]
            shapes["whole history"] += 1
        elif lead:
            assert not failed_outbound(lead[0])
            assert [m for m in lead[1:] if not failed_outbound(m)] == []
            shapes["predecessor"] += 1
            shapes["failed before"] += len(lead) > 1
    assert shapes["predecessor"] > 100
    assert shapes["failed before"] > 0
    # One request per chat: the page from `until` down that reaches past `since` holds the
    # predecessor too (every chat here has fewer than a page of messages).
    assert result.requests == len(active)


def test_preceding_pages_back_as_far_as_the_predecessor(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=100, seed=43)
    client = client_for(server, page_size=6)
    chats = server.truth()
    ids = [c["id"] for c in chats]
    # Windows that start between two messages of each chat, some deep in its history.
    since = FIXED_NOW_MS - 20 * DAY_MS

    result = client.fetch_messages(ids, since=since, preceding=True)
    whole = client.fetch_messages(ids, since=None, preceding=True)

    for chat_id in ids:
        history = server.messages_of(chat_id)
        assert result.messages[chat_id] == expected_messages(history, since=since, preceding=True)
        assert whole.messages[chat_id] == history
    assert result.requests < whole.requests


def test_an_all_failed_lead_reads_the_whole_history(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=3000, seed=44)
    client = client_for(server, page_size=3)
    # A chat whose messages before some moment are all failed outbound ones.
    chat_id, since = next(
        (c["id"], history[k]["time_sent"])
        for c in server.truth()
        for history in [server.messages_of(c["id"])]
        for k in range(1, len(history))
        if all(failed_outbound(m) for m in history[:k])
        and history[k]["time_sent"] > history[k - 1]["time_sent"]
    )

    result = client.fetch_messages([chat_id], since=since, preceding=True)

    history = server.messages_of(chat_id)
    assert result.messages[chat_id] == history
    assert result.requests >= len(history) // 3


def test_complete_while_messages_arrive_in_every_chat(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=120, seed=45)
    ids = chat_ids(server)
    before = {chat_id: server.messages_of(chat_id) for chat_id in ids}
    server.faults = Faults(chat_messages_per_request=2, page_cap=5, tie_order="request")
    client = client_for(server)

    result = client.fetch_messages(ids, since=None)
    server.faults = Faults()

    for chat_id in ids:
        assert_read_exactly(
            result.messages[chat_id],
            before=before[chat_id],
            after=server.messages_of(chat_id),
            unsent=set(),
            since=None,
            until=None,
        )


def test_a_window_that_ended_is_exact_while_messages_arrive(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=400, seed=46)
    until = server.truth()[0]["last_message_time"] + 1  # before any new message
    since = until - 30 * DAY_MS
    ids = chat_ids(server, active_since=since)
    server.faults = Faults(chat_messages_per_request=1, messages_per_request=3)
    client = client_for(server, page_size=6)

    result = client.fetch_messages(ids, since=since, until=until, preceding=True)

    server.faults = Faults()
    for chat_id in ids:
        history = server.messages_of(chat_id)
        assert result.messages[chat_id] == expected_messages(
            history, since=since, until=until, preceding=True
        )


def test_deleted_chats_are_reported_not_fatal(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=200, seed=47)
    ids = chat_ids(server)
    client = client_for(server)
    server.faults.deletions_per_request = 5
    server.chats_requests()
    client.get_chats_page(limit=1, offset=0)  # deletes 5 chats
    gone = server.deleted_ids()

    result = client.fetch_messages(ids, since=None)

    assert len(gone) == 5
    assert set(result.not_found) == gone
    assert list(result.not_found) == [i for i in ids if i in gone]
    assert set(result.messages) == set(ids) - gone
    with pytest.raises(BlooioRequestError) as raised:
        client.fetch_messages(sorted(gone), since=None)
    assert raised.value.status_code == 404


def test_chats_share_the_clients_concurrency_and_rate_limit(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=300, seed=48, faults=Faults(latency=0.01))
    client = client_for(server, max_concurrency=3)
    ids = chat_ids(server)[:120]

    result = client.fetch_messages(ids, since=None, max_concurrency=8)

    assert server.max_in_flight <= 3
    assert result.requests == 120
    server.faults = Faults(requests_per_second=40)
    server.max_in_flight = 0
    limited = client_for(server, max_retries=10).fetch_messages(ids, since=None)
    statuses = [r.status for r in server.messages_requests()[120:]]
    assert limited.messages == result.messages
    assert statuses.count(429) == limited.retries > 0


def test_5xx_and_cut_off_bodies_are_retried(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(
        chats=200, seed=49, faults=Faults(server_error_rate=0.2, truncated_body_rate=0.1)
    )
    client = client_for(server, max_retries=10)
    ids = chat_ids(server)

    result = client.fetch_messages(ids, since=None)

    assert [i for i in ids if result.messages[i] != server.messages_of(i)] == []
    assert result.retries > 10
    assert result.requests == len(ids)


def test_progress_after_every_chat(server: BlooioTestServer, client_for: ClientFactory) -> None:
    client = client_for(server)
    ids = chat_ids(server)[:50]
    seen: list[MessagesProgress] = []
    lock = threading.Lock()

    def record(progress: MessagesProgress) -> None:
        with lock:
            seen.append(progress)

    result = client.fetch_messages(ids, since=None, on_progress=record)

    assert sorted(p.chats_done for p in seen) == list(range(1, 51))
    last = max(seen, key=lambda p: p.chats_done)
    assert (last.chats_total, last.requests, last.messages) == (50, 50, result.message_count)


def test_an_incomplete_chat_fails_the_fan_out(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=100, seed=50, faults=Faults(ignore_sort=True))
    client = client_for(server)

    with pytest.raises(BlooioIncompleteError) as raised:
        client.fetch_messages(chat_ids(server), since=None)

    assert raised.value.chat_id in chat_ids(server)  # type: ignore[attr-defined]
    assert raised.value.chat_id not in str(raised.value)  # type: ignore[attr-defined]


def test_bad_arguments_are_refused_before_any_request(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    client = client_for(server)
    good = chat_ids(server)[:2]
    bad: Any = None
    cases: list[tuple[dict[str, Any], str]] = [
        ({"chat_ids": good[0]}, "chat_ids must be a list"),
        ({"chat_ids": 5}, "chat_ids must be a list"),
        ({"chat_ids": [good[0], ""]}, r"chat_ids\[1\] must be a non-empty string"),
        ({"chat_ids": [None]}, r"chat_ids\[0\] must be a non-empty string, got NoneType"),
        ({"chat_ids": good, "max_concurrency": 0}, "max_concurrency must be"),
        ({"chat_ids": good, "preceding": "yes"}, "preceding must be True or False"),
        ({"chat_ids": good, "on_progress": 3}, "on_progress must be callable"),
        ({"chat_ids": good, "until": FIXED_NOW_MS - HOUR_MS}, "must come before until"),
    ]

    for arguments, message in cases:
        arguments.setdefault("since", FIXED_NOW_MS)
        with pytest.raises(BlooioConfigError, match=message):
            client.fetch_messages(**arguments)
    with pytest.raises(TypeError):
        client.fetch_messages(good)  # type: ignore[call-arg]  # since is required
    assert client.fetch_messages([], since=bad).messages == {}
    assert server.messages_requests() == []


def test_repeated_chat_ids_are_read_once(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    client = client_for(server)
    ids = chat_ids(server)[:5]

    result: MessagesResult = client.fetch_messages(ids + ids[::-1], since=None)

    assert list(result.messages) == ids
    assert result.requests == 5
