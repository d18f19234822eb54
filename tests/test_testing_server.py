"""The bundled Blooio server speaks the documented protocol, over real HTTP."""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from blooio_dagster.testing import BlooioTestServer, Faults
from blooio_dagster.testing.__main__ import make_server, parse_args
from tests.conftest import FakeClock, ServerFactory, http_client, http_get

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


get = http_get


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
    kinds = {
        "nobody wrote in": [c for c in chats if c["last_inbound_time"] is None],
        "never answered": [c for c in chats if c["last_outbound_time"] is None],
        "no contact": [c for c in chats if c["contact"] is None and not c["is_group"]],
        "a contact without a name": [
            c for c in chats if c["contact"] and c["contact"]["name"] is None
        ],
        "no text": [c for c in chats if c["last_message"]["text"] is None],
        "a non-ASCII name": [
            c for c in chats if not ((c["contact"] or {}).get("name") or "a").isascii()
        ],
        "a background": [c for c in chats if c["background_url"]],
    }
    assert [kind for kind, found in kinds.items() if not found] == []


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
    newest_before = before[0]["last_message_time"]
    assert [c["id"] for c in after[:3] if c["last_message_time"] <= newest_before] == []
    assert len(after) == len(before)


def test_runs_in_the_foreground_and_prints_what_to_export() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "blooio_dagster.testing", "--port", "0", "--chats", "120"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline().rstrip("\n") for _ in range(5)]
        exports = dict(
            line.removeprefix("  export ").split("=", 1)
            for line in banner
            if line.startswith("  export ")
        )
        assert sorted(exports) == ["BLOOIO_API_KEY", "BLOOIO_BASE_URL"], banner
        assert banner[0] == f"Blooio test server with 120 chats at {exports['BLOOIO_BASE_URL']}"
        assert banner[-1] == "Ctrl-C stops it.", banner
        # The lines are printed once the server listens: the exported values work at once.
        response = httpx.get(
            exports["BLOOIO_BASE_URL"] + "/chats",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {exports['BLOOIO_API_KEY']}"},
        )
        assert response.json()["pagination"]["total"] == 120
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_a_bad_now_is_refused_saying_how_to_write_it(capsys: pytest.CaptureFixture[str]) -> None:
    from blooio_dagster.testing.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--now", "yesterday"])

    assert "not an ISO date and time: 'yesterday'; write e.g. 2026-03-10T15:00" in (
        capsys.readouterr().err
    )
    assert parse_args(["--now", "2026-03-10T15:00"]).now == 1_773_154_800_000


def test_a_taken_port_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = subprocess.run(
            [sys.executable, "-m", "blooio_dagster.testing", "--port", str(port), "--chats", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.startswith(f"Cannot listen on 127.0.0.1:{port}"), ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr


# -- data shapes and faults ---------------------------------------------------------------------

NOW = 1_780_000_000_000
# A timeline that ends after the machine's clock, so the server's own clock is "now" and
# the times of new, late and unsent messages follow from the seed alone.
LATE_NOW = 4_102_444_800_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def ids(chats: list[dict[str, Any]]) -> list[str]:
    return [chat["id"] for chat in chats]


def page(server: BlooioTestServer, **params: Any) -> dict[str, Any]:
    response = get(server, "/chats", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def every_chat(server: BlooioTestServer, **params: Any) -> list[dict[str, Any]]:
    chats: list[dict[str, Any]] = []
    offset = 0
    while True:
        got = page(server, limit=200, offset=offset, **params)["chats"]
        if not got:
            return chats
        chats += got
        offset += 200


def tie_group(server: BlooioTestServer, size: int) -> tuple[int, list[str]]:
    """Where the group of ``size`` chats sharing one time starts in the truth, and its ids."""
    truth = server.truth()
    times = [chat["last_message_time"] for chat in truth]
    start = next(i for i, t in enumerate(times) if t is not None and times.count(t) == size)
    return start, ids(truth[start : start + size])


def assert_consistent(chat: dict[str, Any]) -> None:
    assert chat["message_count"] == chat["inbound_count"] + chat["outbound_count"]
    for direction in ("inbound", "outbound"):
        assert (chat[f"{direction}_count"] == 0) == (chat[f"last_{direction}_time"] is None)
    if chat["last_message_time"] is None:
        assert chat["message_count"] == 0
        assert chat["last_message"] is None
        return
    last = chat["last_message"]
    other = "outbound" if last["direction"] == "inbound" else "inbound"
    assert last["time_sent"] == chat["last_message_time"] == chat[f"last_{last['direction']}_time"]
    assert (chat[f"last_{other}_time"] or 0) <= chat["last_message_time"]


def sort_key(nulls_first: bool) -> Any:
    def key(chat: dict[str, Any]) -> tuple[bool, int, str]:
        untimed = chat["last_message_time"] is None
        return (untimed != nulls_first, -(chat["last_message_time"] or 0), chat["id"])

    return key


def test_page_cap_serves_at_most_the_cap_and_says_so(start_server: ServerFactory) -> None:
    server = start_server(chats=500, seed=1, now=NOW, faults=Faults(page_cap=100))
    truth = ids(server.truth())

    first = page(server, limit=200)
    second = page(server, limit=200, offset=100)
    small = page(server, limit=30)
    server.faults.report_cap = False
    silent = page(server, limit=200)

    assert ids(first["chats"]) == truth[:100]
    assert first["pagination"] == {"limit": 100, "offset": 0, "total": 500}
    assert ids(second["chats"]) == truth[100:200]
    assert len(small["chats"]) == small["pagination"]["limit"] == 30
    assert ids(silent["chats"]) == truth[:100]
    assert silent["pagination"]["limit"] == 200


def test_short_pages_leave_out_rows_at_the_end_of_the_window(
    start_server: ServerFactory,
) -> None:
    server = start_server(chats=500, seed=1, now=NOW, faults=Faults(short_page_rate=1.0))
    truth = ids(server.truth())

    for offset in range(0, 500, 100):
        body = page(server, limit=100, offset=offset)
        got = ids(body["chats"])
        assert 97 <= len(got) <= 99
        assert got == truth[offset : offset + len(got)]  # the window is not shifted
        assert body["pagination"] == {"limit": 100, "offset": offset, "total": 500}
    assert len(page(server, limit=100, offset=499)["chats"]) == 1  # a row always stays


def test_empty_pages_while_the_total_says_chats_exist(start_server: ServerFactory) -> None:
    server = start_server(chats=300, seed=1, now=NOW, faults=Faults(empty_page_rate=1.0))

    for offset in (0, 100):
        body = page(server, limit=100, offset=offset)
        assert body == {"chats": [], "pagination": {"limit": 100, "offset": offset, "total": 300}}


def test_a_missing_total(start_server: ServerFactory) -> None:
    server = start_server(chats=300, seed=1, now=NOW, faults=Faults(missing_total_rate=1.0))

    body = page(server, limit=100)

    assert body["pagination"] == {"limit": 100, "offset": 0}
    assert ids(body["chats"]) == ids(server.truth()[:100])


def test_a_stale_total_is_low_but_never_negative(start_server: ServerFactory) -> None:
    server = start_server(chats=300, seed=1, now=NOW, faults=Faults(low_total_rate=1.0))
    tiny = start_server(chats=2, seed=1, now=NOW, faults=Faults(low_total_rate=1.0))

    totals = [page(server, limit=10)["pagination"]["total"] for _ in range(8)]

    assert [total for total in totals if not 290 <= total <= 299] == []
    assert len(set(totals)) > 1
    assert page(tiny)["pagination"]["total"] in (0, 1)
    assert len(page(tiny)["chats"]) == 2


def test_tie_groups_share_one_time_and_stay_self_consistent(
    start_server: ServerFactory,
) -> None:
    server = start_server(chats=1000, seed=2, now=NOW, tie_groups=(40, 3))
    chats = every_chat(server)

    sizes = Counter(Counter(chat["last_message_time"] for chat in chats).values())
    assert sizes[40] == 1
    assert sizes[3] == 1
    for chat in chats:
        assert_consistent(chat)
    start, group = tie_group(server, 40)
    assert 0 < start < 960
    assert group == sorted(group)  # tie_order="id": ties by id, the same every time
    assert ids(chats) == ids(server.truth())
    assert ids(page(server, limit=40, offset=start)["chats"]) == group


def test_tie_order_request_shuffles_ties_afresh_each_request(
    start_server: ServerFactory,
) -> None:
    server = start_server(
        chats=1000, seed=2, now=NOW, tie_groups=(40,), faults=Faults(tie_order="request")
    )
    start, group = tie_group(server, 40)
    truth = ids(server.truth())

    orders = [ids(page(server, limit=40, offset=start)["chats"]) for _ in range(4)]
    around = ids(page(server, limit=60, offset=start - 10)["chats"])

    assert [sorted(order) for order in orders] == [sorted(group)] * len(orders)
    assert len({tuple(order) for order in orders}) > 1
    assert around[:10] == truth[start - 10 : start]  # chats outside ties keep their places
    assert around[50:] == truth[start + 40 : start + 50]


def test_tie_order_window_is_stable_per_window_and_differs_between_windows(
    start_server: ServerFactory,
) -> None:
    server = start_server(
        chats=1000, seed=2, now=NOW, tie_groups=(40,), faults=Faults(tie_order="window")
    )
    start, group = tie_group(server, 40)

    same = [ids(page(server, limit=40, offset=start)["chats"]) for _ in range(3)]
    wider = ids(page(server, limit=41, offset=start)["chats"])[:40]
    halves = [ids(page(server, limit=20, offset=start + half)["chats"]) for half in (0, 20)]

    assert same[0] == same[1] == same[2]
    assert sorted(same[0]) == sorted(group)
    assert wider != same[0]
    assert sorted(wider) == sorted(group)
    # Paging through the group in two windows both misses and repeats chats, as in SQL
    # without a tiebreaker.
    assert len(set(halves[0]) | set(halves[1])) < 40


@pytest.mark.parametrize("nulls_first", [False, True])
def test_untimed_chats_sort_first_or_last(start_server: ServerFactory, nulls_first: bool) -> None:
    server = start_server(chats=300, seed=3, now=NOW, untimed_chats=7, nulls_first=nulls_first)

    recent = every_chat(server)
    oldest = every_chat(server, sort="oldest")

    untimed = [chat for chat in recent if chat["last_message_time"] is None]
    assert len(recent) == page(server)["pagination"]["total"] == 307
    assert len(untimed) == 7
    for chat in untimed:
        assert chat["last_inbound_time"] is None
        assert chat["last_outbound_time"] is None
        assert chat["last_message"] is None
        assert chat["message_count"] == chat["inbound_count"] == chat["outbound_count"] == 0
    edge = recent[:7] if nulls_first else recent[-7:]
    assert ids(edge) == sorted(ids(untimed))
    assert ids(oldest) == ids(recent)[::-1]
    assert recent == server.truth()
    assert recent == sorted(recent, key=sort_key(nulls_first))
    assert len(server.truth(active_since=0)) == 300


def test_future_chats_stay_in_front_while_new_messages_sort_behind(
    start_server: ServerFactory,
) -> None:
    # A fixed clock: the timeline ends at its time and runs on it, as on the machine's clock
    # in production, and new messages get its time (plus a ms per message, to stay unique).
    clock = FakeClock(1_800_000_000.0)
    server = start_server(chats=500, seed=4, now=None, clock=clock, future_chats=3)
    future = server.truth()[:3]
    clock.advance(60)
    stamp = server.now_ms + MINUTE_MS

    moved = server.receive_messages(2)
    server.faults.new_chats_per_request = 1
    body = page(server, limit=10)

    assert server.now_ms == 1_800_000_000_000
    assert [c["id"] for c in future if c["last_message_time"] < server.now_ms + DAY_MS] == []
    assert ids(body["chats"][:3]) == ids(future)
    fresh = body["chats"][3:6]
    assert set(moved) < set(ids(fresh))
    assert [chat["last_message_time"] for chat in fresh] == [stamp + 2, stamp + 1, stamp]
    assert body["chats"][6]["last_message_time"] <= server.now_ms


def test_deletions_shift_later_chats_forward(start_server: ServerFactory) -> None:
    server = start_server(chats=500, seed=5, now=NOW, faults=Faults(deletions_per_request=3))
    before = ids(server.truth())

    first = page(server, limit=100)
    deleted = server.deleted_ids()
    second = page(server, limit=100, offset=100)
    deleted_later = server.deleted_ids() - deleted

    assert len(deleted) == len(deleted_later) == 3
    survivors = [i for i in before if i not in deleted]
    assert ids(first["chats"]) == survivors[:100]
    assert first["pagination"]["total"] == 497
    survivors = [i for i in survivors if i not in deleted_later]
    assert ids(second["chats"]) == survivors[100:200]
    assert second["pagination"]["total"] == 494
    assert ids(server.truth()) == survivors
    assert get(server, f"/chats/{next(iter(deleted)).replace('+', '%2B')}").status_code == 404
    assert server.changed_ids() == set()


def test_late_messages_land_mid_list(start_server: ServerFactory) -> None:
    server = start_server(
        chats=2000, seed=6, now=LATE_NOW, faults=Faults(late_messages_per_request=4)
    )
    before = {chat["id"]: chat for chat in server.truth()}
    newest = max(chat["last_message_time"] for chat in before.values())

    body = page(server, limit=200)

    late = server.changed_ids()
    assert 1 <= len(late) <= 4
    truth = server.truth()
    assert ids(body["chats"]) == ids(truth[:200])
    for position, chat in enumerate(truth):
        if chat["id"] not in late:
            continue
        assert_consistent(chat)
        assert newest - 12 * HOUR_MS <= chat["last_message_time"] <= newest - HOUR_MS
        assert chat["last_message_time"] > before[chat["id"]]["last_message_time"]
        assert chat["message_count"] == before[chat["id"]]["message_count"] + 1
        assert position > 0
        assert truth[0]["last_message_time"] > chat["last_message_time"]


def test_unsent_messages_take_a_chat_back(start_server: ServerFactory) -> None:
    server = start_server(chats=1000, seed=7, now=NOW, faults=Faults(unsent_per_request=3))
    before = {chat["id"]: chat for chat in server.truth()}

    body = page(server, limit=200)

    unsent = server.changed_ids()
    assert len(unsent) == 3
    truth = server.truth()
    assert ids(body["chats"]) == ids(truth[:200])
    assert truth == sorted(truth, key=sort_key(False))
    for chat in (c for c in truth if c["id"] in unsent):
        old = before[chat["id"]]
        assert_consistent(chat)
        assert MINUTE_MS <= old["last_message_time"] - chat["last_message_time"] <= 3 * DAY_MS
        assert chat["message_count"] == old["message_count"] - 1
        direction = old["last_message"]["direction"]
        assert chat[f"{direction}_count"] == old[f"{direction}_count"] - 1
        assert chat["last_message"]["message_id"] != old["last_message"]["message_id"]


def test_an_ignored_offset_serves_the_first_page_again(start_server: ServerFactory) -> None:
    server = start_server(chats=300, seed=1, now=NOW, faults=Faults(ignore_offset=True))

    first = page(server, limit=100)
    third = page(server, limit=100, offset=200)

    assert ids(third["chats"]) == ids(first["chats"]) == ids(server.truth()[:100])
    assert third["pagination"] == {"limit": 100, "offset": 200, "total": 300}


def test_an_ignored_sort_serves_creation_order(start_server: ServerFactory) -> None:
    server = start_server(chats=300, seed=1, now=NOW, faults=Faults(ignore_sort=True))

    recent = every_chat(server)
    oldest = every_chat(server, sort="oldest")

    assert oldest == recent
    assert sorted(ids(recent)) == sorted(ids(server.truth()))
    times = [chat["last_message_time"] for chat in recent]
    assert times != sorted(times, reverse=True)
    assert times != sorted(times)


def test_a_dripped_body_arrives_slowly_and_whole(start_server: ServerFactory) -> None:
    # Real time, as the server really sleeps: bounds a loaded 2-core machine meets. The server
    # sleeps until each byte's time, so the body takes at least `dripping`; the headers come
    # in one write, in milliseconds, well within half of it.
    rate = 100  # bytes per second, for a body of about 100 bytes: about a second
    server = start_server(chats=10, seed=1, faults=Faults(drip_bytes_per_second=rate))
    headers = {"Authorization": f"Bearer {server.api_key}"}

    started = time.monotonic()
    with http_client(server).stream(
        "GET", f"{server.base_url}/chats/unknown", headers=headers
    ) as response:
        headers_after = time.monotonic() - started
        chunks = list(response.iter_raw())
    elapsed = time.monotonic() - started

    body = b"".join(chunks)
    assert response.status_code == 404
    assert int(response.headers["content-length"]) == len(body)
    assert json.loads(body)["code"] == "chat_not_found"
    dripping = (len(body) - 1) / rate
    assert headers_after < dripping / 2  # the headers come at once, then the body slowly
    assert elapsed >= dripping
    assert len(chunks) > 1


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_looks_like_an_empty_page(start_server: ServerFactory, status: int) -> None:
    server = start_server(chats=10, seed=1, now=NOW, faults=Faults(status_override=status))

    response = get(server, "/chats", limit=100)  # httpx does not follow redirects by default

    assert response.status_code == status
    assert response.headers["location"] == "https://elsewhere.example/v2/api/chats"
    assert response.json() == {"chats": [], "pagination": {"limit": 100, "offset": 0, "total": 0}}


def test_202_and_204_instead_of_200(start_server: ServerFactory) -> None:
    server = start_server(chats=10, seed=1, now=NOW, faults=Faults(status_override=202))

    accepted = get(server, "/chats")
    server.faults.status_override = 204
    empty = get(server, "/chats")
    unauthenticated = httpx.get(f"{server.base_url}/chats")

    assert accepted.status_code == 202
    assert accepted.json()["chats"] == []
    assert empty.status_code == 204
    assert empty.content == b""
    assert "content-length" not in empty.headers
    assert unauthenticated.status_code == 401


def test_a_status_override_for_a_share_of_requests(start_server: ServerFactory) -> None:
    server = start_server(
        chats=10,
        seed=1,
        now=NOW,
        faults=Faults(status_override=302, status_override_rate=0.5),
    )

    statuses = [get(server, "/chats").status_code for _ in range(20)]

    assert set(statuses) == {200, 302}


def test_a_padded_body_is_huge_and_still_valid_json(start_server: ServerFactory) -> None:
    server = start_server(chats=50, seed=1, now=NOW)
    plain = get(server, "/chats")
    server.faults.body_padding_bytes = 1_000_000

    padded = get(server, "/chats")

    assert len(padded.content) == len(plain.content) + 1_000_000
    assert padded.json() == plain.json()


def test_the_first_requests_get_429(start_server: ServerFactory) -> None:
    server = start_server(chats=10, seed=1, now=NOW, faults=Faults(first_requests_429=2))

    responses = [get(server, "/chats") for _ in range(4)]
    server.faults.first_requests_429 = 1  # counted again from now
    again = [get(server, "/chats").status_code for _ in range(2)]

    assert [r.status_code for r in responses] == [429, 429, 200, 200]
    for response in responses[:2]:
        assert response.headers["retry-after"] == "1"
        assert "retry-after-ms" not in response.headers
        assert response.json()["code"] == "rate_limited"
    assert again == [429, 200]


def test_a_fixed_window_limit_says_retry_after_1_and_recovers(
    start_server: ServerFactory,
) -> None:
    # A fixed clock: the window ends when the test moves the clock, however slow the machine.
    clock = FakeClock(1_000.0)
    server = start_server(chats=10, seed=1, now=NOW, clock=clock)
    server.faults.fixed_window = (3, 60.0)

    responses = [get(server, "/chats") for _ in range(5)]
    clock.advance(59.9)
    still = get(server, "/chats")
    clock.advance(0.2)
    later = [get(server, "/chats") for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert responses[3].headers["retry-after"] == "1"
    assert "retry-after-ms" not in responses[3].headers
    assert still.status_code == 429
    assert [r.status_code for r in later] == [200, 200, 200, 429]


def test_a_token_bucket_refills_on_the_servers_clock(start_server: ServerFactory) -> None:
    # A fixed clock: the bucket refills only when the test moves the clock.
    clock = FakeClock(1_000.0)
    server = start_server(chats=10, seed=1, now=NOW, clock=clock)
    server.faults.requests_per_second = 2

    burst = [get(server, "/chats").status_code for _ in range(3)]
    clock.advance(0.5)
    refilled = [get(server, "/chats").status_code for _ in range(2)]

    assert burst == [200, 200, 429]
    assert refilled == [200, 429]
    assert [r.answered_at for r in server.requests] == [1_000.0] * 3 + [1_000.5] * 2


def test_every_nth_request_gets_a_server_error(start_server: ServerFactory) -> None:
    server = start_server(chats=10, seed=1, now=NOW, faults=Faults(server_error_every=3))

    first = [get(server, "/chats", offset=n).status_code for n in range(7)]
    server.faults.server_error_every = 2  # counted again from now
    again = [get(server, "/chats", offset=n).status_code for n in range(4)]
    repeated = [get(server, "/chats", offset=1).status_code for _ in range(4)]
    server.faults.server_error_every = 0
    off = [get(server, "/chats", offset=n).status_code for n in range(3)]

    assert first == [200, 200, 503, 200, 200, 503, 200]
    assert again == [200, 503, 200, 503]
    assert repeated == [200, 200, 200, 200], "a request that failed once is never failed again"
    assert off == [200, 200, 200]


def test_faults_are_reproducible_for_a_seed_and_a_request_sequence(
    start_server: ServerFactory,
) -> None:
    def faults() -> Faults:
        return Faults(
            tie_order="request",
            short_page_rate=0.3,
            low_total_rate=0.3,
            messages_per_request=1,
            deletions_per_request=1,
            late_messages_per_request=1,
            unsent_per_request=1,
        )

    def bodies() -> list[bytes]:
        server = start_server(chats=400, seed=8, now=LATE_NOW, tie_groups=(30,), faults=faults())
        return [get(server, "/chats", limit=100, offset=o).content for o in (0, 100, 200, 300)]

    assert bodies() == bodies()


@pytest.mark.parametrize("nulls_first", [False, True])
def test_pages_match_the_truth_after_every_kind_of_change(
    start_server: ServerFactory, nulls_first: bool
) -> None:
    server = start_server(
        chats=1500,
        seed=9,
        now=LATE_NOW,
        tie_groups=(30, 5),
        untimed_chats=20,
        nulls_first=nulls_first,
        future_chats=4,
        faults=Faults(
            messages_per_request=2,
            new_chats_per_request=1,
            deletions_per_request=2,
            late_messages_per_request=2,
            unsent_per_request=2,
        ),
    )
    for _ in range(30):
        page(server, limit=1)
    server.faults = Faults()

    truth = server.truth()
    recent = every_chat(server)
    oldest = every_chat(server, sort="oldest")

    assert recent == truth
    assert oldest == truth[::-1]
    assert truth == sorted(truth, key=sort_key(nulls_first))
    assert len(truth) == 1500 + 20 + 4 + 30 - 60
    assert not server.deleted_ids() & set(ids(truth))
    for chat in truth:
        assert_consistent(chat)


def test_every_fault_is_documented() -> None:
    # Python 3.13 dedents docstrings when compiling; cleandoc gives both versions one form.
    documented = inspect.cleandoc(Faults.__doc__ or "")

    for name in Faults.__dataclass_fields__:
        assert f"    {name}: " in documented, name


def test_the_command_line_sets_the_new_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixed clock: the command line's server ends its timeline at the machine's time.
    monkeypatch.setattr(time, "time", FakeClock(1_800_000_000.0))
    args = parse_args(
        [
            *("--chats", "50", "--page-cap", "20", "--tie-order", "window"),
            *("--tie-groups", "10,3", "--untimed-chats", "4", "--nulls-first"),
            *("--chat-messages-per-request", "2"),
        ]
    )

    server = make_server(args)

    assert server.faults.page_cap == 20
    assert server.faults.chat_messages_per_request == 2
    assert server.faults.tie_order == "window"
    truth = server.truth()
    assert len(truth) == 54
    assert [chat["last_message_time"] for chat in truth[:4]] == [None] * 4
    assert server.now_ms == 1_800_000_000_000
    sizes = Counter(Counter(chat["last_message_time"] for chat in truth).values())
    assert sizes[10] == sizes[3] == 1
    with pytest.raises(SystemExit):
        parse_args(["--tie-order", "random"])
