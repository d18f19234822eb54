"""The messages reader's invariant over random server behaviours: exactly the window, or an error.

Hypothesis draws a server, a page size, a window (bounds on, just before and just after
messages, or open) and a mix of behaviours: capped pages (reported or not), short or empty
pages, missing or stale-low totals, ties in any order, inclusive bounds, an ignored offset,
messages arriving and unsent at every request, 5xx and cut-off bodies. Every read over real
HTTP, one chat or a fan-out with or without ``preceding``, must return each message of the
window that existed throughout exactly once, oldest first, and nothing else (see
:func:`tests.messages_truth.assert_read_exactly`), or raise :class:`BlooioIncompleteError`.

A page the server cut short and a total that wrongly agrees with it (stale-low, or missing so
that a second short page looks like the end) cannot be told from the end of the window by any
reader, so at most one of short pages, empty pages, missing totals and low totals is drawn,
and low totals only with a reported cap.

Two properties split the draws. Where no page's worth of messages shares one millisecond (none
in the chat's history, and none arriving, as they are all stamped at the server's fixed now)
and no run of empty pages can pass for a dead window, the read MUST be exactly the window: an error fails the test. Over
every draw, a read is exactly the window, or raises an error whose cause the server really
had: a page's worth of messages at the millisecond it names, or empty pages the server really
sent. Derandomized, so every run draws the same examples.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from blooio_dagster import BlooioClient, BlooioIncompleteError
from blooio_dagster.api.wire.messages import Direction
from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import FIXED_NOW_MS
from tests.messages_truth import assert_read_exactly, expected_messages

EXAMPLES = int(os.environ.get("BLOOIO_PROPERTY_EXAMPLES", "30"))
DIRECTIONS: list[Direction | None] = [None, None, "inbound", "outbound"]


@dataclass(frozen=True)
class Scenario:
    seed: int
    faults: Faults
    page_size: int
    since: tuple[int, int] | None  # (message index from the end, offset in ms)
    until: tuple[int, int] | None
    direction: Direction | None
    fan_out: bool
    preceding: bool


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    shape = draw(st.sampled_from(["", "", "short", "empty", "missing", "low"]))
    faults = Faults(
        page_cap=draw(st.sampled_from([None, None, 4, 9])),
        report_cap=True if shape == "low" else draw(st.booleans()),
        short_page_rate=0.3 if shape == "short" else 0.0,
        empty_page_rate=0.25 if shape == "empty" else 0.0,
        missing_total_rate=1.0 if shape == "missing" else 0.0,
        low_total_rate=0.4 if shape == "low" else 0.0,
        tie_order=draw(st.sampled_from(["id", "request", "window"])),
        inclusive_bounds=draw(st.booleans()),
        ignore_offset=draw(st.booleans()),
        chat_messages_per_request=draw(st.sampled_from([0, 0, 1, 3])),
        chat_unsent_per_request=draw(st.sampled_from([0, 0, 0, 1])),
        server_error_rate=draw(st.sampled_from([0.0, 0.0, 0.1])),
        truncated_body_rate=draw(st.sampled_from([0.0, 0.0, 0.05])),
    )
    bound = st.one_of(st.none(), st.tuples(st.integers(1, 45), st.integers(-1, 1)))
    fan_out = draw(st.booleans())
    return Scenario(
        seed=draw(st.integers(0, 10_000)),
        faults=faults,
        page_size=draw(st.sampled_from([4, 10, 200])),
        since=draw(bound),
        until=draw(bound),
        direction=None if fan_out else draw(st.sampled_from(DIRECTIONS)),
        fan_out=fan_out,
        preceding=fan_out and draw(st.booleans()),
    )


def at(history: list[dict[str, Any]], bound: tuple[int, int] | None) -> int | None:
    """A time at (or 1 ms around) the message ``bound[0]`` from the end of ``history``."""
    if bound is None or not history:
        return None
    back, shift = bound
    return int(history[-min(back, len(history))]["time_sent"]) + shift


def read_or_error(
    client: BlooioClient,
    scenario: Scenario,
    ids: list[str],
    since: int | None,
    until: int | None,
) -> dict[str, list[dict[str, Any]]] | BlooioIncompleteError:
    """What the scenario's read returned, by chat, or the incomplete-read error it raised."""
    try:
        if scenario.fan_out:
            return client.fetch_messages(
                ids, since=since, until=until, preceding=scenario.preceding
            ).messages
        return {
            ids[0]: client.list_messages(
                ids[0], since=since, until=until, direction=scenario.direction
            )
        }
    except BlooioIncompleteError as raised:
        return raised


@st.composite
def recoverable_scenarios(draw: st.DrawFn) -> Scenario:
    """Every behaviour of :func:`scenarios` but the two that can make a window unreadable:
    messages arriving (all stamped at the same fixed now, so a page's worth of them share a
    millisecond) and empty pages (a run of them is the API's word against the earlier pages)."""
    scenario = draw(scenarios())
    faults = replace(scenario.faults, chat_messages_per_request=0, empty_page_rate=0.0)
    return replace(scenario, faults=faults)


def property_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, examples),
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Split so that the two properties take the time the one before them did.
RECOVERABLE_SETTINGS = property_settings(EXAMPLES * 2 // 3)
ERROR_ALLOWED_SETTINGS = property_settings(EXAMPLES // 3)


def page_of(scenario: Scenario) -> int:
    """The most messages one page holds: the page size, or the server's cap."""
    cap = scenario.faults.page_cap
    return scenario.page_size if cap is None else min(scenario.page_size, cap)


def most_sharing_one_millisecond(histories: list[list[dict[str, Any]]], at_ms: int | None) -> int:
    """The most messages of one chat sent at ``at_ms`` (at any one millisecond: ``None``)."""
    counts = [Counter(m["time_sent"] for m in history) for history in histories]
    if at_ms is None:
        return max((n for count in counts for n in count.values()), default=0)
    return max(count[at_ms] for count in counts)


def assert_the_error_has_evidence(
    error: BlooioIncompleteError, scenario: Scenario, server: BlooioTestServer, ids: list[str]
) -> None:
    """The error names a cause the server really had."""
    problem = error.problem
    stalled = re.search(r"ended at the same millisecond \((\d+)\)", problem)
    if stalled:
        server.faults = Faults()
        histories = [server.messages_of(chat_id) for chat_id in ids]
        shared = most_sharing_one_millisecond(histories, int(stalled.group(1)))
        page = page_of(scenario)
        assert shared >= page, f"{problem}, but only {shared} messages share it; pages hold {page}"
    elif "came back empty" in problem:
        assert scenario.faults.empty_page_rate > 0, f"the server sent no empty page: {problem}"
    else:
        raise AssertionError(f"an error naming no cause the server had: {problem}")


@RECOVERABLE_SETTINGS
@given(recoverable_scenarios())
def test_where_the_window_can_be_read_a_read_is_exactly_the_window(scenario: Scenario) -> None:
    read_exactly_the_window_or_raise(scenario, error_allowed=False)


@ERROR_ALLOWED_SETTINGS
@given(scenarios())
def test_a_read_is_exactly_the_window_or_raises_with_evidence(scenario: Scenario) -> None:
    read_exactly_the_window_or_raise(scenario, error_allowed=True)


def read_exactly_the_window_or_raise(scenario: Scenario, *, error_allowed: bool) -> None:
    with BlooioTestServer(chats=60, seed=scenario.seed, now=FIXED_NOW_MS) as server:
        chats = sorted(server.truth(), key=lambda c: -c["message_count"])[:4]
        ids = [chat["id"] for chat in chats]
        before = {chat_id: server.messages_of(chat_id) for chat_id in ids}
        if not error_allowed:
            # A page's worth of messages sent in one millisecond cannot be paged past by
            # time: such a history (a few seeds' chats, with 4 to a page) is not readable.
            assume(most_sharing_one_millisecond(list(before.values()), None) < page_of(scenario))
        since = at(before[ids[0]], scenario.since)
        until = at(before[ids[0]], scenario.until)
        if since is not None and until is not None and since >= until:
            since, until = until, since + 1
        server.faults = scenario.faults
        with BlooioClient(
            server.api_key, base_url=server.base_url, page_size=scenario.page_size, max_retries=8
        ) as client:
            outcome = read_or_error(client, scenario, ids, since, until)
        if isinstance(outcome, BlooioIncompleteError):
            assert error_allowed, f"a readable window raised: {outcome}"
            assert_the_error_has_evidence(outcome, scenario, server, ids)
            return
        read = outcome
        server.faults = Faults()
        unsent = server.unsent_message_ids()
        for chat_id, got in read.items():
            after = server.messages_of(chat_id)
            window = [m for m in got if since is None or m["time_sent"] >= since]
            assert_read_exactly(
                window,
                before=before[chat_id],
                after=after,
                unsent=unsent,
                since=since,
                until=until,
                direction=scenario.direction,
            )
            lead = got[: len(got) - len(window)]
            if not scenario.preceding:
                assert not lead
                continue
            changed = {m["message_id"] for m in after} ^ {m["message_id"] for m in before[chat_id]}
            moved_below = since is not None and any(
                m["time_sent"] < since
                for m in before[chat_id] + after
                if m["message_id"] in changed
            )
            if not moved_below:
                expected = expected_messages(after, since=since, until=until, preceding=True)
                assert lead == expected[: len(lead)]
                assert len(lead) == len(expected) - len(
                    expected_messages(after, since=since, until=until)
                )
