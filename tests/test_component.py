"""``BlooioComponent`` for ``dg`` projects: YAML attributes in, working definitions out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster.components.testing.utils import component_defs

from blooio_dagster import BlooioComponent, BlooioResource
from blooio_dagster.testing import BlooioTestServer


def test_yaml_attributes_build_the_assets_schedule_and_resource(
    server: BlooioTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SUPPORT_BLOOIO_KEY", server.api_key)
    monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)
    component = BlooioComponent.from_attributes_dict(
        attributes={
            "key_prefix": "support",
            "group_name": "support_chats",
            "partitioned": False,
            "api_key_env_var": "SUPPORT_BLOOIO_KEY",
            "page_size": 50,
        }
    )

    defs = component_defs(
        component=component,
        resources={"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))},
    )

    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"support/chats", "support/chat_response_lag", "support/response_summary"}
    assert defs.resolve_schedule_def("support_chats_daily").cron_schedule == "30 0 * * *"
    resource = defs.resources["blooio"] if defs.resources else None
    assert isinstance(resource, BlooioResource)
    assert server.api_key not in repr(resource)
    job = defs.resolve_job_def("support_chats_daily_job")
    result = job.execute_in_process()
    assert result.success
    chats = result.output_for_node("support__chats")
    assert len(chats) == 1000
    assert len(server.chats_requests()) >= 1000 / 50


def test_bad_attributes_name_the_field() -> None:
    with pytest.raises(Exception, match="page_size"):
        BlooioComponent.from_attributes_dict(attributes={"page_size": 500})


def test_dg_lists_the_component() -> None:
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "list", "components", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )

    assert "blooio_dagster.BlooioComponent" in listed.stdout, listed.stderr[-2000:]
