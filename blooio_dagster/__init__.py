"""blooio-dagster: Blooio chats in Dagster, complete, typed and partitioned.

The client (:class:`BlooioClient`) reads every chat exactly once through Blooio's offset
paging even while the list changes, and every message of many chats at once;
:class:`BlooioResource` configures it in Dagster; :func:`build_blooio_assets` and
:func:`build_blooio_schedule` put chats, messages, exact reply times and who is waiting in the
asset graph, and :class:`BlooioComponent` does the same from YAML.

Names are imported on first use, so ``from blooio_dagster import BlooioClient,
chats_to_frame`` loads the client and pandas but not Dagster: a script or CLI that only
reads chats does not pay for importing Dagster (and for its teardown at exit).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blooio_dagster._version import __version__
    from blooio_dagster.api.errors import (
        BlooioAuthError,
        BlooioConfigError,
        BlooioConnectionError,
        BlooioError,
        BlooioIncompleteError,
        BlooioIncompleteMessagesError,
        BlooioRateLimitError,
        BlooioRequestError,
        BlooioResponseError,
        BlooioServerError,
    )
    from blooio_dagster.assets import (
        DEFAULT_REPLY_SLA,
        BlooioCostlyBackfillWarning,
        blooio_partitions,
        build_blooio_assets,
        build_blooio_freshness_sensor,
    )
    from blooio_dagster.client import (
        DEFAULT_BASE_URL,
        BlooioClient,
        ChatCrawlResult,
    )
    from blooio_dagster.components import (
        BlooioComponent,
    )
    from blooio_dagster.crawl.chats import (
        CrawlProgress,
    )
    from blooio_dagster.crawl.messages import (
        MessagesProgress,
        MessagesResult,
    )
    from blooio_dagster.resources import (
        BlooioLiteralKeyWarning,
        BlooioResource,
    )
    from blooio_dagster.schedules import (
        build_blooio_schedule,
    )
    from blooio_dagster.tables.business_hours import (
        BusinessHours,
    )
    from blooio_dagster.tables.frames import (
        CHAT_COLUMNS,
        CURRENT_CHAT_COLUMNS,
        MESSAGE_COLUMNS,
        REPLY_TIME_COLUMNS,
        RESPONSE_LAG_COLUMNS,
        RESPONSE_SUMMARY_COLUMNS,
        Column,
        chats_to_frame,
        messages_to_frame,
    )
    from blooio_dagster.tables.metrics import (
        current_chats_frame,
        response_lag_frame,
        response_summary_frame,
        summary_figures,
    )
    from blooio_dagster.tables.reply_times import (
        reply_times_frame,
        turns_started_in,
    )
    from blooio_dagster.translator import (
        BlooioTableProps,
        DagsterBlooioTranslator,
    )

#: Where each public name lives; the module is imported when the name is first used.
_EXPORTS: dict[str, str] = {
    "DEFAULT_REPLY_SLA": "blooio_dagster.assets",
    "BlooioCostlyBackfillWarning": "blooio_dagster.assets",
    "blooio_partitions": "blooio_dagster.assets",
    "build_blooio_assets": "blooio_dagster.assets",
    "build_blooio_freshness_sensor": "blooio_dagster.assets",
    "BusinessHours": "blooio_dagster.tables.business_hours",
    "DEFAULT_BASE_URL": "blooio_dagster.client",
    "BlooioClient": "blooio_dagster.client",
    "ChatCrawlResult": "blooio_dagster.client",
    "__version__": "blooio_dagster._version",
    "BlooioComponent": "blooio_dagster.components",
    "CrawlProgress": "blooio_dagster.crawl.chats",
    "BlooioAuthError": "blooio_dagster.api.errors",
    "BlooioConfigError": "blooio_dagster.api.errors",
    "BlooioConnectionError": "blooio_dagster.api.errors",
    "BlooioError": "blooio_dagster.api.errors",
    "BlooioIncompleteError": "blooio_dagster.api.errors",
    "BlooioIncompleteMessagesError": "blooio_dagster.api.errors",
    "BlooioRateLimitError": "blooio_dagster.api.errors",
    "BlooioRequestError": "blooio_dagster.api.errors",
    "BlooioResponseError": "blooio_dagster.api.errors",
    "BlooioServerError": "blooio_dagster.api.errors",
    "CHAT_COLUMNS": "blooio_dagster.tables.frames",
    "CURRENT_CHAT_COLUMNS": "blooio_dagster.tables.frames",
    "MESSAGE_COLUMNS": "blooio_dagster.tables.frames",
    "REPLY_TIME_COLUMNS": "blooio_dagster.tables.frames",
    "RESPONSE_LAG_COLUMNS": "blooio_dagster.tables.frames",
    "RESPONSE_SUMMARY_COLUMNS": "blooio_dagster.tables.frames",
    "Column": "blooio_dagster.tables.frames",
    "chats_to_frame": "blooio_dagster.tables.frames",
    "messages_to_frame": "blooio_dagster.tables.frames",
    "MessagesProgress": "blooio_dagster.crawl.messages",
    "MessagesResult": "blooio_dagster.crawl.messages",
    "current_chats_frame": "blooio_dagster.tables.metrics",
    "response_lag_frame": "blooio_dagster.tables.metrics",
    "response_summary_frame": "blooio_dagster.tables.metrics",
    "summary_figures": "blooio_dagster.tables.metrics",
    "reply_times_frame": "blooio_dagster.tables.reply_times",
    "turns_started_in": "blooio_dagster.tables.reply_times",
    "BlooioLiteralKeyWarning": "blooio_dagster.resources",
    "BlooioResource": "blooio_dagster.resources",
    "build_blooio_schedule": "blooio_dagster.schedules",
    "BlooioTableProps": "blooio_dagster.translator",
    "DagsterBlooioTranslator": "blooio_dagster.translator",
}

__all__ = [
    "CHAT_COLUMNS",
    "CURRENT_CHAT_COLUMNS",
    "DEFAULT_BASE_URL",
    "DEFAULT_REPLY_SLA",
    "MESSAGE_COLUMNS",
    "REPLY_TIME_COLUMNS",
    "RESPONSE_LAG_COLUMNS",
    "RESPONSE_SUMMARY_COLUMNS",
    "BlooioAuthError",
    "BlooioClient",
    "BlooioComponent",
    "BlooioConfigError",
    "BlooioConnectionError",
    "BlooioCostlyBackfillWarning",
    "BlooioError",
    "BlooioIncompleteError",
    "BlooioIncompleteMessagesError",
    "BlooioLiteralKeyWarning",
    "BlooioRateLimitError",
    "BlooioRequestError",
    "BlooioResource",
    "BlooioResponseError",
    "BlooioServerError",
    "BlooioTableProps",
    "BusinessHours",
    "ChatCrawlResult",
    "Column",
    "CrawlProgress",
    "DagsterBlooioTranslator",
    "MessagesProgress",
    "MessagesResult",
    "__version__",
    "blooio_partitions",
    "build_blooio_assets",
    "build_blooio_freshness_sensor",
    "build_blooio_schedule",
    "chats_to_frame",
    "current_chats_frame",
    "messages_to_frame",
    "reply_times_frame",
    "response_lag_frame",
    "response_summary_frame",
    "summary_figures",
    "turns_started_in",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, then keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'blooio_dagster' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
