"""Freshness: how old a table's newest data may grow before Dagster warns, then fails.

One :class:`dagster.FreshnessPolicy`, ``time_window(fail_window=..., warn_window=...)``,
bounds the age of each table's newest data, measured as fits the table:

- an unpartitioned table (``current_chats``; every table of an unpartitioned build) carries
  the policy itself: its data is as old as its last materialization;
- a daily table's newest data ends where its newest stored day ends, so each gets the check
  ``newest_day_stored`` instead: it warns when that end is more than ``warn_window`` ago, and
  fails (severity ERROR) when it is more than ``fail_window`` ago. A materialization of old
  days (a backfill) does not make a table fresh; only its newest day does.

:func:`build_blooio_freshness_sensor` runs the checks whenever the passing of time can change
their verdict; a run that materializes a table runs them too.
Why: docs/design.md, section "The Dagster face".

(No ``from __future__ import annotations`` here: Dagster reads the check function's
annotations at definition time.)
"""

import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from blooio_dagster.api.wording import counted
from blooio_dagster.assets.settings import Build, machine_clock, op_name
from blooio_dagster.options import FRESHNESS_FAIL, FRESHNESS_WARN, definition_errors
from blooio_dagster.tables.catalogue import CHATS

#: Warn when a table's newest data is more than 26 hours old, fail after 48: with the daily run
#: at 00:30, a run that fails warns at 02:00, and fails the check at the next midnight unless
#: it is made up during the day.
DEFAULT_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=FRESHNESS_FAIL.default_span,
    warn_window=FRESHNESS_WARN.default_span,
)
#: The name of the check on each daily table.
NEWEST_DAY_CHECK = "newest_day_stored"
#: The check specs' metadata entries holding the windows, in hours.
FAIL_AFTER_METADATA = "blooio/fail_after_hours"
WARN_AFTER_METADATA = "blooio/warn_after_hours"

_TimeWindowPolicy = type(DEFAULT_FRESHNESS_POLICY)


@dataclass(frozen=True)
class NewestDay:
    """How old a daily table's newest data may grow: the time since its newest stored day
    ended.

    Attributes:
        partitions_def: the table's daily partitions.
        fail_after: past this age the check fails, with severity ERROR.
        warn_after: past this age the check warns; ``None`` for no warning.
    """

    partitions_def: dg.TimeWindowPartitionsDefinition
    fail_after: timedelta
    warn_after: timedelta | None

    @classmethod
    def of_policy(
        cls, policy: dg.FreshnessPolicy, partitions_def: dg.TimeWindowPartitionsDefinition
    ) -> "NewestDay":
        """The ages a policy that :func:`check_freshness_policy` let through for daily tables
        allows a daily table's newest data."""
        assert isinstance(policy, _TimeWindowPolicy), policy
        warn = policy.warn_window
        return cls(
            partitions_def,
            fail_after=policy.fail_window.to_timedelta(),
            warn_after=warn.to_timedelta() if warn is not None else None,
        )

    @classmethod
    def of_spec(
        cls, spec: dg.AssetCheckSpec, partitions_def: dg.TimeWindowPartitionsDefinition
    ) -> "NewestDay":
        """The ages a ``newest_day_stored`` check spec records."""
        warn = spec.metadata.get(WARN_AFTER_METADATA)
        return cls(
            partitions_def,
            fail_after=timedelta(hours=spec.metadata[FAIL_AFTER_METADATA]),
            warn_after=timedelta(hours=warn) if warn is not None else None,
        )

    def metadata(self) -> dict[str, float]:
        windows = {FAIL_AFTER_METADATA: self.fail_after, WARN_AFTER_METADATA: self.warn_after}
        return {name: _hours(window) for name, window in windows.items() if window is not None}

    def description(self) -> str:
        warn = (
            f"warns when it is more than {_in_words(self.warn_after)} old and "
            if self.warn_after is not None
            else ""
        )
        return (
            "The newest data, which ends where the newest day stored ends: "
            f"{warn}fails when it is more than {_in_words(self.fail_after)} old."
        )

    def windows(self) -> list[tuple[timedelta, dg.AssetCheckSeverity]]:
        """The windows, the longest (and gravest) first."""
        fail = [(self.fail_after, dg.AssetCheckSeverity.ERROR)]
        return fail + ([(self.warn_after, dg.AssetCheckSeverity.WARN)] if self.warn_after else [])

    def due(self, now: datetime, after: timedelta) -> str | None:
        """The oldest day that, stored, keeps the newest data within ``after`` at ``now``: the
        day in which the instant ``after`` before ``now`` falls (``None`` before the first)."""
        edge = now - after
        if edge <= self.partitions_def.start:
            return None
        return self.partitions_def.get_partition_key_for_timestamp(
            edge.timestamp(), end_closed=True
        )

    def state(self, now: datetime) -> str:
        """What the verdict depends on besides the stored days: it changes only with this."""
        return "|".join(str(self.due(now, after)) for after, _ in self.windows())

    def judge(
        self, key: dg.AssetKey, stored: Collection[str], now: datetime
    ) -> dg.AssetCheckResult:
        """The verdict on ``key`` at ``now``, given the days stored."""
        newest = max(stored, key=self._end, default=None)
        age = now - self._end(newest) if newest is not None else None
        metadata: dict[str, Any] = {"newest_stored_day": newest} if newest else {}
        if age is not None:
            metadata["newest_data_age_hours"] = round(_hours(age), 2)
        for after, severity in self.windows():
            due = self.due(now, after)
            if due is None or (age is not None and age <= after):
                continue
            found = (
                f"the newest day stored, {newest}, ended {_hours_ago(age)}: materialize the "
                f"days after {newest}"
                if newest is not None and age is not None
                else f"no day is stored: materialize {due}"
            )
            return dg.AssetCheckResult(
                asset_key=key,
                check_name=NEWEST_DAY_CHECK,
                passed=False,
                severity=severity,
                description=(
                    f"{due} or a newer day must be stored to keep the newest data within "
                    f"{_in_words(after)}, but {found}, or see why the runs that should have "
                    "did not."
                ),
                metadata={**metadata, "missing_day": due},
            )
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=NEWEST_DAY_CHECK,
            passed=True,
            description=(
                f"The newest day stored, {newest}, ended {_hours_ago(age)}."
                if newest is not None and age is not None
                else "No day is due yet."
            ),
            metadata=metadata,
        )

    def _end(self, day: str) -> datetime:
        return self.partitions_def.time_window_for_partition_key(day).end


def check_freshness_policy(policy: dg.FreshnessPolicy | None, *, daily: bool) -> None:
    """Refuse a policy whose windows the component would refuse as ``freshness_warn_hours``
    and ``freshness_fail_hours``, with the same message: out of their range, or, for ``daily``
    tables, shorter than a day, which every daily table would overrun each afternoon.

    Raises:
        dagster.DagsterInvalidDefinitionError: for such windows, or, for daily tables, another
            kind of policy than ``FreshnessPolicy.time_window(...)``.
    """
    if policy is not None and not isinstance(policy, _TimeWindowPolicy) and daily:
        raise dg.DagsterInvalidDefinitionError(
            "freshness_policy must be FreshnessPolicy.time_window(...) or None for "
            f"partitioned assets, got {policy!r}: its windows bound how long ago the "
            "newest stored day ended. Pass partitioned=False to attach other policies "
            "as they are."
        )
    if not isinstance(policy, _TimeWindowPolicy):
        return
    warn = policy.warn_window
    with definition_errors():
        FRESHNESS_WARN.check_span(warn.to_timedelta() if warn is not None else None, daily=daily)
        FRESHNESS_FAIL.check_span(policy.fail_window.to_timedelta(), daily=daily)


def newest_day_checks(build: Build, policy: dg.FreshnessPolicy) -> dg.AssetChecksDefinition:
    """The ``newest_day_stored`` check of every partitioned table of a partitioned build."""
    assert build.partitions_def is not None
    freshness = NewestDay.of_policy(policy, build.partitions_def)
    specs = [
        dg.AssetCheckSpec(
            NEWEST_DAY_CHECK,
            asset=spec.key,
            description=freshness.description(),
            metadata=freshness.metadata(),
        )
        for spec in build.specs.values()
        if spec.partitions_def is not None
    ]

    @dg.multi_asset_check(
        specs=specs, can_subset=True, name=op_name(build.key(CHATS), NEWEST_DAY_CHECK)
    )
    def newest_day_stored(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        now = build.clock()
        for check in sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string()):
            stored = context.instance.get_materialized_partitions(check.asset_key)
            yield freshness.judge(check.asset_key, stored, now)

    return newest_day_stored


def build_blooio_freshness_sensor(
    definitions: Sequence[dg.AssetsDefinition | dg.AssetChecksDefinition],
    *,
    name: str = "blooio_freshness",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    clock: Callable[[], datetime] | None = None,
) -> dg.SensorDefinition:
    """A sensor that runs the ``newest_day_stored`` checks of
    :func:`~blooio_dagster.build_blooio_assets` when the passing of time can change them.

    A table's verdict changes with time only when a newer day becomes due: when the instant
    ``warn_window`` (or ``fail_window``) before now passes a midnight of the partitions' time
    zone. The sensor requests a run of the checks each time that happens, and at its first
    tick; runs that materialize the tables run the checks as well. It starts stopped; turn it
    on in the UI, or pass
    ``default_status=dg.DefaultSensorStatus.RUNNING``.

    Args:
        definitions: what :func:`~blooio_dagster.build_blooio_assets` returned, partitioned,
            with a ``freshness_policy``.
        name: the sensor's name.
        default_status: whether the sensor runs as soon as it is deployed.
        clock: this machine's clock, giving aware datetimes; ``datetime.now(UTC)`` unless a
            test fixes it.

    Raises:
        dagster.DagsterInvalidDefinitionError: for definitions without these checks.
    """
    partitions = {
        key: a.partitions_def
        for a in definitions
        if isinstance(a, dg.AssetsDefinition)
        for key in a.keys
        if isinstance(a.partitions_def, dg.TimeWindowPartitionsDefinition)
    }
    checks = {
        spec.key: NewestDay.of_spec(spec, partitions[spec.asset_key])
        for d in definitions
        if isinstance(d, dg.AssetChecksDefinition)
        for spec in d.check_specs
        if spec.name == NEWEST_DAY_CHECK and spec.asset_key in partitions
    }
    if not checks:
        raise dg.DagsterInvalidDefinitionError(
            "build_blooio_freshness_sensor needs the definitions returned by "
            "build_blooio_assets(partitioned=True) with a freshness_policy; these hold no "
            f"{NEWEST_DAY_CHECK} check."
        )
    now_of = clock or machine_clock

    @dg.sensor(
        name=name,
        asset_selection=dg.AssetSelection.checks(*checks),
        default_status=default_status,
        description=(
            f"Runs the {NEWEST_DAY_CHECK} checks of the Blooio tables whenever a day becomes "
            "due under their warn or fail window."
        ),
    )
    def blooio_freshness(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = now_of()
        seen: Mapping[str, str] = json.loads(context.cursor) if context.cursor else {}
        states = {key.to_user_string(): check.state(now) for key, check in checks.items()}
        due = [
            key for key in checks if seen.get(key.to_user_string()) != states[key.to_user_string()]
        ]
        if not due:
            return dg.SensorResult(
                skip_reason="No day has become due since the checks last ran.",
                cursor=json.dumps(states),
            )
        return dg.SensorResult(
            run_requests=[dg.RunRequest(asset_check_keys=due)], cursor=json.dumps(states)
        )

    return blooio_freshness


def _hours(window: timedelta) -> float:
    return window.total_seconds() / 3600


def _hours_ago(age: timedelta) -> str:
    return f"{counted(int(_hours(age)), 'hour')} ago"


def _in_words(window: timedelta) -> str:
    """ "26 hours", "1 hour", "90 minutes"."""
    minutes = round(window.total_seconds() / 60)
    return counted(minutes // 60, "hour") if minutes % 60 == 0 else counted(minutes, "minute")
