"""The reply cutoff: the instant replies are looked for until, chosen so that one bad clock
(an API node's, this machine's or a phone's) cannot move it far. Why: docs/design.md, section
'Reply times and the clocks'."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from blooio_dagster.api.wording import counted

#: How far two clocks may disagree before the disagreement is reported (and, where it
#: matters, the safe one is chosen): Date headers are whole seconds, and a machine's clock
#: kept by NTP is off by far less.
CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class ReplyCutoff:
    """The instant replies are looked for until, and which clock gave it.

    Attributes:
        at: the instant (aware): messages sent after it are left out, and an unanswered turn
            has waited until it.
        source: ``api_clock`` (the median of the API's ``Date`` headers), ``newest_message``
            (a message read was dated a little later), ``partition_end`` (the end of the
            run's last partition, which the API's clock put in the future) or
            ``machine_clock`` (the API sent no ``Date`` header).
        warnings: the disagreements between clocks that were found, to be logged.
    """

    at: datetime
    source: str
    warnings: tuple[str, ...] = ()


def choose_reply_cutoff(
    *,
    api_clocks: Sequence[datetime],
    newest_message: datetime | None,
    machine_time: datetime,
    partition_end: datetime | None = None,
    tolerance: timedelta = CLOCK_TOLERANCE,
) -> ReplyCutoff:
    """Until when replies are looked for, from evidence that one bad clock cannot move far.

    The cutoff starts from the median of the API's ``Date`` headers (this machine's clock when
    there are none). A newest message dated up to ``tolerance`` after it moves it there; a
    run that started after its last partition ended moves it to that end. Clocks that
    disagree by more than ``tolerance`` (API nodes among themselves, the API and this
    machine, a message dated later still) are reported in ``warnings``. Why each rule:
    docs/design.md, section 'Reply times and the clocks'.

    Args:
        api_clocks: the ``Date`` headers of the crawl's answers (aware).
        newest_message: the newest ``last_message_time`` read, if any.
        machine_time: this machine's clock when the run started (aware).
        partition_end: the end of the run's last partition; ``None`` when unpartitioned.
        tolerance: how far clocks may disagree unreported.
    """
    notes: list[str] = []
    if api_clocks:
        ordered = sorted(api_clocks)
        at, source = statistics.median_high(ordered), "api_clock"
        lagging = sum(clock < at - tolerance for clock in ordered)
        ahead = sum(clock > at + tolerance for clock in ordered)
        if lagging or ahead:
            notes.append(
                f"{lagging + ahead:,} of {counted(len(ordered), 'answer')} from the "
                "API carried "
                f"a Date header more than {_span(tolerance)} from their median ({at.isoformat()}) "
                f"(earliest {ordered[0].isoformat()}, latest {ordered[-1].isoformat()}): an API "
                "node's clock is off; the median is used."
            )
        if abs(at - machine_time) > tolerance:
            notes.append(
                f"The API's clock (the median of its Date headers, {at.isoformat()}) and this "
                f"machine's clock when the run started ({machine_time.isoformat()}) differ by "
                f"{_span(abs(at - machine_time))}. Replies are looked for, and waits measured, by "
                "the API's clock, which stamps the messages; check this machine's time "
                "synchronization."
            )
    else:
        at, source = machine_time, "machine_clock"
    if newest_message is not None and newest_message > at:
        if newest_message - at <= tolerance:
            at, source = newest_message, "newest_message"
        else:
            notes.append(
                f"The newest message read is dated {newest_message.isoformat()}, "
                f"{_span(newest_message - at)} after the API's clock ({at.isoformat()}): a "
                "device or an API node has a clock ahead; replies are looked for until the "
                "API's clock."
            )
    if partition_end is not None and machine_time >= partition_end > at:
        notes.append(
            f"Replies would be looked for until {at.isoformat()} ({source}), inside the run's "
            f"last day, although this machine's clock says the run started after that day "
            f"ended ({partition_end.isoformat()}): the day's last replies would be missed, so "
            "they are looked for until the day's end."
        )
        at, source = partition_end, "partition_end"
    return ReplyCutoff(at=at, source=source, warnings=tuple(notes))


def waits_measured_at(
    *,
    api_clocks: Sequence[datetime],
    machine_start: datetime,
    machine_end: datetime,
    tolerance: timedelta = CLOCK_TOLERANCE,
) -> datetime:
    """The instant a crawl's waits are measured to (its ``fetched_at``), by the API's clock.

    Waits run from message times, which the API stamps, so a machine clock off by an hour
    would add that hour to every wait (or take it away). This machine's clock at the crawl's
    end is kept while the API's agrees with it within ``tolerance`` (Date headers step in
    whole seconds); otherwise it is moved by how far the API's clock is off: the median of
    the ``Date`` headers, against this machine's clock halfway through the requests that
    carried them. Without ``Date`` headers there is nothing to compare: this machine's clock.

    Args:
        api_clocks: the ``Date`` headers of the crawl's answers (aware).
        machine_start: this machine's clock before the first of those requests (aware).
        machine_end: this machine's clock after the last of them (aware).
        tolerance: how far the two clocks may disagree with this machine's kept.
    """
    if not api_clocks:
        return machine_end
    offset = statistics.median_high(sorted(api_clocks)) - (
        machine_start + (machine_end - machine_start) / 2
    )
    return machine_end if abs(offset) <= tolerance else machine_end + offset


def _span(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds < 120:
        return counted(seconds, "second")
    if seconds < 2 * 3600:
        return counted(seconds // 60, "minute")
    if seconds < 2 * 86400:
        return counted(seconds // 3600, "hour")
    return counted(seconds // 86400, "day")
