"""``BlooioResource``: Blooio client settings as a Dagster resource.

Its fields, their defaults, descriptions and checks are the client's settings as
:mod:`blooio_dagster.api.settings` declares them. Why: docs/design.md, section 'Settings'.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from blooio_dagster.api.settings import (
    API_KEY,
    BASE_URL,
    DEFAULT_BASE_URL,
    MAX_CONCURRENCY,
    MAX_MISSING,
    MAX_RETRIES,
    PAGE_SIZE,
    REQUESTS_PER_SECOND,
    SETTINGS,
    TIMEOUT,
    Number,
    Text,
)
from blooio_dagster.client import BlooioClient

#: What Dagster resolves when the resource starts: ``dg.EnvVar`` and ``dg.EnvVar.int``.
_RESOLVED_AT_START = (dg.EnvVar, type(dg.EnvVar.int("BLOOIO_SETTING")))

#: Whether the next ``BlooioResource`` built in this context is Dagster's own copy of one.
_dagster_copy: ContextVar[bool] = ContextVar("blooio_dagster_copy", default=False)


@contextmanager
def _dagster_builds_a_copy() -> Iterator[None]:
    token = _dagster_copy.set(True)
    try:
        yield
    finally:
        _dagster_copy.reset(token)


class BlooioLiteralKeyWarning(UserWarning):
    """A :class:`BlooioResource` was given its API key as a literal instead of a ``dg.EnvVar``."""


def _field(setting: Number[Any] | Text) -> Any:
    """A field with the setting's default and description (its check is ``_check``'s)."""
    return Field(default=setting.default, description=setting.description)


class BlooioResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Connects Dagster to Blooio's V2 API; ``get_client()`` gives a :class:`BlooioClient`.

    Usage::

        BlooioResource(
            api_key=dg.EnvVar("BLOOIO_API_KEY"),
            base_url=dg.EnvVar("BLOOIO_BASE_URL"),
        )

    The API key is shown nowhere: not in reprs, logs, errors or the Dagster UI. A key given
    as a literal string rather than a ``dg.EnvVar`` warns (:class:`BlooioLiteralKeyWarning`)
    when definitions load, since Dagster would store it. Settings given as literals are
    checked when definitions load; settings from environment variables (``dg.EnvVar``,
    ``dg.EnvVar.int``) when the resource starts, each error naming its field.
    """

    # Pydantic's errors repeat the value they refuse: a base URL with a password, token or key
    # in it would reach the error, and Dagster's event log. The messages here name the field
    # and the problem instead.
    model_config = ConfigDict(hide_input_in_errors=True)

    api_key: str = Field(
        repr=False,
        description=(
            f'{API_KEY.description} Set it with dg.EnvVar("BLOOIO_API_KEY"), never as a literal.'
        ),
    )
    base_url: str = _field(BASE_URL)
    timeout: float = _field(TIMEOUT)
    max_retries: int = _field(MAX_RETRIES)
    page_size: int = _field(PAGE_SIZE)
    max_concurrency: int = _field(MAX_CONCURRENCY)
    requests_per_second: float | None = _field(REQUESTS_PER_SECOND)
    max_missing: int = _field(MAX_MISSING)

    if not TYPE_CHECKING:
        # Hidden from type checkers, which keep the constructor Dagster's dataclass transform
        # gives them: a keyword a field, with its type.
        def __init__(self, **settings: Any) -> None:
            _warn_about_a_literal_key(settings.get("api_key"))
            super().__init__(**settings)

    @field_validator(*SETTINGS, mode="before")
    @classmethod
    def _check(cls, value: Any, info: ValidationInfo) -> Any:
        # An environment variable is checked once Dagster resolves it, when the resource starts.
        if isinstance(value, _RESOLVED_AT_START):
            return value
        return SETTINGS[str(info.field_name)].check(value)

    # Dagster builds copies of a resource as a run starts: each with the settings of the one
    # before, the last with the config resolved (an EnvVar's key as plain text). No public hook
    # runs before the first copy; every copy is built in _with_updated_values (Dagster 1.12 and
    # 1.13), and from_resource_context(_cm) build one of their own first.
    def _with_updated_values(self, values: Mapping[str, Any] | None) -> Any:
        with _dagster_builds_a_copy():
            return super()._with_updated_values(values)

    @classmethod
    def from_resource_context(
        cls, context: dg.InitResourceContext, nested_resources: Mapping[str, Any] | None = None
    ) -> Any:
        """Dagster's :meth:`~dagster.ConfigurableResource.from_resource_context`."""
        with _dagster_builds_a_copy():
            return super().from_resource_context(context, nested_resources)

    @classmethod
    @contextmanager
    def from_resource_context_cm(
        cls, context: dg.InitResourceContext, nested_resources: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        """Dagster's :meth:`~dagster.ConfigurableResource.from_resource_context_cm`."""
        with (
            _dagster_builds_a_copy(),
            super().from_resource_context_cm(context, nested_resources) as resource,
        ):
            yield resource

    @classmethod
    def from_env(
        cls,
        api_key_env_var: str = "BLOOIO_API_KEY",
        base_url_env_var: str = "BLOOIO_BASE_URL",
        **settings: Any,
    ) -> BlooioResource:
        """The key from ``api_key_env_var``, and the base URL from ``base_url_env_var`` when
        that is set (Blooio's own API otherwise), both resolved when the resource starts.

        Other settings (``page_size=100``, ...) are passed through.
        """
        base_url = (
            dg.EnvVar(base_url_env_var) if base_url_env_var in os.environ else DEFAULT_BASE_URL
        )
        return cls(api_key=dg.EnvVar(api_key_env_var), base_url=base_url, **settings)

    def get_client(self) -> BlooioClient:
        """A new client with these settings; use it in a ``with`` block to close it."""
        return BlooioClient(
            self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            page_size=self.page_size,
            max_concurrency=self.max_concurrency,
            requests_per_second=self.requests_per_second,
        )


def _warn_about_a_literal_key(api_key: object) -> None:
    """Warn, at the line that called ``BlooioResource(...)``, about a key given as a literal.

    Only a resource the user builds can put a literal into run storage. Dagster's own copies
    (see ``_with_updated_values``) hold an EnvVar's key as plain text, so they do not warn;
    each copy takes the mark, so that any other resource built meanwhile still warns.
    """
    copy = _dagster_copy.get()
    _dagster_copy.set(False)
    if copy or not isinstance(api_key, str) or not api_key or isinstance(api_key, dg.EnvVar):
        return
    warnings.warn(
        "BlooioResource was given api_key as a literal string. Dagster stores literal "
        "resource config in its run storage (in every run's job snapshot), so the key "
        'would be kept there in clear text. Use api_key=dg.EnvVar("BLOOIO_API_KEY") '
        "(or BlooioResource.from_env()) so that only the variable's name is stored.",
        BlooioLiteralKeyWarning,
        # This function, BlooioResource.__init__, then the line that called it.
        stacklevel=3,
    )
