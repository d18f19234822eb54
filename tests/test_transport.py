"""The send loop (:mod:`blooio_dagster.api.transport`) over real HTTP: what one GET returns,
and that every retry, of the chat list or of a chat's messages, is logged in one form."""

from __future__ import annotations

import logging
import re

import pytest

from blooio_dagster.api.transport import Transport
from blooio_dagster.testing import Faults
from tests.conftest import ClientFactory, FakeClock, ServerFactory
from tests.test_messages_client import busiest


def test_an_answer_comes_with_the_servers_clock(start_server: ServerFactory) -> None:
    server = start_server(chats=5, seed=1, now=None, clock=FakeClock(1_800_000_000.75))
    transport = Transport(
        server.api_key,
        base_url=server.base_url,
        loopback=True,
        timeout=10.0,
        max_retries=0,
        max_concurrency=2,
        requests_per_second=None,
        transport=None,
    )
    try:
        payload, server_time = transport.get("/chats", {"limit": 2, "offset": 0}, retries=None)
    finally:
        transport.close()

    assert [len(payload["chats"]), payload["pagination"]["total"]] == [2, 5]
    assert server_time == 1_800_000_000_000, "the Date header, to the second"


def test_retries_are_logged_alike_and_without_the_chat_id(
    start_server: ServerFactory, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(chats=60, seed=62)
    client = client_for(server, page_size=10, max_retries=2)
    chat_id = busiest(server)
    caplog.set_level(logging.WARNING, logger="blooio_dagster")

    server.faults = Faults(misanswered_pages=1, misanswer="other_chat")
    client.list_messages(chat_id)
    server.faults = Faults(server_error_every=1)  # each request once, then its retry passes
    client.get_chats_page(limit=5, offset=10)
    client.get_messages_page(chat_id, limit=5)

    logged = [re.sub(r"\d+\.\d\ds", "N.NNs", r.getMessage()) for r in caplog.records]
    assert logged == [
        "Blooio: the page is another chat's (its chat_id is not the one asked for) for "
        "GET /chats/{chat_id}/messages; retrying in N.NNs (attempt 2 of 3).",
        "Blooio: HTTP 503 for GET /chats (offset 10); retrying in N.NNs (attempt 2 of 3).",
        "Blooio: HTTP 503 for GET /chats/{chat_id}/messages; retrying in N.NNs (attempt 2 of 3).",
    ]
