"""Exact reply times: one row per customer turn, computed from the messages themselves.

A turn starts at an inbound message whose predecessor in its chat (failed outbound messages
left out) is outbound or absent; its reply is the first outbound message after it; all as of
one instant, ``now``. The rules, exactly, and why: docs/design.md, section 'Reply times and
the clocks'.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from blooio_dagster.api.errors import BlooioConfigError
from blooio_dagster.tables.business_hours import BusinessHours
from blooio_dagster.tables.catalogue import MESSAGE_COLUMNS, REPLY_TIME_COLUMNS
from blooio_dagster.tables.dtypes import conform, empty_frame, epoch_ns, utc_instants
from blooio_dagster.tables.messages import message_order

__all__ = [
    "BusinessHours",
    "reply_times_frame",
    "turns_started_in",
]

#: The message columns the turns are computed from.
_NEEDED = ("chat_id", "message_id", "direction", "status", "time_sent")
_INPUT_COLUMNS = tuple(c for c in MESSAGE_COLUMNS if c.name in _NEEDED)
_NAT = np.iinfo("int64").min


def reply_times_frame(
    messages: pd.DataFrame,
    *,
    now: datetime,
    reply_sla: timedelta = timedelta(hours=1),
    business_hours: BusinessHours | None = None,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """One row per customer turn (:data:`~blooio_dagster.tables.catalogue.REPLY_TIME_COLUMNS`).

    Turns are computed over every message given, so pass each chat's history from before
    the period of interest too: a turn that began before it and continued inside it is not
    a new turn. :func:`turns_started_in` then selects the turns of a period. Rows are sorted
    by ``(chat_id, turn_started_at)``.

    Args:
        messages: a frame of :data:`~blooio_dagster.tables.catalogue.MESSAGE_COLUMNS` (at least
            ``chat_id``, ``message_id``, ``direction``, ``status`` and ``time_sent``), as
            made by :func:`~blooio_dagster.tables.messages.messages_to_frame` or read back from a
            database, in any order. Messages without ``time_sent`` cannot be placed in
            their conversation and are left out.
        now: the instant the figures are as of (aware).
        reply_sla: the reply time a turn must not exceed to meet the SLA.
        business_hours: when given, ``business_reply_time`` is filled in and the SLA is
            counted in business hours.
        timezone: the IANA time zone whose wall clocks ``business_hours`` are read in.

    Raises:
        BlooioConfigError: ``now``, ``reply_sla`` or ``timezone`` is invalid.
        ValueError: a message lacks its chat, id or direction, or its direction is neither
            inbound nor outbound.
    """
    as_of = _aware(now, "now")
    sla = _sla(reply_sla)
    _check_zone(timezone)
    frame = conform(messages, _INPUT_COLUMNS)
    _check_messages(frame)
    sent = frame["time_sent"]
    inbound_all = (frame["direction"] == "inbound").to_numpy(dtype=bool)
    failed = (frame["status"] == "failed").fillna(False).to_numpy(dtype=bool)
    keep = (sent.notna() & (sent <= as_of)).to_numpy(dtype=bool) & (inbound_all | ~failed)
    kept = frame[keep]
    if kept.empty:
        return empty_frame(REPLY_TIME_COLUMNS)
    kept = kept.take(message_order(kept))
    chats = pd.factorize(kept["chat_id"])[0]
    inbound = (kept["direction"] == "inbound").to_numpy(dtype=bool)
    new_chat = np.r_[True, chats[1:] != chats[:-1]]
    next_in_chat = np.r_[~new_chat[1:], False]
    # A turn is a maximal run of inbound messages within a chat: it starts where the
    # predecessor is outbound or absent, and ends where the next message is outbound or absent.
    starts = np.flatnonzero(inbound & (new_chat | ~np.r_[False, inbound[:-1]]))
    ends = np.flatnonzero(inbound & ~(next_in_chat & np.r_[inbound[1:], False]))
    answered = next_in_chat[ends]
    replies = np.where(answered, ends + 1, 0)

    ids = kept["message_id"].to_numpy(dtype=object)
    times = epoch_ns(kept["time_sent"])
    started = times[starts]
    replied = np.where(answered, times[replies], _NAT)
    turn_started_at = _instants(started)
    replied_at = _instants(replied)
    reply_time = pd.Series(replied_at - turn_started_at)
    waiting_for = pd.Series(np.where(answered, _NAT, as_of.value - started).view("timedelta64[ns]"))
    if business_hours is not None:
        business_reply_time = business_hours.elapsed(turn_started_at, replied_at, timezone)
        business_waiting = business_hours.elapsed(
            turn_started_at, pd.Series(as_of, index=turn_started_at.index), timezone
        )
        reply_measure, wait_measure = business_reply_time, business_waiting
    else:
        business_reply_time = pd.Series(np.full(len(starts), _NAT).view("timedelta64[ns]"))
        reply_measure, wait_measure = reply_time, waiting_for
    met = np.where(answered, (reply_measure <= sla).to_numpy(), False)
    # An unanswered turn has met nothing yet, but has missed the SLA once it waited past it.
    undecided = ~answered & ~(wait_measure > sla).to_numpy()
    reply_ids = np.full(len(starts), None, dtype=object)
    reply_ids[answered] = ids[replies[answered]]
    turns = pd.DataFrame(
        {
            "chat_id": kept["chat_id"].array[starts],
            "turn_started_at": turn_started_at,
            "turn_message_id": ids[starts],
            "inbound_messages": ends - starts + 1,
            "replied_at": replied_at,
            "reply_message_id": reply_ids,
            "reply_time": reply_time,
            "waiting_for": waiting_for,
            "business_reply_time": business_reply_time,
            "met_sla": pd.arrays.BooleanArray(met, undecided),
        }
    )
    return conform(turns, REPLY_TIME_COLUMNS)


def turns_started_in(reply_times: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The turns of ``reply_times`` that started in ``[start, end)``, such as one partition's.

    Args:
        reply_times: a frame of :data:`~blooio_dagster.tables.catalogue.REPLY_TIME_COLUMNS`.
        start: the first instant included (aware).
        end: the first instant excluded (aware), after ``start``.
    """
    first, stop = _aware(start, "start"), _aware(end, "end")
    if stop <= first:
        raise BlooioConfigError(f"end ({stop}) must come after start ({first})")
    started = utc_instants(reply_times["turn_started_at"])
    return reply_times[(started >= first) & (started < stop)].reset_index(drop=True)


def _instants(ns: np.ndarray[Any, Any]) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"))


def _aware(value: datetime, name: str) -> pd.Timestamp:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise BlooioConfigError(
            f"{name} must be a timezone-aware datetime, for example datetime.now(UTC); "
            f"got {value!r}"
        )
    return pd.Timestamp(value).tz_convert("UTC").as_unit("ns")


def _sla(reply_sla: timedelta) -> pd.Timedelta:
    if not isinstance(reply_sla, timedelta) or reply_sla <= timedelta(0):
        raise BlooioConfigError(
            f"reply_sla must be a positive timedelta, such as timedelta(hours=1); got {reply_sla!r}"
        )
    return pd.Timedelta(reply_sla)


def _check_zone(timezone: str) -> None:
    try:
        pd.Timestamp(0, tz=timezone)
    except Exception:
        raise BlooioConfigError(
            f"timezone {timezone!r} is not a known time zone; use an IANA name such as "
            "'UTC', 'Europe/Paris' or 'America/New_York'"
        ) from None


def _check_messages(frame: pd.DataFrame) -> None:
    for name in ("chat_id", "message_id", "direction"):
        missing = frame[name].isna()
        if missing.any():
            row = frame[missing].iloc[0]
            raise ValueError(
                f"a message has no {name} (chat {row['chat_id']!r}, message "
                f"{row['message_id']!r}); every message needs chat_id, message_id and direction"
            )
    wrong = ~frame["direction"].isin(["inbound", "outbound"])
    if wrong.any():
        row = frame[wrong].iloc[0]
        raise ValueError(
            f"message {row['message_id']!r} of chat {row['chat_id']!r} has direction "
            f"{row['direction']!r}; expected inbound or outbound"
        )
