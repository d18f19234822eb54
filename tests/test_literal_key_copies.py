"""The literal-key warning tells the user's copies of ``BlooioResource`` from Dagster's own
without looking at the call stack: every copy Dagster builds is marked, and takes the mark."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import dagster as dg
import pytest

from blooio_dagster import BlooioResource
from blooio_dagster.resources import BlooioLiteralKeyWarning
from blooio_dagster.testing import BlooioTestServer

KEY = "bl_test_COPIESSECRET42"


def literal_key_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, BlooioLiteralKeyWarning)]


def test_initializing_a_resource_from_its_config_does_not_warn(
    server: BlooioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # process_config_and_initialize builds a copy from the resolved config (the key as plain
    # text) through from_resource_context, outside any run.
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    monkeypatch.setenv("BLOOIO_BASE_URL", server.base_url)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = BlooioResource.from_env().process_config_and_initialize()
        with BlooioResource.from_env().process_config_and_initialize_cm() as started_cm:
            assert started_cm.api_key == server.api_key

    assert literal_key_warnings(caught) == []
    assert started.api_key == server.api_key


class WithSetup(BlooioResource):
    """A resource whose setup, run by Dagster on its copy, builds another resource."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        BUILT_DURING_SETUP.append(BlooioResource(api_key=KEY, base_url=self.base_url))


BUILT_DURING_SETUP: list[BlooioResource] = []


@pytest.fixture
def built_during_setup() -> Iterator[list[BlooioResource]]:
    BUILT_DURING_SETUP.clear()
    yield BUILT_DURING_SETUP
    BUILT_DURING_SETUP.clear()


def started_by_a_run(resource: BlooioResource) -> BlooioResource:
    with dg.build_resources({"blooio": resource}) as started:
        return started.blooio  # type: ignore[no-any-return]


def started_from_config(resource: BlooioResource) -> BlooioResource:
    return resource.process_config_and_initialize()  # type: ignore[no-any-return]


@pytest.mark.parametrize("start", [started_by_a_run, started_from_config])
def test_a_resource_built_while_dagster_starts_its_copy_still_warns(
    server: BlooioTestServer,
    monkeypatch: pytest.MonkeyPatch,
    built_during_setup: list[BlooioResource],
    start: Callable[[BlooioResource], BlooioResource],
) -> None:
    monkeypatch.setenv("BLOOIO_API_KEY", server.api_key)
    resource = WithSetup(api_key=dg.EnvVar("BLOOIO_API_KEY"), base_url=server.base_url)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = start(resource)

    assert started.api_key == server.api_key
    assert len(built_during_setup) == 1
    assert len(literal_key_warnings(caught)) == 1, "only the resource the setup built warns"
    assert [w.filename for w in caught if w.category is BlooioLiteralKeyWarning] == [__file__]
