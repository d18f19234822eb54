"""The bundled server's ``GET /chats/{chat_id}/messages``, over real HTTP.

Histories agree with ``GET /chats`` (counts, newest times, ``last_message``, the first
message), parameters and errors behave as the API reference says, the faults that change chats
change their histories, and the official SDK reads the endpoint.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from blooio_dagster.testing import BlooioTestServer, Faults
from blooio_dagster.testing.history import chat_fields, generate_history
from tests.conftest import FIXED_NOW_MS, ServerFactory, http_get

# The vendor's typed spec of a message (blooio/types/chats/message_list_response.py).
NULLABLE_STR = (str, type(None))
MESSAGE_FIELDS: dict[str, tuple[type, ...]] = {
    "message_id": (str,),
    "direction": (str,),
    "text": NULLABLE_STR,
    "time_sent": (int,),
    "time_delivered": (int, type(None)),
    "status": (str,),
    "protocol": (str,),
    "sender": NULLABLE_STR,
    "error": NULLABLE_STR,
    "external_id": (str,),
    "internal_id": (str,),
    "attachments": (list,),
    "reactions": (list,),
}
STATUSES = {
    "pending",
    "queued",
    "sent",
    "delivered",
    "failed",
    "cancellation_requested",
    "cancelled",
}
PROTOCOLS = {"imessage", "sms", "rcs", "non-imessage"}
CHAT_FIELDS = (
    "message_count",
    "inbound_count",
    "outbound_count",
    "last_message_time",
    "last_inbound_time",
    "last_outbound_time",
    "last_message",
)


def path_of(chat_id: str) -> str:
    return f"/chats/{quote(chat_id, safe='')}/messages"


get = http_get


def messages(server: BlooioTestServer, chat_id: str, **params: Any) -> dict[str, Any]:
    response = get(server, path_of(chat_id), **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def every_message(server: BlooioTestServer, chat_id: str, **params: Any) -> list[dict[str, Any]]:
    """A still chat's messages, paged by offset with ``sort=asc``."""
    got: list[dict[str, Any]] = []
    while True:
        page = messages(server, chat_id, limit=200, offset=len(got), sort="asc", **params)
        got += page["messages"]
        if len(page["messages"]) < 200:
            return got


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["message_id"] for item in items]


def key(message: dict[str, Any]) -> tuple[int, str]:
    return (message["time_sent"], message["message_id"])


def assert_agrees(chat: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """The chat's fields are what its messages say (independently of chat_fields)."""
    assert history == sorted(history, key=key)
    inbound = [m for m in history if m["direction"] == "inbound"]
    outbound = [m for m in history if m["direction"] == "outbound"]
    assert chat["message_count"] == len(history)
    assert chat["inbound_count"] == len(inbound)
    assert chat["outbound_count"] == len(outbound)
    assert chat["last_inbound_time"] == (max(m["time_sent"] for m in inbound) if inbound else None)
    assert chat["last_outbound_time"] == (
        max(m["time_sent"] for m in outbound) if outbound else None
    )
    if not history:
        assert chat["last_message_time"] is None
        assert chat["last_message"] is None
        return
    newest = max(history, key=key)
    assert chat["last_message_time"] == newest["time_sent"]
    assert chat["last_message"] == {
        "message_id": newest["message_id"],
        "text": newest["text"],
        "direction": newest["direction"],
        "time_sent": newest["time_sent"],
    }


# -- histories agree with the chat list ---------------------------------------------------------


def test_every_history_agrees_with_its_chat(start_server: ServerFactory) -> None:
    server = start_server(chats=1500, seed=11, tie_groups=(40, 3), untimed_chats=6, future_chats=2)

    for chat in server.truth():
        history = server.messages_of(chat["id"])
        assert_agrees(chat, history)
        one = get(server, f"/chats/{quote(chat['id'], safe='')}").json()
        assert one["first_message_time"] == (history[0]["time_sent"] if history else None)


def test_histories_over_http_equal_the_truth_and_the_field_table(
    start_server: ServerFactory,
) -> None:
    server = start_server(chats=300, seed=12)
    seen: Counter[str] = Counter()

    for chat in server.truth():
        history = every_message(server, chat["id"])
        assert history == server.messages_of(chat["id"])
        for message in history:
            unknown = set(message) - set(MESSAGE_FIELDS)
            assert not unknown, unknown
            for name, types in MESSAGE_FIELDS.items():
                assert isinstance(message[name], types), (name, message[name])
            assert message["direction"] in ("inbound", "outbound")
            assert message["status"] in STATUSES
            assert message["protocol"] in PROTOCOLS
            assert message["external_id"] == chat["id"]
            assert message["time_sent"] <= FIXED_NOW_MS
            assert (message["time_delivered"] or 0) <= FIXED_NOW_MS
            for reaction in message["reactions"]:
                assert message["time_sent"] < reaction["time_sent"] <= FIXED_NOW_MS
            if message["direction"] == "inbound" and chat["is_group"]:
                assert message["sender"] is not None
                seen["group sender"] += 1
            else:
                assert message["sender"] is None
            if message["status"] == "failed":
                assert message["direction"] == "outbound"
                assert message["error"]
                assert message["time_delivered"] is None
                seen["failed"] += 1
            seen["attachments"] += bool(message["attachments"])
            seen["reactions"] += bool(message["reactions"])
            seen["no text"] += message["text"] is None
        times = Counter(m["time_sent"] for m in history)
        seen["ties"] += sum(n > 1 for n in times.values())
        seen["failed last"] += (
            chat["last_message"]["direction"] == "outbound" and history[-1]["status"] == "failed"
        )
    for kind in ("group sender", "failed", "attachments", "reactions", "no text", "ties"):
        assert seen[kind] > 0, kind
    # Failed outbound messages count like any other: some chats even end with one.
    assert seen["failed last"] > 0


def test_histories_are_made_on_demand_and_reproducible(start_server: ServerFactory) -> None:
    server = start_server(chats=200, seed=13)
    again = BlooioTestServer(chats=200, seed=13, now=FIXED_NOW_MS)
    other = BlooioTestServer(chats=200, seed=14, now=FIXED_NOW_MS)
    chat = server.truth()[50]

    assert server._store.histories == {}, "nothing stored up front"
    assert server.messages_of(chat["id"]) == again.messages_of(chat["id"])
    assert server.messages_of(chat["id"]) == server.messages_of(chat["id"])
    assert ids(other.messages_of(other.truth()[50]["id"])) != ids(server.messages_of(chat["id"]))
    assert server._store.histories == {}


def test_generated_history_fits_its_chat_whatever_the_chat() -> None:
    # Chats reshaped by ties and future dates, with one message, with one direction only.
    server = BlooioTestServer(
        chats=3000, seed=15, now=FIXED_NOW_MS, tie_groups=(300, 2), future_chats=5
    )
    for chat in server.truth():
        first = server._store.first_times[chat["id"]]
        history = generate_history(chat, first, 15, FIXED_NOW_MS)
        fields = chat_fields(history)
        assert {name: chat[name] for name in CHAT_FIELDS} == fields
        assert history[0]["time_sent"] == first


# -- URL encoding, parameters and errors --------------------------------------------------------


def test_chat_ids_are_url_encoded_in_the_path(server: BlooioTestServer) -> None:
    chats = server.truth()
    phone = next(c for c in chats if c["type"] == "phone")
    email = next(c for c in chats if c["type"] == "email")
    group = next(c for c in chats if c["type"] == "group")

    for chat in (phone, email, group):
        body = messages(server, chat["id"], limit=200)
        assert body["chat_id"] == chat["id"]
        assert body["pagination"]["total"] == chat["message_count"]
    # As the SDK sends it: '+' and '@' are allowed in a path segment.
    raw = get(server, f"/chats/{phone['id']}/messages")
    assert raw.status_code == 200
    assert raw.json()["chat_id"] == phone["id"]
    at = get(server, f"/chats/{email['id'].replace('@', '%40')}/messages")
    assert at.json()["chat_id"] == email["id"]


def test_defaults_sort_newest_first_and_filters(server: BlooioTestServer) -> None:
    chat = max(server.truth(), key=lambda c: c["message_count"])
    history = server.messages_of(chat["id"])
    middle = history[len(history) // 2]["time_sent"]

    default = messages(server, chat["id"])
    oldest = messages(server, chat["id"], sort="asc", limit=5, offset=3)
    inbound = messages(server, chat["id"], direction="inbound", limit=200)
    since = messages(server, chat["id"], since=middle, limit=200, sort="asc")
    until = messages(server, chat["id"], until=middle, limit=200, sort="asc")

    assert default["pagination"] == {"limit": 50, "offset": 0, "total": len(history)}
    assert ids(default["messages"]) == ids(history[::-1][:50])
    assert ids(oldest["messages"]) == ids(history[3:8])
    assert ids(inbound["messages"]) == ids(
        [m for m in history[::-1] if m["direction"] == "inbound"]
    )
    # since and until are exclusive ("sent after", "sent before"), as the SDK words them.
    assert ids(since["messages"]) == ids([m for m in history if m["time_sent"] > middle])
    assert ids(until["messages"]) == ids([m for m in history if m["time_sent"] < middle])
    assert since["pagination"]["total"] == len(since["messages"])


def test_inclusive_bounds_on_request(start_server: ServerFactory) -> None:
    server = start_server(chats=50, seed=16, faults=Faults(inclusive_bounds=True))
    chat = max(server.truth(), key=lambda c: c["message_count"])
    history = server.messages_of(chat["id"])
    at = history[5]["time_sent"]

    got = messages(server, chat["id"], since=at, until=at, limit=200)["messages"]

    assert ids(got) == ids([m for m in history if m["time_sent"] == at][::-1])
    assert got


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 201}, "invalid_limit"),
        ({"offset": -1}, "invalid_offset"),
        ({"sort": "recent"}, "invalid_sort"),
        ({"direction": "both"}, "invalid_direction"),
        ({"since": "yesterday"}, "invalid_since"),
        ({"until": -5}, "invalid_until"),
    ],
)
def test_bad_parameters_get_the_api_error_body(
    server: BlooioTestServer, params: dict[str, Any], code: str
) -> None:
    chat_id = server.truth()[0]["id"]

    response = get(server, path_of(chat_id), **params)

    assert response.status_code == 400
    body = response.json()
    assert body == {"error": "ApiError", "message": body["message"], "status": 400, "code": code}
    assert body["message"]


def test_an_unknown_chat_is_404(server: BlooioTestServer) -> None:
    response = get(server, path_of("+19999999999"))

    assert response.status_code == 404
    assert response.json()["code"] == "chat_not_found"
    assert httpx.get(f"{server.base_url}{path_of('+1')}").status_code == 401


def test_page_faults_shape_messages_pages(start_server: ServerFactory) -> None:
    server = start_server(chats=100, seed=17, faults=Faults(page_cap=7, missing_total_rate=1.0))
    chat = max(server.truth(), key=lambda c: c["message_count"])

    capped = messages(server, chat["id"], limit=200)
    server.faults = Faults(empty_page_rate=1.0)
    empty = messages(server, chat["id"], limit=20)
    server.faults = Faults(status_override=302)
    redirect = get(server, path_of(chat["id"]))

    assert len(capped["messages"]) == 7
    assert capped["pagination"] == {"limit": 7, "offset": 0}
    assert empty["messages"] == []
    assert empty["pagination"]["total"] == chat["message_count"]
    assert redirect.status_code == 302
    assert redirect.json()["messages"] == []


def test_tie_order_request_shuffles_messages_sharing_a_millisecond(
    start_server: ServerFactory,
) -> None:
    server = start_server(chats=400, seed=18, faults=Faults(tie_order="request"))
    chat_id, at = next(
        (c["id"], t)
        for c in server.truth()
        for t, n in Counter(m["time_sent"] for m in server.messages_of(c["id"])).items()
        if n > 2
    )

    orders = {
        tuple(ids(messages(server, chat_id, since=at - 1, until=at + 1)["messages"]))
        for _ in range(12)
    }

    assert len(orders) > 1
    assert len({frozenset(order) for order in orders}) == 1


# -- histories change with the chats ------------------------------------------------------------


def test_new_messages_arrive_at_the_end_of_an_ascending_read(start_server: ServerFactory) -> None:
    server = start_server(chats=100, seed=19, faults=Faults(chat_messages_per_request=2))
    chat = server.truth()[40]
    before = server.messages_of(chat["id"])
    # With a fixed `now`, new messages count milliseconds from the data's newest message.
    newest = server.truth()[0]["last_message_time"]

    first = messages(server, chat["id"], sort="asc", limit=200)

    after = server.messages_of(chat["id"])
    assert len(after) == len(before) + 2
    assert ids(first["messages"]) == ids(after)
    assert after[:-2] == before
    assert [m["time_sent"] for m in after[-2:]] == [newest + 1, newest + 2]
    assert newest + 2 <= server.now_ms
    assert_agrees(server.truth()[0], after)  # the chat moved to the front
    assert server.truth()[0]["id"] == chat["id"]


def test_unsent_messages_leave_the_history(start_server: ServerFactory) -> None:
    server = start_server(chats=100, seed=20, faults=Faults(chat_unsent_per_request=1))
    chat = server.truth()[10]
    before = server.messages_of(chat["id"])

    body = messages(server, chat["id"], limit=200)

    assert ids(body["messages"]) == ids(before[:-1][::-1])
    assert server.unsent_message_ids() == {before[-1]["message_id"]}
    truth = {c["id"]: c for c in server.truth()}
    assert_agrees(truth[chat["id"]], server.messages_of(chat["id"]))


def test_every_change_to_chats_changes_their_histories(start_server: ServerFactory) -> None:
    server = start_server(
        chats=800,
        seed=21,
        untimed_chats=10,
        future_chats=2,
        faults=Faults(
            messages_per_request=3,
            new_chats_per_request=1,
            deletions_per_request=1,
            late_messages_per_request=2,
            unsent_per_request=2,
        ),
    )
    for _ in range(20):
        get(server, "/chats", limit=1)
    server.faults = Faults()

    changed = server.changed_ids() - server.deleted_ids()
    assert len(changed) > 50
    assert server.unsent_message_ids()
    truth = {chat["id"]: chat for chat in server.truth()}
    for chat_id in changed:
        history = every_message(server, chat_id)
        assert history == server.messages_of(chat_id)
        assert_agrees(truth[chat_id], history)
        one = get(server, f"/chats/{quote(chat_id, safe='')}").json()
        assert one["first_message_time"] == history[0]["time_sent"]
    assert not server.unsent_message_ids() & {
        m["message_id"] for chat_id in changed for m in server.messages_of(chat_id)
    }
    for chat_id in server.deleted_ids():
        assert get(server, path_of(chat_id)).status_code == 404
        with pytest.raises(KeyError):
            server.messages_of(chat_id)


def test_messages_of_cuts_a_window(server: BlooioTestServer) -> None:
    chat_id = server.truth()[3]["id"]
    history = server.messages_of(chat_id)
    since, until = history[1]["time_sent"], history[-1]["time_sent"]

    window = server.messages_of(chat_id, since=since, until=until)

    assert window == [m for m in history if since <= m["time_sent"] < until]
    assert len(server.messages_requests()) == 0
    messages(server, chat_id)
    assert [r.query for r in server.messages_requests()] == [{}]


# -- the official SDK ---------------------------------------------------------------------------


@pytest.mark.sdk
def test_the_official_sdk_reads_the_endpoint(server: BlooioTestServer) -> None:
    import blooio

    chats = server.truth()
    # Strict validation: every response must parse as the vendor's typed models.
    client = blooio.Blooio(
        api_key=server.api_key,
        base_url=server.base_url,
        max_retries=0,
        _strict_response_validation=True,
    )
    try:
        for kind in ("phone", "email", "group"):
            chat = next(c for c in chats if c["type"] == kind)
            history = server.messages_of(chat["id"])
            page = client.chats.messages.list(chat["id"], limit=200, sort="asc")
            assert page.chat_id == chat["id"]
            assert page.messages is not None
            assert page.pagination is not None
            assert [m.message_id for m in page.messages] == ids(history)
            assert page.pagination.total == len(history)
            model = page.messages[-1].model_dump()
            assert {k: v for k, v in model.items() if k != "reactions"} == {
                k: v for k, v in history[-1].items() if k != "reactions"
            }
    finally:
        client.close()


def test_bodies_are_utf8_json(server: BlooioTestServer) -> None:
    chat_id = server.truth()[0]["id"]

    response = get(server, path_of(chat_id), limit=200)

    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(response.content.decode("utf-8")) == response.json()
