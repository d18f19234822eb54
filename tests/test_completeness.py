"""Every way a real API misbehaves while a client pages, over real HTTP: complete, or raised.

Each test gives the bundled server one behaviour from the reference's gaps (``limit`` is a
maximum, ties have no order, nulls have no place, totals drift, chats are deleted, clocks
disagree) and checks the crawl against the server's truth. Where the API makes completeness
impossible to show, the crawl must raise :class:`BlooioIncompleteError` within a bounded
number of requests, never return a short list.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from blooio_dagster import BlooioIncompleteError
from blooio_dagster.testing import Faults
from blooio_dagster.testing.data import DAY_MS
from tests.completeness import assert_complete, crawl_or_error
from tests.conftest import FIXED_NOW_MS, ClientFactory, ServerFactory

CHATS = 2500


@pytest.mark.parametrize(
    ("faults", "settings"),
    [
        pytest.param(Faults(page_cap=30), {}, id="server cap, said in pagination.limit"),
        pytest.param(Faults(page_cap=30, report_cap=False), {}, id="server cap, unsaid"),
        pytest.param(Faults(short_page_rate=0.3), {}, id="pages a few rows short"),
        pytest.param(Faults(empty_page_rate=0.2), {}, id="transient empty pages"),
        pytest.param(
            Faults(empty_page_rate=0.2), {"max_concurrency": 1}, id="empty, one at a time"
        ),
        pytest.param(Faults(low_total_rate=0.3), {}, id="stale low totals"),
        pytest.param(Faults(messages_per_request=2, new_chats_per_request=1), {}, id="churn"),
    ],
)
def test_pages_and_totals_that_do_not_mean_what_they_seem(
    start_server: ServerFactory, client_for: ClientFactory, faults: Faults, settings: dict[str, Any]
) -> None:
    server = start_server(chats=CHATS, seed=31, faults=faults)
    client = client_for(server, **{"page_size": 50, "max_retries": 8, **settings})

    result = client.crawl_chats()

    assert_complete(result, server)
    assert result.expected_total == len(result.chats)


def test_without_any_total_the_pages_alone_prove_the_list(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=CHATS, seed=32, faults=Faults(missing_total_rate=1.0))

    result = client_for(server, page_size=50).crawl_chats()

    assert_complete(result, server)
    assert result.expected_total is None


#: A server that caps pages below the limit asked for, says nothing of it and sends no total:
#: every page looks short, as only the last one should.
UNSAID_CAP_NO_TOTALS = Faults(page_cap=15, report_cap=False, missing_total_rate=1.0)


@pytest.mark.parametrize(
    ("data", "faults"),
    [
        pytest.param(
            {"chats": 300, "seed": 2},
            replace(UNSAID_CAP_NO_TOTALS, empty_page_rate=0.15),
            id="the window read after the first page comes back empty",
        ),
        pytest.param(
            {"chats": 364, "seed": 9007, "tie_groups": (41,), "untimed_chats": 70},
            replace(UNSAID_CAP_NO_TOTALS, tie_order="request"),
            id="a tie shuffled per request ends two windows on one chat",
        ),
    ],
)
def test_an_unsaid_page_cap_without_totals_is_never_taken_for_the_end_of_the_list(
    start_server: ServerFactory, client_for: ClientFactory, data: dict[str, Any], faults: Faults
) -> None:
    server = start_server(**data, nulls_first=True, faults=faults)

    result = client_for(server, page_size=50, max_concurrency=1).crawl_chats()

    assert_complete(result, server)
    assert len(result.chats) == data["chats"] + data.get("untimed_chats", 0)


@pytest.mark.parametrize(
    ("data", "faults", "page_size"),
    [
        pytest.param(
            {"chats": 100, "seed": 2, "nulls_first": False},
            replace(UNSAID_CAP_NO_TOTALS, page_cap=7, short_page_rate=0.2, messages_per_request=2),
            20,
            id="chats moving to the front push the last page's rows into the confirming window",
        ),
        pytest.param(
            {
                "chats": 223,
                "seed": 51,
                "tie_groups": (16, 16),
                "untimed_chats": 70,
                "nulls_first": True,
            },
            Faults(
                messages_per_request=1,
                page_cap=30,
                report_cap=False,
                empty_page_rate=0.15,
                missing_total_rate=1.0,
                tie_order="request",
            ),
            20,
            id="chats leaving the untimed run at the top shrink its measured size",
        ),
    ],
)
def test_without_totals_chats_moving_during_the_crawl_neither_end_it_early_nor_go_missing(
    start_server: ServerFactory,
    client_for: ClientFactory,
    data: dict[str, Any],
    faults: Faults,
    page_size: int,
) -> None:
    server = start_server(**data, faults=faults)
    client = client_for(server, page_size=page_size, max_concurrency=1, max_retries=8)

    outcome = crawl_or_error(client)

    assert not isinstance(outcome, BlooioIncompleteError), outcome
    assert_complete(outcome, server)


def test_a_tie_that_cannot_be_read_past_without_totals_is_named_in_the_error(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(
        chats=861,
        seed=1684,
        tie_groups=(50, 71, 39),
        untimed_chats=4,
        faults=replace(UNSAID_CAP_NO_TOTALS, page_cap=7, short_page_rate=0.2),
    )
    client = client_for(server, page_size=50, max_concurrency=1, max_retries=8)

    with pytest.raises(BlooioIncompleteError, match="a run of ties longer than a page") as raised:
        client.crawl_chats()

    assert "no pagination.total" in raised.value.problem
    assert "ignore offset" not in raised.value.problem


@pytest.mark.xfail(
    strict=True,
    raises=BlooioIncompleteError,
    reason="known: a standing list made almost wholly of two long runs of ties is taken for a "
    "list that keeps changing ('10 passes over the newest chats did not settle')",
)
def test_a_list_of_nothing_but_two_long_ties_is_read(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    # 98 of the 100 chats share one of two times; the server changes nothing, ties by id.
    server = start_server(chats=100, seed=295, tie_groups=(43, 55))

    result = client_for(server, page_size=20, max_concurrency=1).crawl_chats()

    assert_complete(result, server)


@pytest.mark.parametrize("tie_order", ["id", "request", "window"])
def test_chats_sharing_one_time_are_all_read_whatever_order_the_server_gives_them(
    start_server: ServerFactory, client_for: ClientFactory, tie_order: Any
) -> None:
    server = start_server(
        chats=CHATS, seed=33, tie_groups=(300, 60, 7, 2), faults=Faults(tie_order=tie_order)
    )

    result = client_for(server, page_size=50).crawl_chats()

    assert_complete(result, server)
    assert result.repaired_regions > 0, "the runs longer than a page were gathered"


@pytest.mark.parametrize("max_concurrency", [1, 8])
def test_chats_deleted_while_paging_do_not_hide_the_chats_behind_them(
    start_server: ServerFactory, client_for: ClientFactory, max_concurrency: int
) -> None:
    server = start_server(chats=CHATS, seed=34, faults=Faults(deletions_per_request=2))
    client = client_for(server, page_size=50, max_concurrency=max_concurrency)

    result = client.crawl_chats()

    assert_complete(result, server)
    assert server.deleted_ids(), "chats were deleted during the crawl"


@pytest.mark.parametrize("nulls_first", [True, False])
@pytest.mark.parametrize("windowed", [True, False])
def test_chats_without_a_time_neither_end_a_crawl_nor_go_missing(
    start_server: ServerFactory, client_for: ClientFactory, nulls_first: bool, windowed: bool
) -> None:
    server = start_server(chats=CHATS, seed=35, untimed_chats=260, nulls_first=nulls_first)
    since = FIXED_NOW_MS - 3 * DAY_MS if windowed else None

    result = client_for(server, page_size=50).crawl_chats(active_since=since)

    assert_complete(result, server, active_since=since)
    assert len(result.chats) > (100 if windowed else CHATS)


def test_a_chat_dated_in_the_future_does_not_hide_chats_that_move_behind_it(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    faults = Faults(messages_per_request=2, new_chats_per_request=1)
    server = start_server(chats=CHATS, seed=36, future_chats=2, faults=faults)

    result = client_for(server, page_size=50).crawl_chats()

    assert_complete(result, server)


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(Faults(late_messages_per_request=1), id="messages delivered late"),
        pytest.param(Faults(unsent_per_request=1), id="messages unsent"),
    ],
)
def test_chats_moving_within_the_list_are_all_there_or_the_crawl_raises(
    start_server: ServerFactory, client_for: ClientFactory, faults: Faults
) -> None:
    server = start_server(chats=CHATS, seed=37, faults=faults)
    client = client_for(server, page_size=50)

    outcome = crawl_or_error(client)

    if isinstance(outcome, BlooioIncompleteError):
        # A move within the list neither adds nor removes a chat: the total the error counts
        # against is the server's, and the shortfall is what the crawl really lacks.
        server.faults = Faults()
        assert outcome.expected == len(server.truth()) == CHATS
        assert outcome.unique_chats is not None
        assert outcome.unique_chats < CHATS
        assert outcome.missing == CHATS - outcome.unique_chats
        assert outcome.regions, "the error says where the missing chats lie"
        assert len(server.chats_requests()) < 20 * CHATS / 50, "within bounded requests"
    else:
        assert_complete(outcome, server, stale_allowed=True)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        pytest.param(Faults(ignore_offset=True), "ignore offset", id="offset ignored"),
        pytest.param(Faults(ignore_sort=True), "not sorted newest first", id="sort ignored"),
    ],
)
def test_a_server_that_ignores_paging_is_reported_quickly(
    start_server: ServerFactory, client_for: ClientFactory, faults: Faults, message: str
) -> None:
    server = start_server(chats=CHATS, seed=38, faults=faults)

    with pytest.raises(BlooioIncompleteError, match=message):
        client_for(server, page_size=50).list_chats()
    assert len(server.chats_requests()) <= 40


def test_an_active_since_crawl_is_counted_against_the_boundary(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=CHATS, seed=39, faults=Faults(short_page_rate=0.3))
    since = FIXED_NOW_MS - 5 * DAY_MS

    result = client_for(server, page_size=40).crawl_chats(active_since=since)

    assert_complete(result, server, active_since=since)
    assert result.expected_total == len(server.truth(active_since=since))
