"""blooio-dagster: Blooio chats in Dagster, complete, typed and partitioned.

The client (:class:`BlooioClient`) reads every chat exactly once through Blooio's offset
paging even while the list changes; :class:`BlooioResource` configures it in Dagster.
"""

from blooio_dagster.client import DEFAULT_BASE_URL, BlooioClient, ChatCrawlResult, __version__
from blooio_dagster.crawl import CrawlProgress
from blooio_dagster.errors import (
    BlooioAuthError,
    BlooioConfigError,
    BlooioConnectionError,
    BlooioError,
    BlooioRateLimitError,
    BlooioRequestError,
    BlooioResponseError,
    BlooioServerError,
)
from blooio_dagster.resources import BlooioResource

__all__ = [
    "DEFAULT_BASE_URL",
    "BlooioAuthError",
    "BlooioClient",
    "BlooioConfigError",
    "BlooioConnectionError",
    "BlooioError",
    "BlooioRateLimitError",
    "BlooioRequestError",
    "BlooioResource",
    "BlooioResponseError",
    "BlooioServerError",
    "ChatCrawlResult",
    "CrawlProgress",
    "__version__",
]
