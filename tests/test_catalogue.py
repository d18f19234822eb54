"""The table catalogue: each table declared once, and every user reading that declaration."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import dagster as dg

from blooio_dagster import build_blooio_assets
from blooio_dagster.tables.catalogue import (
    API_TABLES,
    CURRENT_CHATS,
    DATE,
    DAY_COLUMNS,
    TABLES,
    TIME,
)


def test_every_day_column_is_a_time_or_date_column_of_its_table() -> None:
    day_columns = {
        name: (table.day_column, {c.name: c.dtype for c in table.columns}.get(table.day_column))
        for name, table in TABLES.items()
        if table.day_column is not None
    }

    assert day_columns == {
        "chats": ("last_message_time", TIME),
        "messages": ("time_sent", TIME),
        "reply_times": ("turn_started_at", TIME),
        "chat_response_lag": ("last_message_time", TIME),
        "response_summary": ("day", DATE),
    }
    assert {name: column for name, (column, _) in day_columns.items()} == DAY_COLUMNS
    assert TABLES[CURRENT_CHATS].day_column is None
    assert set(API_TABLES) <= set(TABLES)


def test_no_table_declares_a_column_twice() -> None:
    repeated = {
        name: sorted(n for n, k in Counter(c.name for c in table.columns).items() if k > 1)
        for name, table in TABLES.items()
    }

    assert repeated == {name: [] for name in TABLES}


def test_the_readme_lists_every_table_with_its_grain() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `")]

    missing = [
        name
        for name, table in TABLES.items()
        if not any(row.startswith(f"| `{name}` | {table.grain} |") for row in rows)
    ]
    assert missing == []


def test_the_asset_specs_carry_the_catalogues_descriptions_and_day_columns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        definitions = build_blooio_assets()
    specs = {
        spec.key.path[-1]: spec
        for definition in definitions
        if isinstance(definition, dg.AssetsDefinition)
        for spec in definition.specs
    }

    assert {name: spec.description for name, spec in specs.items()} == {
        name: table.description for name, table in TABLES.items()
    }
    partition_exprs = {name: spec.metadata.get("partition_expr") for name, spec in specs.items()}
    assert partition_exprs == {
        "chats": "timezone('UTC', last_message_time)",
        "messages": "timezone('UTC', time_sent)",
        "reply_times": "timezone('UTC', turn_started_at)",
        "chat_response_lag": "timezone('UTC', last_message_time)",
        "response_summary": "day",
        "current_chats": None,
    }
