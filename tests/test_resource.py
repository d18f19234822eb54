"""``BlooioResource``: settings checked at load time, the key shown nowhere."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pydantic
import pytest

from blooio_dagster import BlooioClient, BlooioResource
from blooio_dagster.resources import BlooioLiteralKeyWarning
from blooio_dagster.testing import BlooioTestServer

KEY = "bl_test_RESOURCESECRET42"


@contextmanager
def no_literal_key_warning() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [w for w in caught if issubclass(w.category, BlooioLiteralKeyWarning)] == []


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"page_size": 500}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("inf")}, "timeout must be a finite number"),
        ({"requests_per_second": float("inf")}, "requests_per_second must be a finite number"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"requests_per_second": -2}, "requests_per_second"),
        ({"base_url": "http://blooio.example/v2/api"}, "base_url"),
        ({"base_url": "https://me:pw@backend.blooio.com/v2/api"}, "user name or password"),
        ({"base_url": "https://backend.blooio.com/v2/api?x=1"}, "must not have a query string"),
        ({"base_url": "https://backend.blooio.com/v2/api#x"}, "must not have a fragment"),
        ({"base_url": "https://backend.blooio.com/v2%20api"}, "must not contain spaces"),
    ],
)
def test_bad_literal_settings_fail_when_definitions_load(
    settings: dict[str, Any], field: str
) -> None:
    key = dg.EnvVar("BLOOIO_API_KEY")
    with pytest.raises(pydantic.ValidationError) as caught:
        dg.Definitions(resources={"blooio": BlooioResource(api_key=key, **settings)})
    assert field in str(caught.value)


def test_the_key_is_not_in_the_repr() -> None:
    with pytest.warns(BlooioLiteralKeyWarning):
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
    monkeypatch.setenv("BLOOIO_API_KEY", KEY)
    monkeypatch.setenv("BLOOIO_BASE_URL", "http://blooio.example/v2/api")

    @dg.asset
    def needs_blooio(blooio: BlooioResource) -> None:
        pass

    resource = BlooioResource.from_env()
    with pytest.raises(dg.DagsterResourceFunctionError) as caught:
        dg.materialize([needs_blooio], resources={"blooio": resource})
    chain = "".join(traceback.format_exception(caught.value))
    assert "base_url 'http://blooio.example/v2/api' uses plain http" in chain
    assert KEY not in chain


def test_a_literal_key_warns_once_when_definitions_load_without_showing_it(
    server: BlooioTestServer,
) -> None:
    with pytest.warns(BlooioLiteralKeyWarning) as caught:
        resource = BlooioResource(api_key=server.api_key, base_url=server.base_url)

    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Dagster stores literal resource config in its run storage" in message
    assert 'api_key=dg.EnvVar("BLOOIO_API_KEY")' in message
    assert server.api_key not in message
    assert caught[0].filename == __file__, "the warning points at the line that built it"

    @dg.asset
    def chat_count(blooio: BlooioResource) -> int:
        with blooio.get_client() as client:
            return len(client.get_chats_page(limit=5, offset=0)["chats"])

    with no_literal_key_warning():  # not again when the run rebuilds the resource
        assert dg.materialize([chat_count], resources={"blooio": resource}).success


def test_a_key_from_an_environment_variable_does_not_warn(
    server: BlooioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)

    @dg.asset
    def chat_count(blooio: BlooioResource) -> int:
        with blooio.get_client() as client:
            return len(client.get_chats_page(limit=5, offset=0)["chats"])

    with no_literal_key_warning():
        resource = BlooioResource(api_key=dg.EnvVar("BLOOIO_API_KEY"), base_url=server.base_url)
        from_env = BlooioResource.from_env()
        # Resolved to plain text when the run starts: still no warning.
        assert dg.materialize([chat_count], resources={"blooio": resource}).success
    assert from_env.api_key == dg.EnvVar("BLOOIO_API_KEY")


def test_a_literal_key_in_user_code_that_dagster_calls_still_warns(
    server: BlooioTestServer,
) -> None:
    # Only Dagster's own copy of a resource (rebuilt from resolved config as a run starts) is
    # exempt; a resource the user builds, even inside code Dagster runs, still warns.
    built: list[BlooioResource] = []

    @dg.asset
    def builds_a_resource() -> None:
        with pytest.warns(BlooioLiteralKeyWarning) as caught:
            built.append(BlooioResource(api_key=KEY, base_url=server.base_url))
        assert len(caught) == 1
        assert caught[0].filename == __file__

    assert dg.materialize([builds_a_resource]).success
    assert len(built) == 1


class CustomBlooioResource(BlooioResource):
    """A subclass with a constructor of its own, which Dagster also calls to rebuild it."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("max_retries", 1)
        super().__init__(**settings)


def test_a_subclass_warns_when_built_and_not_when_dagster_rebuilds_it(
    server: BlooioTestServer,
) -> None:
    with pytest.warns(BlooioLiteralKeyWarning) as caught:
        resource = CustomBlooioResource(api_key=KEY, base_url=server.base_url)
    assert len(caught) == 1

    @dg.asset
    def key_length(blooio: BlooioResource) -> int:
        assert blooio.max_retries == 1
        return len(blooio.api_key)

    with no_literal_key_warning():
        assert dg.materialize([key_length], resources={"blooio": resource}).success
