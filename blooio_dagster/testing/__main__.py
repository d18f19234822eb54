"""``python -m blooio_dagster.testing``: run the local Blooio server in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from types import FrameType

from blooio_dagster.testing.server import API_PREFIX, BlooioTestServer, Faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blooio_dagster.testing",
        description="A local Blooio-compatible API on 127.0.0.1 with synthetic chats.",
    )
    parser.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (default 8787)")
    parser.add_argument("--chats", type=int, default=5000, help="how many chats (default 5000)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.add_argument(
        "--api-key",
        default="bl_test_local",
        help="the key clients must send (default bl_test_local)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument(
        "--requests-per-second", type=float, default=None, help="answer 429 above this rate"
    )
    parser.add_argument("--server-error-rate", type=float, default=0.0, help="share of 5xx")
    parser.add_argument("--truncated-body-rate", type=float, default=0.0, help="share cut off")
    parser.add_argument(
        "--messages-per-request", type=int, default=0, help="chats that move per request"
    )
    args = parser.parse_args(argv)
    if args.chats < 0 or not 0 <= args.port <= 65535:
        parser.error("--chats must be >= 0 and --port between 0 and 65535")
    faults = Faults(
        latency=args.latency,
        requests_per_second=args.requests_per_second,
        server_error_rate=args.server_error_rate,
        truncated_body_rate=args.truncated_body_rate,
        messages_per_request=args.messages_per_request,
    )
    server = BlooioTestServer(
        chats=args.chats, seed=args.seed, api_key=args.api_key, port=args.port, faults=faults
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"Blooio test server: http://127.0.0.1:{args.port}{API_PREFIX} "
        f"({args.chats} chats, key {args.api_key})",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
