"""The tables this integration produces: their columns, declared once, and the chat conversion.

Each table is a tuple of :class:`Column`. The same declaration gives the pandas dtypes, the
Dagster ``TableSchema`` shown in the UI (``dagster/column_schema``) and the column tables in
the README (:func:`columns_markdown`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any, cast

import numpy as np
import pandas as pd
from msgspec import UNSET, UnsetType

from blooio_dagster.api.errors import BlooioResponseError
from blooio_dagster.api.records import ChatList, record_columns
from blooio_dagster.api.redaction import chat_ref
from blooio_dagster.api.wire.messages import DIRECTIONS as _DIRECTIONS
from blooio_dagster.tables._gc import collector_paused

STRING = "string"
INTEGER = "Int64"
BOOLEAN = "boolean"
TIME = "datetime64[ns, UTC]"
DURATION = "timedelta64[ns]"
FLOAT = "Float64"
#: A calendar day. Held as ``datetime.date`` objects (pandas has no date dtype without
#: pyarrow), which databases such as DuckDB store as DATE.
DATE = "date"


@dataclass(frozen=True)
class Column:
    """One column of a table: name, pandas dtype, meaning, and where a chat holds its value."""

    name: str
    dtype: str
    description: str
    source: tuple[str, ...] = ()


CHAT_COLUMNS: tuple[Column, ...] = (
    Column("chat_id", STRING, "Phone number (E.164), email, or group id (grp_...).", ("id",)),
    Column("type", STRING, "phone, email or group.", ("type",)),
    Column("is_group", BOOLEAN, "Whether the chat is a group chat.", ("is_group",)),
    Column("group_id", STRING, "Group id; groups only.", ("group_id",)),
    Column("group_name", STRING, "Group name; groups only, may be empty.", ("group_name",)),
    Column("member_count", INTEGER, "Members; groups only.", ("member_count",)),
    Column(
        "contact_id", STRING, "Contact id (ct_...); non-group chats.", ("contact", "contact_id")
    ),
    Column("contact_name", STRING, "Contact name, when known.", ("contact", "name")),
    Column(
        "contact_identifier", STRING, "The contact's phone or email.", ("contact", "identifier")
    ),
    Column("message_count", INTEGER, "Messages in the chat.", ("message_count",)),
    Column("inbound_count", INTEGER, "Messages the customer sent.", ("inbound_count",)),
    Column("outbound_count", INTEGER, "Messages the organization sent.", ("outbound_count",)),
    Column("background_id", STRING, "Active chat background, if set.", ("background_id",)),
    Column("background_url", STRING, "Public URL of the chat background.", ("background_url",)),
    Column("last_message_time", TIME, "When the newest message was sent.", ("last_message_time",)),
    Column(
        "last_inbound_time",
        TIME,
        "When the customer last wrote; empty if never.",
        ("last_inbound_time",),
    ),
    Column(
        "last_outbound_time",
        TIME,
        "When the organization last wrote; empty if never.",
        ("last_outbound_time",),
    ),
    Column(
        "last_message_id", STRING, "Newest message id (msg_...).", ("last_message", "message_id")
    ),
    Column("last_message_text", STRING, "Newest message text, if any.", ("last_message", "text")),
    Column(
        "last_message_direction",
        STRING,
        "inbound or outbound.",
        ("last_message", "direction"),
    ),
    Column("fetched_at", TIME, "When the crawl that read this row finished."),
)

RESPONSE_LAG_COLUMNS: tuple[Column, ...] = (
    Column("chat_id", STRING, "The chat."),
    Column("type", STRING, "phone, email or group."),
    Column("last_message_time", TIME, "When the newest message was sent (the partition column)."),
    Column("last_inbound_time", TIME, "When the customer last wrote; empty if never."),
    Column("last_outbound_time", TIME, "When the organization last wrote; empty if never."),
    Column(
        "status",
        STRING,
        "replied (our last message is at or after theirs), awaiting_reply (theirs is newer, or "
        "we never wrote) or outbound_only (they never wrote).",
    ),
    Column(
        "response_lag",
        DURATION,
        "Last outbound minus last inbound; replied chats only. Approximate: a later follow-up "
        "of ours lengthens it; reply_times has the exact reply time of every turn.",
    ),
    Column(
        "waiting_for",
        DURATION,
        "fetched_at minus last inbound; chats awaiting a reply only.",
    ),
)

RESPONSE_SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("day", DATE, "The day, in the partitions' time zone."),
    Column("chats", INTEGER, "Chats whose newest message fell on the day."),
    Column("replied", INTEGER, "Of those, chats we replied to."),
    Column("awaiting_reply", INTEGER, "Of those, chats waiting for our reply."),
    Column("outbound_only", INTEGER, "Of those, chats where the customer never wrote."),
    Column(
        "response_lag_p50",
        DURATION,
        "Median response lag of replied chats (approximate: last outbound minus last inbound).",
    ),
    Column("response_lag_p90", DURATION, "90th percentile response lag (approximate)."),
    Column("response_lag_max", DURATION, "Longest response lag (approximate)."),
    Column("longest_wait", DURATION, "Longest wait of the chats awaiting a reply (approximate)."),
    Column(
        "turns",
        INTEGER,
        "Customer turns that started on the day (exact, from the messages; empty without them).",
    ),
    Column("answered", INTEGER, "Of those, turns we replied to."),
    Column("unanswered", INTEGER, "Of those, turns still waiting for a reply."),
    Column("reply_time_p50", DURATION, "Median reply time of the answered turns."),
    Column("reply_time_p90", DURATION, "90th percentile reply time of the answered turns."),
    Column("reply_time_max", DURATION, "Longest reply time of the answered turns."),
    Column(
        "sla_breaches",
        INTEGER,
        "Turns answered later than the reply SLA, or unanswered for longer than it.",
    ),
    Column(
        "business_reply_time_p50",
        DURATION,
        "Median reply time counted in business hours; empty unless business hours are set.",
    ),
    Column(
        "business_reply_time_p90",
        DURATION,
        "90th percentile reply time counted in business hours; empty unless they are set.",
    ),
    Column("inbound_messages", INTEGER, "Messages customers sent on the day."),
    Column("outbound_messages", INTEGER, "Messages we sent on the day, failed ones excluded."),
    Column("failed_messages", INTEGER, "Messages we sent on the day that failed."),
)

CURRENT_CHAT_COLUMNS: tuple[Column, ...] = (
    *CHAT_COLUMNS,
    Column(
        "status",
        STRING,
        "replied (our last message is at or after theirs), awaiting_reply (theirs is newer, or "
        "we never wrote) or outbound_only (they never wrote), when the table was built.",
    ),
    Column(
        "response_lag",
        DURATION,
        "Last outbound minus last inbound; replied chats only (approximate, as in "
        "chat_response_lag).",
    ),
    Column(
        "waiting_for",
        DURATION,
        "fetched_at minus the customer's last message; chats awaiting a reply only. Their "
        "unanswered turn may have begun earlier: reply_times has it exactly.",
    ),
)

MESSAGE_COLUMNS: tuple[Column, ...] = (
    Column("chat_id", STRING, "The chat: phone number (E.164), email, or group id (grp_...)."),
    Column("message_id", STRING, "Message id (msg_...); one row per message.", ("message_id",)),
    Column(
        "direction",
        STRING,
        "inbound (the customer wrote) or outbound (the organization did).",
        ("direction",),
    ),
    Column(
        "status",
        STRING,
        "pending, queued, sent, delivered, failed, cancellation_requested or cancelled.",
        ("status",),
    ),
    Column("protocol", STRING, "imessage, sms, rcs or non-imessage.", ("protocol",)),
    Column("time_sent", TIME, "When the message was sent (the partition column).", ("time_sent",)),
    Column("time_delivered", TIME, "When it was delivered; empty if not.", ("time_delivered",)),
    Column(
        "sender",
        STRING,
        "The sender's phone number or email; inbound group messages only.",
        ("sender",),
    ),
    Column("text", STRING, "The message text, if any.", ("text",)),
    Column("attachment_count", INTEGER, "Attachments on the message.", ("attachments",)),
)

REPLY_TIME_COLUMNS: tuple[Column, ...] = (
    Column("chat_id", STRING, "The chat."),
    Column(
        "turn_started_at",
        TIME,
        "When the customer's turn began: an inbound message after one of ours, or the chat's "
        "first (the partition column).",
    ),
    Column("turn_message_id", STRING, "The message that began the turn."),
    Column(
        "inbound_messages",
        INTEGER,
        "Inbound messages in the turn, up to our reply (or up to now, if unanswered).",
    ),
    Column(
        "replied_at", TIME, "When our first message after the turn began was sent; empty if none."
    ),
    Column("reply_message_id", STRING, "That reply; empty if none."),
    Column("reply_time", DURATION, "replied_at minus turn_started_at; answered turns only."),
    Column(
        "waiting_for",
        DURATION,
        "How long the customer had waited when the table was computed; unanswered turns only.",
    ),
    Column(
        "business_reply_time",
        DURATION,
        "The reply time counted inside business hours; empty unless business hours are set.",
    ),
    Column(
        "met_sla",
        BOOLEAN,
        "Whether the reply came within the reply SLA (counted in business hours when they are "
        "set); false for an unanswered turn already past it, empty for one not yet past it.",
    ),
)


def empty_frame(columns: Sequence[Column]) -> pd.DataFrame:
    """A frame with no rows and exactly these columns and dtypes."""
    return pd.DataFrame({c.name: pd.Series(dtype=pandas_dtype(c.dtype)) for c in columns})


def pandas_dtype(dtype: str) -> str:
    """The pandas dtype holding a declared dtype: ``object`` for :data:`DATE`, else itself."""
    return "object" if dtype == DATE else dtype


def columns_markdown(columns: Sequence[Column]) -> str:
    """A markdown table of the columns, for documentation."""
    rows = [f"| `{c.name}` | `{c.dtype}` | {c.description} |" for c in columns]
    return "\n".join(["| column | dtype | meaning |", "|---|---|---|", *rows])


def chats_to_frame(
    chats: Sequence[dict[str, Any]], fetched_at: datetime | None = None
) -> pd.DataFrame:
    """Blooio chats (as ``GET /chats`` sends them) as a typed frame of :data:`CHAT_COLUMNS`.

    Times become timezone-aware UTC datetimes, counts nullable integers, flags nullable
    booleans, text pandas strings; missing fields and nulls become missing values. One
    pass over the chats gathers every field, then each typed column is built by NumPy and
    pandas in C, with no per-value Python work.

    Args:
        chats: chat objects, for example from :meth:`BlooioClient.list_chats`.
        fetched_at: when they were read (an aware datetime); defaults to now.

    Raises:
        BlooioResponseError: a value has the wrong type for its column, or a time lies
            outside :func:`check_times`' range, naming the chat by position, the field and
            the value.
    """
    if fetched_at is None:
        fetched_at = datetime.now(UTC)
    elif fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware, for example datetime.now(UTC)")
    data: dict[str, Any] = {}
    # Records were type-checked field by field as they were decoded; dicts are checked here.
    decoded = isinstance(chats, ChatList) and chats.all_records
    with collector_paused():
        for column, values in zip(_SOURCED, _columns(chats, decoded), strict=True):
            try:
                data[column.name] = _typed(values, column.dtype, checked=decoded)
            except (TypeError, ValueError, OverflowError) as exc:
                raise _bad_value(chats, values, column, exc) from None
    # The columns are new arrays: the frame takes them as they are instead of copying each.
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(chats)), copy=False)
    check_times(
        frame,
        {c.name: ".".join(c.source) for c in _SOURCED if c.dtype == TIME},
        now=fetched_at,
        row_name=lambda row: chat_reference(row, chats[row].get("id")),
        path="/chats",
    )
    frame["fetched_at"] = pd.Series(
        pd.Timestamp(fetched_at).tz_convert("UTC"), index=frame.index, dtype=TIME
    )
    return frame


_SOURCED = tuple(c for c in CHAT_COLUMNS if c.source)
_TOP_FIELDS = tuple(dict.fromkeys(c.source[0] for c in _SOURCED))


def _columns(chats: Sequence[dict[str, Any]], records: bool) -> Iterable[list[Any]]:
    """The values of every sourced column, each a list in chat order.

    A crawl's chats held as typed records (``records``) are read column by column, without
    dicts, one column at a time (so memory holds one list of values beside the frame). For
    dicts, one pass reads all of a chat's fields while its dict is in the CPU cache, then
    the rows are transposed; this is much faster than one pass over all chats per column.
    """
    if records:
        assert isinstance(chats, ChatList)
        return record_columns(chats.records, [c.source for c in _SOURCED])
    rows = [tuple(map(chat.get, _TOP_FIELDS)) for chat in chats]
    by_field: dict[str, list[Any]] = (
        dict(zip(_TOP_FIELDS, map(list, zip(*rows, strict=True)), strict=True))
        if rows
        else {field: [] for field in _TOP_FIELDS}
    )
    for outer in {c.source[0] for c in _SOURCED if len(c.source) == 2}:
        by_field[outer] = _objects(chats, by_field[outer], outer)
    return [
        list(map(dict.get, by_field[c.source[0]], repeat(c.source[1])))
        if len(c.source) == 2
        else by_field[c.source[0]]
        for c in _SOURCED
    ]


def _objects(chats: Sequence[dict[str, Any]], values: list[Any], field: str) -> list[Any]:
    """A nested object per chat, with an empty dict for null; refuses anything else."""
    if not set(map(type, values)) <= _OBJECT_OR_NULL:
        position = _first(values, lambda v: not isinstance(v, dict | None))
        raise BlooioResponseError(
            f"{chat_reference(position, chats[position].get('id'))} has {field} = a "
            f"{type(values[position]).__name__}; expected an object or null",
            "/chats",
        )
    return [value or _EMPTY for value in values]


_EMPTY: dict[str, Any] = {}
_OBJECT_OR_NULL = {dict, type(None)}
#: The Python types JSON gives for each dtype's values (null is always allowed).
_ALLOWED_TYPES = {
    STRING: {str, type(None)},
    INTEGER: {int, type(None)},
    TIME: {int, type(None)},
    BOOLEAN: {bool, type(None)},
}
_EXPECTED = {
    STRING: "expected text",
    INTEGER: "expected a whole number",
    TIME: "expected epoch ms",
    BOOLEAN: "expected true or false",
}


#: The epoch milliseconds whose nanoseconds fit datetime64[ns]: 1677-09-21 to 2262-04-11.
_MIN_EPOCH_MS = -(2**63 - 1) // 1_000_000 + 1
_MAX_EPOCH_MS = (2**63 - 1) // 1_000_000


def _typed(values: list[Any], dtype: str, *, checked: bool = False) -> Any:
    """``values`` as an array of ``dtype``; ``checked``: each is already of a type the
    dtype allows, or ``UNSET`` (as the fields of decoded records are)."""
    if checked:
        # Compares references only: no value is read, which for a large column is most of
        # the cost of a pass over it.
        if any(map(operator.is_, values, repeat(UNSET))):
            values = [None if value is UNSET else value for value in values]
    else:
        types = set(map(type, values))
        if UnsetType in types:  # fields a chat record left out: missing, like nulls
            values = [None if value is UNSET else value for value in values]
            types = (types - {UnsetType}) | {type(None)}
        # type() is exact: a bool is not accepted as a whole number, nor a float as epoch ms.
        if not types <= _ALLOWED_TYPES[dtype]:
            raise TypeError(_EXPECTED[dtype])
    if dtype == STRING:
        return pd.array(values, dtype=cast(Any, STRING))
    # NumPy turns None into NaN in C; counts and epoch milliseconds are exact in a float64.
    numbers = np.array(values, dtype="float64")
    missing = np.isnan(numbers)
    filled = np.where(missing, 0, numbers)
    if dtype == BOOLEAN:
        return pd.arrays.BooleanArray(filled.astype(bool), missing)
    if dtype == TIME and ((filled < _MIN_EPOCH_MS) | (filled > _MAX_EPOCH_MS)).any():
        # Checked before any int64 arithmetic, which would silently wrap such values.
        raise ValueError("epoch ms outside the range datetime64[ns] can hold (years 1677 to 2262)")
    whole = filled.astype("int64")
    if dtype == INTEGER:
        return pd.arrays.IntegerArray(whole, missing)
    nanoseconds = whole * 1_000_000  # exact in int64, unlike a float product
    nanoseconds[missing] = np.iinfo("int64").min  # NaT
    return pd.DatetimeIndex(nanoseconds.view("datetime64[ns]")).tz_localize("UTC")


#: The earliest time a Blooio message can carry; anything before is a broken clock or a
#: placeholder (such as 0, 1970), not a message.
EARLIEST_TIME = pd.Timestamp("2000-01-01", tz="UTC")
#: How far after the run's clock a time may lie: a phone whose clock is a day ahead.
FUTURE_LIMIT = timedelta(days=1)


def chat_reference(position: int, chat_id: object) -> str:
    """How an error names a chat: its position where it was read and
    :func:`~blooio_dagster.api.redaction.chat_ref` of its id, never the id itself (a customer's
    number or email), since errors reach Dagster's event log."""
    return f"chat {position + 1} ({_chat_name(chat_id)})"


def check_times(
    frame: pd.DataFrame,
    fields: Mapping[str, str],
    *,
    now: datetime,
    row_name: Callable[[int], str],
    path: str,
) -> None:
    """Refuse times before :data:`EARLIEST_TIME` or more than :data:`FUTURE_LIMIT` after ``now``.

    Such a time is a broken clock, not a message: kept, it would put a chat on a day of 1700
    or 3000, and a reply time or a wait computed from it would overflow or wrap to nonsense.

    Args:
        frame: the table, rows in the order they were read.
        fields: each time column of ``frame`` and the API field it came from.
        now: the run's clock (aware).
        row_name: names row ``i`` in an error, without customer data.
        path: the API path the rows came from.

    Raises:
        BlooioResponseError: naming the first such row, its field and its time.
    """
    latest = pd.Timestamp(now).tz_convert("UTC") + FUTURE_LIMIT
    for name, field in fields.items():
        times = frame[name]
        wrong = ((times < EARLIEST_TIME) | (times > latest)).to_numpy(dtype=bool)
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise BlooioResponseError(
                f"{row_name(row)} has {field} = {times.iloc[row].isoformat()}, which no message "
                f"can carry: times must lie from {EARLIEST_TIME.date()} to a day after this "
                f"run's clock ({latest.isoformat()}): the API, or the device that sent the "
                "message, has a broken clock",
                path,
            )


def _bad_value(
    chats: Sequence[dict[str, Any]], values: list[Any], column: Column, exc: Exception
) -> BlooioResponseError:
    for position, (chat, value) in enumerate(zip(chats, values, strict=True)):
        if value is None:
            continue
        try:
            _typed([value], column.dtype)
        except (TypeError, ValueError, OverflowError):
            field = ".".join(column.source)
            shown = f"a {type(value).__name__}" if field in _PRIVATE_CHAT_FIELDS else repr(value)
            return BlooioResponseError(
                f"{chat_reference(position, chat.get('id'))} has {field} = {shown}, which does "
                f"not fit column {column.name} ({column.dtype}): {exc}",
                "/chats",
            )
    return BlooioResponseError(f"column {column.name} could not be built: {exc}", "/chats")


#: Chat fields that hold a customer's name, number, email or words: errors show their type only.
_PRIVATE_CHAT_FIELDS = {
    "id",
    "group_name",
    "contact.name",
    "contact.identifier",
    "last_message.text",
}


def _chat_name(chat_id: object) -> str:
    """A chat as errors name it: by :func:`~blooio_dagster.api.redaction.chat_ref`, never by its
    id (a customer's number or email), since errors reach Dagster's event log."""
    return chat_ref(chat_id) if isinstance(chat_id, str) else "without a string id"


def conform(frame: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """``frame`` with exactly ``columns``, in order, cast to their declared dtypes.

    Frames read back from a database come with its types (object strings, microsecond
    times in the session's time zone, floats for nullable integers); this restores ours.
    """
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks the columns {missing}; it has {list(frame.columns)}")
    out: dict[str, Any] = {}
    for column in columns:
        series = frame[column.name]
        if column.dtype == TIME:
            out[column.name] = pd.to_datetime(series, utc=True).dt.as_unit("ns")
        elif column.dtype == DURATION:
            out[column.name] = pd.to_timedelta(series).dt.as_unit("ns")
        elif column.dtype == DATE:
            out[column.name] = _dates(series, column.name)
        else:
            out[column.name] = series.astype(cast(Any, column.dtype))
    return pd.DataFrame(out, index=frame.index)


def _dates(series: pd.Series, name: str) -> pd.Series:
    """``datetime.date`` objects (``None`` where missing) from dates or naive midnights.

    A database gives a DATE column back as naive timestamps at midnight.
    """
    times = pd.to_datetime(series)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"column {name} holds instants ({times.dtype}); it must hold calendar days"
        )
    if (times.dropna() != times.dropna().dt.normalize()).any():
        raise ValueError(f"column {name} holds times of day; it must hold calendar days")
    dates = times.dt.date.astype(object)
    dates[times.isna()] = None
    return dates


def messages_to_frame(
    messages_by_chat: Mapping[str, Sequence[dict[str, Any]]], *, now: datetime | None = None
) -> pd.DataFrame:
    """Blooio messages (as ``GET /chats/{chat_id}/messages`` sends them) as :data:`MESSAGE_COLUMNS`.

    One row per ``message_id``, sorted by ``(chat_id, time_sent, message_id)`` (messages
    without ``time_sent`` last in their chat). A message read twice with the same values
    (a page boundary that moved while it was read) is kept once.

    Args:
        messages_by_chat: each chat's messages, keyed by chat id.
        now: the run's clock (aware), which no time may lie a day after; defaults to now.

    Raises:
        BlooioResponseError: a message is not an object, lacks its ``message_id`` or
            ``direction`` (or the direction is neither inbound nor outbound), holds a value of
            the wrong type for its column or a time outside :func:`check_times`' range, or
            shares its id with a different message; the error names the chat, the message
            and the field.
        TypeError: ``messages_by_chat`` is not a mapping of chat ids to lists.
    """
    if not isinstance(messages_by_chat, Mapping):
        raise TypeError(
            "messages_by_chat must map each chat id to its list of messages, "
            f"not {type(messages_by_chat).__name__}"
        )
    chat_ids: list[str] = []
    counts: list[int] = []
    messages: list[Any] = []
    for chat_id, chat_messages in messages_by_chat.items():
        if not isinstance(chat_id, str) or not chat_id:
            raise TypeError(f"chat ids must be non-empty strings, got {chat_id!r}")
        if not isinstance(chat_messages, list | tuple):
            raise BlooioResponseError(
                f"the messages of chat {_chat_name(chat_id)} are "
                f"{type(chat_messages).__name__}; expected a list",
                _MESSAGES_PATH,
            )
        chat_ids.append(chat_id)
        counts.append(len(chat_messages))
        messages.extend(chat_messages)
    chats = np.repeat(np.array(chat_ids, dtype=object), counts)
    with collector_paused():
        if not set(map(type, messages)) <= {dict}:
            index = next(i for i, m in enumerate(messages) if not isinstance(m, dict))
            raise BlooioResponseError(
                f"message {index - _chat_start(counts, index)} of chat {_chat_name(chats[index])} "
                f"is {type(messages[index]).__name__}; expected an object",
                _MESSAGES_PATH,
            )
        rows = [tuple(map(m.get, _MESSAGE_FIELDS)) for m in messages]
        by_field: dict[str, list[Any]] = (
            dict(zip(_MESSAGE_FIELDS, map(list, zip(*rows, strict=True)), strict=True))
            if rows
            else {field: [] for field in _MESSAGE_FIELDS}
        )
        del rows
        data: dict[str, Any] = {"chat_id": pd.array(chats, dtype=cast(Any, STRING))}
        for column in MESSAGE_COLUMNS[1:]:
            values = by_field[column.source[0]]
            data[column.name] = _message_column(column, values, chats, by_field["message_id"])
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(messages)))
    positions = np.repeat(np.arange(len(chat_ids)), counts)

    def message_name(index: int) -> str:
        chat = chat_reference(int(positions[index]), chats[index])
        return f"message {index - _chat_start(counts, index)} of {chat}"

    check_times(
        frame,
        {c.name: c.source[0] for c in MESSAGE_COLUMNS if c.dtype == TIME},
        now=datetime.now(UTC) if now is None else now,
        row_name=message_name,
        path="/chats/{chat_id}/messages",
    )
    frame = _one_row_per_message(frame)
    return frame.take(message_order(frame)).reset_index(drop=True)


def message_order(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.intp]]:
    """The positions that sort messages by ``(chat_id, time_sent, message_id)``.

    Messages without ``time_sent`` come last in their chat. ``frame`` needs those three
    columns, typed as in :data:`MESSAGE_COLUMNS`, and no missing ``message_id``.
    """
    chats = pd.factorize(frame["chat_id"], sort=True)[0]
    sent = epoch_ns(frame["time_sent"])
    sent[sent == _NAT] = np.iinfo("int64").max
    order: np.ndarray[Any, np.dtype[np.intp]] = np.lexsort((sent, chats))
    # Sorting a million ids as text costs seconds; only messages sent in the same
    # millisecond as another of their chat need their ids compared.
    same = (chats[order][1:] == chats[order][:-1]) & (sent[order][1:] == sent[order][:-1])
    if not same.any():
        return order
    tied = np.zeros(len(order), dtype=bool)
    tied[1:] |= same
    tied[:-1] |= same
    rows = order[tied]
    ids = frame["message_id"].to_numpy(dtype=object)[rows]
    rank = np.zeros(len(order), dtype="int64")
    rank[rows[np.argsort(ids, kind="stable")]] = np.arange(len(rows))
    ordered: np.ndarray[Any, np.dtype[np.intp]] = np.lexsort((rank, sent, chats))
    return ordered


_NAT = np.iinfo("int64").min


def epoch_ns(times: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Nanoseconds since 1970 of datetimes (aware ones in UTC), as a new array; NaT is int64 min."""
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").to_numpy(dtype="datetime64[ns]").view("int64").copy()


_MESSAGE_FIELDS = tuple(c.source[0] for c in MESSAGE_COLUMNS if c.source)
_REQUIRED_FIELDS = ("message_id", "direction")
_PRIVATE_FIELDS = {"text", "sender"}


def _message_column(
    column: Column, values: list[Any], chats: np.ndarray[Any, Any], ids: list[Any]
) -> Any:
    field = column.source[0]

    def bad(index: int, problem: str) -> BlooioResponseError:
        message = f"message {ids[index]!r}" if isinstance(ids[index], str) else "a message"
        value = values[index]
        # A customer's words and addresses stay out of errors, which reach Dagster's event log.
        shown = f"a {type(value).__name__}" if field in _PRIVATE_FIELDS else repr(value)
        return BlooioResponseError(
            f"{message} of chat {_chat_name(chats[index])} has {field} = {shown}; {problem}",
            _MESSAGES_PATH,
        )

    if field == "attachments":
        if not set(map(type, values)) <= {list, type(None)}:
            raise bad(_first(values, lambda v: not isinstance(v, list | None)), "expected a list")
        if None in values:
            lengths = np.array([-1 if v is None else len(v) for v in values], dtype="int64")
        else:
            lengths = np.fromiter(map(len, values), dtype="int64", count=len(values))
        return pd.arrays.IntegerArray(np.maximum(lengths, 0), lengths < 0)
    if field in _REQUIRED_FIELDS and (None in values or "" in values):
        raise bad(_first(values, lambda v: v is None or v == ""), "it is required")
    try:
        typed = _typed(values, column.dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        for index, value in enumerate(values):
            if value is not None:
                try:
                    _typed([value], column.dtype)
                except (TypeError, ValueError, OverflowError) as one:
                    raise bad(index, str(one)) from None
        raise BlooioResponseError(
            f"column {column.name} could not be built: {exc}", "/chats/{chat_id}/messages"
        ) from None
    if field == "direction" and not set(values) <= _DIRECTIONS:
        raise bad(_first(values, lambda v: v not in _DIRECTIONS), "expected inbound or outbound")
    return typed


def _first(values: list[Any], wrong: Any) -> int:
    return next(i for i, v in enumerate(values) if wrong(v))


def _chat_start(counts: list[int], index: int) -> int:
    """The flat index of the first message of the chat holding message ``index``."""
    starts = np.cumsum([0, *counts])
    position = int(np.searchsorted(starts, index, side="right")) - 1
    return int(starts[position])


#: The path errors name: the chat's id stays out of them (see :func:`_chat_name`).
_MESSAGES_PATH = "/chats/{chat_id}/messages"


def _one_row_per_message(frame: pd.DataFrame) -> pd.DataFrame:
    """Identical copies of a message collapse to one; different ones under one id are refused."""
    codes, ids = pd.factorize(frame["message_id"])
    if len(ids) == len(frame):
        return frame
    repeated = pd.Series(np.bincount(codes)[codes] > 1, index=frame.index)
    copies = frame[repeated].drop_duplicates()
    conflicting = copies["message_id"].duplicated(keep=False)
    if conflicting.any():
        message_id = copies.loc[conflicting, "message_id"].iloc[0]
        first, second = (
            row for _, row in copies[copies["message_id"] == message_id].head(2).iterrows()
        )
        differ = [
            name
            for name in frame.columns
            if not (
                (pd.isna(first[name]) and pd.isna(second[name]))
                or (
                    not pd.isna(first[name])
                    and not pd.isna(second[name])
                    and first[name] == second[name]
                )
            )
        ]
        # The differing values are not shown: they may be a customer's texts.
        raise BlooioResponseError(
            f"message {message_id!r} appears twice with different {', '.join(differ)} "
            f"(in chat {_chat_name(first['chat_id'])} and chat {_chat_name(second['chat_id'])})",
            _MESSAGES_PATH,
        )
    return frame[~frame["message_id"].duplicated()]
