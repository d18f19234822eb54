"""``make ui``: the Dagster UI on http://127.0.0.1:3000 against the local Blooio server.

Runs ``dagster dev`` in its own process group next to the bundled Blooio server; Ctrl-C (or
SIGTERM) stops both. ``make ui PORT=3001`` (``--port 3001``) serves the UI on another port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from blooio_dagster.testing import BlooioTestServer
from example_project.demo import CHATS as DEMO_CHATS
from example_project.processes import (
    DAGSTER_HOME,
    LINEAGE_PATH,
    PortInUseError,
    check_port_free,
    dagster_webserver,
)

DEFAULT_PORT = 3000


def parse_port(text: str) -> int:
    """``text`` as a TCP port number, or an error naming the accepted range."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)")
    return port


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make ui", description="The Dagster UI against the local Blooio server."
    )
    parser.add_argument(
        "--port",
        type=parse_port,
        default=DEFAULT_PORT,
        help=f"the port of the Dagster UI on 127.0.0.1 (default {DEFAULT_PORT})",
    )
    return parser.parse_args(argv)


def port_in_use_message(error: PortInUseError) -> str:
    """What to tell a user whose port is taken: which port, and how to choose another."""
    other = error.port + 1 if error.port < 65535 else error.port - 1
    return (
        f"{error}\nStop whatever is serving http://{error.host}:{error.port}, or choose "
        f"another port: make ui PORT={other}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    port: int = parse_args(argv).port
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        # Checked before the Blooio server starts too, so a taken port fails at once.
        check_port_free(port)
        # The demo's support inbox, on the live clock, so runs started in the UI find today's data.
        with BlooioTestServer(chats=DEMO_CHATS, seed=1, profile="support") as server:
            env = {
                "DAGSTER_HOME": str(DAGSTER_HOME),
                "BLOOIO_API_KEY": server.api_key,
                "BLOOIO_BASE_URL": server.base_url,
            }
            print(f"Local Blooio server at {server.base_url}; starting dagster dev ...", flush=True)
            with dagster_webserver(env=env, port=port, dev=True) as url:
                print(f"Dagster UI: {url}{LINEAGE_PATH}  (Ctrl-C stops it)", flush=True)
                stop.wait()
    except PortInUseError as error:
        print(port_in_use_message(error), file=sys.stderr)
        return 1
    print("Stopped dagster dev and the local Blooio server.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
