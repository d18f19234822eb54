"""The messages reader against answers that are not what they seem, over real HTTP.

A cache or proxy serving another chat's page, another offset's or another window's; a replica
that answers 404 for a chat just listed; totals that count a chat's whole history whatever the
window; queued messages without a ``time_sent``; and a bulk import of more than a page of
messages in one millisecond. Each either reads exactly the server's truth or raises an error
that names what went wrong, never a customer's id.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from blooio_dagster import BlooioIncompleteError, BlooioResponseError
from blooio_dagster.api.errors import BlooioIncompleteMessagesError
from blooio_dagster.api.redaction import chat_ref
from blooio_dagster.api.wire.messages import misanswered
from blooio_dagster.crawl.messages import MAX_GONE_CHECKS
from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import ClientFactory, ServerFactory
from tests.messages_truth import expected_messages
from tests.test_messages_client import busiest

UNKNOWN_CHAT = "+19995550123"


def busiest_ids(server: BlooioTestServer, count: int) -> list[str]:
    """The ids of the ``count`` chats with the most messages, most first."""
    chats = sorted(server.truth(), key=lambda chat: (-chat["message_count"], chat["id"]))
    return [chat["id"] for chat in chats[:count]]


def middle(history: list[dict[str, object]], index: int) -> int:
    time_sent = history[index]["time_sent"]
    assert isinstance(time_sent, int)
    return time_sent


# -- 16.2: answers to another request ----------------------------------------------------------


@pytest.mark.parametrize("misanswer", ["other_chat", "offset", "until"])
def test_a_page_answering_another_request_is_read_again(
    start_server: ServerFactory, client_for: ClientFactory, misanswer: str
) -> None:
    server = start_server(chats=120, seed=61)
    client = client_for(server, page_size=10, max_retries=4)
    ids = busiest_ids(server, 3)
    history = {chat_id: server.messages_of(chat_id) for chat_id in ids}
    until = min(middle(messages, -2) for messages in history.values())
    server.faults = Faults(misanswered_pages=2, misanswer=misanswer)  # type: ignore[arg-type]

    one = client.list_messages(ids[0], until=until)
    many = client.fetch_messages(ids[1:], since=None, until=until)

    assert one == expected_messages(history[ids[0]], until=until)
    for chat_id in ids[1:]:
        assert many.messages[chat_id] == expected_messages(history[chat_id], until=until)
    assert many.retries == 2 * len(ids[1:])


@pytest.mark.parametrize(
    ("misanswer", "named"), [("other_chat", "another chat's"), ("offset", "offset 10")]
)
def test_a_page_of_another_chat_or_offset_on_every_attempt_is_refused(
    start_server: ServerFactory, client_for: ClientFactory, misanswer: str, named: str
) -> None:
    server = start_server(chats=60, seed=62)
    server.faults = Faults(misanswered_pages=100, misanswer=misanswer)  # type: ignore[arg-type]
    client = client_for(server, page_size=10, max_retries=2)
    chat_id = busiest(server)

    with pytest.raises(BlooioResponseError, match=named) as raised:
        client.list_messages(chat_id)

    error = raised.value
    assert "on all 3 attempts" in str(error)
    assert chat_ref(chat_id) in str(error)
    assert chat_id not in str(error)
    assert chat_id.lstrip("+") not in str(error)
    assert error.chat_id == chat_id  # type: ignore[attr-defined]
    assert len(server.messages_requests()) == 3


def test_an_api_that_keeps_ignoring_until_is_named_after_retries(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=60, seed=63)
    server.faults = Faults(misanswered_pages=100, misanswer="until")
    client = client_for(server, page_size=10, max_retries=2)
    chat_id = busiest(server)
    until = middle(server.messages_of(chat_id), -3)

    with pytest.raises(BlooioIncompleteMessagesError, match="ignore until"):
        client.list_messages(chat_id, until=until)
    assert len(server.messages_requests()) == 3


def test_a_reported_limit_other_than_asked_is_accepted(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    # A larger limit than asked changes nothing (rows never exceed it); a smaller one is a cap.
    server = start_server(chats=120, seed=64, faults=Faults(report_limit=500))
    client = client_for(server, page_size=10)
    chat_id = busiest(server)
    history = server.messages_of(chat_id)

    since = middle(history, 5)
    assert client.list_messages(chat_id) == history
    assert client.list_messages(chat_id, since=since) == expected_messages(history, since=since)


# -- 16.3: a 404 from a lagging replica --------------------------------------------------------


def test_a_404_for_a_chat_that_exists_is_read_again_and_a_deleted_chat_is_counted(
    start_server: ServerFactory, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(chats=120, seed=65, faults=Faults(messages_404_per_chat=1))
    client = client_for(server, page_size=50)
    ids = busiest_ids(server, 4)

    with caplog.at_level(logging.INFO, logger="blooio_dagster"):
        result = client.fetch_messages([*ids, UNKNOWN_CHAT], since=None)

    assert {chat_id: result.messages[chat_id] for chat_id in ids} == {
        chat_id: server.messages_of(chat_id) for chat_id in ids
    }
    assert result.not_found == (UNKNOWN_CHAT,)
    assert result.deleted_chats == 1
    logged = [r.getMessage() for r in caplog.records if "deleted" in r.getMessage()]
    assert logged == [
        "Blooio: 1 chat deleted since they were listed (404, confirmed by GET /chats/{chat_id}) "
        "is left out of the messages."
    ]
    assert not [r.getMessage() for r in caplog.records if "19995550123" in r.getMessage()]


def test_a_chat_whose_messages_keep_answering_404_while_it_exists_raises(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=60, seed=66, faults=Faults(messages_404_per_chat=50))
    client = client_for(server)
    ids = busiest_ids(server, 2)

    with pytest.raises(BlooioIncompleteMessagesError, match="answered 404 on 3 reads") as raised:
        client.fetch_messages(ids, since=None, max_concurrency=1)

    assert raised.value.chat_id == ids[0]
    assert ids[0] not in str(raised.value)
    asked = [r.path for r in server.requests if quote(ids[0], safe="") in r.path]
    assert len(asked) == 2 * MAX_GONE_CHECKS  # each 404 checked with GET /chats/{chat_id}


# -- 16.6: a total of the whole history ----------------------------------------------------------


@pytest.mark.parametrize("inclusive", [False, True])
def test_totals_of_the_whole_history_do_not_stall_a_windowed_read(
    start_server: ServerFactory, client_for: ClientFactory, inclusive: bool
) -> None:
    faults = Faults(total_ignores_window=True, inclusive_bounds=inclusive, page_cap=7)
    server = start_server(chats=150, seed=67, faults=faults)
    client = client_for(server, page_size=20)
    ids = busiest_ids(server, 3)
    history = server.messages_of(ids[0])
    since, until = middle(history, 3), middle(history, -3)

    window = client.list_messages(ids[0], since=since, until=until)
    older = client.list_messages(ids[0], until=until)
    empty = client.list_messages(ids[0], since=since, until=since + 1)
    many = client.fetch_messages(ids, since=since, until=until, preceding=True)

    assert window == expected_messages(history, since=since, until=until)
    assert older == expected_messages(history, until=until)
    assert empty == expected_messages(history, since=since, until=since + 1)
    for chat_id in ids:
        assert many.messages[chat_id] == expected_messages(
            server.messages_of(chat_id), since=since, until=until, preceding=True
        )


# -- 16.7: queued messages without a time ----------------------------------------------------------


def test_queued_messages_without_a_time_are_left_out_and_counted(
    start_server: ServerFactory, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(chats=120, seed=68, faults=Faults(queued_per_chat=2))
    client = client_for(server, page_size=10)
    ids = busiest_ids(server, 3)

    with caplog.at_level(logging.INFO, logger="blooio_dagster"):
        one = client.list_messages(ids[0])
        many = client.fetch_messages(ids, since=None)

    assert one == server.messages_of(ids[0])
    assert many.messages == {chat_id: server.messages_of(chat_id) for chat_id in ids}
    assert many.unsent_skipped == 2 * len(ids)
    logged = [r.getMessage() for r in caplog.records if "time_sent" in r.getMessage()]
    assert logged == [
        "Blooio: 2 messages without a time_sent yet (queued, not sent) left out.",
        "Blooio: 6 messages without a time_sent yet (queued, not sent) left out.",
    ]


def test_a_chat_with_only_queued_messages_in_a_page_is_read_whole(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    # The first page holds only the queued messages: an empty page, in the times it holds.
    server = start_server(chats=60, seed=69, faults=Faults(queued_per_chat=3, page_cap=3))
    client = client_for(server, page_size=3)
    chat_id = busiest(server)

    assert client.list_messages(chat_id) == server.messages_of(chat_id)


# -- 16.8: a bulk import in one millisecond --------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        Faults(),
        Faults(inclusive_bounds=True),
        Faults(tie_order="request"),
        Faults(page_cap=90),
        Faults(page_cap=4, report_cap=False, missing_total_rate=1.0),
    ],
    ids=["plain", "inclusive", "ties-per-request", "capped", "unsaid-cap-no-totals"],
)
def test_more_than_a_page_in_one_millisecond_is_read_whole(
    start_server: ServerFactory, client_for: ClientFactory, faults: Faults
) -> None:
    server = start_server(chats=120, seed=70)
    chat_id = busiest(server)
    at = middle(server.messages_of(chat_id), -4) + 1
    server.import_messages(chat_id, 450, at)
    server.import_messages(chat_id, 3, at - 1)
    server.import_messages(chat_id, 3, at + 1)
    history = server.messages_of(chat_id)
    server.faults = faults
    client = client_for(server)

    whole = client.list_messages(chat_id)
    moment = client.list_messages(chat_id, since=at, until=at + 1)
    around = client.fetch_messages([chat_id], since=at - 1, until=at + 2, preceding=True)

    assert whole == history
    assert [m["message_id"] for m in moment] == [
        m["message_id"] for m in expected_messages(history, since=at, until=at + 1)
    ]
    assert len(moment) == 450
    assert around.messages[chat_id] == expected_messages(
        history, since=at - 1, until=at + 2, preceding=True
    )


def test_a_millisecond_over_a_page_that_offset_cannot_reach_raises(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=60, seed=71)
    chat_id = busiest(server)
    at = middle(server.messages_of(chat_id), -2) + 1
    server.import_messages(chat_id, 250, at)
    server.faults = Faults(ignore_offset=True)
    client = client_for(server)

    with pytest.raises(BlooioIncompleteError, match=f"share the millisecond {at}"):
        client.list_messages(chat_id)


def test_a_chat_id_echoed_in_another_case_or_punctuation_is_the_same_chat() -> None:
    asked: dict[str, str | int] = {"limit": 10, "offset": 0, "sort": "desc"}

    def page(chat_id: str) -> dict[str, object]:
        return {"chat_id": chat_id, "messages": [], "pagination": {"offset": 0}}

    assert misanswered(page("Ana@Example.com"), "ana@example.com", asked) is None
    assert misanswered(page("+1 (555) 123-4567"), "+15551234567", asked) is None
    assert misanswered(page("+15551234568"), "+15551234567", asked) == (
        "the page is another chat's (its chat_id is not the one asked for)",
        True,
    )
