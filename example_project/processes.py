"""Starting and stopping the processes a demo, `make ui` and the UI tests need."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

PROJECT_DIR = Path(__file__).resolve().parent
DAGSTER_HOME = PROJECT_DIR / "dagster_home"
#: Where the blooio asset group's lineage lives in the Dagster UI of the example project.
LINEAGE_PATH = "/locations/example_project.definitions/asset-groups/blooio/lineage"
#: The assets the example project's lineage shows.
ASSET_NAMES = (
    "chats",
    "messages",
    "reply_times",
    "chat_response_lag",
    "response_summary",
    "current_chats",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PortInUseError(RuntimeError):
    """Something already listens on the port a webserver was asked to use."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        super().__init__(
            f"Port {port} on {host} is already in use (another `dagster dev` or `make ui` may "
            "still be running), so the Dagster UI cannot start there."
        )


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise :class:`PortInUseError` if something listens on ``host:port`` right now.

    Checked before a webserver starts: otherwise the readiness probe could get its answer
    from whatever already holds the port and report a UI that never started.
    """
    with socket.socket() as probe:
        # As uvicorn does: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUseError(host, port) from error


def wait_for_http(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float = 120.0,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Wait until ``url`` answers 200, failing early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode} before {url} answered"
            )
        try:
            if httpx.get(url, timeout=2.0, headers=headers).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.5)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the process group ``process`` leads, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


@contextmanager
def dagster_webserver(
    *, env: Mapping[str, str], port: int, dev: bool = False, log_path: Path | None = None
) -> Iterator[str]:
    """Run ``dagster dev`` or ``dagster-webserver`` on the example project; yields its URL.

    It runs in a process group of its own, so SIGTERM reaches the webserver, the daemon
    and the code server that ``dagster dev`` starts; the group is stopped on exit.

    Raises:
        PortInUseError: something already listens on ``port``.
    """
    check_port_free(port)
    bin_dir = Path(sys.executable).parent
    target = ["-m", "example_project.definitions"]
    host = ["-h", "127.0.0.1", "-p", str(port)]
    command = (
        [str(bin_dir / "dagster"), "dev", *target, *host]
        if dev
        else [str(bin_dir / "dagster-webserver"), *target, *host]
    )
    output = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        cwd=PROJECT_DIR.parent,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/server_info", process)
        yield url
    finally:
        stop_group(process)
        if log_path:
            output.close()  # type: ignore[union-attr]
