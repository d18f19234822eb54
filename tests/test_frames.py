"""The declared tables: chat conversion, response lag and the daily summary, on exact inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from blooio_dagster import (
    CHAT_COLUMNS,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
    BlooioResponseError,
    chats_to_frame,
    response_lag_frame,
    response_summary_frame,
)
from blooio_dagster.frames import columns_markdown, conform, empty_frame

FETCHED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
T0 = int(datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000


def chat(chat_id: str, inbound: int | None, outbound: int | None, **extra: Any) -> dict[str, Any]:
    times = [t for t in (inbound, outbound) if t is not None]
    return {
        "id": chat_id,
        "type": "phone",
        "is_group": False,
        "last_message_time": max(times) if times else T0,
        "last_inbound_time": inbound,
        "last_outbound_time": outbound,
        **extra,
    }


def dtypes(columns: Any) -> dict[str, str]:
    return {c.name: c.dtype for c in columns}


def test_chats_become_typed_columns_in_declared_order() -> None:
    chats = [
        {
            "id": "+15551234567",
            "type": "phone",
            "is_group": False,
            "contact": {"contact_id": "ct_1", "name": "Zoë 🚀", "identifier": "+15551234567"},
            "message_count": 3,
            "inbound_count": 2,
            "outbound_count": 1,
            "last_message_time": T0,
            "last_inbound_time": T0,
            "last_outbound_time": None,
            "last_message": {
                "message_id": "msg_1",
                "text": "¿Hola?",
                "direction": "inbound",
                "time_sent": T0,
            },
            "an_unknown_field": "ignored here, kept by the client",
        },
        {
            "id": "grp_1",
            "type": "group",
            "is_group": True,
            "group_name": None,
            "member_count": 4,
            "contact": None,
        },
    ]

    frame = chats_to_frame(chats, fetched_at=FETCHED)

    assert list(frame.columns) == [c.name for c in CHAT_COLUMNS]
    assert {k: str(v) for k, v in frame.dtypes.items()} == dtypes(CHAT_COLUMNS)
    first, group = frame.iloc[0], frame.iloc[1]
    assert first["contact_name"] == "Zoë 🚀"
    assert first["last_message_time"] == pd.Timestamp("2026-11-20 09:00", tz="UTC")
    assert pd.isna(first["last_outbound_time"])
    assert first["last_message_text"] == "¿Hola?"
    assert pd.isna(group["contact_id"])
    assert group["member_count"] == 4
    assert pd.isna(group["message_count"])
    assert (frame["fetched_at"] == pd.Timestamp(FETCHED)).all()


def test_no_chats_give_the_same_columns_and_dtypes() -> None:
    frame = chats_to_frame([], fetched_at=FETCHED)

    assert frame.empty
    assert {k: str(v) for k, v in frame.dtypes.items()} == dtypes(CHAT_COLUMNS)
    pd.testing.assert_frame_equal(frame, empty_frame(CHAT_COLUMNS), check_index_type=False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("message_count", "3", "message_count = '3', which does not fit column message_count"),
        ("last_message_time", 1.5, "last_message_time = 1.5"),
        ("is_group", "no", "is_group = 'no'"),
        ("type", 7, "type = 7"),
        ("contact", "ct_1", "contact = 'ct_1'; expected an object or null"),
    ],
)
def test_a_value_of_the_wrong_type_names_chat_field_and_column(
    field: str, value: Any, message: str
) -> None:
    chats = [chat("+1555000001", T0, None), chat("+1555000002", T0, None, **{field: value})]

    with pytest.raises(BlooioResponseError) as caught:
        chats_to_frame(chats, fetched_at=FETCHED)

    assert "'+1555000002'" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("last_message_time", 9_223_372_036_855),  # 1 ms after 2262-04-11 23:47:16.854
        ("last_message_time", -9_223_372_036_855),  # 1 ms before 1677-09-21 00:12:43.146
        ("last_inbound_time", 2**62),  # int64 nanoseconds would wrap to 1970
        ("last_outbound_time", 5_730_000_000_000_000),  # ... and this one to 1750
        ("last_outbound_time", 10**30),
    ],
)
def test_epoch_ms_beyond_datetime64_ns_names_chat_field_and_value(field: str, value: int) -> None:
    chats = [chat("+1555000001", T0, None), chat("+1555000002", T0, T0, **{field: value})]

    with pytest.raises(BlooioResponseError) as caught:
        chats_to_frame(chats, fetched_at=FETCHED)

    message = str(caught.value)
    assert f"chat '+1555000002' has {field} = {value}" in message
    assert "outside the range datetime64[ns] can hold (years 1677 to 2262)" in message


def test_epoch_ms_at_the_edges_of_datetime64_ns_are_kept_exactly() -> None:
    latest, earliest = 9_223_372_036_854, -9_223_372_036_854
    chats = [chat("+1555000001", earliest, latest)]

    frame = chats_to_frame(chats, fetched_at=FETCHED)

    assert frame["last_inbound_time"][0] == pd.Timestamp("1677-09-21 00:12:43.146", tz="UTC")
    assert frame["last_outbound_time"][0] == pd.Timestamp("2262-04-11 23:47:16.854", tz="UTC")


def test_fetched_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="fetched_at must be timezone-aware"):
        chats_to_frame([], fetched_at=datetime(2026, 1, 1))


def test_response_lag_statuses_and_durations() -> None:
    chats = [
        chat("replied", T0, T0 + 5 * MINUTE),
        chat("replied_same_ms", T0, T0),
        chat("awaiting", T0 + 10 * MINUTE, T0),
        chat("never_answered", T0, None),
        chat("outbound_only", None, T0),
        chat("silent", None, None),
    ]

    lag = response_lag_frame(chats_to_frame(chats, fetched_at=FETCHED)).set_index("chat_id")

    assert lag["status"].to_dict() == {
        "replied": "replied",
        "replied_same_ms": "replied",
        "awaiting": "awaiting_reply",
        "never_answered": "awaiting_reply",
        "outbound_only": "outbound_only",
        "silent": "outbound_only",
    }
    assert lag.loc["replied", "response_lag"] == timedelta(minutes=5)
    assert lag.loc["replied_same_ms", "response_lag"] == timedelta(0)
    assert lag.loc["awaiting", "waiting_for"] == timedelta(hours=3) - timedelta(minutes=10)
    assert lag.loc["never_answered", "waiting_for"] == timedelta(hours=3)
    assert lag["response_lag"].isna().sum() == 4
    assert lag["waiting_for"].isna().sum() == 4


def test_lag_of_no_chats_has_the_declared_columns() -> None:
    lag = response_lag_frame(chats_to_frame([], fetched_at=FETCHED))

    assert {k: str(v) for k, v in lag.dtypes.items()} == dtypes(RESPONSE_LAG_COLUMNS)


def test_summary_counts_percentiles_and_empty_days() -> None:
    day = 86_400_000
    chats = [chat(f"r{i}", T0, T0 + (i + 1) * MINUTE) for i in range(10)]
    chats += [chat("waiting", T0, None), chat("outbound", None, T0)]
    chats += [chat("next_day", T0 + day, T0 + day + 30 * MINUTE)]
    lag = response_lag_frame(chats_to_frame(chats, fetched_at=FETCHED + timedelta(days=2)))
    days = [
        pd.Timestamp("2026-11-19", tz="UTC"),
        pd.Timestamp("2026-11-20", tz="UTC"),
        pd.Timestamp("2026-11-21", tz="UTC"),
    ]

    summary = response_summary_frame(lag, days=days).set_index("day")

    assert {k: str(v) for k, v in summary.reset_index().dtypes.items()} == dtypes(
        RESPONSE_SUMMARY_COLUMNS
    )
    empty, busy, next_day = summary.iloc[0], summary.iloc[1], summary.iloc[2]
    assert (empty["chats"], empty["replied"]) == (0, 0)
    assert pd.isna(empty["response_lag_p50_seconds"])
    assert (busy["chats"], busy["replied"], busy["awaiting_reply"], busy["outbound_only"]) == (
        12,
        10,
        1,
        1,
    )
    assert busy["response_lag_p50_seconds"] == pytest.approx(5.5 * 60)
    assert busy["response_lag_p90_seconds"] == pytest.approx(9.1 * 60)
    assert busy["response_lag_max_seconds"] == 600
    assert busy["longest_wait_seconds"] == pytest.approx((2 * 86400) + 3 * 3600)
    assert next_day["chats"] == 1
    assert pd.isna(next_day["longest_wait_seconds"])


def test_summary_days_follow_the_time_zone() -> None:
    late_evening_utc = T0 + 14 * 60 * MINUTE  # 23:00 UTC, already the next day in Paris
    lag = response_lag_frame(
        chats_to_frame([chat("a", late_evening_utc, None)], fetched_at=FETCHED + timedelta(days=1))
    )

    utc = response_summary_frame(lag, timezone="UTC")
    paris = response_summary_frame(lag, timezone="Europe/Paris")

    assert utc["day"].iloc[0] == pd.Timestamp("2026-11-20", tz="UTC")
    assert paris["day"].iloc[0] == pd.Timestamp("2026-11-21", tz="Europe/Paris")


def test_conform_restores_types_read_back_from_a_database() -> None:
    frame = chats_to_frame([chat("a", T0, T0 + MINUTE, message_count=2)], fetched_at=FETCHED)
    as_read = frame.astype({"chat_id": object, "message_count": "float64"})
    as_read["last_message_time"] = (
        as_read["last_message_time"].dt.tz_convert("America/New_York").dt.as_unit("us")
    )

    pd.testing.assert_frame_equal(conform(as_read, CHAT_COLUMNS), frame)
    with pytest.raises(ValueError, match="lacks the columns"):
        conform(frame.drop(columns=["type"]), CHAT_COLUMNS)


def test_the_readme_documents_every_declared_column() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()

    for columns in (CHAT_COLUMNS, RESPONSE_LAG_COLUMNS, RESPONSE_SUMMARY_COLUMNS):
        assert columns_markdown(columns) in readme
