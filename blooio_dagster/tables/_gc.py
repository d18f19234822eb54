"""Pausing Python's cyclic garbage collector while a large, acyclic result is built."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector inside the block, then restore its previous state.

    Converting chats held as dicts to a frame allocates millions of small lists, strings and
    dicts. None of them form reference cycles, yet each full collection traverses them all;
    for 100,000 chats that repeated traversal costs about as much as the conversion itself.
    Reference counting still frees everything as usual while the collector is paused.

    Keep such blocks short and free of I/O: objects that do form cycles (an httpx response
    and its stream, for one) are only freed by the collector, so a crawl must not run in
    one. A crawl has no need to: its chats are records the collector does not track
    (:mod:`blooio_dagster.api.wire.records`).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
