"""The example project's definitions: Blooio chats and response lag, stored in DuckDB.

Set ``BLOOIO_API_KEY`` (and ``BLOOIO_BASE_URL`` to use another API root, such as the bundled
local server); ``make demo`` and ``make ui`` do this for you against the local server.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb_pandas import DuckDBPandasIOManager

from blooio_dagster import (
    BlooioResource,
    build_blooio_assets,
    build_blooio_freshness_sensor,
    build_blooio_schedule,
)

PROJECT_DIR = Path(__file__).resolve().parent
#: The DuckDB file; its name differs from the schema (``blooio``, from the asset key
#: prefix) so that ``blooio.chats`` can only mean the schema's table.
DATABASE = Path(
    os.environ.get("BLOOIO_EXAMPLE_DATABASE", PROJECT_DIR / "data" / "warehouse.duckdb")
)
START_DATE = "2025-01-01"

blooio_assets = build_blooio_assets(start_date=START_DATE, timezone="UTC")
blooio_schedule = build_blooio_schedule(blooio_assets, name="blooio_daily")
JOB_NAME = "blooio_daily_job"  # the job build_blooio_schedule makes for the schedule
# Runs the newest-day freshness checks when a day becomes due; it starts stopped.
blooio_freshness = build_blooio_freshness_sensor(blooio_assets)

DATABASE.parent.mkdir(parents=True, exist_ok=True)

defs = dg.Definitions(
    assets=blooio_assets,
    # One DuckDB file takes one writing process at a time, and the Blooio steps wait on the
    # network, not the CPU: running them in the run's own process saves starting a Python
    # process per step (seconds each) and leaves DuckDB's lock uncontended.
    executor=dg.in_process_executor,
    schedules=[blooio_schedule],
    sensors=[blooio_freshness],
    resources={
        "blooio": BlooioResource.from_env("BLOOIO_API_KEY", "BLOOIO_BASE_URL"),
        "io_manager": DuckDBPandasIOManager(database=str(DATABASE)),
    },
)
