"""Errors, retries, refused input and the secrecy of the API key."""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import blooio_dagster.api.http as blooio_http
from blooio_dagster import (
    BlooioAuthError,
    BlooioClient,
    BlooioConfigError,
    BlooioConnectionError,
    BlooioError,
    BlooioRateLimitError,
    BlooioRequestError,
    BlooioResponseError,
    BlooioServerError,
    __version__,
)
from blooio_dagster.api.redaction import redact
from blooio_dagster.api.retry import MAX_RETRY_AFTER_SECONDS, retry_after_seconds
from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import ClientFactory, ServerFactory

KEY = "bl_test_TOPSECRET0123456789abcdef"
BAD_SORT: Any = "newest"  # typed Any: the tests pass what a type checker would refuse
Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(handler: Handler, **settings: Any) -> BlooioClient:
    """A client whose requests go to ``handler`` instead of a socket (narrow unit tests)."""
    return BlooioClient(KEY, transport=httpx.MockTransport(handler), **settings)


def page(chats: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"chats": chats, "pagination": {"limit": 200, "offset": 0, "total": total or len(chats)}}


Answer = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], str]]:
    """``serve(answer)``: the base URL of a real HTTP server on 127.0.0.1 that answers every
    GET with ``answer(handler)`` (for answers the bundled test server does not give)."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/v2/api"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


# -- errors over the real server --------------------------------------------------------------


def test_a_rejected_key_raises_auth_error_without_retrying(server: BlooioTestServer) -> None:
    with BlooioClient("bl_test_wrong", base_url=server.base_url) as client:
        with pytest.raises(BlooioAuthError) as caught:
            client.list_chats()

    assert caught.value.status_code == 401
    assert "BLOOIO_API_KEY" in str(caught.value)
    assert "Authentication required or invalid" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("key", ["bl_test_WRONGKEY12345", "bl_live_abcdef123456"])
def test_a_rejected_keys_hint_names_both_prefixes_and_hides_the_key(
    server: BlooioTestServer, key: str
) -> None:
    # Every key starts with a documented prefix: hiding it would garble the hint and tell
    # which kind of key was given, and it gives nothing of the key away.
    with BlooioClient(key, base_url=server.base_url) as client:
        with pytest.raises(BlooioAuthError) as caught:
            client.list_chats()

    text = str(caught.value)
    assert "such as bl_live_... or bl_test_..." in text, text
    runs = {key[i : i + 8] for i in range(len(key) - 7)} - {"bl_live_", "bl_test_"}
    assert sorted(run for run in runs if run in text) == [], text
    assert redact(f"{key} and {key[3:11]}", key) == "[redacted] and [redacted]"


def test_a_key_that_is_only_a_prefix_is_still_hidden_whole() -> None:
    assert redact("key=bl_test_ sent", "bl_test_") == "key=[redacted] sent"


def test_not_found_is_a_request_error_with_the_api_message(
    server: BlooioTestServer, client_for: ClientFactory
) -> None:
    with pytest.raises(BlooioRequestError) as caught:
        client_for(server).get_chat("+19999999999")

    assert caught.value.status_code == 404
    assert caught.value.api_code == "chat_not_found"
    assert "Chat +19999999999 not found" in str(caught.value)
    assert len(server.requests) == 1


def test_5xx_on_every_attempt_raises_server_error_with_the_attempt_count(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=10, faults=Faults(server_error_rate=1.0))

    with pytest.raises(BlooioServerError) as caught:
        client_for(server, max_retries=3).list_chats()

    assert caught.value.attempts == 4
    assert "after 4 attempts" in str(caught.value)
    assert len(server.requests) == 4


def test_bodies_cut_off_on_every_attempt_are_reported_with_the_offset(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=10, faults=Faults(truncated_body_rate=1.0))

    with pytest.raises(BlooioResponseError) as caught:
        client_for(server, max_retries=2).get_chats_page(limit=5, offset=5)

    assert "not valid JSON" in str(caught.value)
    assert "at offset 5" in str(caught.value)
    assert len(server.requests) == 3


def test_an_unreachable_server_raises_connection_error(start_server: ServerFactory) -> None:
    server = start_server(chats=1)
    base_url = server.base_url
    server.stop()

    with BlooioClient(KEY, base_url=base_url, max_retries=2) as client:
        with pytest.raises(BlooioConnectionError) as caught:
            client.list_chats()

    # A refused connection on loopback is a stopped server: tried twice, not through every retry.
    assert caught.value.attempts == 2
    assert base_url in str(caught.value)
    assert "ConnectError" in str(caught.value)


def test_a_slow_server_times_out_into_connection_error(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    # Real time, an order of magnitude apart: the server sleeps 1 s, five times the timeout.
    server = start_server(chats=1, faults=Faults(latency=1.0))

    with pytest.raises(BlooioConnectionError, match="ReadTimeout"):
        client_for(server, timeout=0.2, max_retries=1).list_chats()


def test_retry_after_in_seconds_is_honoured(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    # One request per second, announced only by a whole-second Retry-After header.
    server = start_server(chats=5, faults=Faults(requests_per_second=1, retry_after_ms=False))
    client = client_for(server, max_concurrency=1)

    client.get_chats_page(limit=5, offset=0)
    client.get_chats_page(limit=5, offset=0)

    statuses = [r.status for r in server.requests]
    assert statuses == [200, 429, 200]
    limited, retried = server.requests[1], server.requests[2]
    # Real time: the client sleeps the whole second before the retry; the backoff alone (a
    # hundredth of its scale here) would wait milliseconds. Half a second tells them apart
    # however late a loaded machine records the 429.
    assert retried.answered_at - limited.answered_at >= 0.5


# -- errors from exact responses (mock transport) ------------------------------------------


def test_403_is_an_auth_error_about_permission() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"error": "ApiError", "message": "Forbidden", "status": 403}
        )

    with mock_client(handler) as client, pytest.raises(BlooioAuthError, match="permission denied"):
        client.list_chats()


def test_other_4xx_are_not_retried_and_carry_message_and_code() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = {
            "error": "ApiError",
            "message": "q is too long",
            "status": 422,
            "code": "q_too_long",
        }
        return httpx.Response(422, json=body)

    with mock_client(handler) as client, pytest.raises(BlooioRequestError) as caught:
        client.list_chats(q="x" * 10)

    assert len(calls) == 1
    assert caught.value.api_code == "q_too_long"
    assert (
        str(caught.value)
        == "Blooio refused GET /chats with HTTP 422, code 'q_too_long': q is too long"
    )


def test_429_on_every_attempt_raises_rate_limit_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after-ms": "1"}, json={"message": "slow down"})

    with (
        mock_client(handler, max_retries=2) as client,
        pytest.raises(BlooioRateLimitError) as caught,
    ):
        client.get_chats_page(limit=1, offset=0)

    assert caught.value.attempts == 3
    assert "requests_per_second" in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "9", "retry-after-ms": "1500"}, 1.5),
    ],
)
def test_server_asked_waits_are_slept(
    monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], expected: float
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("blooio_dagster.api.transport.time.sleep", slept.append)
    answers = iter([httpx.Response(503, headers=headers), httpx.Response(200, json=page([]))])

    with mock_client(lambda request: next(answers)) as client:
        client.get_chats_page(limit=1, offset=0)

    assert slept == [expected]


def test_retry_after_header_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0).astimezone()
    in_ten = format_datetime(now + timedelta(seconds=10), usegmt=False)

    assert retry_after_seconds({"retry-after": in_ten}, now=now.timestamp()) == pytest.approx(10)
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "-5"}) == 0.0
    assert retry_after_seconds({"retry-after": "99999"}) == MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "expected a JSON object, got list"),
        ({"pagination": {}}, "'chats' must be a list, got NoneType"),
        ({"chats": [1]}, "chats[0] must be an object, got int"),
        ({"chats": [{"type": "phone"}]}, "chats[0] has no string 'id'"),
        ({"chats": [{"id": "a", "last_message_time": "yesterday"}]}, "expected epoch milliseconds"),
        ({"chats": [], "pagination": {"total": -1}}, "'pagination.total' must be a whole number"),
    ],
)
def test_malformed_pages_are_reported_with_offset_and_problem(body: Any, problem: str) -> None:
    with mock_client(lambda request: httpx.Response(200, json=body)) as client:
        with pytest.raises(BlooioResponseError) as caught:
            client.get_chats_page(limit=10, offset=30)

    assert problem in str(caught.value)
    assert caught.value.offset == 30


def test_requests_identify_the_library_and_carry_the_key_as_bearer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=page([]))

    with mock_client(handler, base_url="https://blooio.example/v2/api/") as client:
        client.list_chats(q="ana")

    assert seen[0].headers["user-agent"] == f"blooio-dagster/{__version__}"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert str(seen[0].url).startswith("https://blooio.example/v2/api/chats?")
    assert seen[0].url.params["q"] == "ana"
    assert seen[0].url.params["sort"] == "recent"


# -- refused input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"page_size": 0},
            "page_size must be a whole number from 1 to 200 (chats per request), got 0",
        ),
        (
            {"page_size": 201},
            "page_size must be a whole number from 1 to 200 (chats per request), got 201",
        ),
        ({"timeout": 0}, "timeout must be a finite number above 0 (seconds per attempt), got 0"),
        (
            {"timeout": -1.5},
            "timeout must be a finite number above 0 (seconds per attempt), got -1.5",
        ),
        (
            {"timeout": float("inf")},
            "timeout must be a finite number above 0 (seconds per attempt), got inf",
        ),
        (
            {"timeout": float("nan")},
            "timeout must be a finite number above 0 (seconds per attempt), got nan",
        ),
        (
            {"timeout": float("inf")},
            "without a limit a stalled connection would hang the run forever",
        ),
        (
            {"requests_per_second": float("inf")},
            "requests_per_second must be a finite number above 0, or None, got inf. Leave it unset (None) for no cap",
        ),
        (
            {"max_concurrency": 0},
            "max_concurrency must be a whole number from 1 to 256 (requests in flight), got 0",
        ),
        (
            {"max_retries": -1},
            "max_retries must be a whole number from 0 to 20 (retries after the first attempt), got -1",
        ),
        (
            {"requests_per_second": 0},
            "requests_per_second must be a finite number above 0, or None, got 0",
        ),
        ({"base_url": "http://blooio.example/v2/api"}, "would send the API key in clear text"),
        ({"base_url": "ftp://blooio.example"}, "base_url must be an http(s) URL"),
        ({"base_url": "backend.blooio.com/v2/api"}, "base_url must be an http(s) URL"),
        ({"base_url": "http://[::1/v2/api"}, "base_url must be an http(s) URL"),
    ],
)
def test_bad_settings_are_refused_before_any_request(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(BlooioConfigError) as caught:
        BlooioClient(KEY, **settings)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "message", "secret"),
    [
        ("https://backend.blooio.com/v2 api", "must not contain spaces", None),
        ("https://backend.blooio.com/v2/api ", "must not contain spaces", None),
        ("https://backend.blooio.com/v2/api\n", "must not contain spaces", None),
        ("https://backend.blooio.com/v2%20api", "also not encoded as %20", None),
        ("https://back end.blooio.com/v2/api", "must not contain spaces", None),
        ("https://me:hunter2@backend.blooio.com/v2/api", "user name or password", "hunter2"),
        ("ftp://me:hunter2@backend.blooio.com", "user name or password", "hunter2"),
        ("https://tok3n@backend.blooio.com/v2/api", "user name or password", "tok3n"),
        ("https://backend.blooio.com/v2/api?key=s3cret", "must not have a query string", "s3cret"),
        ("https://backend.blooio.com/v2/api?", "must not have a query string", None),
        ("https://backend.blooio.com/v2/api#s3cret", "must not have a fragment", "s3cret"),
    ],
)
def test_base_urls_with_spaces_userinfo_query_or_fragment_are_refused(
    base_url: str, message: str, secret: str | None
) -> None:
    with pytest.raises(BlooioConfigError) as caught:
        BlooioClient(KEY, base_url=base_url)

    assert message in str(caught.value)
    if secret is not None:
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["127.0.0.1:8787/v2/api", "localhost:8787", "proxy.example.com/v2/api"]
)
def test_an_address_without_a_scheme_is_told_to_start_with_one(base_url: str) -> None:
    with pytest.raises(BlooioConfigError) as caught:
        BlooioClient(KEY, base_url=base_url)

    text = str(caught.value)
    assert "got an address without a scheme" in text, text
    assert "start it with https://, or with http:// for a server on this machine" in text, text
    assert base_url.split("/")[0] not in text, text


def test_a_value_that_names_no_host_gets_no_scheme_advice() -> None:
    with pytest.raises(BlooioConfigError) as caught:
        BlooioClient(KEY, base_url="bl_live_s3cretkeyvalue")

    text = str(caught.value)
    assert "got a value that is not one (not shown, as it may be a secret)" in text, text
    assert "s3cret" not in text, text


def test_a_closed_client_raises_a_blooio_error_saying_so() -> None:
    client = mock_client(lambda request: httpx.Response(200, json=page([])))
    client.get_chats_page(limit=1, offset=0)
    client.close()

    calls: list[Callable[[], Any]] = [
        lambda: client.get_chats_page(limit=1, offset=0),
        lambda: client.get_chat("+15551234567"),
    ]
    for call in calls:
        with pytest.raises(BlooioError, match="This BlooioClient is closed") as caught:
            call()
        assert not isinstance(caught.value, RuntimeError)
        assert "new client" in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:9/v2/api", "http://localhost:9", "http://[::1]:9"]
)
def test_plain_http_is_allowed_to_loopback(base_url: str) -> None:
    BlooioClient(KEY, base_url=base_url).close()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.get_chats_page(limit=0, offset=0), "limit must be between 1 and 200, got 0"),
        (
            lambda c: c.get_chats_page(limit=201, offset=0),
            "limit must be between 1 and 200, got 201",
        ),
        (
            lambda c: c.get_chats_page(limit=10, offset=-1),
            "offset must be a whole number >= 0, got -1",
        ),
        (
            lambda c: c.get_chats_page(limit=10, offset=0, sort="newest"),
            "sort must be 'recent' or 'oldest'",
        ),
        (lambda c: c.list_chats(sort=BAD_SORT), "sort must be 'recent' or 'oldest', got 'newest'"),
        (lambda c: c.list_chats(active_since=datetime(2026, 1, 1)), "must be timezone-aware"),
        (lambda c: c.list_chats(active_since="2026-01-01"), "aware datetime or epoch milliseconds"),
        (lambda c: c.get_chat(""), "chat_id must be a non-empty string"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    call: Callable[[BlooioClient], Any], message: str
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=page([]))

    with mock_client(handler) as client, pytest.raises(BlooioConfigError) as caught:
        call(client)

    assert message in str(caught.value)
    assert sent == []


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "api_key is empty"), (KEY + "\n", "contains whitespace"), ("bl_test_é", "cannot carry")],
)
def test_bad_keys_are_refused_without_echoing_them(key: str, message: str) -> None:
    with pytest.raises(BlooioConfigError) as caught:
        BlooioClient(key)
    assert message in str(caught.value)
    if key:
        assert key.strip() not in str(caught.value)


# -- the key stays secret ---------------------------------------------------------------------


def test_the_key_appears_in_no_log_record_exception_or_repr(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = start_server(chats=300, seed=1, api_key=KEY)
    raised: list[BaseException] = []

    def expect_error(
        make_client: Callable[[], BlooioClient], action: Callable[[BlooioClient], Any]
    ) -> None:
        with make_client() as client:
            assert KEY not in repr(client)
            try:
                action(client)
            except BlooioError as exc:
                raised.append(exc)
            else:
                pytest.fail("expected a BlooioError")

    def real(**settings: Any) -> Callable[[], BlooioClient]:
        return lambda: BlooioClient(KEY, base_url=server.base_url, **settings)

    server.faults = Faults(server_error_rate=0.3, truncated_body_rate=0.1, requests_per_second=200)
    with real(page_size=20, max_retries=10)() as client:
        assert len(client.list_chats()) == 300
    server.faults = Faults(server_error_rate=1.0)
    expect_error(real(max_retries=1), lambda c: c.list_chats())
    server.faults = Faults(truncated_body_rate=1.0)
    expect_error(real(max_retries=1), lambda c: c.list_chats())
    server.faults = Faults()
    expect_error(real(), lambda c: c.get_chat("nope"))
    expect_error(real(), lambda c: c.list_chats(sort=BAD_SORT))
    echo = httpx.MockTransport(
        lambda r: httpx.Response(400, text=f"bad header {r.headers['authorization']}")
    )
    expect_error(lambda: BlooioClient(KEY, transport=echo), lambda c: c.list_chats())
    rate_limited = httpx.MockTransport(
        lambda r: httpx.Response(429, headers={"retry-after-ms": "1"})
    )
    expect_error(
        lambda: BlooioClient(KEY, transport=rate_limited, max_retries=1), lambda c: c.list_chats()
    )
    forbidden = httpx.MockTransport(lambda r: httpx.Response(403, text=r.headers["authorization"]))
    expect_error(lambda: BlooioClient(KEY, transport=forbidden), lambda c: c.list_chats())
    dead_url = server.base_url
    server.stop()
    expect_error(
        lambda: BlooioClient(KEY, base_url=dead_url, max_retries=1), lambda c: c.list_chats()
    )

    kinds = {type(exc) for exc in raised}
    assert kinds == {
        BlooioServerError,
        BlooioResponseError,
        BlooioRequestError,
        BlooioConfigError,
        BlooioRateLimitError,
        BlooioAuthError,
        BlooioConnectionError,
    }
    for exc in raised:
        assert KEY not in str(exc)
        assert KEY not in repr(exc)
        assert KEY not in "".join(traceback.format_exception(exc))
    echoed = [exc for exc in raised if "bad header" in str(exc)]
    assert echoed
    assert "Bearer [redacted]" in str(echoed[0])
    records = caplog.records
    assert "httpx" in {r.name.split(".")[0] for r in records}, "httpx's own logging was captured"
    assert logging.DEBUG in {r.levelno for r in records}
    for record in records:
        assert KEY not in record.getMessage()
        assert KEY not in json.dumps(record.__dict__, default=repr)


# -- whole bodies within the timeout and under the size cap, only 200 (real HTTP) ------------


def test_a_body_dripping_byte_by_byte_times_out_within_the_timeout_of_each_attempt(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    # A byte every 5 ms never trips the per-read timeout; only the whole-body deadline ends it.
    server = start_server(chats=5, faults=Faults(drip_bytes_per_second=200))
    client = client_for(server, timeout=0.3, max_retries=1)

    started = time.monotonic()
    with pytest.raises(BlooioConnectionError) as caught:
        client.get_chats_page(limit=5, offset=0)
    elapsed = time.monotonic() - started

    assert "the response body took longer than timeout=0.3 s" in str(caught.value)
    assert caught.value.attempts == 2
    assert len(server.requests) == 2, "a body past the deadline is retried like a timeout"
    # Real time, an order of magnitude: each attempt's body would drip for about 14 s.
    assert elapsed < 5.0


def test_a_dripping_body_that_arrives_within_the_timeout_is_read(
    start_server: ServerFactory, client_for: ClientFactory
) -> None:
    server = start_server(chats=1, faults=Faults(drip_bytes_per_second=50_000))

    result = client_for(server, timeout=2.0).get_chats_page(limit=1, offset=0)

    assert [c["id"] for c in result["chats"]] == [c["id"] for c in server.truth()]


def test_a_body_declared_over_the_size_cap_is_refused_unread_and_not_retried(
    start_server: ServerFactory, client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blooio_http, "MAX_BODY_BYTES", 100_000)
    # Dripped at 1 KB/s, reading this body would take minutes: it must not be read at all.
    server = start_server(
        chats=1, faults=Faults(body_padding_bytes=200_000, drip_bytes_per_second=1_000)
    )
    client = client_for(server, max_retries=3, timeout=5.0)

    started = time.monotonic()
    with pytest.raises(BlooioResponseError) as caught:
        client.get_chats_page(limit=1, offset=0)

    # Real time, an order of magnitude: reading the body would take 200 s, refusing it ms.
    assert time.monotonic() - started < 20.0
    assert "bytes (its Content-Length), over the 100,000-byte limit" in str(caught.value)
    assert len(server.requests) == 1


def test_a_body_without_content_length_is_cut_off_once_it_passes_the_size_cap(
    serve: Callable[[Answer], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blooio_http, "MAX_BODY_BYTES", 100_000)
    requests: list[str] = []
    sent: list[int] = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        requests.append(handler.path)
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"%x\r\n%s\r\n" % (4096, b" " * 4096)
        try:
            for _ in range(100_000):  # 400 MB at most, far past any socket buffer
                handler.wfile.write(chunk)
                sent.append(4096)
        except OSError:  # the client hung up, as it should
            pass

    with BlooioClient(KEY, base_url=serve(endless), max_retries=3) as client:
        with pytest.raises(BlooioResponseError) as caught:
            client.get_chats_page(limit=1, offset=0)

    assert "the body grew past" in str(caught.value)
    assert "over the 100,000-byte limit" in str(caught.value)
    assert len(requests) == 1
    assert sum(sent) < 100_000_000


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_naming_its_host_and_is_not_followed(
    start_server: ServerFactory, client_for: ClientFactory, status: int
) -> None:
    server = start_server(chats=3, faults=Faults(status_override=status))

    with pytest.raises(BlooioResponseError) as caught:
        client_for(server, max_retries=3).get_chats_page(limit=3, offset=0)

    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert "a redirect to host https://elsewhere.example" in message
    assert (
        "Redirects are not followed, so that the API key is never sent to another host" in message
    )
    assert "set base_url (BLOOIO_BASE_URL)" in message
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [201, 202, 204, 206])
def test_a_2xx_other_than_200_is_an_error_naming_the_status(
    start_server: ServerFactory, client_for: ClientFactory, status: int
) -> None:
    server = start_server(chats=3, faults=Faults(status_override=status))

    with pytest.raises(BlooioResponseError) as caught:
        client_for(server, max_retries=3).get_chats_page(limit=3, offset=0)

    assert f"HTTP {status} (" in str(caught.value)
    assert "only 200 with a JSON body is a successful answer" in str(caught.value)
    assert caught.value.offset == 0
    assert len(server.requests) == 1


def test_a_redirect_names_the_locations_host_but_not_its_query(
    serve: Callable[[Answer], str],
) -> None:
    def redirect(handler: BaseHTTPRequestHandler) -> None:
        location = "https://other.example:8443/v2/api/chats?token=QUERYSECRET#frag"
        send(handler, 302, json.dumps(page([])).encode(), {"Location": location})

    with BlooioClient(KEY, base_url=serve(redirect)) as client:
        with pytest.raises(BlooioResponseError) as caught:
            client.get_chats_page(limit=1, offset=0)

    assert "to host https://other.example:8443" in str(caught.value)
    assert "QUERYSECRET" not in str(caught.value)
    assert "/v2/api/chats" not in str(caught.value)


@pytest.mark.parametrize(
    ("location", "named"),
    [
        ("/v2/api/chats/", "to another path on blooio.example"),
        (None, "without a Location"),
        ("http://[bad", "to a Location that is not a valid URL"),
    ],
)
def test_relative_missing_or_broken_locations_are_described(
    location: str | None, named: str
) -> None:
    headers = {"Location": location} if location is not None else {}
    transport = httpx.MockTransport(lambda r: httpx.Response(307, headers=headers, json=page([])))

    with BlooioClient(KEY, base_url="https://blooio.example/v2/api", transport=transport) as c:
        with pytest.raises(BlooioResponseError, match="HTTP 307") as caught:
            c.get_chats_page(limit=1, offset=0)

    assert named in str(caught.value)


# -- the key stays out of httpx's and httpcore's DEBUG logs -----------------------------------


@pytest.mark.parametrize(
    "key",
    ["bl_test_ECHOED0123456789", "bl_test_back\\slash'quote\"double"],
    ids=["plain", "escaped"],
)
def test_a_key_echoed_in_a_response_header_is_redacted_from_debug_logs(
    serve: Callable[[Answer], str], caplog: pytest.LogCaptureFixture, key: str
) -> None:
    def echo(handler: BaseHTTPRequestHandler) -> None:
        # A misbehaving proxy: the request's Authorization comes back as a response header.
        authorization = handler.headers["Authorization"]
        send(handler, 200, json.dumps(page([])).encode(), {"X-Echo": authorization})

    caplog.set_level(logging.DEBUG, logger="httpcore")
    caplog.set_level(logging.DEBUG, logger="httpx")
    with BlooioClient(key, base_url=serve(echo)) as client:
        client.get_chats_page(limit=1, offset=0)

    messages = [record.getMessage() for record in caplog.records]
    headers = [m for m in messages if m.startswith("receive_response_headers.complete")]
    assert headers, "httpcore logged the response headers"
    assert "(b'X-Echo', b'Bearer [redacted]')" in headers[0]
    assert {r.name for r in caplog.records} >= {"httpx", "httpcore.http11", "httpcore.connection"}
    for record in caplog.records:
        assert key not in record.getMessage()
        assert repr(key.encode())[2:-1] not in record.getMessage()


def test_the_log_filter_is_released_with_the_last_client_holding_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpcore")
    key = "bl_test_RELEASED0123456789"
    http11 = logging.getLogger("httpcore.http11")

    first = BlooioClient(key, base_url="http://127.0.0.1:9/v2/api")
    second = BlooioClient(key, base_url="http://127.0.0.1:9/v2/api")
    first.close()
    http11.debug("still hidden %s", key)
    del second  # never closed: released when collected
    gc.collect()
    http11.debug("shown again %s", key)

    assert [r.getMessage() for r in caplog.records] == [
        "still hidden [redacted]",
        f"shown again {key}",
    ]


@pytest.mark.parametrize("path", ["", "/", "/v2", "/api/v2"])
def test_a_404_from_a_base_url_without_the_api_path_says_where_the_api_lives(
    server: BlooioTestServer, path: str
) -> None:
    root = server.base_url.removesuffix("/v2/api") + path
    with BlooioClient(server.api_key, base_url=root) as client:
        with pytest.raises(BlooioRequestError) as caught:
            client.list_chats()

    message = str(caught.value)
    assert caught.value.status_code == 404
    assert f"base_url {root.rstrip('/')!r} does not end in /v2/api" in message
    assert "https://backend.blooio.com/v2/api" in message
    assert server.api_key not in message


@pytest.mark.parametrize(
    ("status", "base_url"),
    [
        (404, "https://backend.blooio.com/v2/api"),
        (404, "https://proxy.example/v2/api/"),
        (400, "https://backend.blooio.com"),
    ],
)
def test_other_refusals_carry_no_base_url_hint(status: int, base_url: str) -> None:
    error = BlooioRequestError(
        status, "Chat not found", "chat_not_found", "/chats/x", base_url=base_url
    )

    assert (
        str(error)
        == f"Blooio refused GET /chats/x with HTTP {status}, code 'chat_not_found': Chat not found"
    )
