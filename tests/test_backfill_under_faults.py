"""A day and a range backfilled from a misbehaving API store exactly what a well-behaved one gives.

Each fault below is one a real API, proxy or replica shows and that the package must read
through: the stored tables (every row and column, run clock fixed on both sides) must equal
those from the same data served without the fault. Faults that cannot be read through end in
a failed run that stores nothing (``test_asset_path_faults.py``, ``test_messages_faults.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from blooio_dagster.testing import BlooioTestServer, Faults
from tests.conftest import FIXED_NOW, FIXED_NOW_MS, FakeClock
from tests.dagster_project import Project

pytestmark = pytest.mark.duckdb

TABLES = ("chats", "messages", "reply_times", "chat_response_lag", "response_summary")
CHATS, SEED = 2000, 71
HOUR_S = 3600

#: Faults counted by request (never drawn by chance), each of which the read must get through.
RECOVERABLE: dict[str, dict[str, Any]] = {
    "every 7th request a 503": {"server_error_every": 7},
    "a page of another chat first": {"misanswered_pages": 1, "misanswer": "other_chat"},
    "a page of another offset first": {"misanswered_pages": 1, "misanswer": "offset"},
    "a lagging replica's 404 first": {"messages_404_per_chat": 1},
    "totals of the whole history": {"total_ignores_window": True},
    "queued messages without a time": {"queued_per_chat": 2},
    "a replica answering an empty list": {"empty_replica_after": 2, "empty_replica_count": 2},
    "every third Date header 20 h behind": {
        "date_skew_seconds": -20 * HOUR_S,
        "date_skew_every": 3,
    },
    "pages capped at 37 rows, unsaid": {"page_cap": 37, "report_cap": False},
}
SPANS = {"a day": 1, "a range": 3}


def backfill(tmp_path: Path, name: str, days: int, faults: Faults) -> dict[str, pd.DataFrame]:
    """The tables stored by one run over the last ``days`` days, the run's clock fixed."""
    clock = FakeClock(FIXED_NOW_MS / 1000)
    with BlooioTestServer(chats=CHATS, seed=SEED, now=FIXED_NOW_MS, clock=clock) as server:
        server.faults = faults
        project = Project(server, tmp_path / f"{name}.duckdb", clock=lambda: FIXED_NOW)
        result = project.run(*project.days(days))
        assert result.success
        return {table: comparable(project.table(table)) for table in TABLES}


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a stable order, whatever order the run wrote them in."""
    keys = [c for c in ("day", "chat_id", "message_id", "turn_started_at") if c in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, pd.DataFrame]]:
    """The tables of a well-behaved server, per span."""
    root = tmp_path_factory.mktemp("baseline")
    return {days: backfill(root, f"clean{days}", days, Faults()) for days in SPANS.values()}


@pytest.mark.parametrize("span", list(SPANS))
@pytest.mark.parametrize("fault", list(RECOVERABLE))
def test_a_backfill_through_a_fault_stores_what_a_clean_api_gives(
    baseline: dict[int, dict[str, pd.DataFrame]], tmp_path: Path, fault: str, span: str
) -> None:
    days = SPANS[span]
    expected = baseline[days]

    got = backfill(tmp_path, "faulty", days, Faults(**RECOVERABLE[fault]))

    assert len(expected["reply_times"]) > 10, "too few turns to prove anything"
    for table in TABLES:
        pd.testing.assert_frame_equal(got[table], expected[table], obj=f"{fault}: {table}")
