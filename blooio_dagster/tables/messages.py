"""The messages table: each chat's messages, as the client reads them, as one typed row per
message of :data:`~blooio_dagster.tables.catalogue.MESSAGE_COLUMNS`, in the order reply
times are computed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from blooio_dagster.api.errors import BlooioResponseError
from blooio_dagster.api.wire.messages import DIRECTIONS
from blooio_dagster.api.wire.values import (
    MESSAGES_PATH,
    chat_name,
    first_index,
    flat_messages,
    message_value,
    numbered_message,
)
from blooio_dagster.tables._gc import collector_paused
from blooio_dagster.tables.catalogue import MESSAGE_COLUMNS, STRING, TIME, Column
from blooio_dagster.tables.dtypes import epoch_ns
from blooio_dagster.tables.values import check_times, typed_values


def messages_to_frame(
    messages_by_chat: Mapping[str, Sequence[dict[str, Any]]], *, now: datetime | None = None
) -> pd.DataFrame:
    """Blooio messages, as the client reads them, as one row each of :data:`MESSAGE_COLUMNS`.

    One row per ``message_id``, sorted by ``(chat_id, time_sent, message_id)`` (messages
    without ``time_sent`` last in their chat). A message read twice with the same values
    (a page boundary that moved while it was read) is kept once.

    Args:
        messages_by_chat: each chat's messages, keyed by chat id.
        now: the run's clock (aware), which no time may lie a day after; defaults to now.

    Raises:
        BlooioResponseError: a message is not an object, lacks its ``message_id`` or
            ``direction`` (or the direction is neither inbound nor outbound), holds a value of
            the wrong type for its column or a time outside
            :func:`~blooio_dagster.tables.values.check_times`' range, or shares its id with a
            different message; the error names the chat, the message and the field.
        TypeError: ``messages_by_chat`` is not a mapping of chat ids to lists.
    """
    chat_ids, counts, messages = flat_messages(messages_by_chat)
    chats = np.repeat(np.array(chat_ids, dtype=object), counts)
    with collector_paused():
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
    check_times(
        frame,
        {c.name: c.source[0] for c in MESSAGE_COLUMNS if c.dtype == TIME},
        now=datetime.now(UTC) if now is None else now,
        row_name=lambda index: numbered_message(chat_ids, counts, index),
        path=MESSAGES_PATH,
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


_MESSAGE_FIELDS = tuple(c.source[0] for c in MESSAGE_COLUMNS if c.source)
_REQUIRED_FIELDS = ("message_id", "direction")


def _message_column(
    column: Column, values: list[Any], chats: np.ndarray[Any, Any], ids: list[Any]
) -> Any:
    field = column.source[0]

    def bad(index: int, problem: str) -> BlooioResponseError:
        return BlooioResponseError(
            f"{message_value(ids[index], chats[index], field, values[index])}; {problem}",
            MESSAGES_PATH,
        )

    if field == "attachments":
        if not set(map(type, values)) <= {list, type(None)}:
            raise bad(
                first_index(values, lambda v: not isinstance(v, list | None)), "expected a list"
            )
        if None in values:
            lengths = np.array([-1 if v is None else len(v) for v in values], dtype="int64")
        else:
            lengths = np.fromiter(map(len, values), dtype="int64", count=len(values))
        return pd.arrays.IntegerArray(np.maximum(lengths, 0), lengths < 0)
    if field in _REQUIRED_FIELDS and (None in values or "" in values):
        raise bad(first_index(values, lambda v: v is None or v == ""), "it is required")
    try:
        typed = typed_values(values, column.dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        for index, value in enumerate(values):
            if value is not None:
                try:
                    typed_values([value], column.dtype)
                except (TypeError, ValueError, OverflowError) as one:
                    raise bad(index, str(one)) from None
        raise BlooioResponseError(
            f"column {column.name} could not be built: {exc}", MESSAGES_PATH
        ) from None
    if field == "direction" and not set(values) <= DIRECTIONS:
        raise bad(
            first_index(values, lambda v: v not in DIRECTIONS), "expected inbound or outbound"
        )
    return typed


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
            f"(in chat {chat_name(first['chat_id'])} and chat {chat_name(second['chat_id'])})",
            MESSAGES_PATH,
        )
    return frame[~frame["message_id"].duplicated()]
