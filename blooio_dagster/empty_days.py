"""Loading a stored table for days that held no rows, whether or not the IO manager stored them.

:func:`empty_days_loader` is an input manager: inputs whose days were all last materialized
with ``dagster/row_count`` 0 load as empty frames of the table's declared columns; anything
else, a day never materialized included, is loaded by the upstream asset's own IO manager.
Why: docs/design.md, section "The Dagster face" (some IO managers store nothing for an empty
output).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import dagster as dg

from blooio_dagster.tables.catalogue import Column
from blooio_dagster.tables.dtypes import empty_frame

#: The resource key of the input manager that wraps the IO manager ``<key>`` is this + ``<key>``.
LOADER_KEY_PREFIX = "blooio_empty_days__"
#: The input metadata entry naming the table an input loads.
TABLE_METADATA = "blooio/table"

ColumnsOf = Callable[[str], Sequence[Column]]


def empty_days_in(
    key: dg.AssetKey, io_manager_key: str, table: str, columns_of: ColumnsOf
) -> tuple[dg.AssetIn, str, dg.InputManagerDefinition]:
    """The ``AssetIn`` loading the asset ``key`` (the table ``table``, stored by the IO manager
    ``io_manager_key``) through :func:`empty_days_loader`, and that input manager's resource
    key and definition, for ``multi_asset(ins=..., resource_defs=...)``."""
    loader_key = LOADER_KEY_PREFIX + io_manager_key
    asset_in = dg.AssetIn(key, input_manager_key=loader_key, metadata={TABLE_METADATA: table})
    return asset_in, loader_key, empty_days_loader(io_manager_key, columns_of)


@functools.cache
def empty_days_loader(io_manager_key: str, columns_of: ColumnsOf) -> dg.InputManagerDefinition:
    """An input manager that loads through the IO manager ``io_manager_key``, except inputs
    whose days all recorded no rows, which are empty frames of ``columns_of(table)``.

    Cached, so every asset naming it gets the same definition: Dagster requires the resources
    of a job's assets to be equal by reference.
    """

    @dg.input_manager(required_resource_keys={io_manager_key})
    def load_empty_days(context: dg.InputContext) -> object:
        table = context.definition_metadata.get(TABLE_METADATA)
        if table is not None and recorded_empty(context):
            return empty_frame(columns_of(str(table)))
        return _load_with_io_manager(context, io_manager_key)

    return load_empty_days


def recorded_empty(context: dg.InputContext) -> bool:
    """Whether every upstream day loaded (or the unpartitioned asset) was last materialized
    with ``dagster/row_count`` 0."""
    days: Sequence[str | None] = (
        context.asset_partition_keys if context.has_asset_partitions else [None]
    )
    # Newest first: a range whose last day has rows is told apart in one query.
    return bool(days) and all(
        latest_row_count(context.instance, context.asset_key, day) == 0 for day in reversed(days)
    )


def latest_row_count(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None
) -> int | None:
    """The ``dagster/row_count`` of the latest materialization of ``key`` (of one partition),
    or ``None`` if it was never materialized or recorded no count."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=key, asset_partitions=[partition] if partition is not None else None
        ),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    entry = materialization.metadata.get("dagster/row_count") if materialization else None
    value = entry.value if entry is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _load_with_io_manager(context: dg.InputContext, io_manager_key: str) -> object:
    """Load the input as Dagster loads it without an input manager: by the IO manager, with
    the IO manager's own config and resources in the context (a database IO manager reads its
    connection settings there), not the input manager's."""
    # Dagster builds this context in FromStepOutput.get_load_context; it offers no public
    # way to hand an input on to another manager.
    from dagster._core.execution.plan.utils import build_resources_for_manager

    step = context.step_context
    io_manager_context = step.for_input_manager(
        context.name,
        context.config,
        context.definition_metadata,
        context.dagster_type,
        resource_config=step.resolved_run_config.resources[io_manager_key].config,
        resources=build_resources_for_manager(io_manager_key, step),
        artificial_output_context=context.upstream_output,
    )
    io_manager: dg.IOManager = getattr(context.resources, io_manager_key)
    return io_manager.load_input(io_manager_context)
