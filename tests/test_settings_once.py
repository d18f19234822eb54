"""Every client setting is declared once (:mod:`blooio_dagster.api.settings`): the client, the
resource (when definitions load, and when it starts with values from environment variables) and
the component take their defaults and descriptions from it, and refuse the same values with the
same message."""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
import pytest

from blooio_dagster import BlooioClient, BlooioComponent, BlooioConfigError, BlooioResource
from blooio_dagster.api.settings import SETTINGS, Number, Text, settings_markdown
from blooio_dagster.resources import BlooioLiteralKeyWarning
from tests.dg_project import defs_folder, dg_project, run_dg

KEY = "bl_test_SETTINGSONCE42"
#: Where a client that should never send a request would send it: nothing listens there.
NOWHERE = "http://127.0.0.1:9/v2/api"
NUMBERS = [setting for setting in SETTINGS.values() if isinstance(setting, Number)]

#: The ranges the client, the resource and the component all hold to.
RANGES = {
    "timeout": "above 0",
    "max_retries": "0 to 20",
    "page_size": "1 to 200",
    "max_concurrency": "1 to 256",
    "requests_per_second": "above 0",
    "max_missing": "0 or more",
}

#: Values each text setting refuses; what the message must not show (a secret), if anything.
BAD_TEXT: dict[str, list[tuple[str, object, str | None]]] = {
    "api_key": [
        ("empty", "", None),
        ("a trailing newline", f"{KEY}\n", KEY),
        ("not ASCII", "bl_test_clé", "bl_test_clé"),
        ("not a string", 42, None),
        ("None", None, None),
    ],
    "base_url": [
        ("plain http to another host", "http://blooio.example/v2/api", None),
        ("not http", "ftp://blooio.example", None),
        ("a password", "https://me:hunter2@backend.blooio.com/v2/api", "hunter2"),
        ("a query string", "https://backend.blooio.com/v2/api?key=s3cret", "s3cret"),
        ("whitespace", "https://backend.blooio.com/v2 api", None),
        ("not a string", 42, None),
    ],
}


def bad_numbers(setting: Number[Any]) -> list[tuple[str, object]]:
    """Values below, above and beside the setting's declared range."""
    low = setting.minimum if setting.exclusive_minimum else setting.minimum - 1
    cases: list[tuple[str, object]] = [("too low", low), ("a string", "12"), ("a bool", True)]
    if setting.maximum is not None:
        cases.append(("too high", setting.maximum + 1))
    cases.append(("a fraction", 1.5) if setting.whole else ("infinite", math.inf))
    if setting.when_none is None:
        cases.append(("None", None))
    return cases


CASES = [
    pytest.param(setting.name, value, None, id=f"{setting.name}, {label}")
    for setting in NUMBERS
    for label, value in bad_numbers(setting)
] + [
    pytest.param(name, value, secret, id=f"{name}, {label}")
    for name, cases in BAD_TEXT.items()
    for label, value, secret in cases
]


@contextmanager
def any_key_warning_ignored() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BlooioLiteralKeyWarning)
        yield


def refusal(error: BaseException, name: str) -> str:
    """The message of the :class:`BlooioConfigError` behind ``error``, without the prefix a
    framework puts before it; a pydantic error must be one, on the field ``name``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, BlooioConfigError):
            return str(seen)
        if isinstance(seen, pydantic.ValidationError):
            errors = seen.errors()
            assert [e["loc"] for e in errors] == [(name,)], errors
            cause = errors[0].get("ctx", {}).get("error")
            assert isinstance(cause, BlooioConfigError), errors
            return str(cause)
        seen = seen.__cause__ or seen.__context__
    raise AssertionError(f"no BlooioConfigError behind {error!r}")


def client_refusal(name: str, value: object) -> str:
    def build() -> None:
        if name == "api_key":
            BlooioClient(value, base_url=NOWHERE)  # type: ignore[arg-type]
        elif name == "max_missing":  # a setting of each crawl, refused before any request
            with BlooioClient(KEY, base_url=NOWHERE) as client:
                client.crawl_chats(max_missing=value)  # type: ignore[arg-type]
        else:
            settings: dict[str, Any] = {"base_url": NOWHERE, name: value}
            BlooioClient(KEY, **settings).close()

    with pytest.raises(BlooioConfigError) as caught:
        build()
    return refusal(caught.value, name)


def resource_refusal(name: str, value: object, secret: str | None) -> str:
    settings: dict[str, Any] = {"api_key": dg.EnvVar("BLOOIO_API_KEY"), name: value}
    with pytest.raises(pydantic.ValidationError) as caught, any_key_warning_ignored():
        BlooioResource(**settings)
    if secret is not None:  # pydantic's whole text, as Dagster would show it
        assert secret not in str(caught.value)
    return refusal(caught.value, name)


def started_refusal(name: str, value: str | int, monkeypatch: pytest.MonkeyPatch) -> str:
    """The refusal of a resource whose setting comes from an environment variable: it loads,
    and refuses the value when Dagster resolves it, as the resource starts."""
    monkeypatch.setenv("BLOOIO_API_KEY", KEY)
    monkeypatch.setenv("BLOOIO_SETTING", str(value))
    from_env = (
        dg.EnvVar.int("BLOOIO_SETTING") if isinstance(value, int) else dg.EnvVar("BLOOIO_SETTING")
    )
    settings: dict[str, Any] = {"api_key": dg.EnvVar("BLOOIO_API_KEY"), name: from_env}
    resource = BlooioResource(**settings)
    with (
        pytest.raises(dg.DagsterResourceFunctionError) as caught,
        dg.build_resources({"blooio": resource}),
    ):
        pass
    return refusal(caught.value, name)


def component_refusals(name: str, value: object) -> dict[str, str]:
    """The refusals of the component built from attributes (as from YAML) and from Python."""
    seen: dict[str, str] = {}
    with pytest.raises(pydantic.ValidationError) as caught:
        BlooioComponent.from_attributes_dict(attributes={name: value})
    seen["component from attributes"] = refusal(caught.value, name)
    attributes: dict[str, Any] = {name: value}
    with pytest.raises(pydantic.ValidationError) as caught:
        BlooioComponent(**attributes)
    seen["component from Python"] = refusal(caught.value, name)
    return seen


def yaml_properties() -> dict[str, Any]:
    """The JSON schema ``dg`` checks a ``defs.yaml``'s attributes against, by attribute."""
    model = BlooioComponent.get_model_cls()
    assert model is not None
    properties: dict[str, Any] = model.model_json_schema()["properties"]
    return properties


def from_environment(name: str, value: object) -> bool:
    """Whether an environment variable can hold ``value``: text for the key and the URL
    (``dg.EnvVar``), whole numbers for whole-number settings (``dg.EnvVar.int``)."""
    setting = SETTINGS[name]
    if isinstance(setting, Text):
        return isinstance(value, str)
    return setting.whole and type(value) is int


@pytest.mark.parametrize(("name", "value", "secret"), CASES)
def test_the_client_the_resource_and_the_component_refuse_a_value_alike(
    name: str, value: object, secret: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = client_refusal(name, value)
    seen = {"client": message, "resource": resource_refusal(name, value, secret)}
    if from_environment(name, value):
        seen["resource at start"] = started_refusal(name, value, monkeypatch)  # type: ignore[arg-type]
    if name in BlooioComponent.model_fields:
        seen |= component_refusals(name, value)

    assert seen == dict.fromkeys(seen, message)
    assert message.startswith(f"{name} "), message
    setting = SETTINGS[name]
    if isinstance(setting, Number):
        assert f"{setting.allowed}, got {value!r}" in message
        assert "Leave it unset" in message, "the message says how to fix it"
    if secret is not None:
        assert secret not in message


def test_the_declared_ranges_are_the_ones_documented() -> None:
    assert {setting.name: setting.range for setting in NUMBERS} == RANGES


def test_every_face_takes_defaults_and_descriptions_from_the_declarations() -> None:
    client = inspect.signature(BlooioClient).parameters
    resource = BlooioResource.model_fields
    component = BlooioComponent.model_fields
    yaml_schema = yaml_properties()
    seen: dict[str, object] = {}
    wanted: dict[str, object] = {}
    for name, setting in SETTINGS.items():
        if name == "api_key":  # required everywhere; the resource says how to give it too
            described = str(resource[name].description)
            seen["api_key: resource description"] = described[: len(setting.description)]
            wanted["api_key: resource description"] = setting.description
            continue
        seen[f"{name}: resource default"] = resource[name].default
        seen[f"{name}: resource description"] = resource[name].description
        if name in client:
            seen[f"{name}: client default"] = client[name].default
        if name in component:
            seen[f"{name}: component default"] = component[name].default
            seen[f"{name}: YAML default"] = yaml_schema[name]["default"]
            seen[f"{name}: YAML description"] = yaml_schema[name]["description"]
        for key in seen.keys() - wanted.keys():
            wanted[key] = setting.description if "description" in key else setting.default
    assert seen == wanted


def test_the_component_yaml_schema_holds_the_declared_bounds() -> None:
    schema = yaml_properties()
    keywords = ("minimum", "exclusiveMinimum", "maximum")
    bounds = {s.name: {k: v for k, v in schema[s.name].items() if k in keywords} for s in NUMBERS}
    assert bounds == {s.name: s.json_schema() for s in NUMBERS}


# -- from a defs.yaml, through dg -----------------------------------------------------------


def yaml_bounds(setting: Number[Any], high: bool) -> tuple[object, str] | None:
    """A value past the declared bound and how ``dg check yaml`` names it; ``None`` when the
    setting has no such bound."""
    if high:
        if setting.maximum is None:
            return None
        value: object = setting.maximum + 1
        return (
            value,
            f"attributes.{setting.name} {value} is greater than the maximum of {setting.maximum}",
        )
    if setting.exclusive_minimum:
        said = f"is less than or equal to the minimum of {setting.minimum}"
        return setting.minimum, f"attributes.{setting.name} {setting.minimum} {said}"
    value = setting.minimum - 1
    return value, f"attributes.{setting.name} {value} is less than the minimum of {setting.minimum}"


def dg_check(tmp_path: Path, attributes: dict[str, object]) -> str:
    project = dg_project(tmp_path)
    (defs_folder(project) / "blooio").mkdir()
    lines = "".join(f"  {name}: {value!r}\n" for name, value in attributes.items())
    (defs_folder(project) / "blooio" / "defs.yaml").write_text(
        f"type: blooio_dagster.BlooioComponent\nattributes:\n{lines}"
    )
    checked = run_dg(project, "check", "defs", succeed=False)
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0, output[-3000:]
    return output


@pytest.mark.dg
@pytest.mark.parametrize("high", [False, True], ids=["too low", "too high"])
def test_dg_check_yaml_names_every_declared_bound(tmp_path: Path, high: bool) -> None:
    expected = {s.name: bound for s in NUMBERS if (bound := yaml_bounds(s, high)) is not None}

    output = dg_check(tmp_path, {name: value for name, (value, _) in expected.items()})

    unnamed = [said for _, said in expected.values() if said not in output]
    assert unnamed == [], output[-4000:]


@pytest.mark.dg
def test_dg_check_defs_refuses_a_wrong_type_with_the_clients_message(tmp_path: Path) -> None:
    messages = {s.name: client_refusal(s.name, "12") for s in NUMBERS}

    output = dg_check(tmp_path, dict.fromkeys(messages, "12"))

    # dg wraps long lines of its own, never a message's text
    unsaid = [message for message in messages.values() if message not in output]
    assert unsaid == [], output[-4000:]


def test_a_whole_number_from_an_environment_variable_is_checked_when_the_resource_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BLOOIO_API_KEY", KEY)
    monkeypatch.setenv("BLOOIO_PAGE_SIZE", "100")
    resource = BlooioResource(
        api_key=dg.EnvVar("BLOOIO_API_KEY"), page_size=dg.EnvVar.int("BLOOIO_PAGE_SIZE")
    )

    with dg.build_resources({"blooio": resource}) as started:
        assert started.blooio.page_size == 100


def test_the_readme_table_of_settings_is_the_declarations() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = settings_markdown()
    assert table in readme, f"the README's settings table differs from the declarations:\n{table}"
