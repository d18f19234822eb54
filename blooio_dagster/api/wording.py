"""Counts in words, for every message and log line the package writes."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with ``noun`` in the right number: "1 page", "0 pages", "1,200 chats".

    ``plural`` is for nouns that do not just take an "s" ("1 entry", "2 entries").
    """
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {plural or noun + 's'}"


def every_attempt(attempts: int) -> str:
    """ "all 6 attempts", or "the only attempt" when no retry was allowed."""
    return "the only attempt" if attempts == 1 else f"all {attempts:,} attempts"
