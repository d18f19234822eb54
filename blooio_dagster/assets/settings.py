"""What every asset factory is given: the settings of one build, and the names they imply.

:func:`~blooio_dagster.build_blooio_assets` validates its arguments once into a
:class:`Build`; each module of this package turns a :class:`Build` into one asset (or one
multi-asset) and reads its settings from there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from blooio_dagster.tables.catalogue import (
    CHAT_COLUMNS,
    CHAT_RESPONSE_LAG,
    CHATS,
    MESSAGE_COLUMNS,
    MESSAGES,
    REPLY_TIME_COLUMNS,
    REPLY_TIMES,
    RESPONSE_LAG_COLUMNS,
    Column,
)
from blooio_dagster.tables.reply_times import BusinessHours


@dataclass(frozen=True)
class Build:
    """The settings of one :func:`~blooio_dagster.build_blooio_assets` call, validated."""

    resource_key: str
    partitions_def: dg.DailyPartitionsDefinition | None
    timezone: str
    pool: str | None
    backfill_policy: dg.BackfillPolicy | None
    reply_sla: timedelta
    business_hours: BusinessHours | None
    preview: bool
    specs: Mapping[str, dg.AssetSpec]
    clock: Callable[[], datetime]

    def key(self, table: str) -> dg.AssetKey:
        return self.specs[table].key

    def spec(self, table: str) -> dg.AssetSpec:
        return self.specs[table]


def machine_clock() -> datetime:
    return datetime.now(UTC)


def op_name(key: dg.AssetKey, suffix: str = "") -> str:
    return "_".join([*key.path, suffix] if suffix else key.path).replace("-", "_")


def stored_columns(table: str) -> tuple[Column, ...]:
    """The declared columns of a table that assets load from storage."""
    return {
        CHATS: CHAT_COLUMNS,
        MESSAGES: MESSAGE_COLUMNS,
        REPLY_TIMES: REPLY_TIME_COLUMNS,
        CHAT_RESPONSE_LAG: RESPONSE_LAG_COLUMNS,
    }[table]
