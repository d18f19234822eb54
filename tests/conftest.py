"""Shared fixtures: a real local Blooio server per test, and clients pointed at it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import httpx
import pytest
from hypothesis import Phase, settings

from blooio_dagster import BlooioClient, BlooioResource
from blooio_dagster.testing import BlooioTestServer

ServerFactory = Callable[..., BlooioTestServer]

# `python -m tests.mutations` runs the tests with --hypothesis-profile=mutations: a failing
# example is all it needs, not the smallest one, so it skips shrinking.
settings.register_profile(
    "mutations", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None
)
ClientFactory = Callable[..., BlooioClient]

#: The instant the test servers' data ends at, so every test sees the same chats on any date
#: and in any time zone. It must lie in the past: Dagster lists daily partitions only up to the
#: real current time, and the assets stamp rows with the real time of the crawl, which must
#: come after the data. Its latest complete day (UTC) is 2026-03-09.
FIXED_NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
FIXED_NOW_MS = int(FIXED_NOW.timestamp() * 1000)


@pytest.fixture
def start_server() -> Iterator[ServerFactory]:
    """Start ``BlooioTestServer(**kwargs)``; every server started is stopped after the test.

    The data's timeline ends at :data:`FIXED_NOW` unless ``now=`` says otherwise.
    """
    started: list[BlooioTestServer] = []

    def start(**kwargs: Any) -> BlooioTestServer:
        kwargs.setdefault("now", FIXED_NOW_MS)
        server = BlooioTestServer(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server: ServerFactory) -> BlooioTestServer:
    """A fault-free server with 1,000 chats."""
    return start_server(chats=1000, seed=7)


@pytest.fixture
def client_for() -> Iterator[Callable[..., BlooioClient]]:
    """``client_for(server, **settings)``: a client for a test server, closed after the test."""
    clients: list[BlooioClient] = []

    def make(server: BlooioTestServer, **settings: Any) -> BlooioClient:
        client = BlooioClient(server.api_key, base_url=server.base_url, **settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class FakeClock:
    """A clock for the test server and the pacer that moves only when a test moves it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


# Raw HTTP to the test servers: one client per server, closed at the end of the test that used
# it, so that no test depends on another's client (or on the order the tests run in).
_http_clients: dict[BlooioTestServer, httpx.Client] = {}


def http_client(server: BlooioTestServer) -> httpx.Client:
    """A plain httpx client for ``server``'s raw HTTP, closed after the test."""
    client = _http_clients.get(server)
    if client is None:
        client = _http_clients[server] = httpx.Client(timeout=30)
    return client


def http_get(server: BlooioTestServer, path: str, **params: Any) -> httpx.Response:
    """``GET path`` (under the API prefix) from ``server`` with its key."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return http_client(server).get(f"{server.base_url}{path}", params=params, headers=headers)


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    while _http_clients:
        _http_clients.popitem()[1].close()


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exponential backoff at a hundredth of its real scale, so retry tests stay quick.

    Server-sent Retry-After waits are untouched: tests that check them see real waits.
    """
    import blooio_dagster.api.retry as retry

    monkeypatch.setattr(retry, "BACKOFF_BASE_SECONDS", retry.BACKOFF_BASE_SECONDS / 100)
    monkeypatch.setattr(retry, "BACKOFF_CAP_SECONDS", retry.BACKOFF_CAP_SECONDS / 100)


# -- the order, and the browser tests ----------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests first; then the browser tests skipped when no Chromium is installed."""
    long_tests_first(items)
    skip_browser_tests_without_chromium(items)


def long_tests_first(items: list[pytest.Item]) -> None:
    """Move the tests marked ``long`` to the front, each group keeping its (random) order.

    Runs after pytest-randomly has shuffled, so the seed still decides the order, with or
    without pytest-xdist. Its workers take tests in this order: started first, a long test
    cannot be the one a worker is still running alone while the other has nothing left.
    """
    long = [item for item in items if item.get_closest_marker("long") is not None]
    if long:
        items[:] = long + [item for item in items if item.get_closest_marker("long") is None]


def skip_browser_tests_without_chromium(items: list[pytest.Item]) -> None:
    """Skip the browser tests, saying why, when no Chromium is installed.

    With BLOOIO_REQUIRE_BROWSER=1 (as CI sets it) a missing Chromium fails them instead.
    """
    from example_project.browser import find_chromium

    if find_chromium() is not None or os.environ.get("BLOOIO_REQUIRE_BROWSER") == "1":
        return
    skip = pytest.mark.skip(reason="no Chromium installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in r.keywords]
    if skipped:
        terminalreporter.write_line(
            f"BROWSER TESTS SKIPPED ({len(skipped)}): no Chromium on this machine; "
            "install Debian's chromium to run them.",
            yellow=True,
            bold=True,
        )


def in_memory_resources(
    server: BlooioTestServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    """The resources of a run against ``server`` that keeps its tables in memory: the key
    read from an environment variable, as users are told to (no literal-key warning)."""
    monkeypatch.setenv("BLOOIO_TEST_KEY", server.api_key)
    return {
        "blooio": BlooioResource(api_key=dg.EnvVar("BLOOIO_TEST_KEY"), base_url=server.base_url),
        "io_manager": dg.InMemoryIOManager(),  # type: ignore[no-untyped-call]
    }
