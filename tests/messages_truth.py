"""What a complete messages read means, computed independently from the server's truth.

Shared by the messages tests: :func:`expected_messages` is the window (and, with
``preceding``, its predecessors) by plain loops over a chat's whole history, and
:func:`assert_read_exactly` checks a read of a history that changed while it ran.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


def failed_outbound(message: Message) -> bool:
    return bool(message["direction"] == "outbound" and message["status"] == "failed")


def expected_messages(
    history: list[Message],
    *,
    since: int | None = None,
    until: int | None = None,
    direction: str | None = None,
    preceding: bool = False,
) -> list[Message]:
    """``history``'s messages sent in ``[since, until)`` (of ``direction``), oldest first; with
    ``preceding``, led by those before ``since`` back to the newest that is not a failed
    outbound message (all of them if none is)."""
    ordered = sorted(history, key=lambda m: (m["time_sent"], m["message_id"]))
    window = [
        m
        for m in ordered
        if (since is None or m["time_sent"] >= since)
        and (until is None or m["time_sent"] < until)
        and (direction is None or m["direction"] == direction)
    ]
    if not preceding or since is None:
        return window
    lead: list[Message] = []
    for message in reversed([m for m in ordered if m["time_sent"] < since]):
        lead.insert(0, message)
        if not failed_outbound(message):
            break
    return lead + window


def assert_read_exactly(
    got: list[Message],
    *,
    before: list[Message],
    after: list[Message],
    unsent: set[str],
    since: int | None,
    until: int | None,
    direction: str | None = None,
) -> None:
    """``got`` holds every message of the window that existed before and after the read,
    exactly once, oldest first, and nothing that never was a message of the window."""
    got_ids = [m["message_id"] for m in got]
    assert len(got_ids) == len(set(got_ids)), "a message was returned twice"
    assert got == sorted(got, key=lambda m: (m["time_sent"], m["message_id"]))
    for message in got:
        assert since is None or message["time_sent"] >= since
        assert until is None or message["time_sent"] < until
        assert direction is None or message["direction"] == direction
    was = {
        m["message_id"]: m
        for m in expected_messages(before, since=since, until=until, direction=direction)
    }
    now = {
        m["message_id"]: m
        for m in expected_messages(after, since=since, until=until, direction=direction)
    }
    stayed = was.keys() & now.keys()
    missing = stayed - set(got_ids)
    assert not missing, f"{len(missing)} messages of the window missing, e.g. {sorted(missing)[:3]}"
    extra = set(got_ids) - was.keys() - now.keys() - unsent
    assert not extra, (
        f"{len(extra)} messages that were never in the window, e.g. {sorted(extra)[:3]}"
    )
    for message in got:
        if message["message_id"] in now:
            assert message == now[message["message_id"]]
