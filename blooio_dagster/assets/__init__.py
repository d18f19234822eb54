"""The Blooio tables as Dagster assets, with their checks.

:func:`build_blooio_assets` makes these assets under a key prefix (``blooio`` by default):

- ``chats``: partition D holds the chats whose newest message fell on D, as observed when D
  was materialized, read completely with :meth:`BlooioClient.crawl_chats`;
- ``messages``: partition D holds every message sent on D, one row per message;
- ``reply_times``: partition D holds every customer turn that started on D, with the exact
  time our reply took, or how long the customer has been waiting;
- ``chat_response_lag``: per chat of ``chats``, an approximate lag from the chat's last
  inbound and outbound times (cheap: no messages are read);
- ``response_summary``: one row per day, the approximate and the exact figures;
- ``current_chats`` (partitioned builds only): every chat once, in its newest state, with who
  is waiting right now.

One module per concern: :mod:`.build` (the builder), :mod:`.api_tables` (the op that reads
the API), :mod:`.derived` (the tables computed from stored ones), :mod:`.current`,
:mod:`.freshness`, :mod:`.partitions` (days, backfill cost, the runs refused),
:mod:`.reporting` (what a crawl logs), :mod:`.settings` and :mod:`.names`.
How and why: docs/design.md, section "The Dagster face".
"""

from blooio_dagster.assets.build import DEFAULT_REPLY_SLA, BlooioDefinitions, build_blooio_assets
from blooio_dagster.assets.freshness import DEFAULT_FRESHNESS_POLICY, build_blooio_freshness_sensor
from blooio_dagster.assets.partitions import (
    DEFAULT_START_DATE,
    DUCKDB_PARTITION_EXPR,
    BlooioCostlyBackfillWarning,
    blooio_partitions,
)

__all__ = [
    "DEFAULT_FRESHNESS_POLICY",
    "DEFAULT_REPLY_SLA",
    "DEFAULT_START_DATE",
    "DUCKDB_PARTITION_EXPR",
    "BlooioCostlyBackfillWarning",
    "BlooioDefinitions",
    "blooio_partitions",
    "build_blooio_assets",
    "build_blooio_freshness_sensor",
]
