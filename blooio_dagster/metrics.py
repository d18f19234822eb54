"""Response-lag metrics derived from the chats table, vectorized with pandas."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from blooio_dagster.frames import (
    CHAT_COLUMNS,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
    conform,
)

REPLIED = "replied"
AWAITING_REPLY = "awaiting_reply"
OUTBOUND_ONLY = "outbound_only"
STATUSES = (REPLIED, AWAITING_REPLY, OUTBOUND_ONLY)


def response_lag_frame(chats_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per chat: who spoke last, how long our reply took, how long they have waited.

    ``status`` is ``replied`` when our last message came at or after their last one,
    ``awaiting_reply`` when theirs is newer or we never wrote, and ``outbound_only`` when
    they never wrote. ``response_lag`` (replied chats) is last outbound minus last inbound;
    ``waiting_for`` (chats awaiting a reply) is ``fetched_at`` minus last inbound.

    Args:
        chats_frame: a frame of :data:`~blooio_dagster.frames.CHAT_COLUMNS`, as made by
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


def response_summary_frame(
    lag_frame: pd.DataFrame,
    *,
    timezone: str = "UTC",
    days: Sequence[pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """One row per day (by ``last_message_time`` in ``timezone``): counts and lag figures.

    Args:
        lag_frame: a frame of :data:`~blooio_dagster.frames.RESPONSE_LAG_COLUMNS`.
        timezone: the time zone whose midnights split the days.
        days: the days to report (midnights, aware), including those without chats;
            by default every day that has chats.
    """
    lag = conform(lag_frame, RESPONSE_LAG_COLUMNS)
    day = lag["last_message_time"].dt.tz_convert(timezone).dt.normalize().rename("day")
    if days is None:
        index = pd.DatetimeIndex(day.drop_duplicates().sort_values(), name="day")
    else:
        index = pd.DatetimeIndex([pd.Timestamp(d).tz_convert(timezone) for d in days], name="day")
    counts = (
        lag.groupby([day, lag["status"]]).size().unstack(fill_value=0)
        if len(lag)
        else pd.DataFrame()
    )
    counts = counts.reindex(index=index, columns=list(STATUSES), fill_value=0)
    lag_seconds = lag["response_lag"].dt.total_seconds().groupby(day)
    wait_seconds = lag["waiting_for"].dt.total_seconds().groupby(day)
    summary = pd.DataFrame(
        {
            "day": index.tz_convert("UTC"),
            "chats": counts.sum(axis=1).to_numpy(),
            REPLIED: counts[REPLIED].to_numpy(),
            AWAITING_REPLY: counts[AWAITING_REPLY].to_numpy(),
            OUTBOUND_ONLY: counts[OUTBOUND_ONLY].to_numpy(),
            "response_lag_p50_seconds": lag_seconds.quantile(0.5).reindex(index).to_numpy(),
            "response_lag_p90_seconds": lag_seconds.quantile(0.9).reindex(index).to_numpy(),
            "response_lag_max_seconds": lag_seconds.max().reindex(index).to_numpy(),
            "longest_wait_seconds": wait_seconds.max().reindex(index).to_numpy(),
        }
    )
    return conform(summary, RESPONSE_SUMMARY_COLUMNS)
