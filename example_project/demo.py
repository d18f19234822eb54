"""``make demo``: backfill the last 7 days from the local Blooio server into DuckDB.

Starts the bundled Blooio-compatible server, runs the example project's daily job over the
last seven complete days in one run (one crawl), and prints the per-day figures (approximate
lag beside exact reply times) and who is waiting now, read back from DuckDB. The run is recorded in example_project/dagster_home, so `make ui`
shows it afterwards.
"""

from __future__ import annotations

import os
import sys

from example_project.processes import DAGSTER_HOME

os.environ.setdefault("DAGSTER_HOME", str(DAGSTER_HOME))

import dagster as dg
import duckdb

from blooio_dagster.testing import BlooioTestServer

DAYS = 7
CHATS = 20_000


def main() -> int:
    with BlooioTestServer(chats=CHATS, seed=1) as server:
        os.environ["BLOOIO_API_KEY"] = server.api_key
        os.environ["BLOOIO_BASE_URL"] = server.base_url
        from example_project.definitions import DATABASE, JOB_NAME, defs

        job = defs.resolve_job_def(JOB_NAME)
        keys = job.partitions_def.get_partition_keys()[-DAYS:] if job.partitions_def else []
        print(f"Local Blooio server with {CHATS:,} chats at {server.base_url}")
        print(f"Backfilling {keys[0]} .. {keys[-1]} in one run into {DATABASE} ...")
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                tags={
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                },
                raise_on_error=False,
            )
        if not result.success:
            print("The run failed; see the log above.", file=sys.stderr)
            return 1
        requests = len(server.chats_requests()) + len(server.messages_requests())
    print(f"Run {result.run_id} succeeded with {requests} requests to the Blooio API.\n")
    with duckdb.connect(str(DATABASE), read_only=True) as con:
        # Days are UTC partitions; read them in UTC whatever the machine's time zone.
        con.execute("SET TimeZone = 'UTC'")
        table = con.sql(
            """
            select strftime(day, '%Y-%m-%d') as day, chats,
                   round(epoch(response_lag_p50) / 60, 1) as approx_lag_p50_min,
                   turns, answered, unanswered,
                   round(epoch(reply_time_p50) / 60, 1) as reply_p50_min,
                   round(epoch(reply_time_p90) / 60, 1) as reply_p90_min,
                   sla_breaches, inbound_messages, outbound_messages, failed_messages
            from blooio.response_summary
            where day >= ? order by day
            """,
            params=[keys[0]],
        ).df()
        waiting = con.sql(
            """
            select chat_id, strftime(last_inbound_time, '%Y-%m-%d %H:%M') as last_inbound_utc,
                   round(epoch(waiting_for) / 3600, 1) as waiting_h
            from blooio.current_chats
            where status = 'awaiting_reply' order by waiting_for desc limit 5
            """
        ).df()
        waiting_count = con.sql(
            "select count(*) from blooio.current_chats where status = 'awaiting_reply'"
        ).fetchall()[0][0]
    print("Per day (from DuckDB, blooio.response_summary): the chat-level lag is approximate;")
    print("turns and reply times are exact, computed from every message.")
    print(table.to_string(index=False))
    print(f"\nWaiting for a reply right now: {waiting_count:,} chats (blooio.current_chats);")
    print("the longest waits:")
    print(waiting.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
