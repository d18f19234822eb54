"""Reply figures: the approximate chat-level lag, who is waiting now, and the daily summary.

``response_lag_frame`` needs only the chat list and is approximate; the exact reply time of
every customer turn comes from the messages (:mod:`blooio_dagster.tables.reply_times`); the
daily summary shows both side by side. Why both: docs/design.md, section 'Reply times and the
clocks'.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from blooio_dagster.tables.catalogue import (
    CHAT_COLUMNS,
    CURRENT_CHAT_COLUMNS,
    DURATION,
    INTEGER,
    MESSAGE_COLUMNS,
    REPLY_TIME_COLUMNS,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
)
from blooio_dagster.tables.dtypes import conform

REPLIED = "replied"
AWAITING_REPLY = "awaiting_reply"
OUTBOUND_ONLY = "outbound_only"
STATUSES = (REPLIED, AWAITING_REPLY, OUTBOUND_ONLY)


def response_lag_frame(chats_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per chat: who spoke last, and approximately how fast we replied.

    Approximate: it compares the chat's last outbound and last inbound message only, so a
    follow-up of ours after the reply lengthens ``response_lag``. For exact reply times per
    customer turn use :func:`~blooio_dagster.tables.reply_times.reply_times_frame`.

    ``status`` is ``replied`` when our last message came at or after their last one,
    ``awaiting_reply`` when theirs is newer or we never wrote, and ``outbound_only`` when
    they never wrote. ``response_lag`` (replied chats) is last outbound minus last inbound;
    ``waiting_for`` (chats awaiting a reply) is ``fetched_at`` minus last inbound.

    Args:
        chats_frame: a frame of :data:`~blooio_dagster.tables.catalogue.CHAT_COLUMNS`, as made by
            :func:`~blooio_dagster.chats_to_frame` or read back from a database.
    """
    chats = conform(chats_frame, CHAT_COLUMNS)
    inbound, outbound = chats["last_inbound_time"], chats["last_outbound_time"]
    has_inbound = inbound.notna()
    replied = has_inbound & outbound.notna() & (outbound >= inbound)
    awaiting = has_inbound & ~replied
    status = np.select(
        [replied.to_numpy(), awaiting.to_numpy()], [REPLIED, AWAITING_REPLY], OUTBOUND_ONLY
    )
    lag = pd.DataFrame(
        {
            "chat_id": chats["chat_id"],
            "type": chats["type"],
            "last_message_time": chats["last_message_time"],
            "last_inbound_time": inbound,
            "last_outbound_time": outbound,
            "status": status,
            "response_lag": (outbound - inbound).where(replied),
            "waiting_for": (chats["fetched_at"] - inbound).where(awaiting),
        },
        index=chats.index,
    )
    return conform(lag, RESPONSE_LAG_COLUMNS)


def current_chats_frame(chats_frame: pd.DataFrame) -> pd.DataFrame:
    """Every chat of a crawl, with who is waiting for a reply (``CURRENT_CHAT_COLUMNS``).

    The chat's columns, plus the ``status``, approximate ``response_lag`` and ``waiting_for``
    of :func:`response_lag_frame`, as of the crawl's ``fetched_at``; rows in the order given.

    Args:
        chats_frame: a frame of :data:`~blooio_dagster.tables.catalogue.CHAT_COLUMNS`.
    """
    chats = conform(chats_frame, CHAT_COLUMNS)
    lag = response_lag_frame(chats)
    current = chats.assign(
        status=lag["status"], response_lag=lag["response_lag"], waiting_for=lag["waiting_for"]
    )
    return conform(current, CURRENT_CHAT_COLUMNS)


def response_summary_frame(
    lag_frame: pd.DataFrame | None,
    *,
    timezone: str = "UTC",
    days: Sequence[date | datetime] | None = None,
    reply_times: pd.DataFrame | None = None,
    messages: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per day (:data:`~blooio_dagster.tables.catalogue.RESPONSE_SUMMARY_COLUMNS`).

    Each source fills its own columns, grouped by the day (in ``timezone``) of its time:

    - ``lag_frame``, by ``last_message_time``: ``chats``, the statuses and the approximate
      ``response_lag`` figures and ``longest_wait``;
    - ``reply_times``, by ``turn_started_at``: ``turns``, ``answered``, ``unanswered``, the
      exact ``reply_time`` and ``business_reply_time`` figures and ``sla_breaches``;
    - ``messages``, by ``time_sent``: ``inbound_messages``, ``outbound_messages`` and
      ``failed_messages``.

    A source not given leaves its columns empty; a day without rows in a given source has
    counts of 0 and empty durations. Percentiles interpolate linearly between turns.

    Args:
        lag_frame: a frame of :data:`~blooio_dagster.tables.catalogue.RESPONSE_LAG_COLUMNS`, or
            None.
        timezone: the IANA time zone whose midnights split the days.
        days: the days to report, in this order, including days without rows: dates, or
            aware datetimes at a midnight of ``timezone`` (such as partition starts). Rows
            of other days are left out. By default every day that has rows in any source,
            in order.
        reply_times: a frame of :data:`~blooio_dagster.tables.catalogue.REPLY_TIME_COLUMNS` (a turn
            counts on the day it started).
        messages: a frame of :data:`~blooio_dagster.tables.catalogue.MESSAGE_COLUMNS`.

    Raises:
        ValueError: a day is a naive datetime or not a midnight in ``timezone``.
    """
    sources = {
        "lag": (lag_frame, RESPONSE_LAG_COLUMNS, "last_message_time"),
        "turns": (reply_times, REPLY_TIME_COLUMNS, "turn_started_at"),
        "messages": (messages, MESSAGE_COLUMNS, "time_sent"),
    }
    frames: dict[str, tuple[pd.DataFrame, pd.Series]] = {}
    for name, (frame, columns, time_column) in sources.items():
        if frame is not None:
            conformed = conform(frame, columns)
            frames[name] = (conformed, _day_numbers(conformed[time_column], timezone))
    if days is None:
        observed = [day.dropna().to_numpy(dtype="int64") for _, day in frames.values()]
        numbers = np.unique(np.concatenate([np.zeros(0, dtype="int64"), *observed]))
        index = pd.Index(numbers, dtype="int64", name="day")
    else:
        index = pd.Index([_day_number(d, timezone) for d in days], dtype="int64", name="day")
    summary: dict[str, Any] = {}
    if "lag" in frames:
        summary |= _lag_figures(*frames["lag"], index)
    if "turns" in frames:
        summary |= _turn_figures(*frames["turns"], index)
    if "messages" in frames:
        summary |= _message_figures(*frames["messages"], index)
    out = pd.DataFrame(
        {"day": pd.Series([_EPOCH + timedelta(days=int(n)) for n in index], dtype=object)}
    )
    for column in RESPONSE_SUMMARY_COLUMNS[1:]:
        empty = pd.Series(pd.NA, index=out.index, dtype=column.dtype)
        out[column.name] = summary.get(column.name, empty)
    return conform(out, RESPONSE_SUMMARY_COLUMNS)


def summary_figures(summary: pd.DataFrame) -> list[dict[str, int | float]]:
    """Each summary row's figures as numbers for Dagster metadata, in the rows' order.

    Counts stay whole numbers; durations become minutes, named with a ``_minutes`` suffix
    (``reply_time_p50_minutes``, to 0.01), so Dagster's plots of them read naturally. Missing
    figures are left out rather than plotted as zero.
    """
    conformed = conform(summary, RESPONSE_SUMMARY_COLUMNS)
    columns: list[tuple[str, str, pd.Series]] = []
    for column in RESPONSE_SUMMARY_COLUMNS:
        values = conformed[column.name]
        if column.dtype == INTEGER:
            columns.append((column.name, INTEGER, values))
        elif column.dtype == DURATION:
            columns.append((f"{column.name}_minutes", DURATION, values.dt.total_seconds() / 60))
    rows: list[dict[str, int | float]] = []
    for position in range(len(conformed)):
        figures: dict[str, int | float] = {}
        for name, dtype, values in columns:
            value = values.iloc[position]
            if not pd.isna(value):
                figures[name] = int(value) if dtype == INTEGER else round(float(value), 2)
        rows.append(figures)
    return rows


_EPOCH = date(1970, 1, 1)
_DAY_NS = 86_400 * 10**9


def _day_numbers(instants: pd.Series, timezone: str) -> pd.Series:
    """Each instant's day in ``timezone``, as days since 1970-01-01 (missing stays missing)."""
    wall = instants.dt.tz_convert(timezone).dt.tz_localize(None)
    numbers = np.floor_divide(wall.to_numpy(dtype="datetime64[ns]").view("int64"), _DAY_NS)
    return pd.Series(
        pd.arrays.IntegerArray(numbers, instants.isna().to_numpy()), index=instants.index
    )


def _day_number(day: date | datetime, timezone: str) -> int:
    if isinstance(day, datetime):
        if day.tzinfo is None:
            raise ValueError(
                f"day {day!r} is a naive datetime; pass a date, or an aware midnight of {timezone}"
            )
        local = pd.Timestamp(day).tz_convert(timezone)
        if local != local.normalize():
            raise ValueError(
                f"day {day.isoformat()} is {local.isoformat()} in {timezone}, not a midnight; "
                "pass the date, or the day's start in the partitions' time zone"
            )
        day = local.date()
    elif not isinstance(day, date):
        raise ValueError(f"day {day!r} is not a date")
    return (day - _EPOCH).days


def _counts(mask: pd.Series, day: pd.Series, index: pd.Index) -> pd.Series:
    counted = mask.groupby(day).sum().reindex(index, fill_value=0)
    return pd.Series(counted.to_numpy(dtype="int64"), dtype=INTEGER)


def _durations(values: pd.Series, day: pd.Series, index: pd.Index) -> dict[str, pd.Series]:
    """p50, p90 and max of durations per day, exact to the nanosecond."""
    ns = values.dropna().astype("int64")
    grouped = ns.groupby(day[ns.index])
    figures = {
        "p50": grouped.quantile(0.5).round(),
        "p90": grouped.quantile(0.9).round(),
        "max": grouped.max(),
    }
    return {
        name: pd.Series(
            pd.to_timedelta(series, unit="ns").reindex(index).to_numpy(dtype="timedelta64[ns]")
        )
        for name, series in figures.items()
    }


def _lag_figures(lag: pd.DataFrame, day: pd.Series, index: pd.Index) -> dict[str, pd.Series]:
    figures = {status: _counts(lag["status"] == status, day, index) for status in STATUSES}
    figures["chats"] = _counts(pd.Series(True, index=lag.index), day, index)
    lags = _durations(lag["response_lag"], day, index)
    figures |= {f"response_lag_{name}": series for name, series in lags.items()}
    figures["longest_wait"] = _durations(lag["waiting_for"], day, index)["max"]
    return figures


def _turn_figures(turns: pd.DataFrame, day: pd.Series, index: pd.Index) -> dict[str, pd.Series]:
    answered = turns["replied_at"].notna()
    reply = _durations(turns["reply_time"], day, index)
    business = _durations(turns["business_reply_time"], day, index)
    return {
        "turns": _counts(pd.Series(True, index=turns.index), day, index),
        "answered": _counts(answered, day, index),
        "unanswered": _counts(~answered, day, index),
        "reply_time_p50": reply["p50"],
        "reply_time_p90": reply["p90"],
        "reply_time_max": reply["max"],
        "sla_breaches": _counts(turns["met_sla"].eq(False).fillna(False), day, index),
        "business_reply_time_p50": business["p50"],
        "business_reply_time_p90": business["p90"],
    }


def _message_figures(
    messages: pd.DataFrame, day: pd.Series, index: pd.Index
) -> dict[str, pd.Series]:
    inbound = messages["direction"].eq("inbound").fillna(False)
    outbound = messages["direction"].eq("outbound").fillna(False)
    failed = outbound & messages["status"].eq("failed").fillna(False)
    return {
        "inbound_messages": _counts(inbound, day, index),
        "outbound_messages": _counts(outbound & ~failed, day, index),
        "failed_messages": _counts(failed, day, index),
    }
