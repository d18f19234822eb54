"""A translator's ``with_io_manager_key`` decides where every Blooio table is stored and read.

The IO manager a spec names must store the table, and the tables computed from it must read it
back from there; ``io_manager``, the default, must not be touched.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
import pytest

from blooio_dagster import BlooioResource, DagsterBlooioTranslator, build_blooio_assets
from blooio_dagster.tables.catalogue import TABLES
from blooio_dagster.translator import BlooioTableProps
from tests.conftest import FIXED_NOW, ServerFactory


class WarehouseTranslator(DagsterBlooioTranslator):
    def get_asset_spec(self, props: BlooioTableProps) -> dg.AssetSpec:
        return super().get_asset_spec(props).with_io_manager_key("warehouse")


class DictIOManager(dg.IOManager):
    """Frames by table and partition, with a log of what was stored and loaded."""

    def __init__(self) -> None:
        self.frames: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = {}
        self.calls: list[tuple[str, str]] = []

    @staticmethod
    def _where(context: dg.OutputContext | dg.InputContext) -> tuple[str, tuple[str, ...]]:
        partitions = tuple(context.asset_partition_keys) if context.has_asset_partitions else ()
        return context.asset_key.path[-1], partitions

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        table, partitions = self._where(context)
        self.calls.append(("stored", table))
        self.frames[table, partitions] = obj

    def load_input(self, context: dg.InputContext) -> Any:
        table, partitions = self._where(context)
        self.calls.append(("loaded", table))
        return self.frames[table, partitions]


class RefusingIOManager(dg.IOManager):
    """The default key's IO manager, which a translated table must never reach."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        raise AssertionError(f"io_manager was asked to store {context.asset_key.path}")

    def load_input(self, context: dg.InputContext) -> Any:
        raise AssertionError(f"io_manager was asked to load {context.asset_key.path}")


def test_every_table_is_stored_and_read_with_the_translators_io_manager(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(chats=200, seed=61)
    monkeypatch.setenv("BLOOIO_TEST_KEY", server.api_key)
    assets = build_blooio_assets(start_date="2026-01-01", translator=WarehouseTranslator())
    warehouse = DictIOManager()
    resources = {
        "blooio": BlooioResource(api_key=dg.EnvVar("BLOOIO_TEST_KEY"), base_url=server.base_url),
        "warehouse": dg.IOManagerDefinition.hardcoded_io_manager(warehouse),
        "io_manager": dg.IOManagerDefinition.hardcoded_io_manager(RefusingIOManager()),
    }
    day = (FIXED_NOW.date() - pd.Timedelta(days=1)).isoformat()
    partitioned = [
        key
        for a in assets
        if isinstance(a, dg.AssetsDefinition)
        for key in a.keys
        if a.partitions_def is not None
    ]
    current = [
        key
        for a in assets
        if isinstance(a, dg.AssetsDefinition)
        for key in a.keys
        if a.partitions_def is None
    ]

    for selection, partition_key in ((partitioned, day), (current, None)):
        result = dg.materialize(
            assets,
            selection=selection,
            partition_key=partition_key,
            resources=resources,
            raise_on_error=False,
        )
        failures = [event.message for event in result.all_events if event.is_failure]
        assert result.success, failures

    stored = {table for action, table in warehouse.calls if action == "stored"}
    loaded = {table for action, table in warehouse.calls if action == "loaded"}
    assert stored == set(TABLES), warehouse.calls
    assert loaded >= {"chat_response_lag", "reply_times"}, warehouse.calls
    assert len(warehouse.frames["chats", (day,)]) > 0, "the day has chats"
