"""The API's values as typed columns, and the times refused as no message's.

:func:`typed_values` turns one field's JSON values into a pandas array of its column's dtype,
after :func:`~blooio_dagster.api.wire.values.json_values` checked their types;
:func:`check_times` refuses times outside the range the API layer declares possible. Why:
docs/design.md, section 'The tables'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from blooio_dagster.api.wire.values import (
    EARLIEST_TIME,
    EPOCH_MS,
    FUTURE_LIMIT,
    TEXT,
    TRUE_OR_FALSE,
    WHOLE_NUMBER,
    impossible_time,
    json_values,
)
from blooio_dagster.tables.catalogue import BOOLEAN, INTEGER, STRING, TIME

#: The kind of JSON value each dtype's column is built from.
_KINDS = {STRING: TEXT, INTEGER: WHOLE_NUMBER, TIME: EPOCH_MS, BOOLEAN: TRUE_OR_FALSE}

#: The epoch milliseconds whose nanoseconds fit datetime64[ns]: 1677-09-21 to 2262-04-11.
_MIN_EPOCH_MS = -(2**63 - 1) // 1_000_000 + 1
_MAX_EPOCH_MS = (2**63 - 1) // 1_000_000


def typed_values(values: list[Any], dtype: str, *, checked: bool = False) -> Any:
    """``values`` as an array of ``dtype``; ``checked``: each is already of a type the
    dtype allows, or ``UNSET`` (as the fields of decoded records are).

    Raises:
        TypeError: a value of a type the dtype does not allow.
        ValueError: epoch milliseconds outside the range ``datetime64[ns]`` can hold.
    """
    values = json_values(values, _KINDS[dtype], checked=checked)
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


def check_times(
    frame: pd.DataFrame,
    fields: Mapping[str, str],
    *,
    now: datetime,
    row_name: Callable[[int], str],
    path: str,
) -> None:
    """Refuse times before :data:`~blooio_dagster.api.wire.values.EARLIEST_TIME` or more than
    :data:`~blooio_dagster.api.wire.values.FUTURE_LIMIT` after ``now``: a broken clock, not a
    message.

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
            raise impossible_time(row_name(row), field, times.iloc[row], latest, path)
