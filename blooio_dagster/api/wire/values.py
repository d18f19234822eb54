"""The values of Blooio's chats and messages: what each may be, and how errors name them.

The API's half of turning responses into tables, in plain Python: the JSON types each kind
of value may have, the times no message can carry, the checks of the nested objects and lists
a response holds, and how an error names a chat, a message and a value without showing a
customer's id, name or words (errors reach Dagster's event log). The tables
(:mod:`blooio_dagster.tables`) build typed columns and call these. Why:
docs/design.md, section 'The tables'.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate, repeat
from typing import Any

from msgspec import UNSET, UnsetType

from blooio_dagster.api.errors import BlooioResponseError
from blooio_dagster.api.redaction import chat_ref

#: The paths the values' errors name; a chat's id stays out of them (see :func:`chat_name`).
CHATS_PATH = "/chats"
MESSAGES_PATH = "/chats/{chat_id}/messages"

#: The kinds of values a field holds, each a JSON type (and null).
TEXT = "text"
WHOLE_NUMBER = "whole number"
EPOCH_MS = "epoch ms"
TRUE_OR_FALSE = "true or false"
#: The Python types JSON gives for each kind's values (null is always allowed).
ALLOWED_TYPES: dict[str, set[type]] = {
    TEXT: {str, type(None)},
    WHOLE_NUMBER: {int, type(None)},
    EPOCH_MS: {int, type(None)},
    TRUE_OR_FALSE: {bool, type(None)},
}
EXPECTED = {
    TEXT: "expected text",
    WHOLE_NUMBER: "expected a whole number",
    EPOCH_MS: "expected epoch ms",
    TRUE_OR_FALSE: "expected true or false",
}

#: Chat fields that hold a customer's name, number, email or words: errors show their type only.
PRIVATE_CHAT_FIELDS = {
    "id",
    "group_name",
    "contact.name",
    "contact.identifier",
    "last_message.text",
}
#: Message fields that hold a customer's words or address: errors show their type only.
PRIVATE_MESSAGE_FIELDS = {"text", "sender"}

#: The earliest time a Blooio message can carry; anything before is a broken clock or a
#: placeholder (such as 0, 1970), not a message.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
#: How far after the run's clock a time may lie: a phone whose clock is a day ahead.
FUTURE_LIMIT = timedelta(days=1)


def json_values(values: list[Any], kind: str, *, checked: bool = False) -> list[Any]:
    """``values``, with ``UNSET`` (a field a record left out) as ``None``, once each is of a
    JSON type ``kind`` allows.

    Args:
        values: one field's values, in row order.
        kind: :data:`TEXT`, :data:`WHOLE_NUMBER`, :data:`EPOCH_MS` or :data:`TRUE_OR_FALSE`.
        checked: each value is already of a type the kind allows, or ``UNSET`` (as the
            fields of decoded records are), so no type is looked at.

    Raises:
        TypeError: a value of another type, with :data:`EXPECTED`'s words for the kind.
    """
    if checked:
        # Compares references only: no value is read, which for a large column is most of
        # the cost of a pass over it.
        if any(map(operator.is_, values, repeat(UNSET))):
            values = [None if value is UNSET else value for value in values]
        return values
    types = set(map(type, values))
    if UnsetType in types:  # fields a chat record left out: missing, like nulls
        values = [None if value is UNSET else value for value in values]
        types = (types - {UnsetType}) | {type(None)}
    # type() is exact: a bool is not accepted as a whole number, nor a float as epoch ms.
    if not types <= ALLOWED_TYPES[kind]:
        raise TypeError(EXPECTED[kind])
    return values


def chat_name(chat_id: object) -> str:
    """A chat as errors name it: by :func:`~blooio_dagster.api.redaction.chat_ref`, never by its
    id (a customer's number or email), since errors reach Dagster's event log."""
    return chat_ref(chat_id) if isinstance(chat_id, str) else "without a string id"


def chat_reference(position: int, chat_id: object) -> str:
    """How an error names a chat: its position where it was read and
    :func:`~blooio_dagster.api.redaction.chat_ref` of its id, never the id itself (a customer's
    number or email), since errors reach Dagster's event log."""
    return f"chat {position + 1} ({chat_name(chat_id)})"


def chat_value(position: int, chat_id: object, field: str, value: object) -> str:
    """``chat <n> (<ref>) has <field> = <value>``, a private field's value shown by its type."""
    shown = _shown(value, field, PRIVATE_CHAT_FIELDS)
    return f"{chat_reference(position, chat_id)} has {field} = {shown}"


def message_value(message_id: object, chat_id: object, field: str, value: object) -> str:
    """``message '<id>' of chat <ref> has <field> = <value>``, a private field's value shown
    by its type; ``a message`` when the id is not text."""
    message = f"message {message_id!r}" if isinstance(message_id, str) else "a message"
    shown = _shown(value, field, PRIVATE_MESSAGE_FIELDS)
    return f"{message} of chat {chat_name(chat_id)} has {field} = {shown}"


def _shown(value: object, field: str, private: set[str]) -> str:
    # A customer's words and addresses stay out of errors, which reach Dagster's event log.
    return f"a {type(value).__name__}" if field in private else repr(value)


def numbered_message(chat_ids: Sequence[str], counts: Sequence[int], index: int) -> str:
    """How an error names message ``index`` of all chats' messages laid end to end: its
    number in its chat, and :func:`chat_reference` of the chat."""
    position, start = _chat_of(counts, index)
    return f"message {index - start} of {chat_reference(position, chat_ids[position])}"


def _chat_of(counts: Sequence[int], index: int) -> tuple[int, int]:
    """The position of the chat holding message ``index``, and the index of its first."""
    starts = list(accumulate(counts, initial=0))
    position = bisect_right(starts, index) - 1
    return position, starts[position]


def objects_or_null(chats: Sequence[dict[str, Any]], values: list[Any], field: str) -> list[Any]:
    """A nested object per chat, with an empty dict for null; refuses anything else."""
    if not set(map(type, values)) <= _OBJECT_OR_NULL:
        position = first_index(values, lambda v: not isinstance(v, dict | None))
        raise BlooioResponseError(
            f"{chat_reference(position, chats[position].get('id'))} has {field} = a "
            f"{type(values[position]).__name__}; expected an object or null",
            CHATS_PATH,
        )
    return [value or _EMPTY for value in values]


_EMPTY: dict[str, Any] = {}
_OBJECT_OR_NULL = {dict, type(None)}


def flat_messages(
    messages_by_chat: Mapping[str, Sequence[dict[str, Any]]],
) -> tuple[list[str], list[int], list[dict[str, Any]]]:
    """The chat ids, each chat's message count, and all their messages end to end.

    Raises:
        BlooioResponseError: a chat's messages are not a list, or one is not an object.
        TypeError: ``messages_by_chat`` is not a mapping of chat ids to lists.
    """
    if not isinstance(messages_by_chat, Mapping):
        raise TypeError(
            "messages_by_chat must map each chat id to its list of messages, "
            f"not {type(messages_by_chat).__name__}"
        )
    chat_ids: list[str] = []
    counts: list[int] = []
    messages: list[Any] = []
    for chat_id, chat_messages in messages_by_chat.items():
        if not isinstance(chat_id, str) or not chat_id:
            raise TypeError(f"chat ids must be non-empty strings, got {chat_id!r}")
        if not isinstance(chat_messages, list | tuple):
            raise BlooioResponseError(
                f"the messages of chat {chat_name(chat_id)} are "
                f"{type(chat_messages).__name__}; expected a list",
                MESSAGES_PATH,
            )
        chat_ids.append(chat_id)
        counts.append(len(chat_messages))
        messages.extend(chat_messages)
    if not set(map(type, messages)) <= {dict}:
        index = next(i for i, m in enumerate(messages) if not isinstance(m, dict))
        position, start = _chat_of(counts, index)
        raise BlooioResponseError(
            f"message {index - start} of chat {chat_name(chat_ids[position])} "
            f"is {type(messages[index]).__name__}; expected an object",
            MESSAGES_PATH,
        )
    return chat_ids, counts, messages


def impossible_time(
    row: str, field: str, time: datetime, latest: datetime, path: str
) -> BlooioResponseError:
    """The error for a time before :data:`EARLIEST_TIME` or after ``latest`` (the run's clock
    and :data:`FUTURE_LIMIT`): ``row`` (named without customer data) has it in ``field``."""
    return BlooioResponseError(
        f"{row} has {field} = {time.isoformat()}, which no message "
        f"can carry: times must lie from {EARLIEST_TIME.date()} to a day after this "
        f"run's clock ({latest.isoformat()}): the API, or the device that sent the "
        "message, has a broken clock",
        path,
    )


def first_index(values: list[Any], wrong: Callable[[Any], bool]) -> int:
    """The position of the first value that is ``wrong``."""
    return next(i for i, v in enumerate(values) if wrong(v))
