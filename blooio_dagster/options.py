"""The component's own numeric attributes, declared once, with the Python builders that take
them too: their range, default, description and the one message that refuses a value.

``BlooioComponent`` takes each attribute's default, description and JSON-schema bounds from
here and checks it here; ``build_blooio_assets`` and ``build_blooio_schedule`` check the same
option here, given as Python spells it (a ``timedelta`` for a length of time), so that a value
one refuses, the other refuses with the same words. Why: docs/design.md, section 'Settings'.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar, cast

import dagster as dg

from blooio_dagster.api.errors import BlooioConfigError
from blooio_dagster.api.settings import Number

T = TypeVar("T")


@dataclass(frozen=True)
class Option(Number[T]):
    """A numeric option of the component (``name`` is its attribute) that a Python builder
    takes too: the :class:`~blooio_dagster.api.settings.Number`'s range, check and message,
    and how the builder spells it.

    Attributes:
        builder: the Python function that takes it, ``build_blooio_assets``.
        keyword: that function's argument holding it (``reply_sla``).
        part: the part of ``keyword`` that holds it (``warn_window`` of ``freshness_policy``);
            empty when ``keyword`` is the value itself.
        per: for a length of time, one unit of the attribute (``timedelta(minutes=1)``): the
            builder takes a ``timedelta``; ``None`` when the builder takes the number.
        daily_minimum: the least allowed with daily partitions, when that is more than the
            range's minimum; ``None`` when it is not.
        daily_harm: why less is refused with daily partitions, for its message.

    Every refusal says the same from either face: the attribute, how Python spells it when
    that differs, what is allowed, the value (in the attribute's unit) and how to fix it.
    """

    builder: str = ""
    keyword: str = ""
    part: str = ""
    per: timedelta | None = None
    daily_minimum: int | None = None
    daily_harm: str = ""

    @property
    def python(self) -> str:
        """How Python spells it, for messages: "reply_sla", "freshness_policy's warn_window"."""
        return f"{self.keyword}'s {self.part}" if self.part else self.keyword

    @property
    def python_call(self) -> str:
        """How Python spells it, for the docs: "`build_blooio_assets(reply_sla=...)`, a
        timedelta"."""
        part = f", its `{self.part}`" if self.part else ""
        kind = ", a timedelta" if self.per is not None else ""
        return f"`{self.builder}({self.keyword}=...)`{part}{kind}"

    def span(self, value: float) -> timedelta:
        """``value`` units as a timedelta."""
        assert self.per is not None, f"{self.name} is not a length of time"
        return value * self.per

    @property
    def default_span(self) -> timedelta:
        """The default as a timedelta, as the builder's argument defaults to it."""
        assert self.default is not None, f"{self.name} has no default length"
        return self.span(cast(float, self.default))

    def check_span(self, value: object, *, daily: bool = False) -> timedelta | None:
        """A length of time the builder was given, if the attribute allows it in its unit (and,
        with ``daily`` partitions, its ``daily_minimum``); otherwise this option's
        :class:`BlooioConfigError`."""
        if value is None:
            self.check(None)
            return None
        if not isinstance(value, timedelta):
            raise self._refused(value)
        assert self.per is not None, f"{self.name} is not a length of time"
        units = value / self.per
        # 2 hours shows as the attribute written "2" would, not "2.0"
        self.check(int(units) if units.is_integer() else units, daily=daily)
        return value

    def check(self, value: object, *, daily: bool = False) -> T:
        """``value`` if the attribute allows it (and, with ``daily`` partitions, its
        ``daily_minimum``); otherwise this option's :class:`BlooioConfigError`."""
        allowed = super().check(value)
        low = self.daily_minimum
        if daily and low is not None and isinstance(value, int | float) and value < low:
            raise BlooioConfigError(
                f"{self.name}{self._aka} must be {low} {self.unit} or more for daily tables, "
                f"got {value!r}: {self.daily_harm}, or build unpartitioned tables "
                "(partitioned: false in YAML, partitioned=False in Python)."
            )
        return allowed

    @property
    def _aka(self) -> str:
        return "" if self.python == self.name else f" ({self.python} in Python)"

    def _refused(self, value: object, why: str = "") -> BlooioConfigError:
        allowed = f"{self.allowed},"
        if self.per is not None:  # a number of units in YAML, a timedelta in Python
            kind = "a whole number" if self.whole else "a number"
            none = ", or None" if self.when_none is not None else ""
            allowed = (
                f"a length of time {self.range} {self.unit}: {kind} of {self.unit} in YAML, "
                f"a timedelta in Python{none};"
            )
        return BlooioConfigError(
            f"{self.name}{self._aka} must be {allowed} got {value!r}{why}. {self.fix}"
        )


@contextmanager
def definition_errors() -> Iterator[None]:
    """An option's refusal as the error Dagster raises for a bad definition, same message."""
    try:
        yield
    except BlooioConfigError as error:
        raise dg.DagsterInvalidDefinitionError(str(error)) from error


_DAY_HOURS = 24
_WARN_HOURS = 26
_FAIL_HOURS = 48
_STALE_EVERY_DAY = (
    "a daily table's newest data ends at a midnight, so it would be stale every day well "
    "before the next day's run. Allow a day plus the time the daily run takes (the defaults "
    f"are {_WARN_HOURS} and {_FAIL_HOURS})"
)
_FRESHNESS_DETAIL = (
    f"daily tables: {_DAY_HOURS} or more, counted since their newest stored day ended "
    "(current_chats: since the snapshot)"
)

REPLY_SLA: Option[float] = Option(
    name="reply_sla_minutes",
    default=60,
    summary="Reply-time target in minutes",
    unit="minutes",
    whole=False,
    minimum=0,
    exclusive_minimum=True,
    # 30 days: a longer target is no target, and pandas holds only 292 years of reply time
    maximum=30 * 24 * 60,
    detail="later replies count as SLA breaches",
    builder="build_blooio_assets",
    keyword="reply_sla",
    per=timedelta(minutes=1),
)
FRESHNESS_WARN: Option[float | None] = Option(
    name="freshness_warn_hours",
    default=_WARN_HOURS,
    summary="Warn when a table's newest data is older than this many hours",
    unit="hours",
    whole=False,
    minimum=0,
    exclusive_minimum=True,
    # a year: data that old is not fresh by any measure, and a timedelta cannot grow forever
    maximum=365 * _DAY_HOURS,
    detail=_FRESHNESS_DETAIL,
    when_none="no warning",
    builder="build_blooio_assets",
    keyword="freshness_policy",
    part="warn_window",
    per=timedelta(hours=1),
    daily_minimum=_DAY_HOURS,
    daily_harm=_STALE_EVERY_DAY,
)
#: The same window, failing: it differs from FRESHNESS_WARN only in these.
FRESHNESS_FAIL: Option[float | None] = replace(
    FRESHNESS_WARN,
    name="freshness_fail_hours",
    default=_FAIL_HOURS,
    summary="Fail (severity ERROR) when a table's newest data is older than this many hours",
    when_none="no freshness checks or policy at all",
    part="fail_window",
)
REPLY_LOOKBACK_DAYS: Option[int] = Option(
    name="reply_lookback_days",
    default=2,
    summary="Days before the latest one the schedule refreshes for late replies",
    unit="days before the latest day",
    whole=True,
    minimum=0,
    # every day in it is read again every day
    maximum=30,
    builder="build_blooio_schedule",
    keyword="reply_lookback_days",
)

#: Every option of the component that a Python builder takes too, by attribute.
OPTIONS: dict[str, Option[Any]] = {
    option.name: option
    for option in (REPLY_SLA, FRESHNESS_WARN, FRESHNESS_FAIL, REPLY_LOOKBACK_DAYS)
}


def options_markdown() -> str:
    """A markdown table of every option, how Python spells it, its default and what it means,
    for the docs."""
    rows = [
        f"| `{o.name}` | {o.python_call} | `{o.default:g}` | {o.description} |"
        for o in OPTIONS.values()
    ]
    return "\n".join(["| attribute | in Python | default | meaning |", "|---|---|---|---|", *rows])
