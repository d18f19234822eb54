"""The catalogue's dtypes in pandas: empty frames, frames conformed to their declared columns,
and times as epoch nanoseconds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from blooio_dagster.tables.catalogue import DATE, DURATION, TIME, Column


def empty_frame(columns: Sequence[Column]) -> pd.DataFrame:
    """A frame with no rows and exactly these columns and dtypes."""
    return pd.DataFrame({c.name: pd.Series(dtype=pandas_dtype(c.dtype)) for c in columns})


def pandas_dtype(dtype: str) -> str:
    """The pandas dtype holding a declared dtype: ``object`` for :data:`DATE`, else itself."""
    return "object" if dtype == DATE else dtype


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
            out[column.name] = utc_instants(series)
        elif column.dtype == DURATION:
            out[column.name] = pd.to_timedelta(series).dt.as_unit("ns")
        elif column.dtype == DATE:
            out[column.name] = _dates(series, column.name)
        else:
            out[column.name] = series.astype(cast(Any, column.dtype))
    return pd.DataFrame(out, index=frame.index)


def utc_instants(series: pd.Series) -> pd.Series:
    """Aware UTC nanosecond times from aware or naive (taken as UTC) times or their strings.

    Without ``cache=False``, pandas turns a sample of the values into Python objects to decide
    whether caching pays, which costs more than the conversion itself; times rarely repeat.
    """
    return pd.to_datetime(series, utc=True, cache=False).dt.as_unit("ns")


def _dates(series: pd.Series, name: str) -> pd.Series:
    """``datetime.date`` objects (``None`` where missing) from dates or naive midnights.

    A database gives a DATE column back as naive timestamps at midnight.
    """
    times = pd.to_datetime(series, cache=False)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"column {name} holds instants ({times.dtype}); it must hold calendar days"
        )
    if (times.dropna() != times.dropna().dt.normalize()).any():
        raise ValueError(f"column {name} holds times of day; it must hold calendar days")
    dates = times.dt.date.astype(object)
    dates[times.isna()] = None
    return dates


def epoch_ns(times: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Nanoseconds since 1970 of datetimes (aware ones in UTC), as a new array; NaT is int64 min."""
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").to_numpy(dtype="datetime64[ns]").view("int64").copy()
