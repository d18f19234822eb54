"""Hostile servers: what the client promises when a response lies, drips, echoes the key,
nests, balloons or goes through a proxy.

Each server here is real (a raw socket on 127.0.0.1, see :mod:`tests.raw_server`, or the
bundled test server) and misbehaves exactly as described. The promises: every failure is a
:class:`BlooioError` (never a raw httpx or Python error), no log record or exception in the
chain carries any 8 characters of the key, errors name chats only by
:func:`~blooio_dagster.api.redaction.chat_ref`, an attempt ends at its deadline whatever the
server does, and memory per page is bounded by the rows asked for.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import httpx
import pytest
from dagster.components.testing.utils import component_defs

from blooio_dagster import (
    BlooioClient,
    BlooioComponent,
    BlooioConfigError,
    BlooioConnectionError,
    BlooioError,
    BlooioResource,
    BlooioResponseError,
    BlooioServerError,
    chats_to_frame,
    messages_to_frame,
)
from blooio_dagster.api.http import body_cap
from blooio_dagster.api.redaction import chat_ref
from blooio_dagster.testing import BlooioTestServer
from tests.conftest import ClientFactory, ServerFactory
from tests.raw_server import Answer, Connection, RawServer, response

#: A key whose every 8 characters are looked for in every log record and error.
KEY = "bl_test_" + "Q7f2Kx9mWp4Rz8Lb3Nc6Vd1Hj5Gt0Ys2Ua7Ee4Oi"
RUN = 8
KEY_RUNS = {KEY[i : i + RUN] for i in range(len(KEY) - RUN + 1)}
#: A customer's number, and how it looks in a URL.
PHONE = "+15551234567"
NAME = "Ana Lopez"
START = b"HTTP/1.1 200 OK\r\n"


def leaks(text: str) -> list[str]:
    """The runs of 8 characters of :data:`KEY` in ``text``."""
    return sorted(run for run in KEY_RUNS if run in text)


def page(chats: list[dict[str, Any]], total: int | None = None) -> bytes:
    body = {"chats": chats, "pagination": {"total": len(chats) if total is None else total}}
    return json.dumps(body).encode()


def echoed_key(connection: Connection) -> str:
    """The key as the client sent it, which a hostile server echoes."""
    return (connection.header("authorization") or "").removeprefix("Bearer ")


@pytest.fixture
def raw_server() -> Iterator[Callable[[Answer], RawServer]]:
    """``raw_server(answer)``: a started :class:`RawServer`, stopped after the test."""
    servers: list[RawServer] = []

    def start(answer: Answer) -> RawServer:
        server = RawServer(answer).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record logged anywhere during the test, DEBUG included, as handlers see them."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep(logging.DEBUG)
    names = ["", "httpx", "httpcore", "blooio_dagster"]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield seen
    logging.getLogger().removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in records:
        texts.append(formatter.format(record))
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    return texts


def chain_texts(error: BaseException) -> list[str]:
    """str, repr, args and attributes of ``error`` and of every exception chained to it."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *map(repr, current.args)]
        texts += [repr(value) for value in vars(current).values()]
        todo += [current.__cause__, current.__context__]
    return texts


# -- hostile answers -----------------------------------------------------------------------------


def gzip_lie(connection: Connection) -> None:
    """A plain JSON page declared as gzip."""
    connection.send(response(page([]), headers={"Content-Encoding": "gzip"}))


def key_in_a_malformed_header_line(connection: Connection) -> None:
    """A header line without a colon that echoes the Authorization header (httpx quotes it)."""
    line = f"X-Echo Bearer {echoed_key(connection)}".encode()
    connection.send(START + b"Content-Length: 2\r\n" + line + b"\r\n\r\n{}")


def key_in_a_header(connection: Connection) -> None:
    """A well-formed header echoing the key (httpcore logs headers at DEBUG), then a 500."""
    connection.send(
        response(
            b"{}", status="500 Internal Server Error", headers={"X-Echo": echoed_key(connection)}
        )
    )


def key_near_the_cut_of_an_html_502(connection: Connection) -> None:
    """An HTML 502 page echoing the key across the 200th character, where excerpts are cut."""
    body = f"<html><body>{'x' * 170} Bearer {echoed_key(connection)} upstream</body></html>"
    assert body.index("bl_test_") < 200 < body.index("bl_test_") + len(KEY)
    connection.send(response(body.encode(), status="502 Bad Gateway", content_type="text/html"))


def key_in_a_json_error(connection: Connection) -> None:
    message = {"message": f"bad token {echoed_key(connection)}", "code": echoed_key(connection)}
    connection.send(response(json.dumps(message).encode(), status="400 Bad Request"))


def key_in_a_redirect(connection: Connection) -> None:
    """A redirect whose reason phrase and Location both carry the key."""
    key = echoed_key(connection)
    connection.send(
        response(
            b"",
            status=f"302 Found {key}",
            headers={"Location": f"https://evil.example/steal?key={key}"},
        )
    )


def key_in_a_page_field(connection: Connection) -> None:
    """A page whose total echoes the key: the error quoting the bad value must hide it."""
    body = {"chats": [], "pagination": {"total": f"Bearer {echoed_key(connection)}"}}
    connection.send(response(json.dumps(body).encode()))


def key_in_the_status_line(connection: Connection) -> None:
    """Not HTTP at all: a status line echoing the key (httpx quotes the line)."""
    connection.send(f"NOT HTTP Bearer {echoed_key(connection)}\r\n\r\n".encode())


def key_in_a_chunk_header(connection: Connection) -> None:
    """A chunked body whose chunk header echoes the key (httpx quotes the header)."""
    head = START + b"Transfer-Encoding: chunked\r\n\r\n"
    connection.send(head + f"Bearer {echoed_key(connection)}\r\n{{}}\r\n0\r\n\r\n".encode())


def deep_json(connection: Connection) -> None:
    connection.send(response(b"[" * 200_000))


def more_rows_than_asked(connection: Connection) -> None:
    chats = [{"id": f"+1555{n:07d}", "last_message_time": 1_000_000 - n} for n in range(500)]
    connection.send(response(page(chats)))


def body_cut_short(connection: Connection) -> None:
    connection.send(START + b"Content-Length: 1000\r\n\r\n" + page([])[:10])


def slow_head(connection: Connection) -> None:
    """A response head sent one header line every half second, for 30 seconds."""
    if not connection.send(START):
        return
    for n in range(60):
        if not connection.pause(0.5) or not connection.send(f"X-Drip-{n}: 1\r\n".encode()):
            return


def chat_with_a_bad_time(connection: Connection) -> None:
    connection.send(response(page([{"id": PHONE, "last_message_time": "yesterday"}])))


HOSTILE: dict[str, Answer] = {
    "gzip_lie": gzip_lie,
    "key_in_a_malformed_header_line": key_in_a_malformed_header_line,
    "key_in_a_header": key_in_a_header,
    "key_near_the_cut_of_an_html_502": key_near_the_cut_of_an_html_502,
    "key_in_a_json_error": key_in_a_json_error,
    "key_in_a_redirect": key_in_a_redirect,
    "key_in_a_page_field": key_in_a_page_field,
    "key_in_the_status_line": key_in_the_status_line,
    "key_in_a_chunk_header": key_in_a_chunk_header,
    "deep_json": deep_json,
    "more_rows_than_asked": more_rows_than_asked,
    "body_cut_short": body_cut_short,
    "slow_head": slow_head,
    "chat_with_a_bad_time": chat_with_a_bad_time,
}


# -- the acceptance test -----------------------------------------------------------------------


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_no_hostile_server_gets_the_key_into_logs_or_errors_or_escapes_as_another_error(
    hostile: str,
    raw_server: Callable[[Answer], RawServer],
    records: list[logging.LogRecord],
) -> None:
    server = raw_server(HOSTILE[hostile])

    with BlooioClient(KEY, base_url=server.base_url, timeout=1, max_retries=1) as client:
        with pytest.raises(BlooioError) as caught:
            client.crawl_chats()

    texts = chain_texts(caught.value) + record_texts(records)
    assert [(run, text) for text in texts for run in leaks(text)] == []
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert len(server.requests) >= 1
    assert leaks(server.requests[0].decode()) != [], "the key was sent"


# -- each promise on its own -------------------------------------------------------------------


def test_a_body_that_does_not_decode_as_declared_is_retried_then_a_response_error(
    raw_server: Callable[[Answer], RawServer],
) -> None:
    server = raw_server(gzip_lie)

    with BlooioClient(KEY, base_url=server.base_url, max_retries=2) as client:
        with pytest.raises(BlooioResponseError) as caught:
            client.get_chats_page(limit=10, offset=0)

    assert "does not decode as its headers declare (DecodingError" in str(caught.value)
    assert len(server.requests) == 3


def test_a_key_echoed_in_a_malformed_header_line_is_in_no_warning_and_no_chained_error(
    raw_server: Callable[[Answer], RawServer], records: list[logging.LogRecord]
) -> None:
    server = raw_server(key_in_a_malformed_header_line)

    with BlooioClient(KEY, base_url=server.base_url, max_retries=1) as client:
        with pytest.raises(BlooioConnectionError) as caught:
            client.get_chats_page(limit=10, offset=0)

    warnings = [r.getMessage() for r in records if r.name == "blooio_dagster"]
    assert any("illegal header line" in text for text in warnings), warnings
    assert [text for text in warnings if leaks(text)] == []
    assert "illegal header line" in str(caught.value)
    assert leaks(str(caught.value)) == []
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)


def test_an_html_error_page_echoing_the_key_at_the_cut_leaves_no_part_of_it(
    raw_server: Callable[[Answer], RawServer],
) -> None:
    server = raw_server(key_near_the_cut_of_an_html_502)

    with BlooioClient(KEY, base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(BlooioServerError) as caught:
            client.get_chats_page(limit=10, offset=0)

    assert caught.value.api_message is not None
    assert "Bearer [redacted]" in caught.value.api_message
    assert leaks(str(caught.value)) == []


def test_a_slowly_sent_head_ends_the_attempt_at_its_deadline(
    raw_server: Callable[[Answer], RawServer],
) -> None:
    server = raw_server(slow_head)

    started = time.monotonic()
    with BlooioClient(KEY, base_url=server.base_url, timeout=1, max_retries=0) as client:
        with pytest.raises(BlooioConnectionError) as caught:
            client.get_chats_page(limit=10, offset=0)
    elapsed = time.monotonic() - started

    # The server would drip for 30 s; the attempt's deadline is 1 s (10 s allows a busy machine).
    assert elapsed < 10, f"the attempt took {elapsed:.1f} s"
    assert "took longer than timeout=1 s" in str(caught.value)


@pytest.mark.parametrize("call", ["get_chats_page", "crawl_chats", "get_chat"])
def test_deeply_nested_json_is_a_response_error(
    call: str, raw_server: Callable[[Answer], RawServer]
) -> None:
    server = raw_server(deep_json)
    calls: dict[str, Callable[[BlooioClient], object]] = {
        "get_chats_page": lambda client: client.get_chats_page(limit=10, offset=0),
        "crawl_chats": lambda client: client.crawl_chats(),
        "get_chat": lambda client: client.get_chat(PHONE),
    }

    with BlooioClient(KEY, base_url=server.base_url, max_retries=2) as client:
        with pytest.raises(BlooioResponseError) as caught:
            calls[call](client)

    assert "nests JSON deeper than can be decoded" in str(caught.value)
    assert len(server.requests) == 1, "a body that cannot decode is not asked for again"


@pytest.mark.parametrize("call", ["get_chats_page", "crawl_chats"])
def test_a_page_with_more_rows_than_asked_for_is_refused_naming_both(
    call: str, raw_server: Callable[[Answer], RawServer]
) -> None:
    server = raw_server(more_rows_than_asked)

    calls: dict[str, Callable[[BlooioClient], object]] = {
        "get_chats_page": lambda client: client.get_chats_page(limit=200, offset=0),
        "crawl_chats": lambda client: client.crawl_chats(),
    }

    with BlooioClient(KEY, base_url=server.base_url, page_size=200) as client:
        with pytest.raises(BlooioResponseError) as caught:
            calls[call](client)

    assert "the page has 500 chats where limit=200 asked for at most 200 chats" in str(caught.value)


@pytest.mark.parametrize("declared", [True, False])
def test_a_huge_page_stops_being_read_at_the_byte_cap_for_its_limit(
    declared: bool, raw_server: Callable[[Answer], RawServer]
) -> None:
    """A 62 MiB page of 1.25 million chats, asked for 200: read no further than its cap."""
    sent: list[int] = []
    row = b'{"id": "+15550000000", "last_message_time": 1},'
    rows = 1_250_000
    size = len(b'{"chats": [') + rows * len(row) + len(b"{}]}")

    def huge(connection: Connection) -> None:
        head = START + b"Content-Type: application/json\r\n"
        head += f"Content-Length: {size}\r\n".encode() if declared else b"Connection: close\r\n"
        total = 0
        chunk = row * 1000
        ok = connection.send(head + b"\r\n" + b'{"chats": [')
        for _ in range(rows // 1000):
            if not ok:
                break
            ok = connection.send(chunk)
            total += len(chunk) if ok else 0
        sent.append(total)

    server = raw_server(huge)
    with BlooioClient(KEY, base_url=server.base_url, max_retries=3) as client:
        with pytest.raises(BlooioResponseError) as caught:
            client.get_chats_page(limit=200, offset=0)
    server.stop()

    cap = body_cap(200)
    assert cap < 4 * 1024 * 1024
    assert f"over the {cap:,}-byte limit for the rows asked for" in str(caught.value)
    assert len(server.requests) == 1, "a page over its cap is not asked for again"
    # What the loopback socket buffers took beyond the cap is all the server got out.
    assert sent[0] < size // 2, f"the server sent {sent[0]:,} of {size:,} bytes"


# The peak is this process's own (see peak_rss_mb): not that of the process that started it.
_PEAK_RSS_SCRIPT = """
import sys
from benchmarks.contenders import peak_rss_mb
from blooio_dagster import BlooioClient, BlooioResponseError
with BlooioClient(sys.argv[1], base_url=sys.argv[2], max_retries=0) as client:
    try:
        client.crawl_chats()
    except BlooioResponseError as error:
        print(error.problem)
print(int(peak_rss_mb()))
"""


def test_a_crawl_given_a_62_mib_page_stays_within_a_small_peak_memory(
    raw_server: Callable[[Answer], RawServer],
) -> None:
    """The issue's page (1.25 million chats, 62 MiB, for 200 asked) once drove memory to
    2.4 GB; read in a fresh process, the crawl now peaks near what its imports take."""
    row = b'{"id": "+15550000000", "last_message_time": 1},'

    def huge(connection: Connection) -> None:
        head = START + b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
        if connection.send(head + b'{"chats": ['):
            for _ in range(1250):
                if not connection.send(row * 1000):
                    return

    server = raw_server(huge)
    ran = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_SCRIPT, KEY, server.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        check=False,
    )

    lines = ran.stdout.splitlines()
    assert ran.returncode == 0, ran.stderr
    assert "-byte limit for the rows asked for" in lines[0]
    assert int(lines[-1]) < 150, f"peak RSS {lines[-1]} MiB"


def test_errors_name_a_malformed_chat_by_position_not_by_its_number(
    raw_server: Callable[[Answer], RawServer],
) -> None:
    server = raw_server(chat_with_a_bad_time)

    with BlooioClient(KEY, base_url=server.base_url) as client:
        with pytest.raises(BlooioResponseError) as caught:
            client.crawl_chats()

    assert "chats[0] has last_message_time a str; expected epoch milliseconds" in str(caught.value)
    assert "5551234567" not in str(caught.value)


def test_chats_and_messages_tables_name_chats_by_hash_not_by_number_or_name(
    raw_server: Callable[[Answer], RawServer],
    server: BlooioTestServer,
    client_for: ClientFactory,
) -> None:
    bad_contact = raw_server(
        lambda connection: connection.send(
            response(page([{"id": PHONE, "last_message_time": 5, "contact": NAME}]))
        )
    )
    with BlooioClient(KEY, base_url=bad_contact.base_url) as client:
        chats = client.list_chats()
    with pytest.raises(BlooioResponseError) as chats_error:
        chats_to_frame(chats)

    chat_id = server.truth()[0]["id"]
    messages = client_for(server).list_messages(chat_id)
    messages[0]["status"] = 5
    with pytest.raises(BlooioResponseError) as messages_error:
        messages_to_frame({chat_id: messages})

    assert f"({chat_ref(PHONE)}) has contact = a str" in str(chats_error.value)
    assert f"chat {chat_ref(chat_id)} has status = 5" in str(messages_error.value)
    shown = [str(chats_error.value), str(messages_error.value)]
    private = [PHONE[1:], NAME, chat_id, quote(chat_id, safe="")]
    assert [(text, p) for text in shown for p in private if p in text] == []


def test_httpx_request_logs_show_chat_ids_and_searches_only_as_hashes(
    server: BlooioTestServer, client_for: ClientFactory, records: list[logging.LogRecord]
) -> None:
    chat_id = server.truth()[0]["id"]
    client = client_for(server)

    client.list_messages(chat_id)
    client.get_chats_page(limit=5, offset=0, q=NAME)

    requests = [
        r.getMessage() for r in records if r.name == "httpx" and "HTTP Request" in r.getMessage()
    ]
    assert any(f"/chats/{chat_ref(chat_id)}/messages" in text for text in requests), requests
    assert any("q=[hidden]" in text for text in requests), requests
    private = [chat_id, quote(chat_id, safe=""), "Ana", quote(NAME)]
    everything = record_texts(records)
    assert [(text, p) for text in everything for p in private if p in text] == []


def test_a_traceback_logged_with_an_exception_that_quotes_the_key_is_redacted(
    raw_server: Callable[[Answer], RawServer], records: list[logging.LogRecord]
) -> None:
    """httpx's own exception quotes the echoed key; logged with its traceback on a filtered
    logger while a client holds the key, the formatted record hides it."""
    server = raw_server(key_in_a_malformed_header_line)
    with BlooioClient(KEY, base_url=server.base_url), httpx.Client() as plain:
        try:
            plain.get(server.base_url, headers={"Authorization": f"Bearer {KEY}"})
        except httpx.RemoteProtocolError:
            logging.getLogger("blooio_dagster").exception("Blooio: the request failed")

    logged = [r for r in records if r.getMessage() == "Blooio: the request failed"]
    assert len(logged) == 1
    text = logging.Formatter().format(logged[0])
    assert "illegal header line" in text
    assert leaks(text) == []


# -- proxies from the environment ---------------------------------------------------------------


@pytest.fixture
def proxy(raw_server: Callable[[Answer], RawServer], monkeypatch: pytest.MonkeyPatch) -> RawServer:
    """A fake proxy on loopback, set in every proxy variable; it refuses what it is asked."""
    fake = raw_server(
        lambda connection: connection.send(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
    )
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{fake.port}")
        monkeypatch.setenv(name.lower(), f"http://127.0.0.1:{fake.port}")
    return fake


def test_plain_http_to_loopback_never_goes_through_a_proxy_from_the_environment(
    proxy: RawServer, start_server: ServerFactory
) -> None:
    server = start_server(chats=3, seed=1)

    with BlooioClient(server.api_key, base_url=server.base_url) as client:
        chats = client.list_chats()

    assert len(chats) == 3
    assert proxy.requests == []


def test_https_keeps_the_proxy_from_the_environment(proxy: RawServer) -> None:
    with BlooioClient(KEY, base_url="https://backend.blooio.example/v2/api", max_retries=0) as c:
        with pytest.raises(BlooioConnectionError):
            c.get_chats_page(limit=1, offset=0)

    assert [head.split(b"\r\n")[0] for head in proxy.requests] == [
        b"CONNECT backend.blooio.example:443 HTTP/1.1"
    ]


# -- base URLs with secrets --------------------------------------------------------------------

SECRET = "Zx9SECRETqW3"
SECRET_URLS = [
    f"https://me:{SECRET}@backend.blooio.com/v2/api",
    f"https://backend.blooio.com/v2/api?token={SECRET}",
    f"https://backend.blooio.com/v2/api#{SECRET}",
    f"http://blooio.example/v2/api?token={SECRET}",
    f"https://backend.blooio.com/v2/ api?token={SECRET}",
    f"bl_live_{SECRET}",
    f"https://[::1/v2/api?token={SECRET}",
    f"backend.blooio.com/v2/api?token={SECRET}",
]


@pytest.mark.parametrize("base_url", SECRET_URLS)
def test_a_bad_base_url_is_refused_by_the_client_without_its_secret_parts(base_url: str) -> None:
    with pytest.raises(BlooioConfigError) as caught:
        BlooioClient(KEY, base_url=base_url)

    assert "base_url" in str(caught.value)
    assert [text for text in chain_texts(caught.value) if SECRET in text] == []


@pytest.mark.parametrize("base_url", SECRET_URLS)
def test_a_bad_base_url_is_refused_by_the_resource_without_its_secret_parts(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="base_url") as literal:
        BlooioResource(api_key=dg.EnvVar("BLOOIO_API_KEY"), base_url=base_url)
    monkeypatch.setenv("BLOOIO_API_KEY", KEY)
    monkeypatch.setenv("BLOOIO_BASE_URL", base_url)

    @dg.asset
    def needs_blooio(blooio: BlooioResource) -> None:
        pass

    with pytest.raises(dg.DagsterResourceFunctionError) as started:
        dg.materialize([needs_blooio], resources={"blooio": BlooioResource.from_env()})

    for caught in (literal, started):
        texts = chain_texts(caught.value)
        assert any("base_url" in text for text in texts)
        assert [text for text in texts if SECRET in text] == []


@pytest.mark.parametrize("base_url", SECRET_URLS[:3])
def test_a_bad_base_url_is_refused_by_the_component_without_its_secret_parts(
    base_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BLOOIO_API_KEY", KEY)
    monkeypatch.setenv("BLOOIO_BASE_URL", base_url)
    component = BlooioComponent.from_attributes_dict(
        attributes={"partitioned": False, "messages": False}
    )
    defs = component_defs(
        component=component,
        resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))},
    )

    with pytest.raises(dg.DagsterResourceFunctionError) as caught:
        defs.resolve_job_def("blooio_daily_job").execute_in_process()

    texts = chain_texts(caught.value)
    assert any("base_url" in text for text in texts)
    assert [text for text in texts if SECRET in text] == []
