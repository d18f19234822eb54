"""The asset checks that come with the Blooio assets: their specs and how each is judged."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import pandas as pd

from blooio_dagster.api.wording import counted
from blooio_dagster.metadata import masked_examples

#: Clock skew tolerated between Blooio's timestamps and this machine before a time counts
#: as "in the future".
FUTURE_TOLERANCE = timedelta(minutes=5)
#: The time columns of the chats table that must not lie in the future.
CHAT_TIME_COLUMNS = ("last_message_time", "last_inbound_time", "last_outbound_time")


def unique_ids_spec(asset: dg.AssetKey, column: str) -> dg.AssetCheckSpec:
    """A blocking check that ``column`` is present and unique: downstream assets wait on it."""
    return dg.AssetCheckSpec(
        f"{column}_unique",
        asset=asset,
        blocking=True,
        description=f"Every row has a {column}, and no {column} appears twice.",
    )


def no_future_times_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    """A check that no message time of a chat lies after the crawl finished."""
    return dg.AssetCheckSpec(
        "no_future_times",
        asset=asset,
        description=(
            "No message time lies after the crawl finished "
            f"(allowing {counted(int(FUTURE_TOLERANCE.total_seconds() // 60), 'minute')} of clock "
            "skew)."
        ),
    )


def unique_ids_result(
    asset: dg.AssetKey, frame: pd.DataFrame, column: str, *, preview: bool
) -> dg.AssetCheckResult:
    """Judge :func:`unique_ids_spec`; offending ids are shown only when ``preview`` is on."""
    ids = frame[column]
    present = ids.dropna()
    missing = int(ids.isna().sum() + (present == "").sum())
    duplicated = present[present.duplicated()].unique().tolist()
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=f"{column}_unique",
        passed=missing == 0 and not duplicated,
        metadata={
            f"missing_{column}s": missing,
            f"duplicated_{column}s": len(duplicated),
            "duplicated_examples": masked_examples(duplicated, preview=preview),
        },
    )


def no_future_times_result(
    asset: dg.AssetKey, frame: pd.DataFrame, crawled: datetime
) -> dg.AssetCheckResult:
    """Judge :func:`no_future_times_spec` against the moment the crawl finished, by this
    machine's clock (the API's own clock cannot tell that it runs ahead)."""
    limit = pd.Timestamp(crawled + FUTURE_TOLERANCE)
    future = {name: int((frame[name] > limit).sum()) for name in CHAT_TIME_COLUMNS}
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name="no_future_times",
        passed=not any(future.values()),
        metadata={f"{name}_in_future": count for name, count in future.items()},
    )
