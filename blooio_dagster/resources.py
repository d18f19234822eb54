"""``BlooioResource``: Blooio client settings as a Dagster resource."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from blooio_dagster.client import DEFAULT_BASE_URL, MAX_PAGE_SIZE, BlooioClient, check_base_url


class BlooioResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Connects Dagster to Blooio's V2 API; ``get_client()`` gives a :class:`BlooioClient`.

    Usage::

        BlooioResource(
            api_key=dg.EnvVar("BLOOIO_API_KEY"),
            base_url=dg.EnvVar("BLOOIO_BASE_URL"),
        )

    The API key is shown nowhere: not in reprs, logs, errors or the Dagster UI. Settings
    given as literals are checked when definitions load; settings from environment
    variables when the resource starts, each error naming its field.
    """

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
        default=8, ge=1, description="Page requests in flight at once during a crawl."
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        description="A hard cap on request rate; unset, the client learns the limit from 429s.",
    )

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
