"""The messages fan-out's workers, over real HTTP: how many chats are read at once, where
progress is reported, the order of the result, and what a failure does to the other workers."""

from __future__ import annotations

import threading
from urllib.parse import unquote

import pytest

from blooio_dagster.crawl.fanout import MessagesProgress
from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import ClientFactory, ServerFactory


class Stop(Exception):
    """What the progress callback raises, numbered by its call."""


def chats_requested(server: BlooioTestServer) -> set[str]:
    """The chats whose messages the server was asked for."""
    return {unquote(r.path.split("/")[-2]) for r in server.messages_requests()}


def test_max_concurrency_chats_at_once_progress_from_the_workers_result_in_the_given_order(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=200, seed=60, faults=Faults(latency=0.01))
    ids = [chat["id"] for chat in server.truth()][::-3]  # not in the server's order
    seen: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def record(progress: MessagesProgress) -> None:
        with lock:
            seen.append(
                (progress.chats_done, threading.current_thread() is threading.main_thread())
            )

    result = client_for(server).fetch_messages(
        ids, since=None, max_concurrency=2, on_progress=record
    )

    assert server.max_in_flight <= 2
    assert list(result.messages) == ids
    assert sorted(seen) == [(done, False) for done in range(1, len(ids) + 1)]


def test_a_failure_stops_the_other_workers_and_is_raised(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=200, seed=61, faults=Faults(latency=0.01))
    ids = [chat["id"] for chat in server.truth()]
    calls = 0
    lock = threading.Lock()

    def fail_once(progress: MessagesProgress) -> None:
        nonlocal calls
        with lock:
            calls += 1
            call = calls
        if call == 3:
            raise Stop(call)

    with pytest.raises(Stop):
        client_for(server).fetch_messages(ids, since=None, max_concurrency=4, on_progress=fail_once)

    # The other 3 workers finish the chat they hold and take no other: a few chats past the
    # third are read, not the 200 (a margin for a worker that took its next chat while the
    # failing one was still on its way out).
    requested = chats_requested(server)
    assert 3 <= len(requested) < 50, sorted(requested)
