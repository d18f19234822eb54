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

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The public names, listed once: type checkers read them here, and _exports() reads this block
# to import each name's module when the name is first used.
if TYPE_CHECKING:
    from blooio_dagster._version import __version__ as __version__
    from blooio_dagster.api.errors import (
        BlooioAuthError as BlooioAuthError,
        BlooioConfigError as BlooioConfigError,
        BlooioConnectionError as BlooioConnectionError,
        BlooioError as BlooioError,
        BlooioIncompleteError as BlooioIncompleteError,
        BlooioIncompleteMessagesError as BlooioIncompleteMessagesError,
        BlooioRateLimitError as BlooioRateLimitError,
        BlooioRequestError as BlooioRequestError,
        BlooioResponseError as BlooioResponseError,
        BlooioServerError as BlooioServerError,
    )
    from blooio_dagster.api.settings import (
        DEFAULT_BASE_URL as DEFAULT_BASE_URL,
    )
    from blooio_dagster.assets import (
        DEFAULT_REPLY_SLA as DEFAULT_REPLY_SLA,
        BlooioCostlyBackfillWarning as BlooioCostlyBackfillWarning,
        blooio_partitions as blooio_partitions,
        build_blooio_assets as build_blooio_assets,
        build_blooio_freshness_sensor as build_blooio_freshness_sensor,
    )
    from blooio_dagster.client import (
        BlooioClient as BlooioClient,
    )
    from blooio_dagster.components import (
        BlooioComponent as BlooioComponent,
    )
    from blooio_dagster.crawl.fanout import (
        MessagesProgress as MessagesProgress,
        MessagesResult as MessagesResult,
    )
    from blooio_dagster.crawl.reading import (
        CrawlProgress as CrawlProgress,
    )
    from blooio_dagster.crawl.result import (
        ChatCrawlResult as ChatCrawlResult,
    )
    from blooio_dagster.resources import (
        BlooioLiteralKeyWarning as BlooioLiteralKeyWarning,
        BlooioResource as BlooioResource,
    )
    from blooio_dagster.schedules import (
        build_blooio_schedule as build_blooio_schedule,
    )
    from blooio_dagster.tables.business_hours import (
        BusinessHours as BusinessHours,
    )
    from blooio_dagster.tables.catalogue import (
        CHAT_COLUMNS as CHAT_COLUMNS,
        CURRENT_CHAT_COLUMNS as CURRENT_CHAT_COLUMNS,
        MESSAGE_COLUMNS as MESSAGE_COLUMNS,
        REPLY_TIME_COLUMNS as REPLY_TIME_COLUMNS,
        RESPONSE_LAG_COLUMNS as RESPONSE_LAG_COLUMNS,
        RESPONSE_SUMMARY_COLUMNS as RESPONSE_SUMMARY_COLUMNS,
        Column as Column,
    )
    from blooio_dagster.tables.chats import (
        chats_to_frame as chats_to_frame,
    )
    from blooio_dagster.tables.messages import (
        messages_to_frame as messages_to_frame,
    )
    from blooio_dagster.tables.metrics import (
        current_chats_frame as current_chats_frame,
        response_lag_frame as response_lag_frame,
        response_summary_frame as response_summary_frame,
        summary_figures as summary_figures,
    )
    from blooio_dagster.tables.reply_times import (
        reply_times_frame as reply_times_frame,
        turns_started_in as turns_started_in,
    )
    from blooio_dagster.translator import (
        BlooioTableProps as BlooioTableProps,
        DagsterBlooioTranslator as DagsterBlooioTranslator,
    )


def _exports() -> dict[str, str]:
    """Each public name and its module, read from the imports above: the one list of them."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    (listing,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    ]
    return {
        alias.name: str(node.module)
        for node in listing.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


#: Where each public name lives; the module is imported when the name is first used.
_EXPORTS = _exports()
__all__ = sorted(_EXPORTS)  # pyright: ignore[reportUnsupportedDunderAll]


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
