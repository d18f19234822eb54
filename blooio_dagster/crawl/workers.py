"""Running one worker loop on several threads of an executor, as the chat crawl's page workers
and the messages fan-out's chat workers do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, wait


def run_workers(pool: Executor, work: Callable[[], None], count: int) -> None:
    """Run ``count`` copies of ``work`` on ``pool``, wait for all of them, and raise the first
    failure (the first to happen, when several copies fail).

    A copy that fails stops the others its own way (each caller has its own way to tell
    them), and every copy is waited for: no thread still reads once this returns or raises.
    """
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            with lock:
                failures.append(exc)

    wait([pool.submit(run) for _ in range(count)])
    if failures:
        raise failures[0]
