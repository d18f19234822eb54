"""``make ui``: the Dagster UI on http://127.0.0.1:3000 against the local Blooio server.

Runs ``dagster dev`` in its own process group next to the bundled Blooio server; Ctrl-C (or
SIGTERM) stops both.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from blooio_dagster.testing import BlooioTestServer
from example_project.processes import DAGSTER_HOME, LINEAGE_PATH, dagster_webserver

PORT = 3000


def main() -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with BlooioTestServer(chats=20_000, seed=1) as server:
        env = {
            "DAGSTER_HOME": str(DAGSTER_HOME),
            "BLOOIO_API_KEY": server.api_key,
            "BLOOIO_BASE_URL": server.base_url,
        }
        print(f"Local Blooio server at {server.base_url}; starting dagster dev ...", flush=True)
        with dagster_webserver(env=env, port=PORT, dev=True) as url:
            print(f"Dagster UI: {url}{LINEAGE_PATH}  (Ctrl-C stops it)", flush=True)
            stop.wait()
    print("Stopped dagster dev and the local Blooio server.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
