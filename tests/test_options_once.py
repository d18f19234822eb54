"""The component's own numeric attributes that a Python builder takes too are declared once
(:mod:`blooio_dagster.options`): the component (from attributes, as from YAML, and from
Python), the builder (``build_blooio_assets``, ``build_blooio_schedule``) and ``dg`` refuse the
same values with the same message; the JSON schema, the defaults, the descriptions and the
README's table are the declarations'."""

from __future__ import annotations

import inspect
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
import pytest

from blooio_dagster import (
    DEFAULT_REPLY_SLA,
    BlooioComponent,
    build_blooio_assets,
    build_blooio_schedule,
)
from blooio_dagster.assets import DEFAULT_FRESHNESS_POLICY
from blooio_dagster.options import (
    FRESHNESS_FAIL,
    FRESHNESS_WARN,
    OPTIONS,
    REPLY_LOOKBACK_DAYS,
    REPLY_SLA,
    Option,
    options_markdown,
)
from tests.dg_project import REPO
from tests.test_settings_once import component_refusals, dg_check, refusal, yaml_bounds

#: The ranges the component and the builders both hold to, as the README states them.
RANGES = {
    "reply_sla_minutes": "above 0, up to 43200",
    "freshness_warn_hours": "above 0, up to 8760",
    "freshness_fail_hours": "above 0, up to 8760",
    "reply_lookback_days": "0 to 30",
}
#: No value to give the builder: a FreshnessPolicy holds only timedeltas, and Dagster itself
#: refuses windows under a minute (a warn_window of 0 it drops); no timedelta is infinite.
NO_PYTHON = object()


def bad_values(option: Option[Any]) -> list[tuple[str, object]]:
    """Values below, above and beside the option's declared range."""
    low = option.minimum if option.exclusive_minimum else option.minimum - 1
    assert option.maximum is not None, f"{option.name} has no upper bound to test"
    cases: list[tuple[str, object]] = [
        ("too low", low),
        ("too high", option.maximum + 1),
        ("a string", "12"),
        ("a bool", True),
        ("a fraction", 1.5) if option.whole else ("infinite", math.inf),
    ]
    if option.when_none is None:
        cases.append(("None", None))
    return cases


CASES = [
    pytest.param(option, label, value, id=f"{option.name}, {label}")
    for option in OPTIONS.values()
    for label, value in bad_values(option)
]
#: The cases a builder cannot be given: every other one is given to it too.
NOT_IN_PYTHON = {
    ("reply_sla_minutes", "infinite"),
    *(
        (name, label)
        for name in ("freshness_warn_hours", "freshness_fail_hours")
        for label in ("too low", "a string", "a bool", "infinite")
    ),
}


def in_python(option: Option[Any], value: object) -> object:
    """``value`` as the builder takes the option: a length of time as a timedelta."""
    if option.per is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value if option.part == "" else NO_PYTHON
    if not math.isfinite(value):
        return NO_PYTHON
    span = option.span(value)
    return NO_PYTHON if option.part and span < timedelta(minutes=1) else span


def builder_refusal(option: Option[Any], value: object) -> str | None:
    """The builder's refusal of ``value`` given as Python spells the option; ``None`` when
    Python cannot hold it."""
    python = in_python(option, value)
    if python is NO_PYTHON:
        return None
    if option is REPLY_LOOKBACK_DAYS:
        assets = build_blooio_assets()

        def build() -> object:
            return build_blooio_schedule(assets, reply_lookback_days=python)  # type: ignore[arg-type]

    elif option is REPLY_SLA:

        def build() -> object:
            return build_blooio_assets(reply_sla=python)  # type: ignore[arg-type]

    else:
        assert isinstance(python, timedelta | None), python
        windows = {option.part: python}
        if option is FRESHNESS_WARN:  # a fail window longer than the warn window, as Dagster wants
            windows["fail_window"] = max(FRESHNESS_FAIL.span(48), (python or timedelta()) * 2)
        else:
            windows["warn_window"] = None
        policy = dg.FreshnessPolicy.time_window(**windows)  # type: ignore[arg-type]

        def build() -> object:
            return build_blooio_assets(freshness_policy=policy)

    with pytest.raises(dg.DagsterInvalidDefinitionError) as caught:
        build()
    return refusal(caught.value, option.name)


@pytest.mark.parametrize(("option", "label", "value"), CASES)
def test_the_component_and_the_builder_refuse_a_value_alike(
    option: Option[Any], label: str, value: object
) -> None:
    seen = component_refusals(option.name, value)
    builder = builder_refusal(option, value)
    if builder is not None:
        seen[option.builder] = builder
    message = seen["component from attributes"]

    assert ((option.name, label) in NOT_IN_PYTHON) == (builder is None), seen
    assert seen == dict.fromkeys(seen, message)
    assert message.startswith(f"{option.name} "), message
    assert option.range in message, message
    assert f"got {value!r}" in message, message
    assert "Leave it unset" in message, "the message says how to fix it"
    if option.python != option.name:
        assert f"({option.python} in Python)" in message, "it names the builder's spelling"


@pytest.mark.parametrize("option", [FRESHNESS_WARN, FRESHNESS_FAIL], ids=lambda o: o.name)
@pytest.mark.parametrize("hours", [2, 23.5])
def test_windows_under_a_day_are_refused_alike_for_daily_tables(
    option: Option[Any], hours: float
) -> None:
    windows = {"freshness_warn_hours": None, "freshness_fail_hours": 48, option.name: hours}
    daily = BlooioComponent.from_attributes_dict(attributes=windows)
    python = {"warn_window": None, "fail_window": FRESHNESS_FAIL.span(48)}
    python[option.part] = option.span(hours)
    policy = dg.FreshnessPolicy.time_window(**python)  # type: ignore[arg-type]

    seen: dict[str, str] = {}
    with pytest.raises(dg.DagsterInvalidDefinitionError) as caught:
        daily.build_defs(None)  # type: ignore[arg-type]
    seen["component"] = str(caught.value)
    with pytest.raises(dg.DagsterInvalidDefinitionError) as caught:
        build_blooio_assets(freshness_policy=policy)
    seen["build_blooio_assets"] = str(caught.value)

    message = seen["component"]
    assert seen == dict.fromkeys(seen, message)
    assert message.startswith(
        f"{option.name} ({option.python} in Python) must be 24 hours or more for daily tables, "
        f"got {hours!r}: "
    ), message
    snapshot = BlooioComponent.from_attributes_dict(attributes={**windows, "partitioned": False})
    assert snapshot.build_defs(None).assets  # type: ignore[arg-type]
    assert build_blooio_assets(freshness_policy=policy, partitioned=False)


@pytest.mark.parametrize("option", list(OPTIONS.values()), ids=lambda o: o.name)
def test_a_template_is_checked_once_it_is_rendered(
    option: Option[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    attributes = {option.name: "{{ env.BLOOIO_OPTION }}"}
    assert option.maximum is not None
    allowed = option.maximum - 1

    monkeypatch.setenv("BLOOIO_OPTION", str(allowed))
    rendered = BlooioComponent.from_attributes_dict(attributes=attributes)
    monkeypatch.setenv("BLOOIO_OPTION", str(option.maximum + 1))
    with pytest.raises(pydantic.ValidationError) as caught:
        BlooioComponent.from_attributes_dict(attributes=attributes)

    assert getattr(rendered, option.name) == allowed
    expected = component_refusals(option.name, option.maximum + 1)["component from Python"]
    assert refusal(caught.value, option.name) == expected


def test_every_face_takes_defaults_descriptions_and_bounds_from_the_declarations() -> None:
    component = BlooioComponent.model_fields
    model = BlooioComponent.get_model_cls()
    assert model is not None
    yaml_schema = model.model_json_schema()["properties"]
    keywords = ("minimum", "exclusiveMinimum", "maximum")
    seen: dict[str, object] = {}
    wanted: dict[str, object] = {}
    for name, option in OPTIONS.items():
        seen[f"{name}: component default"] = component[name].default
        seen[f"{name}: YAML default"] = yaml_schema[name]["default"]
        seen[f"{name}: YAML description"] = yaml_schema[name]["description"]
        seen[f"{name}: YAML bounds"] = {k: v for k, v in yaml_schema[name].items() if k in keywords}
        wanted |= {
            f"{name}: component default": option.default,
            f"{name}: YAML default": option.default,
            f"{name}: YAML description": option.description,
            f"{name}: YAML bounds": option.json_schema(),
        }
    schedule = inspect.signature(build_blooio_schedule).parameters
    seen["build_blooio_schedule: reply_lookback_days"] = schedule["reply_lookback_days"].default
    wanted["build_blooio_schedule: reply_lookback_days"] = REPLY_LOOKBACK_DAYS.default
    seen["build_blooio_assets: reply_sla"] = DEFAULT_REPLY_SLA
    wanted["build_blooio_assets: reply_sla"] = REPLY_SLA.default_span
    seen["build_blooio_assets: freshness_policy"] = DEFAULT_FRESHNESS_POLICY
    wanted["build_blooio_assets: freshness_policy"] = dg.FreshnessPolicy.time_window(
        fail_window=FRESHNESS_FAIL.default_span,
        warn_window=FRESHNESS_WARN.default_span,
    )
    assert seen == wanted


def test_the_declared_ranges_are_the_ones_in_the_readme_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = {
        name: line
        for line in readme.splitlines()
        if line.startswith("| `") and (name := line.split("`")[1]) in OPTIONS
    }

    assert {name: option.range for name, option in OPTIONS.items()} == RANGES
    unstated = {name: rows.get(name) for name in OPTIONS if RANGES[name] not in rows.get(name, "")}
    assert unstated == {}, "the README's table states each option's range"
    table = options_markdown()
    assert table in readme, f"the README's table of options differs from the declarations:\n{table}"


# -- from a defs.yaml, through dg -----------------------------------------------------------


@pytest.mark.dg
def test_dg_check_yaml_names_every_declared_bound(tmp_path: Path) -> None:
    expected = {name: bound for name, o in OPTIONS.items() if (bound := yaml_bounds(o, high=True))}

    output = dg_check(tmp_path, {name: value for name, (value, _) in expected.items()})

    unnamed = [said for _, said in expected.values() if said not in output]
    assert unnamed == [], output[-4000:]


@pytest.mark.dg
def test_dg_check_defs_refuses_a_wrong_type_with_the_declared_message(tmp_path: Path) -> None:
    messages = {name: component_refusals(name, "12")["component from Python"] for name in OPTIONS}

    output = dg_check(tmp_path, dict.fromkeys(messages, "12"))

    # dg wraps long lines of its own, never a message's text
    unsaid = [message for message in messages.values() if message not in output]
    assert unsaid == [], output[-4000:]
