"""The messages reader against random mixes of misleading answers: the truth, or the real problem.

Hypothesis draws behaviours in two families, over real HTTP against the bundled server.

*Recoverable*: pages of another chat, offset or window a few times per chat (fewer than the
retries), 404s from a lagging replica (fewer than the re-checks), totals of the whole history,
queued messages without a time, a bulk import of more than a page in one millisecond, with
the existing faults on top (capped, short or empty pages, missing or stale-low totals, ties in
any order, inclusive bounds, an ignored offset, messages arriving and unsent while a chat is
read, 5xx and cut-off bodies). A read must then return the truth: with nothing changing during
the read, exactly the server's messages of the window; otherwise every message that existed
throughout, once (:func:`tests.messages_truth.assert_read_exactly`). As in
``test_messages_properties``, at most one of short pages, empty pages, missing totals,
stale-low totals and whole-history totals is drawn: two of them together can make a page the
server cut short look like the end to any reader. Without a total to trust, neither unsent
messages (a window they empty looks like a lying empty page) nor an ignored offset (a window
all in one millisecond looks like a capped page) are drawn: the reader raises for those.

*Unrecoverable*: one fault no reader can get past (another chat's or offset's page on every
attempt, ``until`` always ignored, a chat that keeps answering 404 while it exists, a bulk
import behind an ignored offset, ``sort`` ignored), with recoverable noise on top. The read
must raise, and its error must name that problem.

A reader that gives up at once fails the recoverable property
(:func:`test_a_reader_that_gives_up_fails_the_recoverable_property`). Derandomized.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import blooio_dagster.client
import blooio_dagster.crawl.messages
from blooio_dagster import BlooioClient, BlooioError
from blooio_dagster.api.errors import BlooioIncompleteMessagesError, BlooioResponseError
from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import FIXED_NOW_MS
from tests.messages_truth import assert_read_exactly, expected_messages

EXAMPLES = int(os.environ.get("BLOOIO_PROPERTY_EXAMPLES", "30"))
MAX_RETRIES = 6
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Scenario:
    seed: int
    faults: Faults
    page_size: int
    since: tuple[int, int] | None  # (message index from the end, offset in ms)
    until: tuple[int, int] | None
    fan_out: bool
    preceding: bool
    bulk: int  # messages imported into the first chat at one millisecond
    problem: str = ""  # what an unrecoverable scenario's error must name

    @property
    def changing(self) -> bool:
        """Whether the history changes while it is read."""
        return bool(self.faults.chat_messages_per_request or self.faults.chat_unsent_per_request)


@st.composite
def recoverable(draw: st.DrawFn) -> Scenario:
    shape = draw(st.sampled_from(["", "", "short", "empty", "missing", "low", "whole"]))
    bulk = draw(st.sampled_from([0, 0, 250, 450]))
    fan_out = draw(st.booleans())
    # Offset ignored, a millisecond holding a page is out of reach: pages of at least 9 rows,
    # which no millisecond of the generated histories fills. Without totals, a window whose
    # messages all share one millisecond cannot be told from a capped page but by offset.
    ignore_offset = not bulk and shape != "missing" and draw(st.booleans())
    faults = Faults(
        page_cap=draw(st.sampled_from([None, None, 9] if ignore_offset else [None, None, 4, 9])),
        report_cap=True if shape == "low" else draw(st.booleans()),
        short_page_rate=0.3 if shape == "short" else 0.0,
        # Rare enough that MAX_EMPTY_READS + 1 empty pages in a row never come by chance.
        empty_page_rate=0.1 if shape == "empty" else 0.0,
        missing_total_rate=1.0 if shape == "missing" else 0.0,
        low_total_rate=0.4 if shape == "low" else 0.0,
        total_ignores_window=shape == "whole",
        # Messages of one millisecond read by offset need an order that holds between
        # requests, and an offset that is honoured.
        tie_order="id" if bulk else draw(st.sampled_from(["id", "request", "window"])),
        ignore_offset=ignore_offset,
        inclusive_bounds=draw(st.booleans()),
        chat_messages_per_request=draw(st.sampled_from([0, 0, 1])),
        # Without a total to trust, a window emptied by unsent messages cannot be told from
        # an empty page that lies: the read raises.
        chat_unsent_per_request=(
            0 if bulk or shape in ("missing", "whole") else draw(st.sampled_from([0, 0, 0, 1]))
        ),
        server_error_rate=draw(st.sampled_from([0.0, 0.0, 0.1])),
        truncated_body_rate=draw(st.sampled_from([0.0, 0.0, 0.05])),
        misanswered_pages=draw(st.integers(0, 3)),
        misanswer=draw(st.sampled_from(["other_chat", "offset", "until"])),
        messages_404_per_chat=draw(st.integers(0, 2)) if fan_out else 0,
        queued_per_chat=draw(st.sampled_from([0, 0, 2])),
    )
    bound = st.one_of(st.none(), st.tuples(st.integers(1, 45), st.integers(-1, 1)))
    return Scenario(
        seed=draw(st.integers(0, 10_000)),
        faults=faults,
        page_size=200
        if bulk
        else draw(st.sampled_from([10, 200] if ignore_offset else [4, 10, 200])),
        since=draw(bound),
        until=draw(bound),
        fan_out=fan_out,
        preceding=fan_out and draw(st.booleans()),
        bulk=bulk,
    )


@st.composite
def unrecoverable(draw: st.DrawFn) -> Scenario:
    problem = draw(st.sampled_from(["other_chat", "offset", "until", "404", "bulk_offset", "sort"]))
    noise = draw(recoverable())
    # Noise that is recoverable whatever else happens: no chat-page faults of its own, no
    # page shapes, no order that moves, no arrivals below a window.
    faults = replace(
        Faults(),
        page_cap=noise.faults.page_cap,
        server_error_rate=noise.faults.server_error_rate,
        truncated_body_rate=noise.faults.truncated_body_rate,
        queued_per_chat=noise.faults.queued_per_chat,
        inclusive_bounds=noise.faults.inclusive_bounds,
    )
    fan_out, bulk, until = noise.fan_out, 0, noise.until
    if problem in ("other_chat", "offset", "until"):
        faults = replace(faults, misanswered_pages=1000, misanswer=problem)  # type: ignore[arg-type]
        if problem == "until":
            until = draw(st.tuples(st.integers(3, 45), st.integers(-1, 1)))
    elif problem == "404":
        faults, fan_out = replace(faults, messages_404_per_chat=1000), True
    elif problem == "bulk_offset":  # the whole history: the import lies in it
        faults, bulk, until = replace(faults, ignore_offset=True, page_cap=None), 250, None
    else:
        faults = replace(faults, ignore_sort=True, page_cap=draw(st.sampled_from([4, 9])))
    return replace(
        noise,
        faults=faults,
        fan_out=fan_out,
        preceding=fan_out and noise.preceding,
        until=until,
        since=None if problem in ("until", "bulk_offset", "sort") else noise.since,
        bulk=bulk,
        page_size=200 if bulk else noise.page_size,
        problem=problem,
    )


#: What the error of each unrecoverable problem must be, and say.
NAMED = {
    "other_chat": (BlooioResponseError, "another chat's"),
    "offset": (BlooioResponseError, "the one at offset"),
    "until": (BlooioIncompleteMessagesError, "ignore until"),
    "404": (BlooioIncompleteMessagesError, "answered 404 on 3 reads"),
    "bulk_offset": (BlooioIncompleteMessagesError, "ignore offset"),
    "sort": (BlooioIncompleteMessagesError, "ignore sort"),
}


def at(history: list[dict[str, Any]], bound: tuple[int, int] | None) -> int | None:
    """A time at (or 1 ms around) the message ``bound[0]`` from the end of ``history``."""
    if bound is None or not history:
        return None
    back, shift = bound
    return int(history[-min(back, len(history))]["time_sent"]) + shift


@dataclass
class Outcome:
    """A scenario's read: each chat's messages, or the error; and the truth before it."""

    ids: list[str]
    before: dict[str, list[dict[str, Any]]]
    since: int | None
    until: int | None
    read: dict[str, list[dict[str, Any]]] | None
    error: BlooioError | None
    unsent_skipped: int | None
    unsent: set[str]
    after: dict[str, list[dict[str, Any]]]


def run(scenario: Scenario) -> Outcome:
    with BlooioTestServer(chats=60, seed=scenario.seed, now=FIXED_NOW_MS) as server:
        chats = sorted(server.truth(), key=lambda c: (-c["message_count"], c["id"]))[:3]
        ids = [chat["id"] for chat in chats]
        if scenario.bulk:
            history = server.messages_of(ids[0])
            server.import_messages(ids[0], scenario.bulk, int(history[-3]["time_sent"]) + 1)
        before = {chat_id: server.messages_of(chat_id) for chat_id in ids}
        since = at(before[ids[0]], scenario.since)
        until = at(before[ids[0]], scenario.until)
        if since is not None and until is not None and since >= until:
            since, until = until, since + 1
        server.faults = scenario.faults
        read: dict[str, list[dict[str, Any]]] | None = None
        error: BlooioError | None = None
        skipped: int | None = None
        with BlooioClient(
            server.api_key,
            base_url=server.base_url,
            page_size=scenario.page_size,
            max_retries=MAX_RETRIES,
        ) as client:
            try:
                if scenario.fan_out:
                    # One chat at a time: the server's seeded draws then come in one order.
                    result = client.fetch_messages(
                        ids,
                        since=since,
                        until=until,
                        preceding=scenario.preceding,
                        max_concurrency=1,
                    )
                    read, skipped = result.messages, result.unsent_skipped
                    assert result.not_found == ()
                else:
                    read = {ids[0]: client.list_messages(ids[0], since=since, until=until)}
            except BlooioError as raised:
                error = raised
        server.faults = Faults()
        after = {chat_id: server.messages_of(chat_id) for chat_id in ids}
        return Outcome(
            ids, before, since, until, read, error, skipped, server.unsent_message_ids(), after
        )


def assert_the_truth(scenario: Scenario, outcome: Outcome) -> None:
    """The read returned the truth (see the module)."""
    assert outcome.error is None, f"a recoverable read raised: {outcome.error!r}"
    assert outcome.read is not None
    since, until = outcome.since, outcome.until
    assert list(outcome.read) == (outcome.ids if scenario.fan_out else outcome.ids[:1])
    for chat_id, got in outcome.read.items():
        before = outcome.before[chat_id]
        if not scenario.changing:
            expected = expected_messages(
                before, since=since, until=until, preceding=scenario.preceding
            )
            assert [m["message_id"] for m in got] == [m["message_id"] for m in expected]
            assert got == expected
            continue
        window = [m for m in got if since is None or m["time_sent"] >= since]
        assert_read_exactly(
            window,
            before=before,
            after=outcome.after[chat_id],
            unsent=outcome.unsent,
            since=since,
            until=until,
        )
    queued_listed = until is None and (since is None or scenario.preceding)
    if scenario.fan_out and queued_listed:
        assert outcome.unsent_skipped == scenario.faults.queued_per_chat * len(outcome.ids)


@PROPERTY_SETTINGS
@given(recoverable())
def test_a_recoverable_read_equals_the_truth(scenario: Scenario) -> None:
    assert_the_truth(scenario, run(scenario))


@PROPERTY_SETTINGS
@given(unrecoverable())
def test_an_unrecoverable_read_raises_naming_the_problem(scenario: Scenario) -> None:
    outcome = run(scenario)

    kind, named = NAMED[scenario.problem]
    assert outcome.error is not None, f"no error for {scenario.problem}: {outcome.read!r}"[:300]
    assert isinstance(outcome.error, kind), repr(outcome.error)
    assert named in str(outcome.error)
    for chat_id in outcome.ids:
        assert chat_id not in str(outcome.error)


def test_a_reader_that_gives_up_fails_the_recoverable_property(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def give_up(*args: Any, **kwargs: Any) -> Any:
        raise BlooioIncompleteMessagesError("gave up at once")

    monkeypatch.setattr(blooio_dagster.crawl.messages, "read_chat", give_up)
    monkeypatch.setattr(blooio_dagster.client, "read_chat", give_up)
    scenario = Scenario(
        seed=1,
        faults=Faults(misanswered_pages=1, total_ignores_window=True, queued_per_chat=2),
        page_size=10,
        since=(20, 0),
        until=(2, 0),
        fan_out=True,
        preceding=True,
        bulk=0,
    )

    with pytest.raises(AssertionError, match="a recoverable read raised"):
        assert_the_truth(scenario, run(scenario))
