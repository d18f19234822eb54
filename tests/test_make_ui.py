"""``make ui``: a taken port is refused up front, naming the port and how to choose another."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from example_project import ui
from example_project.processes import PortInUseError, check_port_free, dagster_webserver

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something listens on for the whole test."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_taken_port_stops_make_ui_with_the_port_and_the_fix(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ui.main(["--port", str(taken_port)]) == 1

    out, err = capsys.readouterr()
    assert f"Port {taken_port} on 127.0.0.1 is already in use" in err
    assert f"make ui PORT={taken_port + 1}" in err
    assert "Dagster UI:" not in out, "it must not claim to have started"


def test_the_webserver_is_not_started_on_a_taken_port(taken_port: int) -> None:
    with (
        pytest.raises(PortInUseError, match=f"Port {taken_port} "),
        dagster_webserver(env={}, port=taken_port),
    ):
        pytest.fail("the webserver must not start")


def test_a_free_port_passes_the_check() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    check_port_free(port)


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1"])
def test_a_bad_port_is_refused_with_the_range(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        ui.parse_args(["--port", port])

    assert exited.value.code == 2
    assert "is not a port number (1 to 65535)" in capsys.readouterr().err


def test_make_passes_the_port_through() -> None:
    dry_run = subprocess.run(
        ["make", "--dry-run", "ui", "PORT=3001"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert dry_run.returncode == 0, dry_run.stderr
    assert "-m example_project.ui --port 3001" in dry_run.stdout
