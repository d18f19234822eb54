"""The bundled Blooio server for ``make bench``, in a process of its own.

``python -m benchmarks.server --port P --chats N [--latency S] [--requests-per-second R]
[--move-every K]`` serves like ``python -m blooio_dagster.testing``, plus ``--move-every``:
one random chat gets a new message (and moves to the front of the list) at every K-th
``GET /chats``, the churn of a busy inbox. Its own process keeps the server's threads off
the measured client's interpreter lock.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import signal
import sys
from types import FrameType
from typing import Any

from blooio_dagster.testing import BlooioTestServer, Faults
from blooio_dagster.testing.http import API_PREFIX

#: The data's timeline ends here, so every run serves the same chats.
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000


class ChurningServer(BlooioTestServer):
    """A test server where one chat moves to the front at every ``move_every``-th list request."""

    def __init__(self, *, move_every: int, **settings: Any) -> None:
        super().__init__(**settings)
        self._move_every = move_every
        self._list_requests = itertools.count(1)

    def _answer(self, path: str, query: dict[str, str], authorization: str | None) -> Any:
        # next() on a count is atomic, so handler threads share it without a lock.
        listing = self._move_every and path == f"{API_PREFIX}/chats"
        if listing and next(self._list_requests) % self._move_every == 0:
            self.receive_messages(1)
        return super()._answer(path, query, authorization)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chats", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--requests-per-second", type=float, default=None)
    parser.add_argument("--move-every", type=int, default=0)
    args = parser.parse_args(argv)
    server = ChurningServer(
        chats=args.chats,
        seed=1,
        now=NOW_MS,
        api_key=args.api_key,
        port=args.port,
        faults=Faults(latency=args.latency, requests_per_second=args.requests_per_second),
        move_every=args.move_every,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
