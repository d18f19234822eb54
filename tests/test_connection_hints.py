"""A connection that fails says which URL, what happened and what to check for that cause."""

from __future__ import annotations

import socket
import ssl
import time

import httpx
import pytest

from blooio_dagster import BlooioClient, BlooioConnectionError
from blooio_dagster.api import transport
from blooio_dagster.api.retry import is_retryable_exception, tls_failure
from tests.conftest import ServerFactory
from tests.raw_server import Connection, RawServer


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_on_loopback_gives_up_after_a_second_try() -> None:
    base_url = f"http://127.0.0.1:{unused_port()}/v2/api"
    started = time.monotonic()

    with (
        BlooioClient("bl_test_refused", base_url=base_url, max_retries=5) as client,
        pytest.raises(BlooioConnectionError) as caught,
    ):
        client.get_chats_page(limit=200, offset=0)

    # Two attempts and one backoff (at most a few tenths of a second here, as tests scale the
    # backoff down); the old behaviour waited through all six.
    assert caught.value.attempts == 2
    assert time.monotonic() - started < 5, "a refused loopback connection is not waited on"
    message = str(caught.value)
    assert message.startswith(f"Could not reach Blooio at {base_url} after 2 attempts"), message
    assert "Connection refused" in message
    assert "Nothing is listening there" in message
    assert "python -m blooio_dagster.testing" in message
    assert "raise timeout" not in message, "a longer timeout cannot help a refused connection"


def test_an_api_that_never_answers_is_a_timeout_with_the_timeout_hint() -> None:
    def never_answer(connection: Connection) -> None:
        connection.pause(30)

    with RawServer(never_answer) as server:
        with (
            BlooioClient(
                "bl_test_slow", base_url=server.base_url, timeout=0.5, max_retries=1
            ) as client,
            pytest.raises(BlooioConnectionError) as caught,
        ):
            client.get_chats_page(limit=200, offset=0)

    message = str(caught.value)
    assert caught.value.attempts == 2, message
    assert "No answer came within timeout=0.5s" in message, message
    assert "raise timeout" in message, message
    assert "Nothing is listening" not in message, message


def test_https_to_a_plain_http_server_fails_at_once_and_says_to_use_http(
    start_server: ServerFactory,
) -> None:
    server = start_server(chats=10, seed=1)
    base_url = server.base_url.replace("http://", "https://")

    with (
        BlooioClient(server.api_key, base_url=base_url, max_retries=5) as client,
        pytest.raises(BlooioConnectionError) as caught,
    ):
        client.get_chats_page(limit=200, offset=0)

    assert caught.value.attempts == 1, "a TLS handshake with plain HTTP fails the same each time"
    message = str(caught.value)
    assert message.startswith(f"Could not reach Blooio at {base_url} after 1 attempt"), message
    assert "answers plain HTTP, not https" in message, message
    assert "start base_url (BLOOIO_BASE_URL) with http://" in message, message
    assert server.requests == [], "no request reached the server as HTTP"


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        (ssl.SSLCertVerificationError("certificate verify failed"), "certificate"),
        (ssl.SSLError(1, "[SSL: UNEXPECTED_EOF_WHILE_READING]"), None),
        (ConnectionResetError(), None),
    ],
)
def test_only_tls_failures_no_attempt_mends_are_not_retried(
    cause: BaseException, kind: str | None
) -> None:
    error = httpx.ConnectError("handshake failed")
    error.__cause__ = cause

    assert (tls_failure(error), is_retryable_exception(error)) == (kind, kind is None)


@pytest.mark.parametrize("default", [False, True])
def test_a_host_that_does_not_resolve_says_so_and_when_it_is_the_default(
    monkeypatch: pytest.MonkeyPatch, default: bool
) -> None:
    # .invalid never resolves (RFC 2606), with or without a network.
    base_url = "https://blooio-api.invalid/v2/api"
    if default:
        monkeypatch.setattr(transport, "DEFAULT_BASE_URL", base_url)

    with (
        BlooioClient("bl_test_dnscheck0001", base_url=base_url, max_retries=0) as client,
        pytest.raises(BlooioConnectionError) as caught,
    ):
        client.get_chats_page(limit=200, offset=0)

    message = str(caught.value)
    assert "The host name in base_url could not be resolved" in message, message
    assert ("export the BLOOIO_BASE_URL it prints" in message) == default, message
