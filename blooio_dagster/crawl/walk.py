"""One pass's chain of pages as it is built: every sort key above ``tau`` is covered.

The crawl (:mod:`blooio_dagster.crawl.chats`) advances a :class:`Walk` page by page, from the
top of the list down; :mod:`blooio_dagster.crawl.ties` ends it, or carries it past a run of
tied chats longer than a page. Why: docs/design.md, section "Why the chat crawl is complete".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blooio_dagster.crawl.pages import ChatPage


@dataclass
class Walk:
    """A chain under construction: every key above ``tau`` is covered (``tau`` itself partly).

    ``tau_start`` is the position of the first row with key ``tau`` on the page that set it;
    ``tie_done`` is a key whose run of tied chats has been read whole; ``ended`` is set once
    the end of the list is proven.
    """

    current: ChatPage
    hi: int
    tau: int = 0
    tau_start: int = 0
    chain: list[ChatPage] = field(default_factory=list)
    chained: set[int] = field(default_factory=set)
    tie_done: int | None = None
    ended: bool = False

    @classmethod
    def start(cls, anchor: ChatPage, hi: int) -> Walk:
        walk = cls(anchor, hi)
        walk.advance(anchor)
        return walk

    @property
    def above_range(self) -> bool:
        """Whether every page so far lies above the range (chats without a time, first)."""
        return self.tau == self.hi

    def advance(self, page: ChatPage) -> None:
        self.chain.append(page)
        self.chained.add(id(page))
        self.current = page
        self.tau = min(self.hi, page.last_key)
        self.tau_start = page.offset + (page.first_index_of(page.last_key) or 0)
