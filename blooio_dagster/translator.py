"""How each Blooio table becomes a Dagster asset spec, and the hook to change it.

Like Dagster's own integrations (``DagsterFivetranTranslator``, ``DagsterDltTranslator``),
:func:`~blooio_dagster.build_blooio_assets` asks a translator for every asset's
:class:`dagster.AssetSpec`. Subclass :class:`DagsterBlooioTranslator` to set keys, tags,
owners, metadata or automation conditions::

    class MyTranslator(DagsterBlooioTranslator):
        def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
            spec = super().get_asset_spec(props)
            return spec.replace_attributes(key=["support", props.table]).merge_attributes(
                owners=["team:support"], tags={"domain": "support"}
            )

Dependencies between the Blooio tables follow whatever keys the translator gives them, and
each table is stored, and read back by the tables computed from it, with the IO manager the
translator names with ``spec.with_io_manager_key(...)`` (``io_manager`` by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from blooio_dagster.dagster_schema import table_schema
from blooio_dagster.tables.catalogue import Column

#: The kinds shown as icons on every Blooio asset.
KINDS = frozenset({"blooio", "pandas"})
#: Where ``AssetSpec.with_io_manager_key`` puts the key of the IO manager that stores the asset.
IO_MANAGER_KEY_METADATA = "dagster/io_manager_key"


@dataclass(frozen=True)
class BlooioTableProps:
    """What the translator knows about one Blooio table.

    Attributes:
        table: the table's name: ``chats``, ``messages``, ``reply_times``,
            ``chat_response_lag``, ``response_summary`` or ``current_chats``.
        description: what one row is and when the table is complete, as declared in
            :mod:`blooio_dagster.tables.catalogue`.
        columns: the table's columns, as declared in the catalogue.
        key_prefix: the prefix given to :func:`~blooio_dagster.build_blooio_assets`.
        group_name: the group given to :func:`~blooio_dagster.build_blooio_assets`.
        partitions_def: the daily partitions, or ``None`` for a table of the whole list.
        partition_expr: the SQL with which a database IO manager selects a partition's rows,
            or ``None`` when the table is not partitioned.
        freshness_policy: the freshness expected of the table, if any.
        automation_condition: when Dagster should materialize it declaratively, if at all.
        upstream: the Blooio tables this one is computed from.
    """

    table: str
    description: str
    columns: tuple[Column, ...]
    key_prefix: tuple[str, ...]
    group_name: str
    partitions_def: dg.PartitionsDefinition | None
    partition_expr: str | None
    freshness_policy: dg.FreshnessPolicy | None
    automation_condition: dg.AutomationCondition[Any] | None
    upstream: tuple[str, ...] = ()


class DagsterBlooioTranslator:
    """Turns a Blooio table into the :class:`dagster.AssetSpec` of its asset.

    The default spec has the key ``[*key_prefix, table]``, the group, the kinds ``blooio``
    and ``pandas``, the table's column schema, its ``partition_expr`` and the freshness and
    automation settings given to :func:`~blooio_dagster.build_blooio_assets`. Override
    :meth:`get_asset_spec`, start from ``super().get_asset_spec(props)`` and change it with
    ``replace_attributes`` or ``merge_attributes``. The partitions cannot be changed here:
    they decide what the API is asked for.
    """

    def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
        """The spec of the asset that materializes ``props.table``."""
        metadata: dict[str, object] = {"dagster/column_schema": table_schema(props.columns)}
        if props.partition_expr:
            metadata["partition_expr"] = props.partition_expr
        return dg.AssetSpec(
            key=dg.AssetKey([*props.key_prefix, props.table]),
            description=props.description,
            group_name=props.group_name,
            kinds=set(KINDS),
            metadata=metadata,
            partitions_def=props.partitions_def,
            freshness_policy=props.freshness_policy,
            automation_condition=props.automation_condition,
        )


def translate(
    translator: DagsterBlooioTranslator, tables: Sequence[BlooioTableProps]
) -> dict[str, dg.AssetSpec]:
    """Every table's spec, with the Blooio dependencies wired to the translated keys.

    Raises:
        dagster.DagsterInvalidDefinitionError: when the translator returns something other
            than an ``AssetSpec``, gives two tables one key, or changes a table's partitions.
    """
    specs: dict[str, dg.AssetSpec] = {}
    for props in tables:
        spec = translator.get_asset_spec(props)
        name = f"{type(translator).__name__}.get_asset_spec"
        if not isinstance(spec, dg.AssetSpec):
            raise dg.DagsterInvalidDefinitionError(
                f"{name} must return a dagster.AssetSpec for table {props.table!r}, "
                f"got {type(spec).__name__}."
            )
        if spec.partitions_def != props.partitions_def:
            raise dg.DagsterInvalidDefinitionError(
                f"{name} changed the partitions of table {props.table!r}. Blooio's partitions "
                "decide what is read from the API: set them with build_blooio_assets("
                "partitioned=..., start_date=..., timezone=...) instead."
            )
        specs[props.table] = spec
    keys = [spec.key for spec in specs.values()]
    duplicated = sorted({key.to_user_string() for key in keys if keys.count(key) > 1})
    if duplicated:
        raise dg.DagsterInvalidDefinitionError(
            f"{type(translator).__name__}.get_asset_spec gave several Blooio tables the key "
            f"{', '.join(duplicated)}; each table needs its own key."
        )
    for props in tables:
        upstream = [specs[name].key for name in props.upstream if name in specs]
        if upstream:
            specs[props.table] = specs[props.table].merge_attributes(deps=upstream)
    return specs


def asset_outs(
    specs: Sequence[dg.AssetSpec], inputs: Sequence[dg.AssetKey] = (), *, required: bool = True
) -> tuple[dict[str, dg.AssetOut], list[dg.AssetDep]]:
    """``multi_asset`` outputs that carry values to IO managers, and the remaining deps.

    Dagster builds an ``AssetOut`` from a spec only when the spec has no deps, so the deps
    that are not loaded as inputs are returned separately, for ``multi_asset(deps=...)``.
    ``required=False`` lets a multi-asset that can be subset leave unselected outputs out.
    Each output is stored by the IO manager a translator chose with
    ``AssetSpec.with_io_manager_key``: ``AssetOut.from_spec`` does not read it from the spec
    itself, and would store every table with ``io_manager``.
    """
    outs = {
        spec.key.to_python_identifier(): dg.AssetOut.from_spec(
            spec.replace_attributes(deps=[]),
            is_required=required,
            io_manager_key=spec.metadata.get(IO_MANAGER_KEY_METADATA),
        )
        for spec in specs
    }
    extra = {
        dep.asset_key: dep
        for spec in specs
        for dep in spec.deps
        if dep.asset_key not in inputs and dep.asset_key not in {s.key for s in specs}
    }
    return outs, list(extra.values())
