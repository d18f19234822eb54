"""The table catalogue: every table this integration produces, declared once.

Each :class:`Table` has its name, its grain (what one row is), the column whose day names
its partition, its description and its :class:`Column` records (name, dtype, meaning). The
pandas dtypes (:mod:`blooio_dagster.tables.dtypes`), the Dagster ``TableSchema`` shown in the
UI, the asset specs and their partition expressions, the per-partition row counts and the
README's column tables (:func:`columns_markdown`) all read it. Why: docs/design.md, section
'The tables'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

STRING = "string"
INTEGER = "Int64"
BOOLEAN = "boolean"
TIME = "datetime64[ns, UTC]"
DURATION = "timedelta64[ns]"
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
    Column(
        "fetched_at",
        TIME,
        "When the crawl that read this row finished, by the API's clock when this machine's "
        "is more than 5 minutes off it; waits are measured to it.",
    ),
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


@dataclass(frozen=True)
class Table:
    """One table: what a row is, which day a row belongs to, and its columns.

    Attributes:
        name: the table's name, the last part of its asset key.
        grain: what one row is ("one row per ..."), as the README's list of assets says.
        day_column: the column whose day, in the partitions' time zone, names the partition
            a row belongs to; ``None`` for a table that is never partitioned.
        description: what the table holds and when it is complete (the asset's description).
        columns: the table's columns, in order.
    """

    name: str
    grain: str
    day_column: str | None
    description: str
    columns: tuple[Column, ...]


CHATS = "chats"
MESSAGES = "messages"
REPLY_TIMES = "reply_times"
CHAT_RESPONSE_LAG = "chat_response_lag"
RESPONSE_SUMMARY = "response_summary"
CURRENT_CHATS = "current_chats"

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            CHATS,
            "chat whose newest message fell on day D (as observed when D ran)",
            "last_message_time",
            "Every Blooio chat of the organization, one row per chat, read completely even "
            "while chats move during paging. Partition D holds the chats whose newest message "
            "fell on D, as observed when D was materialized.",
            CHAT_COLUMNS,
        ),
        Table(
            MESSAGES,
            "message sent on day D",
            "time_sent",
            "Every message sent on day D, one row per message_id: direction, status, "
            "protocol, times, sender, text and attachment count.",
            MESSAGE_COLUMNS,
        ),
        Table(
            REPLY_TIMES,
            "customer turn that started on day D",
            "turn_started_at",
            "One row per customer turn that started on day D: a turn starts at an inbound "
            "message whose predecessor in the chat is outbound or absent (failed outbound "
            "messages do not count), and is answered by the first outbound message after "
            "it. Unanswered turns show how long they have waited when materialized.",
            REPLY_TIME_COLUMNS,
        ),
        Table(
            CHAT_RESPONSE_LAG,
            "chat of `chats`",
            "last_message_time",
            "Approximate, per chat: replied, awaiting_reply or outbound_only, and the time "
            "between the chat's last inbound and last outbound message (response_lag) or "
            "since its last inbound one (waiting_for). A chat answered at 09:05 and followed "
            "up at 17:00 shows the 17:00 message: see reply_times for exact figures.",
            RESPONSE_LAG_COLUMNS,
        ),
        Table(
            RESPONSE_SUMMARY,
            "day",
            "day",
            "One row per day: the approximate chat-level figures and, from messages and "
            "reply_times, exact customer turns, answered and unanswered, reply time "
            "p50/p90/max and SLA breaches. Per-partition metadata plots the figures in minutes.",
            RESPONSE_SUMMARY_COLUMNS,
        ),
        Table(
            CURRENT_CHATS,
            "chat, unpartitioned, newest state",
            None,
            "Every chat exactly once in its newest state, with status and waiting_for as "
            "of materialization: who is waiting right now, including chats quiet for "
            "weeks. One full crawl of the chat list.",
            CURRENT_CHAT_COLUMNS,
        ),
    )
}
#: The tables read from the API in one pass, so materialized together by one op: the chats,
#: the messages of the chats read, and the reply times computed from those messages.
API_TABLES = (CHATS, MESSAGES, REPLY_TIMES)
#: Each partitioned table's column whose day names the partition a row belongs to.
DAY_COLUMNS = {
    table.name: table.day_column for table in TABLES.values() if table.day_column is not None
}


def columns_markdown(columns: Sequence[Column]) -> str:
    """A markdown table of the columns, for documentation."""
    rows = [f"| `{c.name}` | `{c.dtype}` | {c.description} |" for c in columns]
    return "\n".join(["| column | dtype | meaning |", "|---|---|---|", *rows])
