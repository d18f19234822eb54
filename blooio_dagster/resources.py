"""``BlooioResource``: Blooio client settings as a Dagster resource."""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType
from typing import Any

import dagster as dg
from pydantic import ConfigDict, Field, field_validator

from blooio_dagster.client import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    MAX_PAGE_SIZE,
    BlooioClient,
    check_base_url,
    check_requests_per_second,
    check_timeout,
)


class BlooioLiteralKeyWarning(UserWarning):
    """A :class:`BlooioResource` was given its API key as a literal instead of a ``dg.EnvVar``."""


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
    checked when definitions load; settings from environment variables when the resource
    starts, each error naming its field.
    """

    # Pydantic's errors repeat the value they refuse: a base URL with a password, token or key
    # in it would reach the error, and Dagster's event log. The messages here name the field
    # and the problem instead.
    model_config = ConfigDict(hide_input_in_errors=True)

    api_key: str = Field(
        repr=False,
        description=(
            "The organization's Blooio API key (bl_live_... or bl_test_...). "
            'Set it with dg.EnvVar("BLOOIO_API_KEY"), never as a literal.'
        ),
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="The API root. http:// is accepted only for loopback hosts.",
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds per attempt of a request.")
    max_retries: int = Field(
        default=5,
        ge=0,
        description="Retries for connection errors, timeouts, 408, 429, 5xx and cut-off bodies.",
    )
    page_size: int = Field(
        default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Chats per request, 1 to 200."
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY,
        ge=1,
        description=(
            "The most requests in flight at once; the client starts lower and grows while "
            "the API keeps up."
        ),
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        description="A hard cap on request rate; unset, the client learns the limit from 429s.",
    )
    max_missing: int = Field(
        default=0,
        ge=0,
        description=(
            "Chats a crawl may leave unaccounted for and still return, with a warning and "
            "verified_complete=False in the metadata. 0 (the default): every chat, or the run "
            "fails and stored data stays as it was."
        ),
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _warn_about_a_literal_key(cls, value: Any) -> Any:
        # Before validation the field still holds what the user wrote: an EnvVar or a str.
        literal = isinstance(value, str) and value and not isinstance(value, dg.EnvVar)
        if literal and not _built_by_dagster(cls):
            warnings.warn(
                "BlooioResource was given api_key as a literal string. Dagster stores literal "
                "resource config in its run storage (in every run's job snapshot), so the key "
                'would be kept there in clear text. Use api_key=dg.EnvVar("BLOOIO_API_KEY") '
                "(or BlooioResource.from_env()) so that only the variable's name is stored.",
                BlooioLiteralKeyWarning,
                stacklevel=_caller_stacklevel(),
            )
        return value

    @field_validator("timeout", mode="after")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        check_timeout(value)
        return value

    @field_validator("requests_per_second", mode="after")
    @classmethod
    def _check_requests_per_second(cls, value: float | None) -> float | None:
        check_requests_per_second(value)
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _check_base_url(cls, value: Any) -> Any:
        # An EnvVar is checked once Dagster resolves it, when the resource starts.
        if isinstance(value, str) and not isinstance(value, dg.EnvVar):
            check_base_url(value.rstrip("/"))
        return value

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


def _built_by_dagster(cls: type) -> bool:
    """Whether the ``cls`` being validated is constructed by Dagster's own code.

    As a run starts, Dagster builds a copy of each resource from its resolved config, and an
    ``EnvVar`` key arrives there as plain text. Only a construction the user wrote can put a
    literal into run storage, so only that one warns. The constructor's caller is the first
    frame outside pydantic and outside the ``__init__`` methods of the instance being built.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        in_constructor = frame.f_code.co_name == "__init__" and isinstance(
            frame.f_locals.get("self"), cls
        )
        if package not in {"pydantic", "pydantic_core", "blooio_dagster"} and not in_constructor:
            return package == "dagster"
        frame = frame.f_back
    return False


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside Dagster, pydantic and this package.

    A warning then points at the user's line that built the resource.
    """
    internal = {"dagster", "pydantic", "pydantic_core", "blooio_dagster"}
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None:
        package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if package not in internal:
            break
        level, frame = level + 1, frame.f_back
    return level
