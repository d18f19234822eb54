"""Chats as compact typed records, decoded straight from a ``GET /chats`` body.

A page whose chats have exactly the documented fields and types is decoded by msgspec into
:class:`ChatRecord` structs; anything else falls back to plain dicts, exactly as Blooio sent
them, for the shape checks to name what is wrong. Either way the chats read as dicts through
:class:`ChatList`, and :func:`~blooio_dagster.tables.chats.chats_to_frame` turns records into
columns without dicts. Absent and null are kept apart (``UNSET`` versus ``None``).
Why: docs/design.md, section "What a response must look like".
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any, Literal, overload

import msgspec
from msgspec import UNSET, UnsetType

from blooio_dagster.api.wording import counted

Chat = dict[str, Any]


class ContactRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A chat's ``contact`` object."""

    contact_id: str | UnsetType | None = UNSET
    name: str | UnsetType | None = UNSET
    identifier: str | UnsetType | None = UNSET


class LastMessageRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A chat's ``last_message`` object."""

    message_id: str | UnsetType | None = UNSET
    text: str | UnsetType | None = UNSET
    direction: Literal["inbound", "outbound"] | UnsetType | None = UNSET
    time_sent: int | UnsetType | None = UNSET


class ChatRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One chat with the documented fields; ``UNSET`` where the API left a field out."""

    id: str
    type: Literal["phone", "email", "group"] | UnsetType | None = UNSET
    is_group: bool | UnsetType | None = UNSET
    group_id: str | UnsetType | None = UNSET
    group_name: str | UnsetType | None = UNSET
    member_count: int | UnsetType | None = UNSET
    contact: ContactRecord | UnsetType | None = UNSET
    message_count: int | UnsetType | None = UNSET
    inbound_count: int | UnsetType | None = UNSET
    outbound_count: int | UnsetType | None = UNSET
    background_url: str | UnsetType | None = UNSET
    background_id: str | UnsetType | None = UNSET
    last_message_time: int | UnsetType | None = UNSET
    last_inbound_time: int | UnsetType | None = UNSET
    last_outbound_time: int | UnsetType | None = UNSET
    last_message: LastMessageRecord | UnsetType | None = UNSET


class Pagination(msgspec.Struct):
    """A page's ``pagination`` object; other fields are ignored."""

    total: int | UnsetType | None = UNSET
    limit: int | UnsetType | None = UNSET


class RecordPage(msgspec.Struct):
    """A ``GET /chats`` page of documented chats; other top-level fields are ignored."""

    chats: list[ChatRecord]
    pagination: Pagination | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(RecordPage)


def decode_chats_page(body: bytes) -> RecordPage | Any:
    """A page as a :class:`RecordPage`, or, if its chats are not exactly the documented
    shape, as the plain JSON value (to be checked and kept as sent).

    Raises:
        ValueError: the body is not valid JSON (cut off, for example).
    """
    try:
        page = _DECODER.decode(body)
    except msgspec.ValidationError:
        return json.loads(body)
    except msgspec.DecodeError as error:
        # Before msgspec 0.21, DecodeError is not a ValueError.
        raise ValueError(str(error)) from None
    share_equal_values(page.chats)
    return page


def field_values(records: Sequence[Any], name: str) -> list[Any]:
    """One top-level field of a page's records, all structs or all dicts; an absent field
    gives ``UNSET`` for a struct and ``None`` for a dict."""
    if records and type(records[0]) is ChatRecord:
        return list(map(attrgetter(name), records))
    return list(map(dict.get, records, repeat(name)))


def as_dict(record: Any) -> Chat:
    """A record as the dict the API sent (a dict record is returned as it is)."""
    if type(record) is ChatRecord:
        chat: Chat = msgspec.to_builtins(record)
        return chat
    return record  # type: ignore[no-any-return]


class ChatList(Sequence[Chat]):
    """Chats as the API sent them, read as dicts, held as compact records.

    Indexing and iterating give dicts (made on access, so keep what you need);
    :func:`~blooio_dagster.tables.chats.chats_to_frame` reads the records directly. Compares equal
    to any sequence of the same dicts.
    """

    __slots__ = ("records",)

    def __init__(self, records: list[Any]) -> None:
        #: The chats as :class:`ChatRecord` structs, or dicts where a page was not regular.
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, index: int) -> Chat: ...

    @overload
    def __getitem__(self, index: slice) -> list[Chat]: ...

    def __getitem__(self, index: int | slice) -> Chat | list[Chat]:
        if isinstance(index, slice):
            return list(map(as_dict, self.records[index]))
        return as_dict(self.records[index])

    def __iter__(self) -> Iterator[Chat]:
        return map(as_dict, self.records)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(map(operator.eq, self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ChatList of {counted(len(self), 'chat')}>"

    @property
    def all_records(self) -> bool:
        """Whether every chat is a typed record (no page fell back to dicts)."""
        return set(map(type, self.records)) <= {ChatRecord}


_EMPTY_NESTED: dict[str, Any] = {
    "contact": ContactRecord(None, None, None),
    "last_message": LastMessageRecord(None, None, None, None),
}


def record_columns(
    records: list[ChatRecord], sources: Sequence[tuple[str, ...]]
) -> Iterator[list[Any]]:
    """The values at each source path (``("id",)``, ``("contact", "name")``) of every record,
    one list per path in record order; a missing object gives ``None``, an absent field
    ``UNSET``.

    Lists are made one at a time, as the caller asks for them, so only one is alive beside
    the records. Each is gathered by C-level ``map`` over the records; only nested objects
    take one Python pass each, to stand an empty object in for a missing one.
    """
    nested: dict[str, list[Any]] = {}
    for source in sources:
        if len(source) == 1:
            yield list(map(attrgetter(source[0]), records))
            continue
        outer, inner = source
        if outer not in nested:
            empty = _EMPTY_NESTED[outer]
            kind = type(empty)
            nested[outer] = [
                value if type(value) is kind else empty for value in map(attrgetter(outer), records)
            ]
        yield list(map(attrgetter(inner), nested[outer]))


def share_equal_values(records: list[ChatRecord]) -> None:
    """Make equal values of one chat the same object, which the API repeats in most chats:
    the contact's ``identifier`` is the chat's id, ``last_message.time_sent`` its
    ``last_message_time``, and so is one of ``last_inbound_time`` and ``last_outbound_time``.
    About 100 bytes less per chat held, for a few microseconds per page."""
    for record in records:
        moment = record.last_message_time
        last = record.last_message
        if type(last) is LastMessageRecord and last.time_sent == moment:
            last.time_sent = moment
        if record.last_inbound_time == moment:
            record.last_inbound_time = moment
        elif record.last_outbound_time == moment:
            record.last_outbound_time = moment
        contact = record.contact
        if type(contact) is ContactRecord and contact.identifier == record.id:
            contact.identifier = record.id


def time_of(record: Any) -> Any:
    """A record's ``last_message_time`` (``None`` or ``UNSET`` when it has none)."""
    if type(record) is ChatRecord:
        return record.last_message_time
    return record.get("last_message_time")
