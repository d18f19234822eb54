"""The declared tables: chat and message conversion, response lag and the daily summary."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
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
from blooio_dagster.api.redaction import chat_ref
from blooio_dagster.api.wire.records import ChatList, RecordPage, decode_chats_page
from blooio_dagster.api.wire.values import chat_reference
from blooio_dagster.tables.catalogue import (
    CURRENT_CHAT_COLUMNS,
    MESSAGE_COLUMNS,
    REPLY_TIME_COLUMNS,
    columns_markdown,
)
from blooio_dagster.tables.dtypes import conform, empty_frame, pandas_dtype
from blooio_dagster.tables.messages import messages_to_frame
from blooio_dagster.tables.metrics import current_chats_frame, summary_figures
from blooio_dagster.tables.reply_times import reply_times_frame

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
    return {c.name: pandas_dtype(c.dtype) for c in columns}


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
    assert frame["fetched_at"].tolist() == [pd.Timestamp(FETCHED)] * len(frame)


def test_decoded_records_give_the_same_frame_as_the_dicts_they_were_sent_as() -> None:
    # Fields left out (the group's contact details, a chat's whole last_message) and nulls
    # both become missing values, as they do from dicts.
    chats: list[dict[str, Any]] = [
        chat("+15551234567", T0, None, contact={"contact_id": "ct_1", "name": "Zoë 🚀"}),
        chat("+15557654321", None, T0 + MINUTE, message_count=None, group_name=None),
        {"id": "grp_1", "type": "group", "is_group": True, "member_count": 4, "contact": None},
        {"id": "e@example.com"},
    ]
    page = decode_chats_page(json.dumps({"chats": chats}).encode())
    assert isinstance(page, RecordPage), "the documented shape decodes to records"
    records = ChatList(page.chats)
    assert records.all_records

    from_records = chats_to_frame(records, fetched_at=FETCHED)

    pd.testing.assert_frame_equal(from_records, chats_to_frame(chats, fetched_at=FETCHED))
    assert from_records["type"].isna().tolist() == [False, False, False, True]
    assert from_records["message_count"].isna().tolist() == [True] * 4, "absent and null alike"


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
        ("contact", "Ana Lopez", "contact = a str; expected an object or null"),
    ],
)
def test_a_value_of_the_wrong_type_names_chat_field_and_column(
    field: str, value: Any, message: str
) -> None:
    chats = [chat("+1555000001", T0, None), chat("+1555000002", T0, None, **{field: value})]

    with pytest.raises(BlooioResponseError) as caught:
        chats_to_frame(chats, fetched_at=FETCHED)

    # Named by position and a hash of its id: the id is a customer's number.
    assert f"{chat_reference(1, '+1555000002')} has " in str(caught.value)
    assert chat_ref("+1555000002") in str(caught.value)
    assert "1555000002" not in str(caught.value)
    assert message in str(caught.value)
    assert "Ana Lopez" not in str(caught.value)


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
    assert f"{chat_reference(1, '+1555000002')} has {field} = {value}" in message
    assert "outside the range datetime64[ns] can hold (years 1677 to 2262)" in message


def test_times_at_the_edges_of_the_accepted_range_are_kept_exactly() -> None:
    earliest = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)
    latest = int((FETCHED + timedelta(days=1)).timestamp() * 1000)
    chats = [chat("+1555000001", earliest, latest)]

    frame = chats_to_frame(chats, fetched_at=FETCHED)

    assert frame["last_inbound_time"][0] == pd.Timestamp("2000-01-01", tz="UTC")
    assert frame["last_outbound_time"][0] == pd.Timestamp(FETCHED + timedelta(days=1))


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("last_inbound_time", 946_684_799_999, "1999-12-31T23:59:59.999000+00:00"),
        ("last_outbound_time", 0, "1970-01-01T00:00:00+00:00"),
        # A day and a millisecond after the run's clock.
        (
            "last_message_time",
            int((FETCHED + timedelta(days=1)).timestamp() * 1000) + 1,
            "2026-11-21T12:00:00.001000+00:00",
        ),
    ],
)
def test_times_no_clock_should_give_name_chat_field_and_time(
    field: str, value: int, shown: str
) -> None:
    chats = [chat("+1555000001", T0, None), chat("+1555000002", T0, T0, **{field: value})]

    with pytest.raises(BlooioResponseError) as caught:
        chats_to_frame(chats, fetched_at=FETCHED)

    message = str(caught.value)
    assert f"{chat_reference(1, '+1555000002')} has {field} = {shown}" in message
    assert "+1555000002" not in message
    assert "from 2000-01-01 to a day after this run's clock" in message


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
    days = [date(2026, 11, 19), pd.Timestamp("2026-11-20", tz="UTC"), date(2026, 11, 21)]

    summary = response_summary_frame(lag, days=days).set_index("day")

    assert {k: str(v) for k, v in summary.reset_index().dtypes.items()} == dtypes(
        RESPONSE_SUMMARY_COLUMNS
    )
    empty, busy, next_day = summary.iloc[0], summary.iloc[1], summary.iloc[2]
    assert summary.index.tolist() == [date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)]
    assert (empty["chats"], empty["replied"]) == (0, 0)
    assert pd.isna(empty["response_lag_p50"])
    assert (busy["chats"], busy["replied"], busy["awaiting_reply"], busy["outbound_only"]) == (
        12,
        10,
        1,
        1,
    )
    assert busy["response_lag_p50"] == pd.Timedelta(minutes=5.5)
    assert busy["response_lag_p90"] == pd.Timedelta(minutes=9.1)
    assert busy["response_lag_max"] == pd.Timedelta(minutes=10)
    assert busy["longest_wait"] == pd.Timedelta(days=2, hours=3)
    assert next_day["chats"] == 1
    assert pd.isna(next_day["longest_wait"])
    # Without messages, the exact figures are empty, not zero.
    exact = ["turns", "answered", "reply_time_p50", "sla_breaches", "inbound_messages"]
    assert summary[exact].notna().sum().to_dict() == dict.fromkeys(exact, 0)


def test_summary_days_follow_the_time_zone() -> None:
    late_evening_utc = T0 + 14 * 60 * MINUTE  # 23:00 UTC, already the next day in Paris
    lag = response_lag_frame(
        chats_to_frame([chat("a", late_evening_utc, None)], fetched_at=FETCHED + timedelta(days=1))
    )

    utc = response_summary_frame(lag, timezone="UTC")
    paris = response_summary_frame(lag, timezone="Europe/Paris")

    assert utc["day"].tolist() == [date(2026, 11, 20)]
    assert paris["day"].tolist() == [date(2026, 11, 21)]


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

    for columns in (
        CHAT_COLUMNS,
        RESPONSE_LAG_COLUMNS,
        RESPONSE_SUMMARY_COLUMNS,
        MESSAGE_COLUMNS,
        REPLY_TIME_COLUMNS,
    ):
        assert columns_markdown(columns) in readme
    # Current chats are the chats table plus three columns; the README lists those three.
    assert columns_markdown(CURRENT_CHAT_COLUMNS[len(CHAT_COLUMNS) :]) in readme


# -- messages ----------------------------------------------------------------------------------


def message(message_id: str, direction: str, sent: int | None, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "direction": direction,
        "text": "Hola 👋",
        "time_sent": sent,
        "time_delivered": None,
        "status": "delivered",
        "protocol": "imessage",
        "attachments": [],
        "reactions": [],
        "external_id": "+15551234567",
        "internal_id": "+15550000000",
        **extra,
    }


def test_messages_become_one_typed_row_each_sorted_by_chat_time_and_id() -> None:
    frame = messages_to_frame(
        {
            "grp_1": [
                message("msg_9", "inbound", T0 + MINUTE, sender="ana@example.com"),
                message("msg_2", "outbound", T0 + MINUTE, attachments=[{}, {}], text=None),
            ],
            "+15551234567": [
                message("msg_5", "outbound", None, status="queued"),
                message("msg_1", "inbound", T0, time_delivered=T0 + 500),
            ],
        }
    )

    assert list(frame.columns) == [c.name for c in MESSAGE_COLUMNS]
    assert {k: str(v) for k, v in frame.dtypes.items()} == dtypes(MESSAGE_COLUMNS)
    assert frame[["chat_id", "message_id"]].values.tolist() == [
        ["+15551234567", "msg_1"],
        ["+15551234567", "msg_5"],  # no time_sent: last in its chat
        ["grp_1", "msg_2"],  # same millisecond as msg_9: the id decides
        ["grp_1", "msg_9"],
    ]
    first = frame.iloc[0]
    assert first["time_sent"] == pd.Timestamp("2026-11-20 09:00", tz="UTC")
    assert first["time_delivered"] == pd.Timestamp("2026-11-20 09:00:00.500", tz="UTC")
    assert first["text"] == "Hola 👋"
    assert pd.isna(frame["time_sent"][1])
    assert frame["attachment_count"].tolist() == [0, 0, 2, 0]
    assert pd.isna(frame["text"][2])
    assert frame["sender"].iloc[3] == "ana@example.com"
    assert frame.index.equals(pd.RangeIndex(4))


def test_no_messages_give_the_declared_columns() -> None:
    nothing: list[dict[str, list[dict[str, Any]]]] = [{}, {"+15551234567": []}]
    for empty in nothing:
        frame = messages_to_frame(empty)

        assert frame.empty
        pd.testing.assert_frame_equal(frame, empty_frame(MESSAGE_COLUMNS), check_index_type=False)


def test_a_message_read_twice_is_kept_once() -> None:
    same = message("msg_1", "inbound", T0)

    frame = messages_to_frame({"c": [same, dict(same), message("msg_2", "outbound", T0)]})

    assert frame["message_id"].tolist() == ["msg_1", "msg_2"]


def test_one_id_for_two_different_messages_is_refused_without_showing_texts() -> None:
    with pytest.raises(BlooioResponseError) as caught:
        messages_to_frame(
            {
                "a": [message("msg_1", "inbound", T0, text="secret one")],
                "b": [message("msg_1", "inbound", T0 + 1, text="secret two")],
            }
        )

    text = str(caught.value)
    assert "message 'msg_1' appears twice with different chat_id, time_sent, text" in text
    assert f"in chat {chat_ref('a')} and chat {chat_ref('b')}" in text
    assert "secret" not in text


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"message_id": None}, "a message of chat {c} has message_id = None; it is required"),
        ({"message_id": ""}, "has message_id = ''; it is required"),
        ({"direction": None}, "message 'msg_2' of chat {c} has direction = None; it is required"),
        ({"direction": "sideways"}, "has direction = 'sideways'; expected inbound or outbound"),
        ({"time_sent": "2026-11-20"}, "message 'msg_2' of chat {c} has time_sent = '2026-11-20'"),
        ({"time_sent": 1.5}, "has time_sent = 1.5; expected epoch ms"),
        ({"time_delivered": 10**30}, "outside the range datetime64[ns] can hold"),
        ({"status": 3}, "has status = 3; expected text"),
        ({"attachments": "a.png"}, "has attachments = 'a.png'; expected a list"),
        ({"text": ["Hola"]}, "message 'msg_2' of chat {c} has text = a list; expected text"),
        ({"sender": {"phone": "+15551234567"}}, "has sender = a dict; expected text"),
    ],
)
def test_a_bad_message_names_chat_message_and_field(changes: dict[str, Any], expected: str) -> None:
    bad = message("msg_2", "outbound", T0) | changes

    with pytest.raises(BlooioResponseError) as caught:
        messages_to_frame({"ok": [message("msg_1", "inbound", T0)], "c": [bad]})

    assert expected.replace("{c}", chat_ref("c")) in str(caught.value)
    assert "GET /chats/{chat_id}/messages" in str(caught.value)
    assert "Hola" not in str(caught.value)
    assert "+15551234567" not in str(caught.value)


def test_malformed_containers_are_refused() -> None:
    with pytest.raises(BlooioResponseError, match=f"message 1 of chat {chat_ref('+1 555')} is str"):
        messages_to_frame({"+1 555": [message("msg_1", "inbound", T0), "msg_2"]})  # type: ignore[list-item]
    with pytest.raises(BlooioResponseError, match=r"GET /chats/\{chat_id\}/messages"):
        messages_to_frame({"+1 555": [message("msg_1", "inbound", T0), "msg_2"]})  # type: ignore[list-item]
    with pytest.raises(BlooioResponseError, match=f"the messages of chat {chat_ref('c')} are dict"):
        messages_to_frame({"c": {"messages": []}})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="must map each chat id to its list of messages"):
        messages_to_frame([message("msg_1", "inbound", T0)])  # type: ignore[arg-type]


# -- the summary's exact figures ---------------------------------------------------------------


def test_summary_counts_turns_reply_times_sla_and_messages_per_day() -> None:
    day = 86_400_000
    history = {
        # Day 1: three answered turns (2, 4 and 90 minutes) and one still waiting.
        "a": [message("a1", "inbound", T0), message("a2", "outbound", T0 + 2 * MINUTE)],
        "b": [message("b1", "inbound", T0), message("b2", "outbound", T0 + 4 * MINUTE)],
        "c": [
            message("c1", "inbound", T0),
            message("c2", "outbound", T0 + MINUTE, status="failed"),
            message("c3", "outbound", T0 + 90 * MINUTE),
        ],
        "d": [message("d1", "inbound", T0 + 60 * MINUTE)],
        # Day 2: only our messages.
        "e": [message("e1", "outbound", T0 + day)],
    }
    messages = messages_to_frame(history)
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    turns = reply_times_frame(messages, now=now)

    summary = response_summary_frame(
        None, reply_times=turns, messages=messages, days=[date(2026, 11, 20), date(2026, 11, 21)]
    )

    one, two = summary.iloc[0], summary.iloc[1]
    assert (one["turns"], one["answered"], one["unanswered"]) == (4, 3, 1)
    assert one["reply_time_p50"] == pd.Timedelta(minutes=4)
    assert one["reply_time_p90"] == pd.Timedelta(minutes=4 + 0.8 * 86)
    assert one["reply_time_max"] == pd.Timedelta(minutes=90)
    assert one["sla_breaches"] == 2  # c (90 minutes) and d (waiting for a day)
    assert pd.isna(one["business_reply_time_p50"])
    assert (one["inbound_messages"], one["outbound_messages"], one["failed_messages"]) == (4, 3, 1)
    assert (two["turns"], two["answered"], two["sla_breaches"]) == (0, 0, 0)
    assert pd.isna(two["reply_time_max"])
    assert (two["inbound_messages"], two["outbound_messages"]) == (0, 1)
    lag_figures = ["chats", "replied", "response_lag_p50"]
    assert summary[lag_figures].notna().sum().to_dict() == dict.fromkeys(lag_figures, 0)


def test_summary_figures_are_numbers_with_durations_in_minutes() -> None:
    history = {"a": [message("a1", "inbound", T0), message("a2", "outbound", T0 + 90_000)]}
    messages = messages_to_frame(history)
    turns = reply_times_frame(messages, now=FETCHED)
    lag = response_lag_frame(chats_to_frame([chat("a", T0, T0 + 90_000)], fetched_at=FETCHED))

    (figures,) = summary_figures(response_summary_frame(lag, reply_times=turns, messages=messages))

    assert figures["turns"] == 1
    assert isinstance(figures["turns"], int)
    assert figures["reply_time_p50_minutes"] == 1.5
    assert figures["response_lag_max_minutes"] == 1.5
    assert figures["inbound_messages"] == 1
    assert "longest_wait_minutes" not in figures  # missing, not zero
    assert "business_reply_time_p50_minutes" not in figures
    assert "day" not in figures
    assert {k: v for k, v in figures.items() if not isinstance(v, int | float)} == {}


def test_summary_days_must_be_midnights_of_the_time_zone() -> None:
    lag = response_lag_frame(chats_to_frame([], fetched_at=FETCHED))

    with pytest.raises(ValueError, match="not a midnight"):
        response_summary_frame(
            lag, timezone="America/New_York", days=[datetime(2026, 11, 20, tzinfo=UTC)]
        )
    with pytest.raises(ValueError, match="naive datetime"):
        response_summary_frame(lag, days=[datetime(2026, 11, 20)])


@pytest.mark.duckdb
def test_the_summary_day_is_stored_as_a_date_and_read_back_intact() -> None:
    import duckdb

    lag = response_lag_frame(chats_to_frame([chat("a", T0, T0 + MINUTE)], fetched_at=FETCHED))
    summary = response_summary_frame(lag, timezone="Europe/Paris")

    with duckdb.connect() as con:
        con.register("summary_frame", summary)
        con.execute("create table summary as select * from summary_frame")
        types = dict(
            con.execute("select column_name, column_type from (describe summary)").fetchall()
        )
        read_back = con.execute("select * from summary").df()

    assert types["day"] == "DATE"
    assert types["response_lag_p50"] == "INTERVAL"
    pd.testing.assert_frame_equal(conform(read_back, RESPONSE_SUMMARY_COLUMNS), summary)


def test_current_chats_are_the_chats_with_who_is_waiting() -> None:
    chats = [
        chat("+15550000003", T0, T0 + 5 * MINUTE, contact={"name": "Zoë"}),
        chat("+15550000001", T0 + 10 * MINUTE, T0),
        chat("+15550000002", None, T0),
    ]
    frame = chats_to_frame(chats, fetched_at=FETCHED)

    current = current_chats_frame(frame)

    assert list(current.columns) == [c.name for c in CURRENT_CHAT_COLUMNS]
    assert {k: str(v) for k, v in current.dtypes.items()} == dtypes(CURRENT_CHAT_COLUMNS)
    pd.testing.assert_frame_equal(current[frame.columns], frame)
    assert current["status"].tolist() == ["replied", "awaiting_reply", "outbound_only"]
    assert current["response_lag"][0] == pd.Timedelta(minutes=5)
    assert current["waiting_for"][1] == pd.Timedelta(hours=3) - pd.Timedelta(minutes=10)
    assert current["waiting_for"].isna().tolist() == [True, False, True]
