"""The crawl's invariant over random mixes of server behaviours: the truth where it can be shown,
else an error that carries its evidence.

Hypothesis draws a server (size, ties, chats without a time, a chat dated in the future) and
a mix of faults (capped, short and empty pages, missing and stale totals, tie orders,
deletions, chats moving to the front, late-stamped and unsent messages; 5xx and cut-off bodies
where the list must be read whole), then crawls it over real HTTP. The draws fall in two kinds:

- recoverable: totals sent and right, no chat deleted or moved within the list. The list may
  stand still (then ties of any length in a stable order) or change at the front (new
  messages, new chats; then ties shorter than a page). The crawl MUST return the server's
  truth (see :func:`tests.completeness.assert_complete`); an error fails the test.
- anything: shuffled long ties, missing or stale totals, deletions, late and unsent messages.
  The crawl returns the truth, or raises :class:`BlooioIncompleteError` naming a cause the
  server really had: a count checked against the server's truth, a run of ties the server
  really holds, a list that really changed, totals the server really withheld.

Derandomized, so every run draws the same examples.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from blooio_dagster import BlooioClient, BlooioIncompleteError
from blooio_dagster.crawl.reading import MIN_CRAWL_PAGE_SIZE
from blooio_dagster.testing import BlooioTestServer, Faults
from blooio_dagster.testing.data import DAY_MS
from tests.completeness import assert_complete, crawl_or_error
from tests.conftest import FIXED_NOW_MS

EXAMPLES = int(os.environ.get("BLOOIO_PROPERTY_EXAMPLES", "30"))


@dataclass(frozen=True)
class Scenario:
    server: dict[str, Any]
    faults: Faults
    client: dict[str, Any]
    active_since: int | None

    @property
    def moves_mid_list(self) -> bool:
        """Late or unsent messages: such chats may keep the state they were read in."""
        return bool(self.faults.late_messages_per_request or self.faults.unsent_per_request)

    @property
    def changes(self) -> bool:
        """Whether the list changes while it is read."""
        f = self.faults
        return bool(
            f.messages_per_request
            or f.new_chats_per_request
            or f.deletions_per_request
            or f.late_messages_per_request
            or f.unsent_per_request
        )

    @property
    def page(self) -> int:
        """The most chats one page holds: the client's page size, or the server's cap."""
        size: int = max(self.client["page_size"], MIN_CRAWL_PAGE_SIZE)
        cap = self.faults.page_cap
        return size if cap is None else min(size, cap)


def tie_groups(draw: st.DrawFn, chats: int, longest: int) -> tuple[int, ...]:
    """Runs of chats sharing one time, together at most half the list.

    A list made almost wholly of long ties (two runs of 43 and 55 among 100 chats) is not
    read even standing still: see
    ``test_a_list_of_nothing_but_two_long_ties_is_read`` in tests/test_completeness.py.
    """
    groups = draw(st.lists(st.integers(2, longest), max_size=3))
    while sum(groups) * 2 > chats:
        groups.pop()
    return tuple(groups)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    chats = draw(st.integers(100, 900))
    server = {
        "chats": chats,
        "seed": draw(st.integers(0, 10_000)),
        "now": FIXED_NOW_MS,
        "tie_groups": tie_groups(draw, chats, 90),
        "untimed_chats": draw(st.sampled_from([0, 0, 4, 70])),
        "nulls_first": draw(st.booleans()),
        "future_chats": draw(st.sampled_from([0, 0, 1])),
    }
    # A chat can go missing unseen by the pages only through a deletion (inside a run of
    # tied chats) or a move within the list (late-stamped or unsent messages); only the count
    # then tells, and it is blinded by a stale-low or missing total, or cancelled by another
    # such change (the README's limits). So at most one of these is drawn per example.
    blinding = draw(st.sampled_from(["", "", "", "deletions", "low", "none", "late", "unsent"]))
    faults = Faults(
        page_cap=draw(st.sampled_from([None, None, 15, 30])),
        report_cap=draw(st.booleans()),
        short_page_rate=draw(st.sampled_from([0.0, 0.0, 0.2])),
        empty_page_rate=draw(st.sampled_from([0.0, 0.0, 0.15])),
        missing_total_rate=1.0 if blinding == "none" else draw(st.sampled_from([0.0, 0.0, 0.3])),
        low_total_rate=0.2 if blinding == "low" else 0.0,
        tie_order=draw(st.sampled_from(["id", "request", "window"])),
        deletions_per_request=int(blinding == "deletions"),
        messages_per_request=draw(st.sampled_from([0, 0, 1, 2])),
        new_chats_per_request=draw(st.sampled_from([0, 0, 1])),
        late_messages_per_request=int(blinding == "late"),
        unsent_per_request=int(blinding == "unsent"),
    )
    client = {
        "page_size": draw(st.sampled_from([20, 37, 50])),
        "max_concurrency": draw(st.sampled_from([1, 3, 8])),
        "max_retries": 8,
    }
    # An unsent message can also move a chat out of an active_since window after it was read
    # there, which cancels a missing one in the window's count: whole crawls only.
    days = None if blinding == "unsent" else draw(st.sampled_from([None, None, 2, 30]))
    since = None if days is None else FIXED_NOW_MS - days * DAY_MS
    return Scenario(server, faults, client, since)


@st.composite
def recoverable_scenarios(draw: st.DrawFn) -> Scenario:
    """A server whose list the crawl can always show complete: right totals on every page,
    no chat deleted or moved within the list; caps, short and empty pages, 5xx and cut-off
    bodies in any mix. Either the list stands still, with runs of ties of any length in a
    stable order, or chats move to the front and arrive while it is read, with no run of ties
    as long as a page (chats leaving a long run while it is gathered leave its size unproven,
    and the crawl may then raise)."""
    scenario = draw(scenarios())
    changing = draw(st.booleans())
    faults = replace(
        scenario.faults,
        missing_total_rate=0.0,
        low_total_rate=0.0,
        deletions_per_request=0,
        late_messages_per_request=0,
        unsent_per_request=0,
        server_error_rate=draw(st.sampled_from([0.0, 0.0, 0.1])),
        truncated_body_rate=draw(st.sampled_from([0.0, 0.0, 0.05])),
        tie_order=draw(st.sampled_from(["id", "request", "window"])) if changing else "id",
        messages_per_request=draw(st.sampled_from([1, 2])) if changing else 0,
        new_chats_per_request=draw(st.sampled_from([0, 1])) if changing else 0,
    )
    server = dict(scenario.server)
    if changing:
        server["tie_groups"] = tie_groups(draw, server["chats"], 10)
        server["untimed_chats"] = min(server["untimed_chats"], 4)
    return replace(scenario, server=server, faults=faults)


@st.composite
def unsaid_cap_scenarios(draw: st.DrawFn) -> Scenario:
    """A server that caps pages without saying so and never sends a total, so that every
    page looks as short as the last one: only reading past a page shows that more follow.

    With no total to count against, the pages are all the proof there is, so nothing that
    only the count could catch (deletions, moves within the list) is drawn.
    """
    scenario = draw(scenarios())
    faults = replace(
        scenario.faults,
        page_cap=draw(st.sampled_from([7, 15, 30])),
        report_cap=False,
        missing_total_rate=1.0,
        low_total_rate=0.0,
        deletions_per_request=0,
        late_messages_per_request=0,
        unsent_per_request=0,
    )
    return replace(scenario, faults=faults)


PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: The properties that allow an error run fewer examples, so the three take the time two did.
ERROR_ALLOWED_SETTINGS = settings(
    max_examples=max(1, EXAMPLES * 2 // 3),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def crawl(scenario: Scenario) -> tuple[Any, BlooioTestServer]:
    """The crawl's result (or error) and the stopped server it read, for its truth."""
    with BlooioTestServer(**scenario.server, faults=scenario.faults) as server:
        with BlooioClient(server.api_key, base_url=server.base_url, **scenario.client) as client:
            outcome = crawl_or_error(client, active_since=scenario.active_since)
    return outcome, server


def longest_tie(server: BlooioTestServer, active_since: int | None) -> int:
    """The most chats of the server's truth sharing one ``last_message_time`` (or none)."""
    times = Counter(chat["last_message_time"] for chat in server.truth(active_since=active_since))
    return max(times.values(), default=0)


def assert_the_error_has_evidence(
    error: BlooioIncompleteError, scenario: Scenario, server: BlooioTestServer
) -> None:
    """The error names a cause the server really had, and its count agrees with the truth."""
    faults = scenario.faults
    problem = error.problem
    server.faults = Faults()  # freeze the list to read its truth
    if error.missing is not None:
        assert error.expected is not None, problem
        assert error.unique_chats is not None, problem
        assert error.missing == max(error.expected - error.unique_chats, 0), (
            f"missing {error.missing} is not expected {error.expected} less read "
            f"{error.unique_chats}"
        )
        assert error.regions, f"the error says where the missing chats lie: {problem}"
        truth = server.truth(active_since=scenario.active_since)
        if error.missing and not faults.deletions_per_request and scenario.active_since is None:
            # Without deletions the list only grows: a shortfall the error counts is one the
            # crawl really had against the chats that exist.
            assert len(truth) - error.unique_chats >= error.missing, (
                f"{error.missing} missing of {error.expected}, read {error.unique_chats}, "
                f"but the server holds {len(truth)}"
            )
        if not error.missing:
            # The count adds up; the error stands only on parts that could not be joined,
            # which a standing list of stably ordered ties with totals never has.
            assert scenario.changes or faults.tie_order != "id" or faults.missing_total_rate, (
                f"a standing list with stable ties and totals, yet: {problem} {error.regions}"
            )
        return
    assert error.unique_chats is not None, problem
    if "run of ties longer than a page" in problem:
        assert longest_tie(server, scenario.active_since) * 2 >= scenario.page, (
            f"{problem} but the longest run of ties is "
            f"{longest_tie(server, scenario.active_since)} chats, pages hold {scenario.page}"
        )
    elif "no pagination.total" in problem:
        assert faults.missing_total_rate > 0, problem
    elif "changing faster" in problem or "changed faster" in problem or "ignore offset" in problem:
        assert scenario.changes or faults.tie_order != "id", f"a standing list, yet: {problem}"
    else:
        raise AssertionError(f"an error naming no cause the server had: {problem}")


@PROPERTY_SETTINGS
@given(recoverable_scenarios())
def test_where_the_list_can_be_shown_complete_a_crawl_equals_the_truth(
    scenario: Scenario,
) -> None:
    outcome, server = crawl(scenario)

    assert not isinstance(outcome, BlooioIncompleteError), outcome
    assert_complete(outcome, server, active_since=scenario.active_since)


@ERROR_ALLOWED_SETTINGS
@given(scenarios())
def test_a_crawl_equals_the_truth_or_raises_with_evidence(scenario: Scenario) -> None:
    outcome, server = crawl(scenario)

    if isinstance(outcome, BlooioIncompleteError):
        assert_the_error_has_evidence(outcome, scenario, server)
        return
    assert_complete(
        outcome, server, active_since=scenario.active_since, stale_allowed=scenario.moves_mid_list
    )


@ERROR_ALLOWED_SETTINGS
@given(unsaid_cap_scenarios())
def test_without_totals_a_silently_capped_crawl_equals_the_truth_or_raises_with_evidence(
    scenario: Scenario,
) -> None:
    outcome, server = crawl(scenario)

    if isinstance(outcome, BlooioIncompleteError):
        assert_the_error_has_evidence(outcome, scenario, server)
        return
    assert_complete(outcome, server, active_since=scenario.active_since)
