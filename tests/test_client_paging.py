"""Paging through the real local server: completeness, filters, sorts, early stop."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from blooio_dagster import BlooioClient
from blooio_dagster.testing import BlooioTestServer, Faults
from blooio_dagster.testing.data import DAY_MS
from tests.completeness import assert_complete
from tests.conftest import ClientFactory, ServerFactory


def ids(chats: Sequence[dict[str, Any]]) -> list[str]:
    return [chat["id"] for chat in chats]


@pytest.mark.parametrize("max_concurrency", [1, 8])
def test_lists_every_chat_across_many_pages(
    start_server: ServerFactory, client_for: ClientFactory, max_concurrency: int
) -> None:
    server = start_server(chats=2345, seed=3)
    client = client_for(server, page_size=50, max_concurrency=max_concurrency)

    result = client.crawl_chats()

    assert result.chats == server.truth()
    assert result.pages >= math.ceil(2345 / 50)
    assert len(server.chats_requests()) == result.pages


def test_keeps_fields_the_client_does_not_know(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    chats = client_for(server).list_chats()

    with_background = [c for c in chats if c["background_url"] is not None]
    assert with_background, "the synthetic data has chat backgrounds"
    assert [c["id"] for c in with_background if not c["background_id"]] == []
    assert {"contact", "last_message", "inbound_count"} <= set(chats[0])


def test_query_returns_only_matching_chats(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    client = client_for(server, page_size=20)

    by_domain = client.list_chats(q="@EXAMPLE.com")
    by_name = client.list_chats(q="garcía")

    assert by_domain == server.truth(q="@example.com")
    assert by_domain
    assert [c["id"] for c in by_domain if c["type"] != "email"] == []
    assert by_name == server.truth(q="garcía")
    assert by_name
    assert [c["id"] for c in by_name if "garcía" not in c["contact"]["name"].casefold()] == []
    assert client.list_chats(q="no such chat anywhere") == []
    for request in server.chats_requests()[-1:]:
        assert request.query["q"] == "no such chat anywhere"


def test_both_sorts(server: BlooioTestServer, client_for: ClientFactory) -> None:
    client = client_for(server, page_size=40)

    recent = client.list_chats(sort="recent")
    oldest = client.list_chats(sort="oldest")

    assert ids(recent) == ids(server.truth())
    assert ids(oldest) == ids(recent)[::-1]
    times = [c["last_message_time"] for c in oldest]
    assert times == sorted(times)
    raw = client.get_chats_page(limit=5, offset=0, sort="oldest")
    assert ids(raw["chats"]) == ids(oldest[:5])


def test_get_chats_page_returns_the_raw_page(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    page = client_for(server).get_chats_page(limit=7, offset=990)

    assert page["pagination"] == {"limit": 7, "offset": 990, "total": 1000}
    assert ids(page["chats"]) == ids(server.truth()[990:997])


def test_get_chat_includes_first_message_time(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    newest = server.truth()[0]

    chat = client_for(server).get_chat(newest["id"])

    assert chat["id"] == newest["id"]
    assert chat["first_message_time"] <= chat["last_message_time"]


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_active_since_stops_paging_early(
    start_server: ServerFactory, client_for: ClientFactory, max_concurrency: int
) -> None:
    server = start_server(chats=5000, seed=11)
    since = server.now_ms - DAY_MS
    page_size = 20
    client = client_for(server, page_size=page_size, max_concurrency=max_concurrency)

    chats = client.list_chats(active_since=since)

    expected = server.truth(active_since=since)
    assert chats == expected
    assert len(expected) > 3 * page_size, "the day must span several pages for this test"
    # The fewest requests that can prove the day is complete: its pages plus the first
    # older chat, and one request to check nothing moved meanwhile.
    minimum = math.ceil((len(expected) + 1) / page_size) + 1
    sent = len(server.chats_requests())
    assert minimum <= sent <= minimum + max_concurrency + 2
    assert sent < 5000 / page_size / 10


def test_active_since_accepts_aware_datetimes(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    since_ms = server.now_ms - 3 * DAY_MS
    since = datetime.fromtimestamp(since_ms / 1000, tz=UTC)

    chats = client_for(server).list_chats(active_since=since)

    assert chats == server.truth(active_since=since_ms)


def test_complete_while_chats_move_and_the_api_fails(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    faults = Faults(
        server_error_rate=0.05,
        truncated_body_rate=0.02,
        requests_per_second=40,
        messages_per_request=2,
        new_chats_per_request=1,
        latency=0.002,
    )
    server = start_server(chats=4000, seed=5, faults=faults)
    client = client_for(server, page_size=50, max_concurrency=8, max_retries=10)

    result = client.crawl_chats()
    server.faults = Faults()  # freeze the list to read its truth

    truth = server.truth()
    statuses = Counter(r.status for r in server.chats_requests())
    assert statuses[429] > 0
    assert statuses[200] > 0
    assert sum(n for status, n in statuses.items() if status >= 500) > 0
    assert result.retries > 0
    assert len(truth) > 4000, "new chats appeared during the crawl"
    assert len(set(ids(result.chats))) == len(result.chats)
    assert ids(result.chats) == ids(truth)
    assert result.chats == truth  # every chat in its newest state


def test_a_naive_offset_loop_loses_chats_under_the_same_churn(
    start_server: ServerFactory,
) -> None:
    """The control for the test above: the churn really does break simple paging."""
    server = start_server(chats=2000, seed=5, faults=Faults(messages_per_request=2))
    with BlooioClient(server.api_key, base_url=server.base_url) as client:
        seen: list[str] = []
        offset = 0
        while True:
            page = client.get_chats_page(limit=50, offset=offset)
            seen += ids(page["chats"])
            if len(page["chats"]) < 50:
                break
            offset += 50
    server.faults = Faults()

    truth = set(ids(server.truth()))
    assert len(seen) > len(set(seen)) or set(seen) != truth
    assert truth - set(seen), "some chats moved from unread pages to the read front"


def test_new_chats_during_the_crawl_are_found(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=600, seed=2, faults=Faults(new_chats_per_request=3))
    client = client_for(server, page_size=25, max_concurrency=3)

    chats = client.list_chats()
    server.faults = Faults()

    assert chats == server.truth()
    assert len(chats) > 600


def test_an_empty_organization_has_no_chats(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=0)

    assert client_for(server).list_chats() == []
    assert len(server.chats_requests()) == 1


@pytest.mark.parametrize("move_every", [20, 3])
def test_chats_moving_while_paging_cost_at_most_half_again_the_requests_of_a_still_list(
    client_for: ClientFactory, move_every: int
) -> None:
    """No serial cascade: a page join broken by a move is bridged by one read in parallel,
    and the pages after it still join as planned."""
    from benchmarks.server import NOW_MS, ChurningServer

    # 27 pages are enough: a cascade would add a read per page after the first move.
    requests = {}
    for every in (0, move_every):
        server = ChurningServer(
            chats=5_000, seed=16, now=NOW_MS, faults=Faults(latency=0.005), move_every=every
        )
        with server:
            result = client_for(server).crawl_chats()
            requests[every] = len(server.chats_requests())
            assert_complete(result, server)
        assert result.pages == requests[every]

    assert requests[move_every] <= 1.5 * requests[0]
