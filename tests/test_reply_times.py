"""Exact reply times per customer turn, and business hours, on hand-made and random histories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from blooio_dagster.api.errors import BlooioConfigError
from blooio_dagster.tables.business_hours import BusinessHours
from blooio_dagster.tables.catalogue import REPLY_TIME_COLUMNS
from blooio_dagster.tables.messages import messages_to_frame
from blooio_dagster.tables.metrics import response_summary_frame
from blooio_dagster.tables.reply_times import reply_times_frame, turns_started_in

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def msg(
    message_id: str,
    direction: str,
    at: datetime,
    *,
    status: str | None = "delivered",
    sender: str | None = None,
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "direction": direction,
        "text": "hi",
        "time_sent": ms(at),
        "time_delivered": None,
        "status": status,
        "protocol": "imessage",
        "sender": sender,
        "attachments": [],
        "reactions": [],
    }


def turns_of(
    messages: dict[str, list[dict[str, Any]]], *, now: datetime = NOW, **settings: Any
) -> pd.DataFrame:
    return reply_times_frame(messages_to_frame(messages), now=now, **settings)


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple[Any, ...]]:
    return [
        tuple(None if pd.isna(v) else v for v in row)
        for row in frame[list(columns)].itertuples(index=False)
    ]


T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


# -- the definition, case by case --------------------------------------------------------------


def test_a_turn_is_answered_by_the_first_outbound_message_after_it() -> None:
    turns = turns_of(
        {
            "+15550000001": [
                msg("m1", "inbound", T),
                msg("m2", "outbound", T + 5 * MINUTE),
                msg("m3", "outbound", T + 8 * 60 * MINUTE),  # a follow-up, not a reply
            ]
        }
    )

    assert list(turns.columns) == [c.name for c in REPLY_TIME_COLUMNS]
    assert {k: str(v) for k, v in turns.dtypes.items()} == {
        c.name: c.dtype for c in REPLY_TIME_COLUMNS
    }
    assert rows(turns, "turn_message_id", "inbound_messages", "reply_message_id", "reply_time") == [
        ("m1", 1, "m2", pd.Timedelta(minutes=5))
    ]
    assert turns["replied_at"][0] == pd.Timestamp(T + 5 * MINUTE)
    assert pd.isna(turns["waiting_for"][0])
    assert pd.isna(turns["business_reply_time"][0])
    assert bool(turns["met_sla"][0]) is True


def test_consecutive_inbound_messages_are_one_turn() -> None:
    turns = turns_of(
        {
            "c": [
                msg("m1", "inbound", T),
                msg("m2", "inbound", T + MINUTE),
                msg("m3", "inbound", T + 2 * MINUTE),
                msg("m4", "outbound", T + 90 * MINUTE),
                msg("m5", "inbound", T + 100 * MINUTE),
                msg("m6", "outbound", T + 101 * MINUTE),
            ]
        }
    )

    assert rows(turns, "turn_message_id", "inbound_messages", "reply_message_id", "met_sla") == [
        ("m1", 3, "m4", False),  # 90 minutes from the turn's first message: over the SLA
        ("m5", 1, "m6", True),
    ]
    assert turns["reply_time"].tolist() == [pd.Timedelta(minutes=90), pd.Timedelta(minutes=1)]


def test_a_tie_in_time_sent_is_broken_by_message_id() -> None:
    turns = turns_of(
        {
            # x_a (outbound) sorts before x_b (inbound): the inbound opens an unanswered turn.
            "x": [msg("x_b", "inbound", T), msg("x_a", "outbound", T)],
            # y_a (inbound) sorts before y_b (outbound): answered within the same millisecond.
            "y": [msg("y_b", "outbound", T), msg("y_a", "inbound", T)],
        }
    )

    x, y = turns.iloc[0], turns.iloc[1]
    assert (x["chat_id"], x["turn_message_id"], x["replied_at"]) == ("x", "x_b", pd.NaT)
    assert x["waiting_for"] == NOW - T
    assert (y["chat_id"], y["turn_message_id"], y["reply_message_id"]) == ("y", "y_a", "y_b")
    assert y["reply_time"] == pd.Timedelta(0)


def test_failed_outbound_messages_are_dropped_before_turns_are_found() -> None:
    turns = turns_of(
        {
            "c": [
                msg("m1", "inbound", T),
                msg("m2", "outbound", T + MINUTE, status="failed"),
                msg("m3", "inbound", T + 2 * MINUTE),
                msg("m4", "outbound", T + 3 * MINUTE, status="queued"),
            ]
        }
    )

    assert rows(turns, "turn_message_id", "inbound_messages", "reply_message_id") == [
        ("m1", 2, "m4")
    ]


def test_a_failed_message_does_not_end_or_start_anything_even_first_in_the_chat() -> None:
    turns = turns_of(
        {
            "c": [
                msg("m0", "outbound", T - MINUTE, status="failed"),
                msg("m1", "inbound", T),
                msg("m2", "outbound", T + MINUTE, status="failed"),
            ]
        }
    )

    assert rows(turns, "turn_message_id", "inbound_messages", "reply_message_id") == [
        ("m1", 1, None)
    ]


def test_a_group_chat_is_one_conversation_whoever_writes() -> None:
    turns = turns_of(
        {
            "grp_1": [
                msg("m1", "inbound", T, sender="+15550000001"),
                msg("m2", "inbound", T + MINUTE, sender="ana@example.com"),
                msg("m3", "outbound", T + 4 * MINUTE),
                msg("m4", "inbound", T + 5 * MINUTE, sender="ana@example.com"),
            ]
        }
    )

    assert rows(turns, "turn_message_id", "inbound_messages", "reply_message_id") == [
        ("m1", 2, "m3"),
        ("m4", 1, None),
    ]


def test_chats_never_share_turns() -> None:
    turns = turns_of(
        {
            "a": [msg("a1", "inbound", T)],
            "b": [msg("b1", "outbound", T + MINUTE), msg("b2", "inbound", T + 2 * MINUTE)],
        }
    )

    assert rows(turns, "chat_id", "turn_message_id", "reply_message_id") == [
        ("a", "a1", None),
        ("b", "b2", None),
    ]


def test_unanswered_turns_wait_as_of_now_and_miss_the_sla_only_once_past_it() -> None:
    turns = turns_of(
        {
            "late": [msg("m1", "inbound", NOW - 61 * MINUTE)],
            "recent": [msg("m2", "inbound", NOW - 59 * MINUTE)],
            "exactly": [msg("m3", "inbound", NOW - 60 * MINUTE)],
        }
    ).set_index("chat_id")

    assert turns["waiting_for"].to_dict() == {
        "exactly": pd.Timedelta(minutes=60),
        "late": pd.Timedelta(minutes=61),
        "recent": pd.Timedelta(minutes=59),
    }
    assert {k: None if pd.isna(v) else bool(v) for k, v in turns["met_sla"].items()} == {
        "exactly": None,
        "late": False,
        "recent": None,
    }
    assert turns["replied_at"].notna().sum() == 0, turns["replied_at"].tolist()
    assert turns["reply_time"].notna().sum() == 0, turns["reply_time"].tolist()


def test_a_reply_exactly_at_the_sla_meets_it() -> None:
    turns = turns_of(
        {"c": [msg("m1", "inbound", T), msg("m2", "outbound", T + 30 * MINUTE)]},
        reply_sla=timedelta(minutes=30),
    )

    assert bool(turns["met_sla"][0]) is True


def test_messages_after_now_did_not_exist_yet() -> None:
    now = T + 10 * MINUTE
    turns = turns_of(
        {
            "c": [
                msg("m1", "inbound", T),
                msg("m2", "inbound", now),  # sent at now: it exists
                msg("m3", "inbound", now + timedelta(milliseconds=1)),
                msg("m4", "outbound", now + MINUTE),
            ],
            "future": [msg("f1", "inbound", now + MINUTE)],
        },
        now=now,
    )

    assert rows(turns, "chat_id", "inbound_messages", "replied_at", "waiting_for") == [
        ("c", 2, None, pd.Timedelta(minutes=10))
    ]


def test_a_turn_across_midnight_belongs_to_the_day_it_started() -> None:
    evening = datetime(2026, 11, 18, 23, 50, tzinfo=UTC)
    turns = turns_of(
        {"c": [msg("m1", "inbound", evening), msg("m2", "outbound", evening + 30 * MINUTE)]}
    )
    day_one = datetime(2026, 11, 18, tzinfo=UTC)

    first = turns_started_in(turns, day_one, day_one + timedelta(days=1))
    second = turns_started_in(turns, day_one + timedelta(days=1), day_one + timedelta(days=2))

    assert rows(first, "turn_message_id", "reply_time") == [("m1", pd.Timedelta(minutes=30))]
    assert second.empty
    assert list(second.columns) == list(turns.columns)


def test_a_turn_begun_before_the_window_and_continued_inside_it_is_not_a_new_turn() -> None:
    day = datetime(2026, 11, 19, tzinfo=UTC)
    history = {
        "c": [
            msg("m0", "outbound", day - 3 * 60 * MINUTE),
            msg("m1", "inbound", day - 60 * MINUTE),  # the day before
            msg("m2", "inbound", day + 60 * MINUTE),  # continues m1's turn
            msg("m3", "outbound", day + 120 * MINUTE),
            msg("m4", "inbound", day + 180 * MINUTE),
        ]
    }

    turns = turns_of(history)
    inside = turns_started_in(turns, day, day + timedelta(days=1))

    assert rows(turns, "turn_message_id", "inbound_messages", "reply_time") == [
        ("m1", 2, pd.Timedelta(minutes=180)),
        ("m4", 1, None),
    ]
    assert inside["turn_message_id"].tolist() == ["m4"]


def test_without_the_history_before_the_window_the_continuation_looks_like_a_turn() -> None:
    """Why the history before the window must be given: the function cannot guess it."""
    day = datetime(2026, 11, 19, tzinfo=UTC)
    only_the_day = {"c": [msg("m2", "inbound", day + 60 * MINUTE)]}

    assert turns_of(only_the_day)["turn_message_id"].tolist() == ["m2"]


def test_the_input_order_does_not_matter() -> None:
    history = {
        "b": [msg(f"b{i}", "inbound" if i % 3 else "outbound", T + i * MINUTE) for i in range(9)],
        "a": [msg(f"a{i}", "outbound" if i % 2 else "inbound", T + i * MINUTE) for i in range(7)],
    }
    frame = messages_to_frame(history)

    shuffled = frame.sample(frac=1, random_state=3)

    pd.testing.assert_frame_equal(
        reply_times_frame(shuffled, now=NOW), reply_times_frame(frame, now=NOW)
    )


def test_no_messages_give_the_declared_columns() -> None:
    turns = turns_of({})
    only_outbound = turns_of({"c": [msg("m1", "outbound", T)]})

    for frame in (turns, only_outbound):
        assert frame.empty
        assert {k: str(v) for k, v in frame.dtypes.items()} == {
            c.name: c.dtype for c in REPLY_TIME_COLUMNS
        }


def test_a_message_without_time_sent_is_left_out() -> None:
    unsent = msg("m2", "outbound", T)
    unsent["time_sent"] = None

    turns = turns_of({"c": [msg("m1", "inbound", T), unsent]})

    assert rows(turns, "turn_message_id", "replied_at") == [("m1", None)]


def test_a_frame_read_back_from_a_database_gives_the_same_turns() -> None:
    frame = messages_to_frame(
        {"c": [msg("m1", "inbound", T), msg("m2", "outbound", T + MINUTE)], "d": []}
    )
    as_read = frame.astype({"chat_id": object, "message_id": object, "status": object})
    as_read["time_sent"] = as_read["time_sent"].dt.tz_convert("Asia/Tokyo").dt.as_unit("us")

    pd.testing.assert_frame_equal(
        reply_times_frame(as_read, now=NOW), reply_times_frame(frame, now=NOW)
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"now": datetime(2026, 11, 20)}, "now must be a timezone-aware datetime"),
        ({"reply_sla": timedelta(0)}, "reply_sla must be a positive timedelta"),
        ({"reply_sla": 3600}, "reply_sla must be a positive timedelta"),
        ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not a known time zone"),
    ],
)
def test_bad_settings_are_refused_clearly(settings: dict[str, Any], message: str) -> None:
    frame = messages_to_frame({"c": [msg("m1", "inbound", T)]})

    with pytest.raises(BlooioConfigError, match=message):
        reply_times_frame(frame, **{"now": NOW, **settings})


def test_a_frame_with_a_bad_direction_is_refused() -> None:
    frame = messages_to_frame({"c": [msg("m1", "inbound", T)]})
    frame["direction"] = "sideways"

    with pytest.raises(ValueError, match="message 'm1' of chat 'c' has direction 'sideways'"):
        reply_times_frame(frame, now=NOW)


def test_turns_started_in_needs_an_ordered_aware_window() -> None:
    turns = turns_of({"c": [msg("m1", "inbound", T)]})

    with pytest.raises(BlooioConfigError, match="must come after start"):
        turns_started_in(turns, T, T)
    with pytest.raises(BlooioConfigError, match="start must be a timezone-aware"):
        turns_started_in(turns, datetime(2026, 11, 20), T)


# -- days in a time zone with daylight saving --------------------------------------------------


def test_a_new_york_day_of_23_hours_holds_exactly_its_turns() -> None:
    """2026-03-08 in New York springs forward: midnight to midnight is 23 hours."""
    local = [
        datetime(2026, 3, 7, 23, 59, tzinfo=NEW_YORK),  # the day before
        datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK),  # first instant of the day
        datetime(2026, 3, 8, 1, 59, tzinfo=NEW_YORK),  # just before the change
        datetime(2026, 3, 8, 3, 0, tzinfo=NEW_YORK),  # just after it
        datetime(2026, 3, 8, 23, 59, tzinfo=NEW_YORK),  # last minute of the day
        datetime(2026, 3, 9, 0, 0, tzinfo=NEW_YORK),  # the next day
    ]
    history = {
        f"c{i}": [msg(f"in{i}", "inbound", at), msg(f"out{i}", "outbound", at + 30 * MINUTE)]
        for i, at in enumerate(local)
    }
    now = datetime(2026, 3, 10, tzinfo=UTC)
    turns = turns_of(history, now=now)
    start = datetime(2026, 3, 8, tzinfo=NEW_YORK)
    end = datetime(2026, 3, 9, tzinfo=NEW_YORK)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)

    day = turns_started_in(turns, start, end)
    summary = response_summary_frame(
        None,
        timezone="America/New_York",
        days=[date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)],
        reply_times=turns,
        messages=messages_to_frame(history),
    ).set_index("day")

    assert day["turn_message_id"].tolist() == ["in1", "in2", "in3", "in4"]
    assert summary["turns"].tolist() == [1, 4, 1]
    # Replies come 30 minutes later: out0 (00:29) falls on the 8th, out4 (00:29) on the 9th.
    assert summary["outbound_messages"].tolist() == [0, 4, 2]
    assert summary["inbound_messages"].tolist() == [1, 4, 1]


def test_a_paris_day_of_25_hours_holds_exactly_its_turns() -> None:
    """2026-10-25 in Paris falls back: 02:00 to 03:00 is lived twice."""
    first_two_thirty = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=0)
    second_two_thirty = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1)
    assert second_two_thirty.astimezone(UTC) - first_two_thirty.astimezone(UTC) == timedelta(
        hours=1
    )
    history = {
        "c": [
            msg("m1", "inbound", first_two_thirty),
            msg("m2", "outbound", second_two_thirty),
            msg("m3", "inbound", datetime(2026, 10, 25, 23, 59, tzinfo=PARIS)),
            msg("m4", "inbound", datetime(2026, 10, 26, 0, 0, tzinfo=PARIS)),
        ]
    }
    turns = turns_of(history, now=datetime(2026, 10, 27, tzinfo=UTC))

    summary = response_summary_frame(
        None,
        timezone="Europe/Paris",
        days=[datetime(2026, 10, 25, tzinfo=PARIS), datetime(2026, 10, 26, tzinfo=PARIS)],
        reply_times=turns,
    )

    assert turns["reply_time"][0] == pd.Timedelta(hours=1)  # real time, not wall-clock time
    assert rows(turns, "turn_message_id", "inbound_messages") == [("m1", 1), ("m3", 2)]
    assert summary["day"].tolist() == [date(2026, 10, 25), date(2026, 10, 26)]
    assert summary["turns"].tolist() == [2, 0]
    assert summary["reply_time_p50"].iloc[0] == pd.Timedelta(hours=1)


# -- business hours ----------------------------------------------------------------------------


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS, fold=fold)


def elapsed(hours: BusinessHours, start: datetime, end: datetime, zone: str) -> pd.Timedelta:
    result = hours.elapsed(pd.Series([start]), pd.Series([end]), zone)
    return pd.Timedelta(result.iloc[0])


def test_business_time_skips_a_weekend_with_a_clock_change() -> None:
    """Friday 16:30 to Monday 09:30 in Paris, over the spring-forward Sunday 2026-03-29."""
    turns = turns_of(
        {
            "c": [
                msg("m1", "inbound", paris(2026, 3, 27, 16, 30)),
                msg("m2", "outbound", paris(2026, 3, 30, 9, 30)),
            ]
        },
        now=datetime(2026, 4, 1, tzinfo=UTC),
        business_hours=BusinessHours("Mon-Fri", "09:00", "17:00"),
        timezone="Europe/Paris",
    )

    assert turns["reply_time"][0] == pd.Timedelta(days=2, hours=16)  # 3 days 17 h minus 1 h
    assert turns["business_reply_time"][0] == pd.Timedelta(hours=1)
    assert bool(turns["met_sla"][0]) is True  # one business hour meets a one-hour SLA


def test_the_sla_of_an_unanswered_turn_counts_business_hours_too() -> None:
    friday_evening = paris(2026, 11, 20, 18, 0)
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    monday = paris(2026, 11, 23, 10, 1)
    history = {"c": [msg("m1", "inbound", friday_evening)]}
    hours = BusinessHours("Mon-Fri", "09:00", "17:00")

    over_weekend = turns_of(history, now=saturday, business_hours=hours, timezone="Europe/Paris")
    on_monday = turns_of(history, now=monday, business_hours=hours, timezone="Europe/Paris")

    assert over_weekend["waiting_for"][0] == saturday - friday_evening
    assert pd.isna(over_weekend["met_sla"][0])  # 0 business minutes so far
    assert bool(on_monday["met_sla"][0]) is False  # 61 business minutes
    assert pd.isna(on_monday["business_reply_time"][0])


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 11, 1), 24)],
)
def test_a_whole_business_day_lasts_as_long_as_the_clocks_say(day: date, hours: int) -> None:
    every_day = BusinessHours("Mon-Sun", "00:00", "24:00")
    start = datetime.combine(day, time(0), tzinfo=PARIS)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)

    assert elapsed(every_day, start, end, "Europe/Paris") == pd.Timedelta(hours=hours)


def test_hours_that_span_a_clock_change_are_measured_in_real_time() -> None:
    night = BusinessHours("Sat", "22:00", "06:00")  # Saturday night into Sunday

    spring = elapsed(night, paris(2026, 3, 28, 12), paris(2026, 3, 29, 12), "Europe/Paris")
    autumn = elapsed(night, paris(2026, 10, 24, 12), paris(2026, 10, 25, 12), "Europe/Paris")
    partial = elapsed(
        night,
        paris(2026, 10, 25, 2, 30, fold=0),
        paris(2026, 10, 25, 2, 30, fold=1),
        "Europe/Paris",
    )

    assert (spring, autumn, partial) == (
        pd.Timedelta(hours=7),
        pd.Timedelta(hours=9),
        pd.Timedelta(hours=1),
    )


def test_a_start_skipped_by_spring_forward_opens_when_the_clock_jumps() -> None:
    early = BusinessHours("Sun", "02:30", "04:00")

    worked = elapsed(early, paris(2026, 3, 29, 0), paris(2026, 3, 29, 12), "Europe/Paris")

    assert worked == pd.Timedelta(hours=1)  # 03:00 to 04:00


def test_times_lived_twice_open_and_close_the_window_the_first_time() -> None:
    """The documented convention for edges inside the hour that autumn repeats."""
    sunday = (paris(2026, 10, 24, 12), paris(2026, 10, 25, 12))

    opening = elapsed(BusinessHours("Sun", "02:30", "05:00"), *sunday, "Europe/Paris")
    closing = elapsed(BusinessHours("Sun", "00:00", "02:30"), *sunday, "Europe/Paris")

    assert opening == pd.Timedelta(hours=3, minutes=30)  # 02:30 summer time to 05:00
    assert closing == pd.Timedelta(hours=2, minutes=30)  # 00:00 to 02:30 summer time


def test_business_hours_in_utc_and_in_new_york_differ_by_the_offset() -> None:
    hours = BusinessHours("Mon-Fri", "09:00", "17:00")
    start = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # Friday 08:00 in New York
    end = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 10:00 in New York

    assert elapsed(hours, start, end, "UTC") == pd.Timedelta(hours=2)
    assert elapsed(hours, start, end, "America/New_York") == pd.Timedelta(hours=1)


def test_holidays_and_missing_instants() -> None:
    hours = BusinessHours("Mon-Fri", "09:00", "17:00", holidays=[date(2026, 12, 25)])
    christmas_eve = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)
    boxing_day = datetime(2026, 12, 28, 10, 0, tzinfo=UTC)  # the next Monday

    result = hours.elapsed(
        pd.Series([christmas_eve, christmas_eve, None], dtype="datetime64[ns, UTC]"),
        pd.Series([boxing_day, None, boxing_day], dtype="datetime64[ns, UTC]"),
        "UTC",
    )

    assert result.iloc[0] == pd.Timedelta(hours=2)
    assert result.iloc[1:].notna().sum() == 0, result.tolist()
    assert hours.holidays == (date(2026, 12, 25),)


def test_an_end_before_the_start_gives_a_negative_duration() -> None:
    hours = BusinessHours()
    monday = datetime(2026, 11, 23, 10, tzinfo=UTC)

    assert elapsed(hours, monday, monday - 30 * MINUTE, "UTC") == -pd.Timedelta(minutes=30)


@pytest.mark.parametrize(
    ("days", "weekdays"),
    [
        ("Mon-Fri", (0, 1, 2, 3, 4)),
        ("mon-thu, sat", (0, 1, 2, 3, 5)),
        ("Fri-Mon", (0, 4, 5, 6)),
        ("Sunday", (6,)),
        ("Tue-Tue", (1,)),
    ],
)
def test_business_days_are_read_as_names_and_ranges(days: str, weekdays: tuple[int, ...]) -> None:
    hours = BusinessHours(days, "09:00", "17:00")
    monday = datetime(2026, 11, 23, tzinfo=UTC)

    worked = [
        elapsed(hours, monday + timedelta(days=d), monday + timedelta(days=d + 1), "UTC")
        for d in range(7)
    ]

    assert [d for d in range(7) if worked[d]] == list(weekdays)
    assert [w for w in worked if w not in (pd.Timedelta(0), pd.Timedelta(hours=8))] == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"days": "Mon-Funday"}, "'Funday' is not a day"),
        ({"days": ""}, "names no days"),
        ({"start": "9am"}, "start '9am' is not a time of day; write it as HH:MM"),
        ({"start": "24:00"}, r"from 00:00 to 23:59"),
        ({"end": "17:60"}, "end '17:60' is not a time of day"),
        ({"start": "09:00", "end": "09:00"}, "start and end are both 09:00"),
        ({"start": time(9, 0, 30)}, "is not a time of day"),
        ({"holidays": date(2026, 12, 25)}, "holidays must be a list of dates"),
        ({"holidays": [datetime(2026, 12, 25)]}, "is not a date"),
    ],
)
def test_bad_business_hours_are_refused_clearly(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(BlooioConfigError, match=message):
        BusinessHours(**settings)


def test_business_hours_parse_and_print() -> None:
    hours = BusinessHours.parse("Mon-Fri 09:00-17:30")

    assert hours == BusinessHours("Mon-Fri", "09:00", "17:30")
    assert str(hours) == "Mon-Fri 09:00-17:30"
    assert BusinessHours(start=time(8, 0)) == BusinessHours(start=time(8, 0))
    with pytest.raises(BlooioConfigError, match="for example 'Mon-Fri 09:00-17:00'"):
        BusinessHours.parse("weekdays")


# -- properties against obviously correct loops ------------------------------------------------


@dataclass
class Turn:
    chat_id: str
    start: dict[str, Any]
    count: int = 1
    reply: dict[str, Any] | None = None


def reference_turns(
    history: dict[str, list[dict[str, Any]]], now: datetime, sla: timedelta
) -> list[tuple[Any, ...]]:
    """The definition, one message at a time."""
    now_ms = ms(now)
    result: list[tuple[Any, ...]] = []
    for chat_id in sorted(history):
        conversation = sorted(
            (
                m
                for m in history[chat_id]
                if m["time_sent"] is not None
                and m["time_sent"] <= now_ms
                and not (m["direction"] == "outbound" and m["status"] == "failed")
            ),
            key=lambda m: (m["time_sent"], m["message_id"]),
        )
        turns: list[Turn] = []
        previous: dict[str, Any] | None = None
        for message in conversation:
            if message["direction"] == "inbound":
                if previous is None or previous["direction"] == "outbound":
                    turns.append(Turn(chat_id, message))
                else:
                    turns[-1].count += 1
            elif turns and turns[-1].reply is None:
                turns[-1].reply = message
            previous = message
        for turn in turns:
            started = turn.start["time_sent"]
            if turn.reply is not None:
                took = timedelta(milliseconds=turn.reply["time_sent"] - started)
                reply_id = turn.reply["message_id"]
                result.append(
                    (
                        chat_id,
                        turn.start["message_id"],
                        turn.count,
                        reply_id,
                        took,
                        None,
                        took <= sla,
                    )
                )
            else:
                waited = timedelta(milliseconds=now_ms - started)
                missed = False if waited > sla else None
                result.append(
                    (chat_id, turn.start["message_id"], turn.count, None, None, waited, missed)
                )
    return result


@st.composite
def histories(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    history: dict[str, list[dict[str, Any]]] = {}
    serial = 0
    for chat in range(draw(st.integers(0, 4))):
        messages = []
        for _ in range(draw(st.integers(0, 12))):
            serial += 1
            # Few distinct times, so ties in time_sent are common; ids in random order.
            minute = draw(st.integers(0, 240)) if draw(st.booleans()) else draw(st.integers(0, 3))
            message_id = f"m{draw(st.integers(0, 99)):02d}_{serial}"
            direction = draw(st.sampled_from(["inbound", "outbound"]))
            status = draw(st.sampled_from(["delivered", "failed", "sent", None]))
            message = msg(message_id, direction, T + minute * MINUTE, status=status)
            if draw(st.integers(0, 20)) == 0:
                message["time_sent"] = None
            messages.append(message)
        history[f"chat{chat}"] = messages
    return history


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    history=histories(),
    now_minute=st.integers(-5, 300),
    sla_minutes=st.integers(1, 120),
)
def test_reply_times_equal_the_definition_applied_message_by_message(
    history: dict[str, list[dict[str, Any]]], now_minute: int, sla_minutes: int
) -> None:
    now = T + now_minute * MINUTE
    sla = timedelta(minutes=sla_minutes)

    turns = reply_times_frame(messages_to_frame(history), now=now, reply_sla=sla)

    got = rows(
        turns,
        "chat_id",
        "turn_message_id",
        "inbound_messages",
        "reply_message_id",
        "reply_time",
        "waiting_for",
        "met_sla",
    )
    assert got == reference_turns(history, now, sla)
    assert turns["turn_started_at"][turns["turn_started_at"] > pd.Timestamp(now)].tolist() == []
    answered = turns[turns["replied_at"].notna()]
    ends = answered["turn_started_at"] + answered["reply_time"]
    assert answered["replied_at"].tolist() == ends.tolist()
    assert answered["replied_at"][answered["replied_at"] > pd.Timestamp(now)].tolist() == []


#: Window edges away from 01:00-03:00, where Paris and New York change their clocks: there a
#: window's edge is a convention (see BusinessHours), here every edge is unambiguous.
EDGES = [time(h, m) for h in (0, 4, 8, 9, 12, 17, 22, 23) for m in (0, 30)]


def reference_business_minutes(
    hours: BusinessHours,
    weekdays: Sequence[int],
    start: time,
    end: time | None,
    a: datetime,
    b: datetime,
    zone: ZoneInfo,
) -> int:
    """Count, minute by minute, the minutes whose wall clock lies inside a window."""
    counted = 0
    minute = a
    start_minute = start.hour * 60 + start.minute
    end_minute = 24 * 60 if end is None else end.hour * 60 + end.minute
    while minute < b:
        wall = minute.astimezone(zone)
        of_day = wall.hour * 60 + wall.minute
        today_works = wall.weekday() in weekdays and wall.date() not in hours.holidays
        yesterday = wall.date() - timedelta(days=1)
        yesterday_works = yesterday.weekday() in weekdays and yesterday not in hours.holidays
        if end_minute > start_minute:
            inside = today_works and start_minute <= of_day < end_minute
        else:  # past midnight: the evening of today, or the morning after yesterday
            inside = (today_works and of_day >= start_minute) or (
                yesterday_works and of_day < end_minute
            )
        counted += inside
        minute += MINUTE
    return counted


@settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    weekdays=st.sets(st.integers(0, 6), min_size=1),
    start=st.sampled_from(EDGES),
    end=st.sampled_from([*EDGES, None]),
    zone=st.sampled_from(["Europe/Paris", "America/New_York", "UTC", "Asia/Kolkata"]),
    first_day=st.sampled_from(
        [date(2026, 3, 6), date(2026, 3, 26), date(2026, 10, 23), date(2026, 10, 30)]
    ),
    offsets=st.lists(
        st.tuples(st.integers(0, 4 * 24 * 60), st.integers(0, 3 * 24 * 60)), min_size=1, max_size=4
    ),
    holiday=st.booleans(),
)
def test_business_time_equals_counting_minutes_on_the_wall_clock(
    weekdays: set[int],
    start: time,
    end: time | None,
    zone: str,
    first_day: date,
    offsets: list[tuple[int, int]],
    holiday: bool,
) -> None:
    assume(end != start)
    names = ",".join(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d] for d in sorted(weekdays))
    hours = BusinessHours(
        names,
        start,
        "24:00" if end is None else end,
        holidays=[first_day + timedelta(days=2)] if holiday else [],
    )
    tz = ZoneInfo(zone)
    origin = datetime.combine(first_day, time(0), tzinfo=tz).astimezone(UTC)
    starts = [origin + a * MINUTE for a, _ in offsets]
    ends = [origin + (a + length) * MINUTE for a, length in offsets]

    worked = hours.elapsed(
        pd.Series(starts, dtype="datetime64[ns, UTC]"),
        pd.Series(ends, dtype="datetime64[ns, UTC]"),
        zone,
    )

    expected = [
        reference_business_minutes(hours, sorted(weekdays), start, end, a, b, tz)
        for a, b in zip(starts, ends, strict=True)
    ]
    assert [int(w / pd.Timedelta(minutes=1)) for w in worked] == expected
    assert [w for w in worked if w % pd.Timedelta(minutes=1) != pd.Timedelta(0)] == []
