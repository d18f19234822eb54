"""``BlooioResource``: settings checked at load time, the key shown nowhere."""

from __future__ import annotations

import traceback
from typing import Any

import dagster as dg
import pydantic
import pytest

from blooio_dagster import BlooioClient, BlooioResource
from blooio_dagster.testing import BlooioTestServer

KEY = "bl_test_RESOURCESECRET42"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"page_size": 500}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"timeout": 0}, "timeout"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"requests_per_second": -2}, "requests_per_second"),
        ({"base_url": "http://blooio.example/v2/api"}, "base_url"),
    ],
)
def test_bad_literal_settings_fail_when_definitions_load(
    settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        dg.Definitions(resources={"blooio": BlooioResource(api_key=KEY, **settings)})
    assert field in str(caught.value)
    assert KEY not in str(caught.value)


def test_the_key_is_not_in_the_repr() -> None:
    resource = BlooioResource(api_key=KEY, base_url="http://127.0.0.1:1/v2/api")

    assert KEY not in repr(resource)
    assert KEY not in str(resource)
    assert "127.0.0.1" in repr(resource)


def test_settings_from_environment_variables_reach_the_client(
    server: BlooioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)
    seen: list[int] = []

    @dg.asset
    def chat_count(blooio: BlooioResource) -> int:
        with blooio.get_client() as client:
            assert isinstance(client, BlooioClient)
            assert client.page_size == 100
            seen.append(len(client.list_chats()))
        return seen[-1]

    resource = BlooioResource(
        api_key=dg.EnvVar("BLOOIO_API_KEY"), base_url=dg.EnvVar("BLOOIO_BASE_URL"), page_size=100
    )
    result = dg.materialize([chat_count], resources={"blooio": resource})

    assert result.success
    assert seen == [1000]


def test_a_bad_base_url_from_the_environment_fails_when_the_resource_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BLOOIO_BASE_URL", "http://blooio.example/v2/api")

    @dg.asset
    def needs_blooio(blooio: BlooioResource) -> None:
        pass

    resource = BlooioResource(api_key=KEY, base_url=dg.EnvVar("BLOOIO_BASE_URL"))
    with pytest.raises(dg.DagsterResourceFunctionError) as caught:
        dg.materialize([needs_blooio], resources={"blooio": resource})
    chain = "".join(traceback.format_exception(caught.value))
    assert "base_url 'http://blooio.example/v2/api' uses plain http" in chain
    assert KEY not in chain
