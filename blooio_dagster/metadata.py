"""What the Blooio assets record in Dagster's event log, and what they keep out of it.

Two rules shape this module:

- **Each partition gets its own figures.** A run over a range of days materializes every day
  of the range, and Dagster copies an output's metadata onto each of them. So row counts and
  other per-day figures are recorded per partition key, and figures of the whole run (pages
  read, seconds) go on the run's log and tags, where they do not plot as per-day noise.
- **Customer data stays out by default.** Names, phone numbers, emails and message texts are
  shown (in the markdown preview and in check examples) only when the user opts in with
  ``preview=True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from blooio_dagster.api.wording import counted
from blooio_dagster.dagster_schema import table_schema
from blooio_dagster.tables.catalogue import TIME, Column

#: Rows shown by the opt-in markdown preview.
PREVIEW_ROWS = 5
#: Prefix of the run tags that carry run-wide crawl figures.
RUN_TAG_PREFIX = "blooio/"


@dataclass(frozen=True)
class TableOutput:
    """One table a Blooio asset is about to return, with how its partitions are told apart.

    Attributes:
        key: the asset's key.
        frame: the rows, conformed to ``columns``.
        columns: the table's declared columns.
        day_column: the time column whose day (in the partitions' time zone) names the
            partition a row belongs to; ``None`` when the asset is not partitioned.
        day_figures: optional per-day figures, as ``{partition_key: {name: number}}``.
    """

    key: dg.AssetKey
    frame: pd.DataFrame
    columns: Sequence[Column]
    day_column: str | None = None
    day_figures: Mapping[str, Mapping[str, Any]] | None = None


def output_metadata(
    context: dg.AssetExecutionContext,
    table: TableOutput,
    *,
    preview: bool,
    figures: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata of one materialization, with per-partition figures where they belong.

    Unpartitioned (or one partition): row count, schema, ``figures`` and, if opted in, the
    preview, all on the materialization. A range of partitions: each partition gets its own
    row count and ``day_figures`` through ``context.add_asset_metadata``, and only what is
    true of every partition (the schema and ``shared``) is returned for the shared output.
    """
    metadata: dict[str, Any] = {
        "dagster/column_schema": table_schema(table.columns, table.frame),
        **(shared or {}),
    }
    keys = _partition_keys(context)
    if len(keys) > 1 and table.day_column is not None:
        counts = partition_row_counts(context, table.frame, table.day_column)
        for key in keys:
            per_day = {"dagster/row_count": counts.get(key, 0)}
            per_day |= dict((table.day_figures or {}).get(key, {}))
            context.add_asset_metadata(per_day, asset_key=table.key, partition_key=key)
        daily = [counts.get(key, 0) for key in keys]
        context.log.info(
            f"{table.key.to_user_string()}: {counted(len(table.frame), 'row')} over "
            f"{counted(len(keys), 'day')} ({keys[0]} to {keys[-1]}), {min(daily):,} to "
            f"{max(daily):,} a day, handed to the IO manager to store."
        )
        return metadata
    metadata["dagster/row_count"] = len(table.frame)
    day = f" for {keys[0]}" if keys else ""
    context.log.info(
        f"{table.key.to_user_string()}: {counted(len(table.frame), 'row')}{day}, handed to "
        "the IO manager to store."
    )
    if keys and table.day_figures:
        metadata |= dict(table.day_figures.get(keys[0], {}))
    metadata |= dict(figures or {})
    if preview:
        metadata["preview"] = dg.MetadataValue.md(preview_markdown(table.frame))
    return metadata


def partition_row_counts(
    context: dg.AssetExecutionContext, frame: pd.DataFrame, day_column: str
) -> dict[str, int]:
    """Rows per partition key of the run, by the day of ``day_column``."""
    counts = partition_days(context, frame[day_column]).value_counts()
    return {str(key): int(n) for key, n in counts.items()}


def partition_days(context: dg.AssetExecutionContext, times: pd.Series) -> pd.Series:
    """The partition key (a day in the partitions' time zone) of each time."""
    partitions_def = context.assets_def.partitions_def
    if not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        raise TypeError("partition_days needs daily partitions")
    timezone = partitions_def.timezone or "UTC"
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        local = times.dt.tz_convert(timezone)
    else:
        local = pd.to_datetime(times)
    days: pd.Series = local.dt.strftime(partitions_def.fmt)
    return days


def record_run_figures(context: dg.AssetExecutionContext, figures: Mapping[str, Any]) -> None:
    """Put figures of the whole run (pages, requests, seconds) on the run, not a partition.

    They are logged and added as run tags (``blooio/<name>``), so they can be found on the
    run's page and filtered on, without plotting as noise in a partition's history.
    """
    text = ", ".join(f"{name}={value}" for name, value in figures.items())
    context.log.info(f"Blooio run figures: {text}")
    tags = {f"{RUN_TAG_PREFIX}{name}": str(value) for name, value in figures.items()}
    context.instance.add_run_tags(context.run.run_id, tags)


def preview_markdown(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """The first ``rows`` rows as a markdown table whose layout depends on dtypes, not values.

    tabulate would right-align a text column whose cells all look like numbers (phone
    numbers such as ``+12025550123``) and left-align a number column holding a missing value.
    So every cell is made text here and each column is aligned by its dtype: numbers and
    durations right, everything else left. Missing values are blank, and newlines or pipes
    in text cannot break the table.
    """
    head = frame.head(rows)
    cells: dict[str, list[str]] = {}
    align: list[str] = []
    for name in head.columns:
        column = head[name]
        dtype = column.dtype
        if dtype == TIME:
            column = column.dt.strftime("%Y-%m-%d %H:%M:%S")
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        align.append("right" if numeric or pd.api.types.is_timedelta64_dtype(dtype) else "left")
        cells[str(name)] = [_cell(value) for value in column.astype(object)]
    table = pd.DataFrame(cells, columns=list(cells))
    return str(table.to_markdown(index=False, disable_numparse=True, colalign=align))


def masked_examples(values: Sequence[object], *, preview: bool, limit: int = 10) -> str:
    """Examples of offending values for a check, or how many there are when not opted in."""
    if not values:
        return "none"
    if not preview:
        return f"{len(values)} hidden (build the assets with preview=True to show them)"
    return ", ".join(map(str, values[:limit]))


def _cell(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, float):
        return format(value, "g")
    return " ".join(str(value).splitlines()).replace("|", "\\|")


def _partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    return (
        list(context.partition_keys)
        if context.has_partition_key_range
        else ([context.partition_key] if context.has_partition_key else [])
    )
