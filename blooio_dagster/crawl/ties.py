"""The two places where overlapping pages alone do not carry a crawl's chain: a run of chats
sharing one sort key longer than a page, and the end of the list.

:meth:`TiesAndEnd._gather_tie` reads windows over such a run until the chats read with its
time reach its size, which the totals on the pages where it starts and ends give.
:meth:`TiesAndEnd._at_end` decides whether the chain's last page ends the list: a short page
whose total agrees, or a window read again from its last rows on that shows nothing follows.

Why: docs/design.md, section "Why the chat crawl is complete".
"""

from __future__ import annotations

from blooio_dagster.crawl.pages import ChatPage
from blooio_dagster.crawl.reading import PageReader
from blooio_dagster.crawl.reconcile import describe_key, run_size
from blooio_dagster.crawl.walk import Walk

#: Windows read to join one junction (each where the freshest pages put it) before giving up.
MAX_JOIN_ATTEMPTS = 8
#: Sweeps over a run of tied chats larger than a page, gathering its members.
MAX_TIE_SWEEPS = 16


class TiesAndEnd(PageReader):
    """A :class:`~blooio_dagster.crawl.reading.PageReader` that also ends a walk down the list
    and carries it past runs of tied chats longer than a page."""

    def _at_end(self, walk: Walk, pages: dict[int, ChatPage]) -> bool:
        """Whether the chain's last page is proven to end the list (its tail run included).

        A short page ends the list only if the API agrees: its own total says so, or a window
        read again from its last rows on is short too, holds nothing older than the chain, and
        its total agrees (read again until one comes with a total; a total that keeps
        disagreeing with windows that end on the same chat is left to the count). From an API
        that never sends totals, that window must start below the page's first row and end
        with the same chat, found at most one row further down than the page had it (further
        down, chats moved to the front pushed it there: it is read again from there). Either
        way a window that holds a chat past the page's last row which the page did not hold
        shows that more chats follow, however short it is (a page the server capped without
        saying so looks short).
        """
        current = walk.current
        total = self.total
        end = current.end
        if not self._is_short(current) and (total is None or end < total):
            return False
        if not (self._is_short(current) and current.total == end):
            verdict = self._confirm_end(walk, pages)
            if verdict is False:
                return False
            if verdict is None:
                self._regions.append(
                    f"after offset {current.offset:,}: the end of the list could not be read "
                    "again to confirm it"
                )
        tail_run = current.offset > 0 and current.first_key == walk.tau
        if tail_run and walk.tie_done != walk.tau:
            self._gather_tie(walk, pages, end_of_list=end)
        walk.ended = True
        return True

    def _confirm_end(self, walk: Walk, pages: dict[int, ChatPage]) -> bool | None:
        """Read the window from the chain's last rows on: True if the list ends there, False
        if more chats follow, None if no window came back to tell."""
        current = walk.current
        end = current.end  # just past the page's last chat, where it was last read
        offset = max(current.offset + 1, end - 2)
        disagreed = 0
        for attempt in range(MAX_JOIN_ATTEMPTS):
            # The page's last rows were read there: a window that comes back empty is read
            # again before it is taken for a list that shrank.
            confirm = self._read(offset, pages, known=True)
            if not confirm.keys:
                offset = max(0, offset - (self._cap << attempt) // 2)  # the list shrank
                continue
            if (
                not self._is_short(confirm)
                or confirm.last_key < walk.tau
                or _holds_more_than(confirm, current)
            ):
                if self._is_short(current):
                    self._short_but_more_follow(current)
                return False
            same_end = confirm.ids[-1] == current.ids[-1]
            if confirm.total is None:
                if self.total is None:  # an API that never sends totals
                    # A window stepped back to the page's own rows ends where the page does,
                    # whatever follows: that shows nothing.
                    if confirm.offset <= current.offset:
                        return None
                    if not same_end:
                        return False
                    # Nor does one that the page's rows slid into: chats moved to the front
                    # from below them push them down, so the window, cut short where the
                    # page was, holds only them and leaves no room to show what follows.
                    # Read again from the last chat's new position (a new chat at the top
                    # per request still leaves it a row down, so that much is room enough).
                    shift = confirm.end - end
                    if shift <= 1:
                        return True
                    offset = end - 2 + shift
                    end += shift
                    continue
                continue  # read again, for a total
            if confirm.end >= confirm.total:
                return True
            if not same_end:
                return False  # it ends elsewhere, and its total says more follow
            disagreed += 1
            if disagreed == 3:  # the pages keep ending here: leave it to the count
                return True
        return None

    def _gather_tie(
        self, walk: Walk, pages: dict[int, ChatPage], *, end_of_list: int | None
    ) -> None:
        """Gather a run of tied chats longer than a page, until its size is reached.

        Windows over the run are read at shifted positions in each sweep, since the server
        may order it differently per request or per window. Its size is read off the page
        where it starts and the page where it ends: the chats at or below its time by the
        first one's total, less those below it by the second one's. Only chats read since
        the first count towards it, so a chat deleted earlier cannot stand in for one that
        was never seen; one deleted later is in both.
        """
        tau = walk.tau
        first, last = self._run_bounds(walk, pages)

        def measure() -> tuple[int | None, int]:
            """The run's size, and how many of its chats were read since its first page."""
            size = run_size(first, last, end_of_list, totals_sent=self.total is not None)
            since = first[0].sent if first else walk.current.sent
            return size, self._newest.count_keys(tau, tau, since=since)

        size, have = measure()
        unchanged_sweeps = 0
        for sweep in range(MAX_TIE_SWEEPS):
            if size is not None and have >= size:
                break  # the pages already read hold the whole run
            start = first[0].offset + first[1] if first else walk.tau_start
            offset = max(0, start - 1 - (sweep * 17) % self.step)
            for _ in range(MAX_TIE_SWEEPS * 4):
                page = self._read(offset, pages)
                if not page.keys:
                    break
                found = page.run_start(tau)
                if found is not None and (first is None or (first[0].total is None and page.total)):
                    first = (page, found)  # prefer a page whose total sizes the run
                below = page.first_index_below(tau)
                if below is not None and (below > 0 or page.offset == 0):
                    last = (page, below)
                    break
                if below is None and self.reaches_end(page):
                    last = (page, len(page))
                    break
                if below == 0:  # the run moved forward past this window: step back
                    offset = max(0, offset - self.step // 2)
                else:
                    offset = page.offset + max(1, len(page) - self.overlap)
            size, gathered = measure()
            unchanged_sweeps = unchanged_sweeps + 1 if gathered == have else 0
            have = gathered
            if size is not None and have >= size:
                break
            if unchanged_sweeps == 3:
                self._tie_region(tau, walk.tau_start, size, have)
                break
        else:
            self._tie_region(tau, walk.tau_start, size, have)
        walk.tie_done = tau
        if last is not None:
            walk.advance(last[0])
        else:
            walk.ended = True

    def _run_bounds(
        self, walk: Walk, pages: dict[int, ChatPage]
    ) -> tuple[tuple[ChatPage, int] | None, tuple[ChatPage, int] | None]:
        """Where the run at ``tau`` starts and ends, by the pages read so far, if they show it.

        The start comes from the chain's page (a newer row, then the run), the end from the
        newest page read after it that shows the run, then an older row.
        """
        tau, current = walk.tau, walk.current
        found = current.run_start(tau)
        if found is None:
            return None, None
        ends = [
            (page, below)
            for page in pages.values()
            if page.received > current.sent
            and page.keys
            and page.first_key >= tau
            and (below := page.first_index_below(tau)) is not None
            and below > 0
        ]
        last = max(ends, key=lambda end: end[0].received, default=None)
        return (current, found), last

    def _tie_region(self, tau: int, start: int, size: int | None, gathered: int) -> None:
        of = "?" if size is None else f"{size:,}"
        self._regions.append(
            f"the chats sharing the time {describe_key(tau)} (from offset {start:,}): "
            f"{gathered:,} of {of} found; windows over them never showed them all"
        )


def _holds_more_than(window: ChatPage, page: ChatPage) -> bool:
    """Whether ``window`` holds, past ``page``'s last position, a chat that ``page`` did not.

    Then more chats follow ``page``, however short both came back. A chat of ``page``'s own
    past its end (rows shifted down by chats new at the top) shows nothing.
    """
    beyond = window.end - page.end
    return beyond > 0 and not set(window.ids[-beyond:]) <= set(page.ids)
