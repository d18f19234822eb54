"""The example project as a customer runs it: loadable, the demo, the webserver, the UI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from blooio_dagster.testing import BlooioTestServer
from example_project.demo import DEMO_NOW
from example_project.processes import ASSET_NAMES, DAGSTER_HOME, dagster_webserver, free_port

ROOT = Path(__file__).resolve().parent.parent

# The example project stores its tables with dagster-duckdb-pandas, which not every Dagster and
# pandas release can install beside: the newest-releases run deselects these.
pytestmark = pytest.mark.duckdb

ASSET_GRAPH_QUERY = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    groupName
    kinds
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  }
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { schedules { name cronSchedule } } }
        }
      }
    }
  }
}
"""


@pytest.fixture
def project_env(tmp_path: Path, server: BlooioTestServer) -> dict[str, str]:
    """The environment a customer sets, with a private Dagster home and DuckDB file."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DAGSTER_HOME / "dagster.yaml").read_text())
    return {
        "DAGSTER_HOME": str(home),
        "BLOOIO_API_KEY": server.api_key,
        "BLOOIO_BASE_URL": server.base_url,
        "BLOOIO_EXAMPLE_DATABASE": str(tmp_path / "warehouse.duckdb"),
    }


@pytest.fixture
def webserver_url(project_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with dagster_webserver(
        env=project_env, port=free_port(), log_path=tmp_path / "webserver.log"
    ) as url:
        yield url


def test_the_definitions_load(monkeypatch: pytest.MonkeyPatch, project_env: dict[str, str]) -> None:
    for name, value in project_env.items():
        monkeypatch.setenv(name, value)
    from example_project.definitions import defs

    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_schedule_def("blooio_daily").cron_schedule == "30 0 * * *"


@pytest.mark.long
def test_the_demo_backfills_seven_days_into_duckdb(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    database = tmp_path / "warehouse.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(home), "BLOOIO_EXAMPLE_DATABASE": str(database)}
    env.pop("BLOOIO_API_KEY", None)

    done = subprocess.run(
        [sys.executable, "-m", "example_project.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        days = con.execute("select count(*) from blooio.response_summary").fetchone()
        chats = con.execute("select count(*), count(distinct chat_id) from blooio.chats").fetchone()
    assert days == (7,)
    assert chats is not None
    assert chats[0] == chats[1] > 500
    instance = dg.DagsterInstance.from_config(str(home))
    runs = instance.get_runs()
    assert len(runs) == 1, "the seven days were backfilled in one run"
    # The week before the synthetic clock, whatever today's date and the machine's time zone.
    week = [(DEMO_NOW.date() - timedelta(days=7 - n)).isoformat() for n in range(7)]
    assert runs[0].tags["dagster/asset_partition_range_start"] == week[0]
    assert runs[0].tags["dagster/asset_partition_range_end"] == week[-1]

    summary = demo_figures(done.stdout)
    assert "reply SLA 60 minutes" in done.stdout, done.stdout
    # What a support lead would believe: replies in minutes, a few customers still waiting.
    assert 5 <= summary["median reply"] <= 60, summary
    assert summary["median reply"] < summary["p90"] <= 6 * 60, summary
    assert 0 < summary["still waiting"] < summary["customer turns"] * 0.05, summary
    assert 0 < summary["SLA breaches"] < summary["customer turns"] * 0.5, summary
    table = done.stdout.split("Per day (blooio.response_summary):\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in table.splitlines()[1:]] == week, table
    waiting = done.stdout.split("Waiting for a reply now")[1]
    total = int(re.search(r"([\d,]+) customers?,", waiting).group(1).replace(",", ""))  # type: ignore[union-attr]
    by_wait = waiting.split("waited:")[1]
    buckets = [int(n.replace(",", "")) for n in re.findall(r": ([\d,]+)", by_wait)]
    assert len(buckets) == 4, waiting
    assert sum(buckets) == total > 0, waiting


def demo_figures(stdout: str) -> dict[str, float]:
    """The week's figures the demo prints: counts, and the median and p90 reply in minutes."""
    lines = stdout.split("The week from")[1].splitlines()[1:5]
    figures: dict[str, float] = {}
    for line in lines:
        label, _, rest = line.strip().partition("  ")
        words = rest.split()
        figures[label] = int(words[0].replace(",", ""))
        if "median reply" in line:
            median, p90 = line.split("median reply ")[1].split(", p90 ")
            figures["median reply"], figures["p90"] = as_minutes(median), as_minutes(p90)
    return figures


def as_minutes(text: str) -> float:
    """ "1 h 48 min" or "17 min" as minutes."""
    words = text.split()
    hours = int(words[0]) if "h" in words else 0
    return hours * 60 + int(words[-2])


@pytest.mark.webserver
def test_the_webserver_serves_the_asset_graph(webserver_url: str) -> None:
    response = httpx.post(f"{webserver_url}/graphql", json={"query": ASSET_GRAPH_QUERY}, timeout=60)
    data: dict[str, Any] = response.json()["data"]

    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert set(nodes) == {f"blooio/{name}" for name in ASSET_NAMES}
    assert [d["path"] for d in nodes["blooio/chat_response_lag"]["dependencyKeys"]] == [
        ["blooio", "chats"]
    ]
    summary_deps = {d["path"][-1] for d in nodes["blooio/response_summary"]["dependencyKeys"]}
    assert summary_deps == {"chat_response_lag", "messages", "reply_times"}
    assert nodes["blooio/chats"]["dependencyKeys"] == []
    for node in nodes.values():
        assert node["groupName"] == "blooio"
        assert set(node["kinds"]) == {"blooio", "pandas"}
    checks = {
        c["name"]: c["blocking"] for c in nodes["blooio/chats"]["assetChecksOrError"]["checks"]
    }
    assert checks == {
        "chat_id_unique": True,
        "no_future_times": False,
        "column_schema_change": False,
        "newest_day_stored": False,
    }
    (entry,) = data["workspaceOrError"]["locationEntries"]
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"
    schedules = [
        s for repo in entry["locationOrLoadError"]["repositories"] for s in repo["schedules"]
    ]
    assert schedules == [{"name": "blooio_daily", "cronSchedule": "30 0 * * *"}]


@pytest.mark.webserver
@pytest.mark.browser
@pytest.mark.long
def test_the_lineage_page_shows_every_asset(webserver_url: str, tmp_path: Path) -> None:
    from example_project.browser import chromium_page, open_lineage
    from example_project.processes import LINEAGE_PATH

    with chromium_page() as page:
        open_lineage(page, webserver_url)
        page.screenshot(path=str(tmp_path / "lineage.png"))
        assert page.url.endswith(LINEAGE_PATH)
        for name in ASSET_NAMES:
            assert page.get_by_text(name, exact=True).count() >= 1
        assert page.get_by_text("Asset Group in").count() == 1
    assert (tmp_path / "lineage.png").stat().st_size > 10_000
