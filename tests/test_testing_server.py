"""The bundled Blooio server speaks the documented protocol, over real HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from blooio_dagster.testing import BlooioTestServer

# The field table of the vendor's GET /chats reference: every field optional, these types.
NULLABLE_STR = (str, type(None))
CHAT_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "type": (str,),
    "is_group": (bool,),
    "group_id": NULLABLE_STR,
    "group_name": NULLABLE_STR,
    "member_count": (int,),
    "contact": (dict, type(None)),
    "message_count": (int,),
    "inbound_count": (int,),
    "outbound_count": (int,),
    "background_url": NULLABLE_STR,
    "background_id": NULLABLE_STR,
    "last_message_time": (int,),
    "last_inbound_time": (int, type(None)),
    "last_outbound_time": (int, type(None)),
    "last_message": (dict,),
}
CONTACT_FIELDS = {"contact_id": (str,), "name": NULLABLE_STR, "identifier": (str,)}
LAST_MESSAGE_FIELDS = {
    "message_id": (str,),
    "text": NULLABLE_STR,
    "direction": (str,),
    "time_sent": (int,),
}


def check_fields(obj: dict[str, Any], table: dict[str, tuple[type, ...]], where: str) -> None:
    unknown = set(obj) - set(table)
    assert not unknown, f"{where} has fields the reference does not: {unknown}"
    for name, value in obj.items():
        assert isinstance(value, table[name]), f"{where}.{name} = {value!r}"
        if table[name] == (int,):
            assert not isinstance(value, bool), f"{where}.{name} is a bool"


def get(server: BlooioTestServer, path: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return httpx.get(f"{server.base_url}{path}", params=params, headers=headers)


def test_every_chat_matches_the_reference_field_table(server: BlooioTestServer) -> None:
    body = get(server, "/chats", limit=200, offset=0).json()
    chats = body["chats"]
    for offset in range(200, 1000, 200):
        chats += get(server, "/chats", limit=200, offset=offset).json()["chats"]

    assert set(body) == {"chats", "pagination"}
    assert len(chats) == 1000
    for chat in chats:
        check_fields(chat, CHAT_FIELDS, chat["id"])
        assert chat["type"] in ("phone", "email", "group")
        assert chat["is_group"] == (chat["type"] == "group")
        assert chat["message_count"] == chat["inbound_count"] + chat["outbound_count"]
        check_fields(chat["last_message"], LAST_MESSAGE_FIELDS, f"{chat['id']}.last_message")
        assert chat["last_message"]["direction"] in ("inbound", "outbound")
        assert chat["last_message"]["time_sent"] == chat["last_message_time"]
        if chat["is_group"]:
            assert chat["id"].startswith("grp_")
            assert chat["contact"] is None
        else:
            assert chat["group_id"] is None
            assert "member_count" not in chat
            if chat["type"] == "phone":
                assert re.fullmatch(r"\+[1-9]\d{7,14}", chat["id"])
            else:
                assert "@" in chat["id"]
            if chat["contact"] is not None:
                check_fields(chat["contact"], CONTACT_FIELDS, f"{chat['id']}.contact")
                assert chat["contact"]["identifier"] == chat["id"]
    times = [chat["last_message_time"] for chat in chats]
    assert times == sorted(times, reverse=True)
    assert 1_000_000_000_000 < times[-1] < times[0] <= server.now_ms  # epoch milliseconds


def test_the_data_has_the_variety_of_a_real_inbox(server: BlooioTestServer) -> None:
    chats = server.truth()

    assert {c["type"] for c in chats} == {"phone", "email", "group"}
    assert any(c["last_inbound_time"] is None for c in chats), "nobody wrote in"
    assert any(c["last_outbound_time"] is None for c in chats), "never answered"
    assert any(c["contact"] is None for c in chats if not c["is_group"])
    assert any(c["contact"] and c["contact"]["name"] is None for c in chats)
    assert any(c["last_message"]["text"] is None for c in chats)
    assert any(not (c["contact"] or {}).get("name", "a").isascii() for c in chats)
    assert any(c["background_url"] for c in chats)


def test_the_same_seed_gives_the_same_chats() -> None:
    first = BlooioTestServer(chats=300, seed=4, now=1_800_000_000_000).truth()
    again = BlooioTestServer(chats=300, seed=4, now=1_800_000_000_000).truth()
    other = BlooioTestServer(chats=300, seed=5, now=1_800_000_000_000).truth()

    assert first == again
    assert first != other


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit must be an integer between 1 and 200"),
        ({"limit": 201}, "limit must be an integer between 1 and 200"),
        ({"limit": "ten"}, "limit must be an integer between 1 and 200"),
        ({"offset": -1}, "offset must be an integer greater than or equal to 0"),
        ({"sort": "newest"}, "sort must be one of: recent, oldest"),
    ],
)
def test_bad_parameters_get_the_api_error_body(
    server: BlooioTestServer, params: dict[str, Any], message: str
) -> None:
    response = get(server, "/chats", **params)

    assert response.status_code == 400
    assert response.json() == {
        "error": "ApiError",
        "message": message,
        "status": 400,
        "code": response.json()["code"],
    }


def test_defaults_are_limit_50_offset_0(server: BlooioTestServer) -> None:
    body = get(server, "/chats").json()

    assert body["pagination"] == {"limit": 50, "offset": 0, "total": 1000}
    assert len(body["chats"]) == 50


def test_requests_without_the_key_get_401(server: BlooioTestServer) -> None:
    missing = httpx.get(f"{server.base_url}/chats")
    wrong = httpx.get(f"{server.base_url}/chats", headers={"Authorization": "Bearer bl_test_x"})

    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["message"] == "Authentication required or invalid"


def test_one_chat_by_id_with_url_encoding(server: BlooioTestServer) -> None:
    phone = next(c for c in server.truth() if c["type"] == "phone")

    response = get(server, f"/chats/{phone['id'].replace('+', '%2B')}")

    assert response.status_code == 200
    assert response.json()["id"] == phone["id"]
    assert isinstance(response.json()["first_message_time"], int)
    assert get(server, "/chats/unknown").status_code == 404
    assert get(server, "/nothing-here").status_code == 404


def test_only_get_is_served(server: BlooioTestServer) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    response = httpx.post(f"{server.base_url}/chats", headers=headers)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


def test_moving_chats_jump_to_the_front(server: BlooioTestServer) -> None:
    before = server.truth()

    moved = server.receive_messages(3)

    after = server.truth()
    assert {c["id"] for c in after[:3]} == set(moved)
    assert all(c["last_message_time"] > before[0]["last_message_time"] for c in after[:3])
    assert len(after) == len(before)


def test_runs_in_the_foreground_from_the_command_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "blooio_dagster.testing", "--port", str(port), "--chats", "120"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/v2/api" in banner
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/v2/api/chats",
                    params={"limit": 200},
                    headers={"Authorization": "Bearer bl_test_local"},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the server did not start listening"
                time.sleep(0.1)
        assert response.json()["pagination"]["total"] == 120
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
