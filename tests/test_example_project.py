"""The example project as a customer runs it: loadable, the webserver, the UI.

``make demo``'s run and what it prints are checked where the README runs it, in
``test_walkthrough.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from blooio_dagster.testing import BlooioTestServer
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
