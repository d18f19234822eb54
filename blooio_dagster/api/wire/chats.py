"""What a ``GET /chats`` page and a ``GET /chats/{chat_id}`` answer must look like.

Each check raises :class:`~blooio_dagster.api.errors.BlooioResponseError` naming the first
thing wrong, a chat by its position only (its id is a customer's number or email).
:func:`page_answer` turns a checked page into the :class:`PageAnswer` the crawl reads.
Why: docs/design.md, section "What a response must look like".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal

from blooio_dagster.api.errors import BlooioConfigError, BlooioResponseError
from blooio_dagster.api.wire.records import Pagination, RecordPage
from blooio_dagster.api.wire.values import CHATS_PATH
from blooio_dagster.api.wording import counted

SORTS = ("recent", "oldest")
Sort = Literal["recent", "oldest"]


@dataclass(frozen=True)
class PageAnswer:
    """What one ``GET /chats`` request returned, as the crawl needs it.

    Attributes:
        chats: the chats, in the order the server sent them: dicts, or
            :class:`~blooio_dagster.api.wire.records.ChatRecord` structs.
        total: ``pagination.total``, when the server sent a whole number.
        limit: ``pagination.limit``, the most chats the server says one page holds.
        server_time: the server's clock when it answered (epoch ms, from the ``Date`` header).
    """

    chats: Sequence[Any]
    total: int | None = None
    limit: int | None = None
    server_time: int | None = None


def check_sort(sort: object) -> None:
    """Refuse a ``sort`` the chat list does not know."""
    if sort not in SORTS:
        raise BlooioConfigError(f"sort must be 'recent' or 'oldest', got {sort!r}.")


def checked_chat(payload: Any, path: str) -> dict[str, Any]:
    """``payload``, the answer to ``GET /chats/{chat_id}`` (``path``), if it is an object."""
    if not isinstance(payload, dict):
        raise BlooioResponseError("expected a JSON object", path)
    return payload


def checked_chats_page(payload: Any, limit: int, offset: int) -> dict[str, Any]:
    """``payload``, if it is a documented ``GET /chats`` page of at most ``limit`` chats."""
    check_chats_page(payload, offset)
    page: dict[str, Any] = payload
    check_row_count(len(page["chats"]), limit, offset)
    return page


def page_answer(page: Any, limit: int, offset: int, server_time: int | None) -> PageAnswer:
    """A crawl's page, decoded by :func:`~blooio_dagster.api.wire.records.decode_chats_page`
    (a :class:`~blooio_dagster.api.wire.records.RecordPage`, or the JSON as sent), checked."""
    if not isinstance(page, RecordPage):  # kept as sent, after the usual checks
        checked_chats_page(page, limit, offset)
        pagination = page.get("pagination") or {}
        total, reported = pagination.get("total"), pagination.get("limit")
        return PageAnswer(
            chats=page["chats"],
            total=total,
            limit=reported if type(reported) is int else None,
            server_time=server_time,
        )
    check_row_count(len(page.chats), limit, offset)
    for index, record in enumerate(page.chats):
        if not record.id:
            raise BlooioResponseError(
                f"chats[{index}] has no string 'id' (got '')", CHATS_PATH, offset
            )
    total = reported = None
    if isinstance(page.pagination, Pagination):
        total, reported = page.pagination.total, page.pagination.limit
    if type(total) is not int:
        total = None
    elif total < 0:
        raise BlooioResponseError(
            f"'pagination.total' must be a whole number >= 0, got {total!r}", CHATS_PATH, offset
        )
    return PageAnswer(
        chats=page.chats,
        total=total,
        limit=reported if type(reported) is int else None,
        server_time=server_time,
    )


def check_chats_page(payload: Any, offset: int) -> None:
    """Raise BlooioResponseError unless ``payload`` is a documented ``GET /chats`` page.

    The common case is checked with C-level passes (``map`` and ``set``); only a page that
    fails them is walked chat by chat, to name the first bad one.
    """

    def bad(problem: str) -> BlooioResponseError:
        return BlooioResponseError(problem, CHATS_PATH, offset)

    if not isinstance(payload, dict):
        raise bad(f"expected a JSON object, got {type(payload).__name__}")
    chats = payload.get("chats")
    if not isinstance(chats, list):
        raise bad(f"'chats' must be a list, got {type(chats).__name__}")
    if chats and (
        set(map(type, chats)) != {dict}
        or set(map(type, ids := list(map(dict.get, chats, repeat("id"))))) != {str}
        or "" in ids
        or not set(map(type, map(dict.get, chats, repeat("last_message_time")))) <= _WHOLE_OR_NULL
    ):
        _raise_for_first_bad_chat(chats, bad)
    checked_pagination(payload, bad)


_WHOLE_OR_NULL = {int, type(None)}


def _raise_for_first_bad_chat(chats: list[Any], bad: Callable[[str], BlooioResponseError]) -> None:
    for index, chat in enumerate(chats):
        if not isinstance(chat, dict):
            raise bad(f"chats[{index}] must be an object, got {type(chat).__name__}")
        chat_id = chat.get("id")
        if not isinstance(chat_id, str) or not chat_id:
            got = repr(chat_id) if chat_id in (None, "") else f"a {type(chat_id).__name__}"
            raise bad(f"chats[{index}] has no string 'id' (got {got})")
        moment = chat.get("last_message_time")
        if type(moment) not in _WHOLE_OR_NULL:
            # The chat is named by its position only: its id is a customer's number or email.
            raise bad(
                f"chats[{index}] has last_message_time {_shape(moment)}; "
                "expected epoch milliseconds"
            )


def _shape(value: Any) -> str:
    """A value for an error: numbers and literals as they are, anything else by its type
    (text may be a customer's name or number)."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def check_row_count(rows: int, limit: int, offset: int) -> None:
    """Refuse a page with more rows than ``limit`` asked for: no honest API sends one, and
    reading on would hold all of them in memory."""
    if rows > limit:
        raise BlooioResponseError(
            f"the page has {counted(rows, 'chat')} where limit={limit} asked for at most "
            f"{counted(limit, 'chat')}; a page larger than asked for is refused",
            CHATS_PATH,
            offset,
        )


def checked_pagination(
    payload: dict[str, Any], bad: Callable[[str], Exception]
) -> tuple[dict[str, Any], int | None]:
    """A list response's ``pagination`` object and its ``total``, both checked (for the
    chat list and for a messages page alike).

    Raises what ``bad`` makes of the problem when ``pagination`` is not an object or
    ``total`` is neither absent nor a whole number >= 0.
    """
    pagination = payload.get("pagination", {})
    if not isinstance(pagination, dict):
        raise bad(f"'pagination' must be an object, got {type(pagination).__name__}")
    total = pagination.get("total")
    if total is not None and (type(total) is not int or total < 0):
        raise bad(f"'pagination.total' must be a whole number >= 0, got {total!r}")
    return pagination, total
