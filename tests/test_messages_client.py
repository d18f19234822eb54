"""``BlooioClient.list_messages``: one chat's window, complete, over real HTTP.

Against the bundled server's truth: the whole history and windows (``since`` inclusive,
``until`` exclusive, whichever way the API treats its bounds), directions, URL-encoded ids,
messages arriving and unsent while the chat is read, every page fault, retries, refused input,
and errors that never name the chat. A few narrow cases the server cannot produce (an API that
ignores ``until``, a millisecond holding more than a page) run against an in-memory fetch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from blooio_dagster import (
    BlooioConfigError,
    BlooioError,
    BlooioIncompleteError,
    BlooioRateLimitError,
    BlooioRequestError,
    BlooioResponseError,
    BlooioServerError,
)
from blooio_dagster.api.errors import BlooioIncompleteMessagesError
from blooio_dagster.api.wire.messages import Direction, MessagesPage, hide_chat_id
from blooio_dagster.crawl.messages import MessagesWindow, read_chat
from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import ClientFactory, ServerFactory
from tests.messages_truth import assert_read_exactly, expected_messages

BAD: Any = "both"  # typed Any: the tests pass what a type checker would refuse


def busiest(server: BlooioTestServer, kind: str | None = None) -> str:
    """The id of the chat with the most messages (of a ``kind``)."""
    chats = [c for c in server.truth() if kind is None or c["type"] == kind]
    return str(max(chats, key=lambda c: c["message_count"])["id"])


def test_a_whole_history_oldest_first_in_one_request(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    client = client_for(server)

    for kind in ("phone", "email", "group"):
        chat_id = busiest(server, kind)
        before = len(server.messages_requests())
        got = client.list_messages(chat_id)
        assert got == server.messages_of(chat_id)
        assert len(server.messages_requests()) == before + 1


@pytest.mark.parametrize("inclusive", [False, True])
def test_the_window_is_since_inclusive_and_until_exclusive(
    start_server: ServerFactory, client_for: ClientFactory, inclusive: bool
) -> None:
    server = start_server(chats=200, seed=31, faults=Faults(inclusive_bounds=inclusive))
    client = client_for(server)
    chat_id = busiest(server)
    history = server.messages_of(chat_id)
    since, until = history[3]["time_sent"], history[-3]["time_sent"]

    got = client.list_messages(chat_id, since=since, until=until)
    moment = client.list_messages(
        chat_id,
        since=datetime.fromtimestamp(since / 1000, UTC),
        until=datetime.fromtimestamp(until / 1000, UTC),
    )

    assert got == expected_messages(history, since=since, until=until)
    assert got[0]["time_sent"] == since
    assert [m["message_id"] for m in got if m["time_sent"] >= until] == []
    assert moment == got
    assert client.list_messages(chat_id, since=until) == expected_messages(history, since=until)
    assert client.list_messages(chat_id, until=since) == expected_messages(history, until=since)


def test_one_direction(server: BlooioTestServer, client_for: ClientFactory) -> None:
    client = client_for(server)
    chat_id = busiest(server)
    history = server.messages_of(chat_id)

    directions: tuple[Direction, ...] = ("inbound", "outbound")
    for direction in directions:
        got = client.list_messages(chat_id, direction=direction)
        assert got == expected_messages(history, direction=direction)
        assert got


def test_chat_ids_go_into_the_path_url_encoded(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    client = client_for(server)
    phone, email, group = (busiest(server, kind) for kind in ("phone", "email", "group"))

    for chat_id in (phone, email, group):
        assert client.list_messages(chat_id) == server.messages_of(chat_id)
    paths = [r.path for r in server.messages_requests()]

    assert paths == [
        f"/v2/api/chats/{phone.replace('+', '%2B')}/messages",
        f"/v2/api/chats/{email.replace('@', '%40')}/messages",
        f"/v2/api/chats/{group}/messages",
    ]


def test_bad_arguments_are_refused_before_any_request(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    client = client_for(server)
    chat_id = busiest(server)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"chat_id": ""}, "chat_id must be a non-empty string"),
        ({"chat_id": None}, "chat_id must be a non-empty string"),
        ({"chat_id": 15551234567}, "chat_id must be a non-empty string"),
        ({"chat_id": chat_id, "direction": BAD}, "direction must be 'inbound', 'outbound'"),
        ({"chat_id": chat_id, "since": 10, "until": 10}, r"since \(10 ms\) must come before"),
        ({"chat_id": chat_id, "since": 20, "until": 10}, "must come before until"),
        ({"chat_id": chat_id, "since": -1}, "since must be at or after 1970"),
        ({"chat_id": chat_id, "since": datetime(2026, 1, 1)}, "since must be timezone-aware"),
        ({"chat_id": chat_id, "until": "2026-01-01"}, "until must be a timezone-aware"),
        ({"chat_id": chat_id, "since": True}, "since must be a timezone-aware"),
    ]

    for arguments, message in cases:
        with pytest.raises(BlooioConfigError, match=message):
            client.list_messages(**arguments)
    assert server.messages_requests() == []


# -- complete while the history changes -----------------------------------------------------------


@pytest.mark.parametrize("order", ["id", "request"])
def test_complete_while_messages_arrive(
    start_server: ServerFactory, client_for: ClientFactory, order: Any
) -> None:
    server = start_server(
        chats=100,
        seed=32,
        faults=Faults(chat_messages_per_request=3, page_cap=6, tie_order=order),
    )
    client = client_for(server)
    chat_id = busiest(server)
    before = server.messages_of(chat_id)

    got = client.list_messages(chat_id)

    after = server.messages_of(chat_id)
    requests = len(server.messages_requests())
    assert requests >= len(before) // 6
    assert len(after) == len(before) + 3 * requests
    assert_read_exactly(got, before=before, after=after, unsent=set(), since=None, until=None)
    # Read newest first, so the window is the history at the first request: nothing later.
    assert got == after[: len(before) + 3]


def test_a_window_that_ended_gets_no_arrivals(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=100, seed=33, faults=Faults(chat_messages_per_request=2))
    server.faults.page_cap = 4
    client = client_for(server)
    chat_id = busiest(server)
    # New messages come after the newest one so far (with a fixed `now`, the server's clock
    # for messages counts on from it).
    until = server.truth()[0]["last_message_time"] + 1
    history = server.messages_of(chat_id)

    got = client.list_messages(chat_id, since=history[2]["time_sent"], until=until)

    assert got == expected_messages(history, since=history[2]["time_sent"], until=until)


def test_complete_while_messages_are_unsent(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=100, seed=34, faults=Faults(chat_unsent_per_request=1, page_cap=5))
    client = client_for(server)
    chat_id = busiest(server)
    before = server.messages_of(chat_id)

    got = client.list_messages(chat_id)

    after = server.messages_of(chat_id)
    assert len(after) < len(before) - 3
    assert_read_exactly(
        got,
        before=before,
        after=after,
        unsent=server.unsent_message_ids(),
        since=None,
        until=None,
    )


@pytest.mark.parametrize(
    "faults",
    [
        Faults(page_cap=7),
        Faults(page_cap=7, report_cap=False),
        Faults(short_page_rate=0.5),
        Faults(empty_page_rate=0.5),
        Faults(missing_total_rate=1.0, page_cap=9),
        Faults(low_total_rate=1.0, page_cap=9),
        Faults(tie_order="window", page_cap=3),
        Faults(ignore_offset=True, page_cap=8),
        Faults(inclusive_bounds=True, page_cap=5),
    ],
    ids=[
        "cap",
        "unreported-cap",
        "short",
        "empty",
        "no-total",
        "low-total",
        "ties-by-window",
        "ignored-offset",
        "inclusive",
    ],
)
def test_every_page_fault_still_gives_the_window(
    start_server: ServerFactory, client_for: ClientFactory, faults: Faults
) -> None:
    server = start_server(chats=150, seed=35, faults=faults)
    client = client_for(server, page_size=12)
    chat_id = busiest(server)
    history = server.messages_of(chat_id)
    since = history[4]["time_sent"]

    whole = client.list_messages(chat_id)
    window = client.list_messages(chat_id, since=since, until=history[-2]["time_sent"])

    assert whole == history
    assert window == expected_messages(history, since=since, until=history[-2]["time_sent"])
    # Windows move down by about a page per request, re-reads aside.
    assert len(server.messages_requests()) <= 4 * (len(history) // 3 + 2)


def test_an_api_that_ignores_sort_raises(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=50, seed=36, faults=Faults(ignore_sort=True))
    client = client_for(server)
    chat_id = busiest(server)

    with pytest.raises(BlooioIncompleteError, match="ignore sort") as raised:
        client.list_messages(chat_id)

    assert chat_id not in str(raised.value)
    assert isinstance(raised.value, BlooioIncompleteMessagesError)
    assert raised.value.chat_id == chat_id


def test_429s_5xx_and_cut_off_bodies_are_retried(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(
        chats=100,
        seed=37,
        faults=Faults(server_error_rate=0.3, truncated_body_rate=0.2, retry_after_ms=True),
    )
    server.faults.first_requests_429 = 2
    client = client_for(server, page_size=10, max_retries=10)
    chat_id = busiest(server)

    got = client.list_messages(chat_id)

    statuses = [r.status for r in server.messages_requests()]
    assert got == server.messages_of(chat_id)
    assert statuses[:2] == [429, 429]
    assert {500, 502, 503} & set(statuses)


def test_an_unknown_chat_is_a_404_that_does_not_name_it(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    client = client_for(server)
    chat_id = "+19995550123"

    with pytest.raises(BlooioRequestError) as raised:
        client.list_messages(chat_id)

    error = raised.value
    assert error.status_code == 404
    assert error.api_code == "chat_not_found"
    for form in (chat_id, "%2B19995550123", "19995550123"):
        assert form not in str(error)
        assert form not in error.path
        assert form not in (error.api_message or "")
    assert "/chats/{chat_id}/messages" in str(error)
    assert error.chat_id == chat_id  # type: ignore[attr-defined]


def test_one_raw_page(server: BlooioTestServer, client_for: ClientFactory) -> None:
    client = client_for(server)
    chat_id = busiest(server)
    history = server.messages_of(chat_id)

    page = client.get_messages_page(chat_id, limit=5, offset=2, sort="asc", direction="inbound")

    inbound = [m for m in history if m["direction"] == "inbound"]
    assert page["chat_id"] == chat_id
    assert page["messages"] == inbound[2:7]
    assert page["pagination"] == {"limit": 5, "offset": 2, "total": len(inbound)}
    with pytest.raises(BlooioConfigError, match="sort must be 'asc' or 'desc'"):
        client.get_messages_page(chat_id, sort=BAD)


# -- narrow cases, in memory ---------------------------------------------------------------------


def fake_fetch(
    history: list[dict[str, Any]], *, honour_until: bool = True, honour_offset: bool = False
) -> Any:
    """A fetch over a still ``history`` (newest first), optionally ignoring ``until``, and
    ``offset`` unless told."""

    def fetch(chat_id: str, window: MessagesWindow) -> MessagesPage:
        rows = [
            m
            for m in sorted(history, key=lambda m: (m["time_sent"], m["message_id"]), reverse=True)
            if (window.until is None or not honour_until or m["time_sent"] < window.until)
            and (window.since is None or m["time_sent"] > window.since)
        ]
        start = window.offset if honour_offset else 0
        return MessagesPage(rows[start : start + window.limit], len(rows), window.limit)

    return fetch


def message(number: int, at: int) -> dict[str, Any]:
    return {"message_id": f"msg_{number:04d}", "time_sent": at, "direction": "inbound"}


def test_an_api_that_ignores_until_raises() -> None:
    history = [message(n, 1_000 + n) for n in range(30)]

    with pytest.raises(BlooioIncompleteError, match="ignore until"):
        read_chat(
            fake_fetch(history, honour_until=False), "c", since=None, until=None, page_size=10
        )


def test_more_than_a_page_in_one_millisecond_is_read_by_offset_or_raises() -> None:
    history = [message(n, 5_000) for n in range(25)] + [message(99, 4_000)]

    # Paged by offset within the millisecond, when the API honours offset.
    by_offset = read_chat(
        fake_fetch(history, honour_offset=True), "c", since=None, until=None, page_size=10
    )
    assert by_offset.messages == sorted(history, key=lambda m: (m["time_sent"], m["message_id"]))
    # An API that ignores offset cannot show the millisecond whole: it raises, not loops.
    with pytest.raises(BlooioIncompleteError, match="share the millisecond 5000"):
        read_chat(fake_fetch(history), "c", since=None, until=None, page_size=10)
    # A run that fits a page is read whole.
    read = read_chat(fake_fetch(history), "c", since=None, until=None, page_size=30)
    assert len(read.messages) == 26


def test_errors_of_every_kind_keep_their_class_and_lose_the_chat_id() -> None:
    chat_id = "ana@example.com"
    path = f"/chats/{quote(chat_id, safe='')}/messages"
    errors: list[BlooioError] = [
        BlooioServerError(503, 6, f"chat {chat_id} is busy", path),
        BlooioRateLimitError(6, path),
        BlooioResponseError("cut off", path, 0),
        BlooioRequestError(422, f"Chat {chat_id} is archived", "archived", path),
    ]

    for error in errors:
        hidden = hide_chat_id(error, chat_id)
        assert type(hidden) is type(error)
        assert "ana" not in str(hidden)
        assert "{chat_id}" in str(hidden)
        assert "ana" not in getattr(hidden, "path", "")
        assert "ana" not in (getattr(hidden, "api_message", None) or "")
        assert hidden.chat_id == chat_id  # type: ignore[attr-defined]
    assert hide_chat_id(BlooioServerError(500, 1, None, path), chat_id).status_code == 500
