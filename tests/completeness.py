"""What a complete crawl means, checked against the bundled server's truth.

Shared by the behaviour tests and the property-based tests: every chat that exists when the
crawl ends is in the result, in its newest state; anything else in the result was deleted
while the crawl ran. Chats whose message was delivered late or unsent mid-list may keep the
state they had when their part of the list was read (see the README).
"""

from __future__ import annotations

from typing import Any

from blooio_dagster import BlooioClient, BlooioIncompleteError, ChatCrawlResult
from blooio_dagster.testing import BlooioTestServer, Faults


def crawl_or_error(
    client: BlooioClient, **arguments: Any
) -> ChatCrawlResult | BlooioIncompleteError:
    """The crawl's result, or the incomplete-crawl error it raised instead."""
    try:
        return client.crawl_chats(**arguments)
    except BlooioIncompleteError as raised:
        return raised


def assert_complete(
    result: ChatCrawlResult,
    server: BlooioTestServer,
    *,
    active_since: int | None = None,
    stale_allowed: bool = False,
) -> None:
    """The result holds every chat of the server's truth, and nothing it should not."""
    server.faults = Faults()  # freeze the list to read its truth
    truth = server.truth(active_since=active_since)
    by_id = {chat["id"]: chat for chat in result.chats}
    truth_ids = {chat["id"] for chat in truth}
    changed = server.changed_ids() if stale_allowed else set()
    # A chat moved within the list after the count was taken (by the crawl's last requests)
    # cannot be seen by any reader; every other chat must be there.
    missing = truth_ids - set(by_id) - changed
    assert not missing, f"{len(missing)} chats missing, e.g. {sorted(missing)[:5]}"
    assert len(by_id) == len(result.chats), "a chat is listed twice"
    extra = set(by_id) - truth_ids - server.deleted_ids() - changed
    assert not extra, f"{len(extra)} chats that should not be there, e.g. {sorted(extra)[:5]}"
    stale = [c["id"] for c in truth if c["id"] not in changed and by_id[c["id"]] != c]
    assert not stale, f"{len(stale)} chats not in their newest state, e.g. {stale[:5]}"
    assert result.verified
    assert result.missing == (None if result.expected_total is None else 0)
    assert result.unique_chats == len(result.chats)
