"""The two ways of getting every chat into a DataFrame that the benchmark compares.

Each runs in a fresh interpreter (``python -m benchmarks.contenders NAME URL KEY``) and
prints one JSON line: seconds from the first request to the finished DataFrame, chats, peak
resident memory of the process, and requests made.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd

PAGE = 200


def sdk_loop(base_url: str, api_key: str) -> dict[str, Any]:
    """What a user writes today: the official SDK paged by hand into ``pd.json_normalize``."""
    from blooio import Blooio

    client = Blooio(api_key=api_key, base_url=base_url, max_retries=5)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    offset = 0
    requests = 0
    while True:
        page = client.chats.list(limit=PAGE, offset=offset)
        requests += 1
        chats = page.chats or []
        rows.extend(chat.to_dict() for chat in chats)
        if len(chats) < PAGE:
            break
        offset += PAGE
    frame = pd.json_normalize(rows)
    return {"seconds": time.perf_counter() - started, "chats": len(frame), "requests": requests}


def library(base_url: str, api_key: str, since_ms: int | None = None) -> dict[str, Any]:
    """blooio-dagster with default settings: ``crawl_chats`` then ``chats_to_frame``."""
    from blooio_dagster import BlooioClient, chats_to_frame

    with BlooioClient(api_key, base_url=base_url) as client:
        started = time.perf_counter()
        result = client.crawl_chats(active_since=since_ms)
        frame = chats_to_frame(result.chats, fetched_at=datetime.now(UTC))
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "chats": len(frame),
        "requests": result.pages + result.retries,
        "pages": result.pages,
        "retries": result.retries,
    }


def main(argv: list[str]) -> int:
    name, base_url, api_key, *rest = argv
    since_ms = int(rest[0]) if rest else None
    result = sdk_loop(base_url, api_key) if name == "sdk" else library(base_url, api_key, since_ms)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
