"""The chat crawl against a replica that lags: a few list requests in a row answered with an
empty list (``"chats": []``, ``"total": 0``) in the middle of a crawl, over real HTTP."""

from __future__ import annotations

import pytest

from blooio_dagster import BlooioIncompleteError
from blooio_dagster.testing import Faults
from tests.completeness import assert_complete
from tests.conftest import ClientFactory, ServerFactory


def test_the_fault_empties_the_list_requests_it_names(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(
        chats=30, seed=80, faults=Faults(empty_replica_after=2, empty_replica_count=2)
    )
    client = client_for(server)

    pages = [client.get_chats_page(limit=5, offset=5) for _ in range(5)]

    assert [len(page["chats"]) for page in pages] == [5, 5, 0, 0, 5]
    assert [page["pagination"]["total"] for page in pages] == [30, 30, 0, 0, 30]


@pytest.mark.parametrize(
    ("after", "concurrency"), [(4, 1), (15, 4)], ids=["one-at-a-time", "concurrent"]
)
def test_empty_pages_of_a_lagging_replica_are_read_again(
    start_server: ServerFactory, client_for: ClientFactory, after: int, concurrency: int
) -> None:
    faults = Faults(empty_replica_after=after, empty_replica_count=4)
    server = start_server(chats=1000, seed=5, faults=faults)
    client = client_for(server, page_size=50, max_concurrency=concurrency)

    result = client.crawl_chats()

    assert_complete(result, server)
    assert result.refetched_pages >= 4


def test_a_replica_that_stays_empty_is_named_in_the_error(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    faults = Faults(empty_replica_after=4, empty_replica_count=50)
    server = start_server(chats=1000, seed=5, faults=faults)
    client = client_for(server, page_size=50, max_concurrency=1)

    with pytest.raises(BlooioIncompleteError) as raised:
        client.crawl_chats()

    problem = raised.value.problem
    assert "5 empty pages in a row from offset 192" in problem
    assert "the total fell from 1,000 to 0" in problem
    assert "already read" not in problem
