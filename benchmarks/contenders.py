"""The ways of getting chats into a DataFrame that ``make bench`` compares, one per process.

``python -m benchmarks.contenders NAME URL KEY [SINCE_MS]`` runs one contender in this fresh
interpreter and prints one JSON line: ``seconds`` in-process (from the first request to the
finished DataFrame), chats, requests, peak resident memory of the process, and, for the
library, pages, retries and what the crawl verified. Nothing is imported before the
contender runs, so the wall time of the whole process (measured by the caller) includes
what a script pays for its imports and its exit.

- ``sdk``: what a user writes today, the official ``blooio`` SDK paged by hand with
  ``limit=200`` into ``pandas.json_normalize``;
- ``library``: ``BlooioClient.crawl_chats`` + ``chats_to_frame`` with default settings;
- ``messages``: a one-day crawl, then ``BlooioClient.fetch_messages`` for its chats.

``sdk`` and ``library`` also report ``import_seconds``, what their imports took.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

PAGE = 200


def sdk_loop(base_url: str, api_key: str) -> dict[str, Any]:
    """What a user writes today: the official SDK paged by hand into ``pd.json_normalize``."""
    imported = time.perf_counter()
    import pandas as pd
    from blooio import Blooio

    import_seconds = time.perf_counter() - imported
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
    return {
        "seconds": time.perf_counter() - started,
        "import_seconds": import_seconds,
        "chats": len(frame),
        "requests": requests,
    }


def library(base_url: str, api_key: str, since_ms: int | None = None) -> dict[str, Any]:
    """blooio-dagster with default settings: ``crawl_chats`` then ``chats_to_frame``."""
    from datetime import UTC, datetime

    imported = time.perf_counter()
    from blooio_dagster import BlooioClient, chats_to_frame

    import_seconds = time.perf_counter() - imported
    with BlooioClient(api_key, base_url=base_url) as client:
        started = time.perf_counter()
        result = client.crawl_chats(active_since=since_ms)
        frame = chats_to_frame(result.chats, fetched_at=datetime.now(UTC))
        seconds = time.perf_counter() - started
        limit = client._pacer.concurrency_limit
    return {
        "seconds": seconds,
        "import_seconds": import_seconds,
        "chats": len(frame),
        "requests": result.pages + result.retries,
        "pages": result.pages,
        "retries": result.retries,
        "crawl_seconds": result.elapsed_seconds,
        "verified": result.verified,
        "final_concurrency": limit,
    }


def messages(base_url: str, api_key: str, since_ms: int) -> dict[str, Any]:
    """The messages of the chats active since ``since_ms``: a crawl, then the fan-out.

    With each chat's messages before ``since_ms`` back to the last one that counts, as the
    ``reply_times`` asset reads them.
    """
    from blooio_dagster import BlooioClient

    with BlooioClient(api_key, base_url=base_url) as client:
        started = time.perf_counter()
        chats = client.crawl_chats(active_since=since_ms)
        crawled = time.perf_counter()
        ids = [chat["id"] for chat in chats.chats]
        fetched = client.fetch_messages(ids, since=since_ms, preceding=True)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "crawl_seconds": crawled - started,
        "chats": len(ids),
        "messages": sum(len(found) for found in fetched.messages.values()),
        "requests": fetched.requests + fetched.retries,
        "pages": fetched.requests,
        "retries": fetched.retries,
    }


def peak_rss_mb() -> float:
    """The peak resident memory of this process, in MiB: its own, not its parent's.

    Linux carries ``getrusage``'s ``ru_maxrss`` over an exec, so a fresh interpreter would
    report at least the peak of the process that started it; ``VmHWM`` is this process's
    own high-water mark. Without /proc (macOS, where it counts bytes), ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as status:
            (kib,) = [line.split()[1] for line in status if line.startswith("VmHWM:")]
        return int(kib) / 1024
    except FileNotFoundError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def main(argv: list[str]) -> int:
    name, base_url, api_key, *rest = argv
    since_ms = int(rest[0]) if rest else None
    if name == "sdk":
        result = sdk_loop(base_url, api_key)
    elif name == "messages":
        assert since_ms is not None, "messages needs SINCE_MS"
        result = messages(base_url, api_key, since_ms)
    else:
        result = library(base_url, api_key, since_ms)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
