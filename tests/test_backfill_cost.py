"""A backfill policy that runs few days per run warns of what it costs."""

from __future__ import annotations

import warnings

import dagster as dg
import pytest

from blooio_dagster import BlooioCostlyBackfillWarning, build_blooio_assets


@pytest.mark.parametrize("days_per_run", [1, 6])
def test_a_backfill_of_few_days_per_run_warns_of_its_cost(days_per_run: int) -> None:
    with pytest.warns(BlooioCostlyBackfillWarning) as warned:
        build_blooio_assets(backfill_policy=dg.BackfillPolicy.multi_run(days_per_run))

    message = str(warned[0].message)
    assert f"runs {days_per_run} day" in message, message
    assert "multi_run(7) or more" in message, message
    assert warned[0].filename == __file__, "the warning points at the caller's line"


@pytest.mark.parametrize(
    "policy", [None, dg.BackfillPolicy.single_run(), dg.BackfillPolicy.multi_run(7)]
)
def test_one_run_or_week_long_runs_do_not_warn(policy: dg.BackfillPolicy | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlooioCostlyBackfillWarning)
        build_blooio_assets(backfill_policy=policy)
