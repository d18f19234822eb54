"""blooio-dagster: Blooio chats in Dagster, complete, typed and partitioned.

The client (:class:`BlooioClient`) reads every chat exactly once through Blooio's offset
paging even while the list changes; :class:`BlooioResource` configures it in Dagster;
:func:`build_blooio_assets` and :func:`build_blooio_schedule` put the chats and their
response-lag metrics in the asset graph.
"""

from blooio_dagster.assets import (
    blooio_partitions,
    build_blooio_assets,
    build_blooio_schedule,
)
from blooio_dagster.client import DEFAULT_BASE_URL, BlooioClient, ChatCrawlResult, __version__
from blooio_dagster.components import BlooioComponent
from blooio_dagster.crawl import CrawlProgress
from blooio_dagster.errors import (
    BlooioAuthError,
    BlooioConfigError,
    BlooioConnectionError,
    BlooioError,
    BlooioIncompleteError,
    BlooioRateLimitError,
    BlooioRequestError,
    BlooioResponseError,
    BlooioServerError,
)
from blooio_dagster.frames import (
    CHAT_COLUMNS,
    RESPONSE_LAG_COLUMNS,
    RESPONSE_SUMMARY_COLUMNS,
    Column,
    chats_to_frame,
)
from blooio_dagster.metrics import response_lag_frame, response_summary_frame
from blooio_dagster.resources import BlooioLiteralKeyWarning, BlooioResource

__all__ = [
    "CHAT_COLUMNS",
    "DEFAULT_BASE_URL",
    "RESPONSE_LAG_COLUMNS",
    "RESPONSE_SUMMARY_COLUMNS",
    "BlooioAuthError",
    "BlooioClient",
    "BlooioComponent",
    "BlooioConfigError",
    "BlooioConnectionError",
    "BlooioError",
    "BlooioIncompleteError",
    "BlooioLiteralKeyWarning",
    "BlooioRateLimitError",
    "BlooioRequestError",
    "BlooioResource",
    "BlooioResponseError",
    "BlooioServerError",
    "ChatCrawlResult",
    "Column",
    "CrawlProgress",
    "__version__",
    "blooio_partitions",
    "build_blooio_assets",
    "build_blooio_schedule",
    "chats_to_frame",
    "response_lag_frame",
    "response_summary_frame",
]
