"""Business hours, and the time that passes inside them, measured on real clocks.

A team that answers Monday to Friday, 9 to 5, counts a message sent on Friday evening and
answered on Monday at 09:30 as a 30-minute reply. :class:`BusinessHours` says when the team
works, in wall-clock times of one time zone; :meth:`BusinessHours.elapsed` measures the
working time between two instants for whole columns at once. How the hours meet
daylight-saving changes, and why: docs/design.md, section 'Reply times and the clocks'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd

from blooio_dagster.api.errors import BlooioConfigError
from blooio_dagster.tables.dtypes import epoch_ns

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_DAY_NS = 86_400 * 10**9
_MINUTE_NS = 60 * 10**9
_NAT = np.iinfo("int64").min
#: The days whose windows can be placed on the datetime64[ns] timeline, with a day of margin.
_FIRST_DAY = pd.Timestamp.min.value // _DAY_NS + 2
_LAST_DAY = pd.Timestamp.max.value // _DAY_NS - 2
_DAY_NAMES = {
    **{name.lower(): i for i, name in enumerate(WEEKDAYS)},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    "tues": 1,
    "thur": 3,
    "thurs": 3,
}
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class BusinessHours:
    """When the team works: the same hours on each listed day, in wall-clock time.

    The hours are read in the time zone they are evaluated in (the partitions' time zone),
    so 09:00 stays 09:00 across daylight-saving changes. A day's window opens at the first
    moment the clock shows ``start`` (a ``start`` skipped by a spring-forward change opens it
    when the clock jumps past) and closes at the first moment it shows ``end``; time inside is
    measured on real clocks, so a window that spans a change lasts an hour more or less.

    Args:
        days: the working days, as names or ranges of names, comma-separated: ``"Mon-Fri"``,
            ``"Mon-Thu,Sat"``, ``"Sun-Thu"``; ``"Fri-Mon"`` wraps past Sunday. Three-letter or
            full English names, any case.
        start: when work begins, ``"HH:MM"`` in 24-hour time (or a :class:`datetime.time`).
        end: when it ends; ``"24:00"`` is the midnight that ends the day. An ``end`` earlier
            than ``start`` means hours past midnight (``"22:00"`` to ``"06:00"``), counted on
            the day they begin.
        holidays: dates on which no window opens.

    Raises:
        BlooioConfigError: a day name, time or holiday is not understood, or ``start``
            equals ``end``.
    """

    days: str = "Mon-Fri"
    start: str | time = "09:00"
    end: str | time = "17:00"
    holidays: Sequence[date] = ()
    _weekdays: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _start_minute: int = field(init=False, repr=False, compare=False)
    _end_minute: int = field(init=False, repr=False, compare=False)
    _holiday_days: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        start = _minute_of_day(self.start, "start", allow_end_of_day=False)
        end = _minute_of_day(self.end, "end", allow_end_of_day=True)
        if start == end:
            raise BlooioConfigError(
                f"BusinessHours start and end are both {_clock(start)}; the hours would be "
                "empty. For whole days use start='00:00', end='24:00'."
            )
        holidays = tuple(sorted(set(_holiday(h) for h in _iterable(self.holidays))))
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "_weekdays", _parse_days(self.days))
        object.__setattr__(self, "_start_minute", start)
        object.__setattr__(self, "_end_minute", end)
        epoch = date(1970, 1, 1)
        object.__setattr__(self, "_holiday_days", tuple((h - epoch).days for h in holidays))

    @classmethod
    def parse(cls, text: str) -> BusinessHours:
        """Business hours written as one string, such as ``"Mon-Fri 09:00-17:00"``.

        Raises:
            BlooioConfigError: the string is not days, a space, then ``start-end``.
        """
        days, _, hours = text.strip().rpartition(" ")
        start, dash, end = hours.partition("-")
        if not days.strip() or not dash:
            raise BlooioConfigError(
                f"business hours {text!r} are not understood; write the days, a space and the "
                "hours, for example 'Mon-Fri 09:00-17:00'"
            )
        return cls(days=days.strip(), start=start, end=end)

    def __str__(self) -> str:
        hours = f"{self.days} {_clock(self._start_minute)}-{_clock(self._end_minute)}"
        return hours + (f" except {len(self.holidays)} holidays" if self.holidays else "")

    def elapsed(self, start: Any, end: Any, timezone: str) -> pd.Series:
        """The working time between each ``start`` and ``end``, as ``timedelta64[ns]``.

        Args:
            start: aware instants (a Series or index of ``datetime64[ns, tz]``); missing
                values give missing results.
            end: aware instants of the same length; an end before its start gives a
                negative duration.
            timezone: the IANA time zone whose wall clocks the hours are read in.

        Returns:
            A Series indexed like ``start`` (when it is a Series).
        """
        starts, ends = _instants(start, "start"), _instants(end, "end")
        if len(starts) != len(ends):
            raise ValueError(f"start has {len(starts)} instants but end has {len(ends)}")
        both = np.concatenate([starts, ends])
        worked = self._worked_before(both, timezone)
        missing = (starts == _NAT) | (ends == _NAT)
        ns = np.where(missing, _NAT, worked[len(starts) :] - worked[: len(starts)])
        index = start.index if isinstance(start, pd.Series) else None
        return pd.Series(ns.view("timedelta64[ns]"), index=index, dtype="timedelta64[ns]")

    def _worked_before(self, instants: np.ndarray[Any, Any], timezone: str) -> np.ndarray[Any, Any]:
        """Working nanoseconds from the start of the earliest day involved up to each instant.

        Only differences of these values mean anything. Each day's window is placed on the
        real timeline from its wall-clock times; an instant on local day ``d`` has seen every
        window before day ``d - 1`` close, and may be inside the window of ``d - 1`` (hours
        past midnight) or of ``d``.
        """
        valid = instants != _NAT
        result = np.zeros(len(instants), dtype="int64")
        if not valid.any():
            return result
        at = instants[valid]
        utc = pd.DatetimeIndex(at.view("datetime64[ns]")).tz_localize("UTC")
        local_day = epoch_ns(utc.tz_convert(timezone).tz_localize(None)) // _DAY_NS
        first, last = int(np.min(local_day)) - 1, int(np.max(local_day))
        if first < _FIRST_DAY or last > _LAST_DAY:
            raise ValueError(
                "business hours can only be measured between 1677-09-23 and 2262-04-09"
            )
        days = np.arange(first, last + 1, dtype="int64")
        overnight = self._end_minute < self._start_minute
        opens = _localize(days * _DAY_NS + self._start_minute * _MINUTE_NS, timezone)
        closes = _localize((days + overnight) * _DAY_NS + self._end_minute * _MINUTE_NS, timezone)
        working = np.isin((days + 3) % 7, self._weekdays) & ~np.isin(days, self._holiday_days)
        length = np.where(working, np.maximum(closes - opens, 0), 0)
        before = np.concatenate([[0], np.cumsum(length)[:-1]])
        today = local_day - first
        yesterday = today - 1
        result[valid] = (
            before[yesterday]
            + np.clip(at - opens[yesterday], 0, length[yesterday])
            + np.clip(at - opens[today], 0, length[today])
        )
        return result


def _localize(wall_ns: np.ndarray[Any, Any], timezone: str) -> np.ndarray[Any, Any]:
    """The instants (ns) at which the clock first shows these wall-clock times.

    A time lived twice (autumn) gives its first instant; a time skipped (spring) gives the
    instant the clock jumps past it.
    """
    wall = pd.DatetimeIndex(wall_ns.view("datetime64[ns]"))
    earlier = np.ones(len(wall), dtype=bool)  # True picks the daylight-saving (first) reading
    return epoch_ns(wall.tz_localize(timezone, ambiguous=earlier, nonexistent="shift_forward"))


def _instants(values: Any, name: str) -> np.ndarray[Any, Any]:
    index = pd.DatetimeIndex(values)
    if index.tz is None:
        raise ValueError(f"{name} must hold timezone-aware instants, not naive times")
    return epoch_ns(index)


def _minute_of_day(value: str | time, name: str, *, allow_end_of_day: bool) -> int:
    if isinstance(value, time) and not (value.second or value.microsecond or value.tzinfo):
        return value.hour * 60 + value.minute
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None:
        hours, minutes = int(match[1]), int(match[2])
        minute = hours * 60 + minutes
        if minutes < 60 and (minute < 24 * 60 or (allow_end_of_day and minute == 24 * 60)):
            return minute
    latest = "24:00" if allow_end_of_day else "23:59"
    raise BlooioConfigError(
        f"BusinessHours {name} {value!r} is not a time of day; write it as HH:MM in 24-hour "
        f"time, from 00:00 to {latest}, for example '09:00' or '17:30'"
    )


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_days(spec: Any) -> tuple[int, ...]:
    example = "for example 'Mon-Fri', 'Mon-Thu,Sat' or 'Sun-Thu'"
    if not isinstance(spec, str) or not spec.strip():
        raise BlooioConfigError(f"BusinessHours days {spec!r} names no days; {example}")
    weekdays: set[int] = set()
    for part in spec.split(","):
        first, dash, last = part.partition("-")
        begin = _weekday(first, spec)
        finish = _weekday(last, spec) if dash else begin
        weekdays |= {(begin + k) % 7 for k in range((finish - begin) % 7 + 1)}
    return tuple(sorted(weekdays))


def _weekday(name: str, spec: str) -> int:
    try:
        return _DAY_NAMES[name.strip().lower()]
    except KeyError:
        raise BlooioConfigError(
            f"BusinessHours days {spec!r}: {name.strip()!r} is not a day; use "
            f"{', '.join(WEEKDAYS)} (or full names), single or as ranges such as 'Mon-Fri', "
            "separated by commas"
        ) from None


def _iterable(holidays: Any) -> Iterable[Any]:
    if isinstance(holidays, str | bytes | date) or not isinstance(holidays, Iterable):
        raise BlooioConfigError(
            f"BusinessHours holidays must be a list of dates, not {type(holidays).__name__}"
        )
    return holidays


def _holiday(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise BlooioConfigError(
        f"BusinessHours holiday {value!r} is not a date; give datetime.date values, "
        "for example date(2026, 12, 25)"
    )
