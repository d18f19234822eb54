"""The tables this integration produces: their columns, declared once, and the chat conversion.

Each table is a tuple of :class:`Column`. The same declaration gives the pandas dtypes, the
Dagster ``TableSchema`` shown in the UI (``dagster/column_schema``) and the column tables in
the README (:func:`columns_markdown`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, cast

import dagster as dg
import numpy as np
import pandas as pd

from blooio_dagster._gc import collector_paused
from blooio_dagster.errors import BlooioResponseError

STRING = "string"
INTEGER = "Int64"
BOOLEAN = "boolean"
TIME = "datetime64[ns, UTC]"
DURATION = "timedelta64[ns]"
FLOAT = "Float64"


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
    Column("response_lag", DURATION, "Last outbound minus last inbound; replied chats only."),
    Column(
        "waiting_for",
        DURATION,
        "fetched_at minus last inbound; chats awaiting a reply only.",
    ),
)

RESPONSE_SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("day", TIME, "Start of the day (in the partitions' timezone), as a UTC instant."),
    Column("chats", INTEGER, "Chats whose newest message fell on the day."),
    Column("replied", INTEGER, "Of those, chats we replied to."),
    Column("awaiting_reply", INTEGER, "Of those, chats waiting for our reply."),
    Column("outbound_only", INTEGER, "Of those, chats where the customer never wrote."),
    Column("response_lag_p50_seconds", FLOAT, "Median response lag of replied chats."),
    Column("response_lag_p90_seconds", FLOAT, "90th percentile response lag of replied chats."),
    Column("response_lag_max_seconds", FLOAT, "Longest response lag of replied chats."),
    Column("longest_wait_seconds", FLOAT, "Longest current wait of chats awaiting a reply."),
)


def empty_frame(columns: Sequence[Column]) -> pd.DataFrame:
    """A frame with no rows and exactly these columns and dtypes."""
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in columns})


def table_schema(columns: Sequence[Column], frame: pd.DataFrame | None = None) -> dg.TableSchema:
    """The Dagster ``TableSchema`` of a table, typed from ``frame`` when given."""
    types = {c.name: c.dtype for c in columns}
    if frame is not None:
        types = {str(name): str(dtype) for name, dtype in frame.dtypes.items()}
    descriptions = {c.name: c.description for c in columns}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, type=dtype, description=descriptions.get(name))
            for name, dtype in types.items()
        ]
    )


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
        BlooioResponseError: a value has the wrong type for its column, naming both.
    """
    if fetched_at is None:
        fetched_at = datetime.now(UTC)
    elif fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware, for example datetime.now(UTC)")
    data: dict[str, Any] = {}
    with collector_paused():
        for column, values in zip(_SOURCED, _columns(chats), strict=True):
            try:
                data[column.name] = _typed(values, column.dtype)
            except (TypeError, ValueError, OverflowError) as exc:
                raise _bad_value(chats, values, column, exc) from None
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(chats)))
    frame["fetched_at"] = pd.Series(
        pd.Timestamp(fetched_at).tz_convert("UTC"), index=frame.index, dtype=TIME
    )
    return frame


_SOURCED = tuple(c for c in CHAT_COLUMNS if c.source)
_TOP_FIELDS = tuple(dict.fromkeys(c.source[0] for c in _SOURCED))


def _columns(chats: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """The values of every sourced column, each a list in chat order.

    One pass reads all of a chat's fields while its dict is in the CPU cache, then the rows
    are transposed; this is much faster than one pass over all chats per column.
    """
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
        chat, bad = next(
            (c, v) for c, v in zip(chats, values, strict=True) if not isinstance(v, dict | None)
        )
        raise BlooioResponseError(
            f"chat {chat.get('id')!r} has {field} = {bad!r}; expected an object or null",
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


def _typed(values: list[Any], dtype: str) -> Any:
    # type() is exact: a bool is not accepted as a whole number, nor a float as epoch ms.
    if not set(map(type, values)) <= _ALLOWED_TYPES[dtype]:
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


def _bad_value(
    chats: Sequence[dict[str, Any]], values: list[Any], column: Column, exc: Exception
) -> BlooioResponseError:
    for chat, value in zip(chats, values, strict=True):
        if value is None:
            continue
        try:
            _typed([value], column.dtype)
        except (TypeError, ValueError, OverflowError):
            field = ".".join(column.source)
            return BlooioResponseError(
                f"chat {chat.get('id')!r} has {field} = {value!r}, which does not fit column "
                f"{column.name} ({column.dtype}): {exc}",
                "/chats",
            )
    return BlooioResponseError(f"column {column.name} could not be built: {exc}", "/chats")


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
        else:
            out[column.name] = series.astype(cast(Any, column.dtype))
    return pd.DataFrame(out, index=frame.index)
