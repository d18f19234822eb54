"""Counting a crawl's result against what the API says exists, and the verdict.

The pages prove that no chat whose time stayed put was skipped (:mod:`blooio_dagster.crawl.chats`).
A chat moved *within* the list while the crawl ran (a message delivered late and stamped hours
back, or an unsent one) can slip past every page, and only a count tells: the distinct chats
read against the newest ``pagination.total``, or, for an ``active_since`` window, against the
total less the chats a fresh page shows below the boundary. This module holds that count, the
verdict it gives, and the error a crawl raises when chats stay unaccounted for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from blooio_dagster.api.errors import BlooioIncompleteError
from blooio_dagster.api.wording import counted
from blooio_dagster.crawl.pages import TIMED_TOP_KEY, ChatPage, NewestChats, is_timed


@dataclass(frozen=True)
class CrawlVerdict:
    """What a crawl could verify about its result.

    Attributes:
        expected: chats the API says exist (in the ``active_since`` window); ``None`` when
            the API sent no ``pagination.total``.
        unique_chats: distinct chats in the result.
        missing: chats unaccounted for (0 when verified); ``None`` when not countable.
        deleted: chats the crawl read and later saw gone, left out of the result.
        regions: where unaccounted-for chats lie, one description each.
    """

    expected: int | None
    unique_chats: int
    missing: int | None
    deleted: int
    regions: tuple[str, ...]

    @property
    def verified(self) -> bool:
        """Whether every chat is accounted for: every page joined and the count adds up."""
        return not self.missing and not self.regions


def count_below(chain: Sequence[ChatPage], lo: int) -> int | None:
    """Chats below ``lo`` per the first page that shows the boundary, from that page's total."""
    for page in chain:
        index = page.first_index_below(lo)
        if index is not None:
            return None if page.total is None else page.total - (page.offset + index)
    return None


def detect_gone(chain: Sequence[ChatPage], newest: NewestChats) -> None:
    """Mark chats a later page should have shown, by their newest read, but did not: deleted.

    A page holds every chat whose time lies strictly between its last and first row's; a chat
    last read before that page was sent, with a time in that span, is gone from it.
    """
    spans = [
        (page.last_key, page.first_key, page.sent, set(page.ids))
        for page in chain
        if len(page) >= 3 and page.first_key > page.last_key
    ]
    if not spans:
        return
    for chat_id, key, received in list(newest.observed()):
        for low, high, sent, ids in spans:
            if low < key < high and received < sent and chat_id not in ids:
                newest.mark_gone(chat_id)
                break


def verdict_for(
    newest: NewestChats,
    *,
    total: int | None,
    active_since: int | None,
    below_boundary: int | None,
    untimed_above: int,
    regions: Sequence[str],
) -> CrawlVerdict:
    """What a crawl's result verifies, counted against ``total``.

    For an ``active_since`` window, ``below_boundary`` is how many chats the API listed below
    the boundary and ``untimed_above`` how many without a time it listed above the window.
    """
    if active_since is None:
        unique = len(newest)
        expected = total
    else:
        unique = newest.count_keys(active_since, TIMED_TOP_KEY)
        expected = (
            None
            if total is None or below_boundary is None
            else max(total - below_boundary - untimed_above, 0)
        )
    missing = None if expected is None else max(expected - unique, 0)
    where = tuple(regions)
    if missing and not where:
        where = (
            "not localized: every page joined its neighbours, so the missing chats most "
            "likely moved within the list (late-stamped or unsent messages) or the API "
            "hid them from every window",
        )
    return CrawlVerdict(expected, unique, missing, len(newest.gone), where)


def incomplete_error(verdict: CrawlVerdict, repair_rounds: int) -> BlooioIncompleteError:
    """The error for a verdict that is not verified, saying how many chats and where."""
    if verdict.missing is None or verdict.expected is None:
        problem = (
            "the API sends no pagination.total and some parts of the list could not be "
            f"joined after {counted(repair_rounds, 'repair round')}:"
        )
    elif not verdict.missing:
        problem = (
            f"the count adds up ({counted(verdict.unique_chats, 'chat')}), but some parts of the "
            f"list could not be joined after {counted(repair_rounds, 'repair round')}, and chats "
            "deleted "
            "meanwhile could hide missing ones:"
        )
    else:
        problem = (
            f"{verdict.missing:,} of {counted(verdict.expected, 'chat')} "
            f"{'is' if verdict.missing == 1 else 'are'} unaccounted for "
            f"(read {counted(verdict.unique_chats, 'distinct chat')}; "
            f"{counted(repair_rounds, 'repair round')}):"
        )
    return BlooioIncompleteError(
        problem,
        missing=verdict.missing,
        expected=verdict.expected,
        unique_chats=verdict.unique_chats,
        regions=verdict.regions,
    )


def run_size(
    first: tuple[ChatPage, int] | None,
    last: tuple[ChatPage, int] | None,
    end_of_list: int | None,
    *,
    totals_sent: bool,
) -> int | None:
    """How many chats a run of ties holds, from the pages where it starts and ends.

    From totals when the API sends them: the chats at or below the run's time by the first
    page, less those below it by the last (none, when the run ends the list). Positions read
    at two moments are a last resort, for an API that sends no totals at all.
    """
    if first is None or (last is None and end_of_list is None):
        return None
    start_page, start_index = first
    start = start_page.offset + start_index
    ends_list = last is None or last[1] == len(last[0])
    end = end_of_list if last is None else last[0].offset + last[1]
    # By positions: short of the run only when chats above it were deleted between the reads.
    by_positions = None if end is None else end - start
    if start_page.total is not None:
        # By totals: short of the run when the first page's total is stale-low, so never
        # less than the positions say (they drift the other way as chats move or arrive).
        if ends_list:
            by_totals = start_page.total - start
        else:
            assert last is not None
            end_page, end_index = last
            if end_page.total is None:
                by_totals = None
            else:
                below = end_page.total - (end_page.offset + end_index)
                by_totals = start_page.total - start - below
        if by_totals is not None:
            return by_totals if by_positions is None else max(by_totals, by_positions)
    if totals_sent:
        return None  # wait for pages with totals: positions drift as chats are deleted
    assert by_positions is not None
    return by_positions


def describe_key(key: int) -> str:
    """A sort key as a reader would name it."""
    if not is_timed(key):
        return "chats without a last_message_time"
    return datetime.fromtimestamp(key / 1000, UTC).isoformat(timespec="milliseconds")
