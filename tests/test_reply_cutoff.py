"""Until when replies are looked for: the rule that one bad clock cannot move far."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from blooio_dagster.tables.reply_cutoff import choose_reply_cutoff

NOW = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)
DAY_END = datetime(2026, 3, 10, tzinfo=UTC)


def clocks(*offsets_s: float) -> list[datetime]:
    return [NOW + timedelta(seconds=s) for s in offsets_s]


def test_the_median_of_the_date_headers_is_used_and_a_lagging_node_is_reported() -> None:
    cutoff = choose_reply_cutoff(
        api_clocks=clocks(-3600, 0, 1, 1, 2), newest_message=None, machine_time=NOW
    )

    assert (cutoff.at, cutoff.source) == (NOW + timedelta(seconds=1), "api_clock")
    (warning,) = cutoff.warnings
    assert warning.startswith("1 of 5 answers from the API carried a Date header more ")


def test_a_clock_lagging_into_a_day_that_ended_gives_way_to_the_days_end() -> None:
    # Every node lags 40 minutes: by its clock, yesterday has not ended.
    lagging = clocks(-2400, -2400, -2399)

    cutoff = choose_reply_cutoff(
        api_clocks=lagging, newest_message=None, machine_time=NOW, partition_end=DAY_END
    )

    assert (cutoff.at, cutoff.source) == (DAY_END, "partition_end")
    assert [w.split(" (")[0] for w in cutoff.warnings] == [
        "The API's clock",
        "Replies would be looked for until 2026-03-09T23:50:00+00:00",
    ]
    assert (
        "this machine's clock when the run started (2026-03-10T00:30:00+00:00)"
        in (cutoff.warnings[0])
    )


def test_a_run_for_the_current_day_is_not_moved_to_its_end() -> None:
    cutoff = choose_reply_cutoff(
        api_clocks=clocks(0, 1),
        newest_message=None,
        machine_time=NOW,
        partition_end=DAY_END + timedelta(days=1),
    )

    assert (cutoff.at, cutoff.source, cutoff.warnings) == (
        NOW + timedelta(seconds=1),
        "api_clock",
        (),
    )


def test_a_message_read_a_little_after_the_api_clock_moves_the_cutoff_to_it() -> None:
    newest = NOW + timedelta(seconds=30)

    cutoff = choose_reply_cutoff(
        api_clocks=clocks(0, 0, 0), newest_message=newest, machine_time=NOW
    )

    assert (cutoff.at, cutoff.source, cutoff.warnings) == (newest, "newest_message", ())


def test_a_message_dated_far_ahead_is_reported_not_followed() -> None:
    device_ahead = NOW + timedelta(hours=3)

    cutoff = choose_reply_cutoff(
        api_clocks=clocks(0, 0, 0), newest_message=device_ahead, machine_time=NOW
    )

    assert (cutoff.at, cutoff.source) == (NOW, "api_clock")
    (warning,) = cutoff.warnings
    assert warning.startswith("The newest message read is dated 2026-03-10T03:30:00+00:00, 3 hours")


def test_without_date_headers_this_machines_clock_is_used() -> None:
    cutoff = choose_reply_cutoff(api_clocks=[], newest_message=None, machine_time=NOW)

    assert (cutoff.at, cutoff.source, cutoff.warnings) == (NOW, "machine_clock", ())


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    good=st.lists(st.integers(-2, 2), min_size=3, max_size=30),
    bad=st.lists(st.integers(-30 * 3600, 30 * 3600), max_size=30),
)
def test_a_minority_of_bad_clocks_cannot_move_the_cutoff_beyond_the_good_ones(
    good: list[int], bad: list[int]
) -> None:
    bad = bad[: (len(good) - 1) // 2]  # fewer than half of all answers

    cutoff = choose_reply_cutoff(
        api_clocks=clocks(*good, *bad), newest_message=None, machine_time=NOW
    )

    assert min(clocks(*good)) <= cutoff.at <= max(clocks(*good))


@pytest.mark.parametrize("partition_end", [None, DAY_END])
def test_the_cutoff_never_falls_inside_a_day_the_run_started_after(
    partition_end: datetime | None,
) -> None:
    cutoff = choose_reply_cutoff(
        api_clocks=clocks(-86_400),
        newest_message=None,
        machine_time=NOW,
        partition_end=partition_end,
    )

    # Unpartitioned, there is no day to protect: the API's clock stands, reported.
    expected = DAY_END if partition_end else NOW - timedelta(days=1)
    assert cutoff.at == expected
    assert "differ by 24 hours" in cutoff.warnings[0]
