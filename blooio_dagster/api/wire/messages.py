"""What a page of ``GET /chats/{chat_id}/messages`` must look like, and the checks of what a
caller asks for.

:func:`parse_messages_page` checks a page's shape, :func:`check_newest_first` its order,
:func:`misanswered` whether it answers the request it was read for; the ``check_*`` functions
refuse a chat id, a direction or a window no request can be made of. :func:`hide_chat_id`
keeps a customer's chat id out of an error's text.

Why: docs/design.md, section "Reading messages completely".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import quote

from blooio_dagster.api.errors import (
    BlooioConfigError,
    BlooioError,
    BlooioIncompleteMessagesError,
    BlooioResponseError,
)
from blooio_dagster.api.wire.chats import checked_pagination
from blooio_dagster.api.wire.values import MESSAGES_PATH

Message = dict[str, Any]
_Error = TypeVar("_Error", bound=BlooioError)
Direction = Literal["inbound", "outbound"]
#: The directions a message can have: every value of :data:`Direction`.
DIRECTIONS: frozenset[Direction] = frozenset(get_args(Direction))
#: How errors and logs name the endpoint: never with the chat id, a customer's number or email.


@dataclass(frozen=True)
class MessagesPage:
    """A checked page: its messages as sent, ``pagination.total`` and ``pagination.limit``.

    ``untimed`` holds the ids of the messages the page listed with ``time_sent`` null (queued,
    not sent yet): they have no place in the history yet, so they are not in ``messages``.
    """

    messages: list[Message]
    total: int | None
    limit: int | None
    untimed: tuple[str, ...] = ()


def parse_messages_page(payload: Any) -> MessagesPage:
    """``payload`` as a :class:`MessagesPage`, or :class:`BlooioResponseError` naming the fault."""

    def bad(problem: str) -> BlooioResponseError:
        return BlooioResponseError(problem, MESSAGES_PATH)

    if not isinstance(payload, dict):
        raise bad(f"expected a JSON object, got {type(payload).__name__}")
    messages = payload.get("messages")
    if not isinstance(messages, list):
        raise bad(f"'messages' must be a list, got {type(messages).__name__}")
    untimed: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad(f"messages[{index}] must be an object, got {type(message).__name__}")
        message_id = message.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise bad(f"messages[{index}] has no string 'message_id'")
        sent = message.get("time_sent")
        if sent is None:
            untimed.append(message_id)
        elif type(sent) is not int:
            raise bad(
                f"messages[{index}] ('{message_id}') has time_sent {sent!r}; "
                "expected epoch milliseconds"
            )
    pagination, total = checked_pagination(payload, bad)
    limit = pagination.get("limit")
    return MessagesPage(
        messages=[m for m in messages if m["time_sent"] is not None] if untimed else messages,
        total=total,
        limit=limit if type(limit) is int and limit >= 1 else None,
        untimed=tuple(untimed),
    )


def check_newest_first(rows: list[Message], top: int | None) -> None:
    """Refuse a page not newest first, or holding a message sent after ``top`` (the
    ``until`` asked for): the API ignored ``sort`` or ``until``."""
    times = [row["time_sent"] for row in rows]
    if any(later > earlier for earlier, later in pairwise(times)):
        raise BlooioIncompleteMessagesError(
            "a page asked for newest first (sort=desc) came in another order, so pages "
            "cannot be joined; the API seems to ignore sort"
        )
    if top is not None and times and times[0] > top:
        raise BlooioIncompleteMessagesError(
            f"a page asked for messages up to {top} ms held one sent at {times[0]} ms; "
            "the API seems to ignore until"
        )


def misanswered(
    payload: Any, chat_id: str, params: dict[str, str | int]
) -> tuple[str, bool] | None:
    """How a messages answer is not the one asked for, and whether that is fatal; ``None``
    when it is (as far as it says).

    A cache or proxy can serve the page of another request. Another chat's page, or the
    page of another offset, would be stored as this chat's, or leave a gap: fatal (raised
    once retries do not help). A message newer than ``until``: the page of another window,
    or an API ignoring ``until``, which the reader names; not fatal. A ``pagination.limit``
    other than the one asked for is no mismatch: a smaller one is a cap the reader pages
    by, a larger one changes nothing. Messages older than ``since`` are kept out by the
    reader (a page of a window reaching further back holds the newest of this one too).
    """
    if not isinstance(payload, dict):
        return None  # the shape check names it
    answered = payload.get("chat_id")
    if isinstance(answered, str) and _chat_form(answered) != _chat_form(chat_id):
        return "the page is another chat's (its chat_id is not the one asked for)", True
    pagination = payload.get("pagination")
    offset = pagination.get("offset") if isinstance(pagination, dict) else None
    if type(offset) is int and offset != params.get("offset", 0):
        return f"the page is the one at offset {offset}, not {params.get('offset', 0)}", True
    until = params.get("until")
    messages = payload.get("messages")
    if type(until) is int and isinstance(messages, list):
        times = [m.get("time_sent") for m in messages if isinstance(m, dict)]
        if any(type(t) is int and t > until for t in times):
            return f"the page holds messages sent after the until asked for ({until} ms)", False
    return None


def _chat_form(chat_id: str) -> str:
    """``chat_id`` as an API may echo it back: case and phone punctuation do not matter."""
    return _PHONE_PUNCTUATION.sub("", chat_id).casefold()


_PHONE_PUNCTUATION = re.compile(r"[\s()\-]")


def check_chat_id(chat_id: object) -> str:
    """``chat_id`` if it is a non-empty string, else a clear error."""
    if not isinstance(chat_id, str) or not chat_id:
        raise BlooioConfigError(
            f"chat_id must be a non-empty string such as '+15551234567', an email or a "
            f"'grp_...' id, got {chat_id!r}."
        )
    return chat_id


def check_chat_ids(chat_ids: object) -> list[str]:
    """``chat_ids`` as a list if it is a collection of non-empty strings, else a clear error."""
    if isinstance(chat_ids, str | bytes) or not hasattr(chat_ids, "__iter__"):
        raise BlooioConfigError(
            f"chat_ids must be a list (or other iterable) of chat ids, got "
            f"{type(chat_ids).__name__}; for one chat use list_messages or pass [chat_id]."
        )
    ids = list(chat_ids)
    for index, chat_id in enumerate(ids):
        if not isinstance(chat_id, str) or not chat_id:
            got = "an empty string" if chat_id == "" else type(chat_id).__name__
            raise BlooioConfigError(f"chat_ids[{index}] must be a non-empty string, got {got}.")
    return ids


def check_direction(direction: object) -> Direction | None:
    """``direction`` if it is ``None``, ``"inbound"`` or ``"outbound"``, else a clear error."""
    if direction is None:
        return None
    if direction == "inbound":
        return "inbound"
    if direction == "outbound":
        return "outbound"
    raise BlooioConfigError(
        f"direction must be 'inbound', 'outbound' or None (both), got {direction!r}."
    )


def check_window(since: int | None, until: int | None) -> None:
    """Refuse a window that holds no time: ``since`` must come before ``until``."""
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound < 0:
            raise BlooioConfigError(f"{name} must be at or after 1970-01-01, got {bound} ms.")
    if since is not None and until is not None and since >= until:
        raise BlooioConfigError(
            f"since ({since} ms) must come before until ({until} ms): the window is [since, until)."
        )


def hide_chat_id(error: _Error, chat_id: str) -> _Error:
    """``error`` with ``chat_id`` (a customer's number or email) replaced by ``{chat_id}``.

    Errors end up in Dagster's event log, which must not carry customers' identities. The
    copy keeps the class and attributes (``status_code``, ``api_code``...) and gains
    ``chat_id`` as an attribute, for code that needs it.
    """
    forms = sorted({quote(chat_id, safe=""), quote(chat_id), chat_id}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for form in forms:
            text = text.replace(form, "{chat_id}")
        return text

    hidden = type(error).__new__(type(error))
    hidden.__dict__.update(error.__dict__)
    hidden.args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in error.args)
    for name in ("path", "api_message", "problem"):
        value = getattr(hidden, name, None)
        if isinstance(value, str):
            setattr(hidden, name, scrub(value))
    hidden.chat_id = chat_id  # type: ignore[attr-defined]
    return hidden
