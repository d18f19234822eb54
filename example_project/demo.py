"""``make demo``: backfill a week from the local Blooio server into DuckDB and summarize it.

Starts the bundled Blooio-compatible server with a support team's synthetic inbox whose clock
is fixed (:data:`DEMO_NOW`), so the output is the same on any date; runs the example project's
daily job over the seven days before that clock in one run (one crawl); and prints, read back
from DuckDB, what a support lead reads first: the week's turns, reply times and SLA breaches,
each day's figures, and how long the customers still waiting have waited (counts only, no
customer data). The run is recorded in example_project/dagster_home, so `make ui` shows it.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from blooio_dagster.api.wording import counted
from blooio_dagster.assets import DEFAULT_REPLY_SLA
from blooio_dagster.testing import BlooioTestServer
from example_project.processes import DAGSTER_HOME

if TYPE_CHECKING:
    import duckdb

DAYS = 7
CHATS = 5_000
#: The synthetic inbox's "now": its data ends here, and the week before it is backfilled.
DEMO_NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
#: How long customers still waiting have waited, as of DEMO_NOW: (label, up to).
WAIT_BUCKETS = (
    ("under 1 hour", timedelta(hours=1)),
    ("1 to 24 hours", timedelta(days=1)),
    ("1 to 7 days", timedelta(days=7)),
    ("over 7 days", None),
)


def main() -> int:
    os.environ.setdefault("DAGSTER_HOME", str(DAGSTER_HOME))
    now_ms = int(DEMO_NOW.timestamp() * 1000)
    with BlooioTestServer(chats=CHATS, seed=1, now=now_ms, profile="support") as server:
        os.environ["BLOOIO_API_KEY"] = server.api_key
        os.environ["BLOOIO_BASE_URL"] = server.base_url
        from example_project.definitions import DATABASE, JOB_NAME, defs

        job = defs.resolve_job_def(JOB_NAME)
        assert job.partitions_def is not None
        with dg.partition_loading_context(effective_dt=DEMO_NOW):
            keys = job.partitions_def.get_partition_keys()[-DAYS:]
        print(
            f"Local Blooio server: {counted(CHATS, 'synthetic support chat')}, "
            f"its clock fixed at {DEMO_NOW:%Y-%m-%d %H:%M} UTC so that this output is the same "
            "on any date (the run warns that the API's clock and this machine's differ)"
        )
        print(f"Backfilling {keys[0]} .. {keys[-1]} in one run into {DATABASE.name} ...")
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                tags={
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                },
                raise_on_error=False,
            )
        if not result.success:
            print("The run failed; see the log above.", file=sys.stderr)
            return 1
    print("The run succeeded.\n")
    # Imported here: the constants above serve the UI and the tests where DuckDB is absent.
    import duckdb

    with duckdb.connect(str(DATABASE), read_only=True) as con:
        # Days are UTC partitions; read them in UTC whatever the machine's time zone.
        con.execute("SET TimeZone = 'UTC'")
        print(week_summary(con, keys[0]))
        print(days_table(con, keys[0]))
        print(waiting_now(con))
    return 0


def week_summary(con: duckdb.DuckDBPyConnection, first_day: str) -> str:
    """The week in five lines: turns, answered with median and p90 reply, SLA, still waiting."""
    turns, answered, p50, p90, breaches = con.execute(
        """
        select count(*), count(replied_at),
               median(epoch(reply_time)) / 60, quantile_cont(epoch(reply_time), 0.9) / 60,
               count(*) filter (where met_sla = false)
        from blooio.reply_times where turn_started_at >= ?::timestamptz
        """,
        [first_day],
    ).fetchall()[0]
    sla = DEFAULT_REPLY_SLA.total_seconds() / 60
    return "\n".join(
        [
            f"The week from {first_day} (exact, from every message; reply SLA {sla:g} minutes):",
            f"  customer turns  {turns:>7,}",
            f"  answered        {answered:>7,}   median reply {minutes(p50)}, p90 {minutes(p90)}",
            f"  SLA breaches    {breaches:>7,}   answered later than the SLA, or waiting past it",
            f"  still waiting   {turns - answered:>7,}",
            "",
        ]
    )


def days_table(con: duckdb.DuckDBPyConnection, first_day: str) -> str:
    """Each day's figures from blooio.response_summary."""
    table = con.sql(
        """
        select strftime(day, '%Y-%m-%d') as day, turns, answered, unanswered,
               round(epoch(reply_time_p50) / 60, 1) as reply_p50_min,
               round(epoch(reply_time_p90) / 60, 1) as reply_p90_min,
               sla_breaches, inbound_messages, outbound_messages, failed_messages
        from blooio.response_summary
        where day >= ?::date order by day
        """,
        params=[first_day],
    ).df()
    return "Per day (blooio.response_summary):\n" + str(table.to_string(index=False)) + "\n"


def waiting_now(con: duckdb.DuckDBPyConnection) -> str:
    """How many customers wait for a reply, by how long, as stored: measured by the API's
    clock (here the server's fixed one), which stamps the messages."""
    waits: list[timedelta] = [
        wait
        for (wait,) in con.execute(
            "select waiting_for from blooio.current_chats where status = 'awaiting_reply'"
        ).fetchall()
    ]
    counts = []
    low = timedelta(0)
    for label, high in WAIT_BUCKETS:
        n = sum(low <= wait and (high is None or wait < high) for wait in waits)
        counts.append(f"{label}: {n:,}")
        low = high or low
    return (
        f"Waiting for a reply now (blooio.current_chats): {counted(len(waits), 'customer')}, "
        "by how long they have waited:\n  " + "   ".join(counts)
    )


def minutes(value: float | None) -> str:
    """Minutes as a person reads them: "17 min", "1 h 48 min"."""
    if value is None:
        return "none"
    hours, rest = divmod(round(value), 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


if __name__ == "__main__":
    sys.exit(main())
