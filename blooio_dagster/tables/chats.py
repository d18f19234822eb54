"""The chats table: the chats a crawl read, as typed records or as the API's dicts, as a typed
frame of :data:`~blooio_dagster.tables.catalogue.CHAT_COLUMNS`. Why it is built column by
column: docs/design.md, section 'The tables'."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import pandas as pd

from blooio_dagster.api.errors import BlooioResponseError
from blooio_dagster.api.wire.records import ChatList, record_columns
from blooio_dagster.api.wire.values import (
    CHATS_PATH,
    chat_reference,
    chat_value,
    objects_or_null,
)
from blooio_dagster.tables._gc import collector_paused
from blooio_dagster.tables.catalogue import CHAT_COLUMNS, TIME, Column
from blooio_dagster.tables.values import check_times, typed_values


def chats_to_frame(
    chats: Sequence[dict[str, Any]],
    fetched_at: datetime | None = None,
    *,
    checked_against: datetime | None = None,
) -> pd.DataFrame:
    """Blooio chats, as the client reads them, as a typed frame of :data:`CHAT_COLUMNS`.

    Times become timezone-aware UTC datetimes, counts nullable integers, flags nullable
    booleans, text pandas strings; missing fields and nulls become missing values.

    Args:
        chats: chat objects, for example from :meth:`BlooioClient.list_chats`.
        fetched_at: when they were read (an aware datetime); defaults to now.
        checked_against: the clock a time is refused for being more than a day ahead of
            (aware); ``fetched_at`` unless given. The assets give this machine's clock here
            and the API's in ``fetched_at`` when the two disagree: a lying ``Date`` header
            must not let times from the future in.

    Raises:
        BlooioResponseError: a value has the wrong type for its column, or a time lies
            outside :func:`~blooio_dagster.tables.values.check_times`' range, naming the chat
            by position, the field and the value.
    """
    if fetched_at is None:
        fetched_at = datetime.now(UTC)
    elif fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware, for example datetime.now(UTC)")
    if checked_against is None:
        checked_against = fetched_at
    elif checked_against.tzinfo is None:
        raise ValueError("checked_against must be timezone-aware, for example datetime.now(UTC)")
    data: dict[str, Any] = {}
    # Records were type-checked field by field as they were decoded; dicts are checked here.
    decoded = isinstance(chats, ChatList) and chats.all_records
    with collector_paused():
        for column, values in zip(_SOURCED, _columns(chats, decoded), strict=True):
            try:
                data[column.name] = typed_values(values, column.dtype, checked=decoded)
            except (TypeError, ValueError, OverflowError) as exc:
                raise _bad_value(chats, values, column, exc) from None
    # The columns are new arrays: the frame takes them as they are instead of copying each.
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(chats)), copy=False)
    check_times(
        frame,
        {c.name: ".".join(c.source) for c in _SOURCED if c.dtype == TIME},
        now=checked_against,
        row_name=lambda row: chat_reference(row, chats[row].get("id")),
        path=CHATS_PATH,
    )
    frame["fetched_at"] = pd.Series(
        pd.Timestamp(fetched_at).tz_convert("UTC"), index=frame.index, dtype=TIME
    )
    return frame


_SOURCED = tuple(c for c in CHAT_COLUMNS if c.source)
_TOP_FIELDS = tuple(dict.fromkeys(c.source[0] for c in _SOURCED))


def _columns(chats: Sequence[dict[str, Any]], records: bool) -> Iterable[list[Any]]:
    """The values of every sourced column, each a list in chat order.

    Typed records (``records``) are read one column at a time, without dicts; dicts are read
    in one pass, a chat at a time, then transposed.
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
        by_field[outer] = objects_or_null(chats, by_field[outer], outer)
    return [
        list(map(dict.get, by_field[c.source[0]], repeat(c.source[1])))
        if len(c.source) == 2
        else by_field[c.source[0]]
        for c in _SOURCED
    ]


def _bad_value(
    chats: Sequence[dict[str, Any]], values: list[Any], column: Column, exc: Exception
) -> BlooioResponseError:
    """The error naming the first chat whose value does not fit ``column``."""
    for position, (chat, value) in enumerate(zip(chats, values, strict=True)):
        if value is None:
            continue
        try:
            typed_values([value], column.dtype)
        except (TypeError, ValueError, OverflowError):
            field = ".".join(column.source)
            return BlooioResponseError(
                f"{chat_value(position, chat.get('id'), field, value)}, which does "
                f"not fit column {column.name} ({column.dtype}): {exc}",
                CHATS_PATH,
            )
    return BlooioResponseError(f"column {column.name} could not be built: {exc}", CHATS_PATH)
