"""``python -m blooio_dagster.testing``: run the local Blooio server in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from datetime import UTC, datetime
from types import FrameType

from blooio_dagster.api.wording import counted
from blooio_dagster.testing.faults import Faults
from blooio_dagster.testing.server import BlooioTestServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options (``--help`` lists them)."""
    parser = argparse.ArgumentParser(
        prog="python -m blooio_dagster.testing",
        description="A local Blooio-compatible API on 127.0.0.1 with synthetic chats and messages.",
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
    parser.add_argument(
        "--chat-messages-per-request",
        type=int,
        default=0,
        help="new messages in the chat at every GET /chats/{id}/messages",
    )
    parser.add_argument(
        "--page-cap", type=int, default=None, help="at most this many chats or messages per page"
    )
    parser.add_argument(
        "--tie-order",
        choices=("id", "request", "window"),
        default="id",
        help="order of chats sharing a last_message_time (default id)",
    )
    parser.add_argument(
        "--tie-groups",
        type=_sizes,
        default=(),
        help="comma-separated sizes of groups of chats sharing one time, e.g. 50,500",
    )
    parser.add_argument(
        "--untimed-chats", type=int, default=0, help="extra chats that never had a message"
    )
    parser.add_argument(
        "--nulls-first",
        action="store_true",
        help="untimed chats first with sort=recent (default: last)",
    )
    parser.add_argument(
        "--profile",
        choices=("inbox", "support"),
        default="inbox",
        help="inbox: any mix of directions and times (default); support: a support team's "
        "conversations, answered in minutes, as make demo shows",
    )
    parser.add_argument(
        "--now",
        type=_instant,
        default=None,
        help="fix the data's clock at this UTC time, e.g. 2026-03-10T15:00 (default: the real "
        "clock, live)",
    )
    args = parser.parse_args(argv)
    if args.chats < 0 or args.untimed_chats < 0 or not 0 <= args.port <= 65535:
        parser.error("--chats and --untimed-chats must be >= 0 and --port between 0 and 65535")
    if args.chat_messages_per_request < 0:
        parser.error("--chat-messages-per-request must be >= 0")
    if args.page_cap is not None and args.page_cap < 1:
        parser.error("--page-cap must be >= 1")
    return args


def make_server(args: argparse.Namespace) -> BlooioTestServer:
    """The server the options describe (not started)."""
    faults = Faults(
        latency=args.latency,
        requests_per_second=args.requests_per_second,
        server_error_rate=args.server_error_rate,
        truncated_body_rate=args.truncated_body_rate,
        messages_per_request=args.messages_per_request,
        chat_messages_per_request=args.chat_messages_per_request,
        page_cap=args.page_cap,
        tie_order=args.tie_order,
    )
    return BlooioTestServer(
        chats=args.chats,
        seed=args.seed,
        api_key=args.api_key,
        port=args.port,
        faults=faults,
        tie_groups=args.tie_groups,
        untimed_chats=args.untimed_chats,
        nulls_first=args.nulls_first,
        profile=args.profile,
        now=args.now,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = make_server(args)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.start()
    except OSError as exc:
        print(
            f"Cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc}); is another server "
            "running there? Stop it, or pass --port with another port (0 picks a free one).",
            file=sys.stderr,
        )
        return 1
    # Printed once the socket listens, so a script may start using the server when it sees them.
    print(banner(server, args), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
    return 0


def banner(server: BlooioTestServer, args: argparse.Namespace) -> str:
    """What a user needs next: where the server is, the two variables to set, how to stop it."""
    return "\n".join(
        [
            f"Blooio test server with {counted(args.chats, 'chat')} at {server.base_url}",
            "Point the client, the example project or your Dagster project at it; in another shell:",
            f"  export BLOOIO_API_KEY={args.api_key}",
            f"  export BLOOIO_BASE_URL={server.base_url}",
            "Ctrl-C stops it.",
        ]
    )


def _instant(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO date and time: {text!r}; write e.g. 2026-03-10T15:00"
        ) from None
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated integers: {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("tie group sizes must be >= 1")
    return sizes


if __name__ == "__main__":
    sys.exit(main())
