"""A Dagster project of the Blooio assets over the local server, stored in a real DuckDB file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from blooio_dagster import BlooioResource, build_blooio_assets, build_blooio_schedule
from blooio_dagster.testing import BlooioTestServer
from blooio_dagster.testing.data import DAY_MS
from tests.conftest import FIXED_NOW

Runner = Callable[..., dg.ExecuteInProcessResult]


def meta(metadata: Mapping[str, dg.MetadataValue], key: str) -> Any:
    """A metadata entry's value; typed Any, as Dagster's union of value types is too wide."""
    return metadata[key].value


class Project:
    """Blooio assets in Definitions with a DuckDB file, and helpers to run and read them."""

    def __init__(
        self,
        server: BlooioTestServer,
        database: Path,
        *,
        api_key: str | None = None,
        io_manager: Callable[..., Any] | None = None,
        **asset_settings: Any,
    ) -> None:
        """``io_manager``: the IO manager's class, given ``database=``; DuckDBPandasIOManager
        unless a test says otherwise."""
        self.server = server
        self.database = database
        self.assets = build_blooio_assets(start_date="2025-01-01", **asset_settings)
        self.schedule = build_blooio_schedule(self.assets)
        # Imported here, not at the top: only tests marked duckdb use a Project, and the
        # newest-releases run, which cannot install dagster-duckdb-pandas, deselects them.
        from dagster_duckdb_pandas import DuckDBPandasIOManager

        self.defs = dg.Definitions(
            assets=self.assets,
            schedules=[self.schedule],
            resources={
                "blooio": BlooioResource(
                    api_key=api_key or server.api_key, base_url=server.base_url, max_retries=2
                ),
                "io_manager": (io_manager or DuckDBPandasIOManager)(database=str(database)),
            },
        )
        self.job = self.defs.resolve_job_def("blooio_daily_job")
        self.instance = dg.DagsterInstance.ephemeral()

    def run(self, *keys: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        tags = {}
        if len(keys) > 1:
            tags = {
                "dagster/asset_partition_range_start": keys[0],
                "dagster/asset_partition_range_end": keys[-1],
            }
        return self.job.execute_in_process(
            instance=self.instance,
            partition_key=keys[0] if len(keys) == 1 else None,
            tags=tags,
            raise_on_error=raise_on_error,
        )

    def table(self, name: str) -> pd.DataFrame:
        import duckdb

        with duckdb.connect(str(self.database), read_only=True) as con:
            frame: pd.DataFrame = con.sql(f"select * from blooio.{name}").df()
        return frame

    def days(self, count: int) -> list[str]:
        """The last ``count`` complete days as of :data:`FIXED_NOW`, not of the real clock."""
        assert self.job.partitions_def is not None
        with dg.partition_loading_context(effective_dt=FIXED_NOW):
            return list(self.job.partitions_def.get_partition_keys()[-count:])


def materializations(result: dg.ExecuteInProcessResult, name: str) -> list[dg.AssetMaterialization]:
    """The materializations of ``blooio/<name>`` in a run, one per partition."""
    key = dg.AssetKey(["blooio", name])
    events = result.get_asset_materialization_events()
    return [e.materialization for e in events if e.materialization.asset_key == key]


def day_window(key: str) -> tuple[int, int]:
    start = datetime.fromisoformat(key).replace(tzinfo=UTC)
    start_ms = int(start.timestamp() * 1000)
    return start_ms, start_ms + DAY_MS


def truth_of_day(server: BlooioTestServer, key: str) -> list[dict[str, Any]]:
    start, end = day_window(key)
    return [c for c in server.truth(active_since=start) if c["last_message_time"] < end]


def expected_status(chat: dict[str, Any]) -> str:
    inbound, outbound = chat["last_inbound_time"], chat["last_outbound_time"]
    if inbound is None:
        return "outbound_only"
    if outbound is not None and outbound >= inbound:
        return "replied"
    return "awaiting_reply"


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("chat_id").reset_index(drop=True)
