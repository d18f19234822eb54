"""The crawl's invariant over random mixes of server behaviours: the truth, or an error.

Hypothesis draws a server (size, ties, chats without a time, a chat dated in the future) and
a mix of faults (capped, short and empty pages, missing and stale totals, tie orders,
deletions, chats moving to the front, late-stamped and unsent messages), then a crawl over
real HTTP must either equal the server's truth (see :func:`tests.completeness.assert_complete`)
or raise :class:`BlooioIncompleteError`. Derandomized, so every run draws the same examples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blooio_dagster import BlooioClient, BlooioIncompleteError
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


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    server = {
        "chats": draw(st.integers(100, 900)),
        "seed": draw(st.integers(0, 10_000)),
        "now": FIXED_NOW_MS,
        "tie_groups": tuple(draw(st.lists(st.integers(2, 90), max_size=3))),
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


def crawl_equals_the_truth_or_raises(scenario: Scenario) -> None:
    with BlooioTestServer(**scenario.server, faults=scenario.faults) as server:
        with BlooioClient(server.api_key, base_url=server.base_url, **scenario.client) as client:
            outcome = crawl_or_error(client, active_since=scenario.active_since)
        if isinstance(outcome, BlooioIncompleteError):
            assert outcome.problem, "the error explains itself"
            return
        assert_complete(
            outcome,
            server,
            active_since=scenario.active_since,
            stale_allowed=scenario.moves_mid_list,
        )


@PROPERTY_SETTINGS
@given(scenarios())
def test_a_crawl_equals_the_truth_or_raises(scenario: Scenario) -> None:
    crawl_equals_the_truth_or_raises(scenario)


@PROPERTY_SETTINGS
@given(unsaid_cap_scenarios())
def test_without_totals_a_silently_capped_crawl_equals_the_truth_or_raises(
    scenario: Scenario,
) -> None:
    crawl_equals_the_truth_or_raises(scenario)
