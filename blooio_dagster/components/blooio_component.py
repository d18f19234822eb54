"""``BlooioComponent``: the Blooio assets, checks, schedule and resource from YAML."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from blooio_dagster.assets import DEFAULT_START_DATE, build_blooio_assets, build_blooio_schedule
from blooio_dagster.resources import BlooioResource


class BlooioComponent(dg.Component, dg.Model, dg.Resolvable):
    """Blooio chats, response lag and a daily summary, with checks and a schedule.

    Scaffold it with ``dg scaffold defs blooio_dagster.BlooioComponent blooio``, then set
    attributes in ``defs.yaml``::

        type: blooio_dagster.BlooioComponent
        attributes:
          start_date: "2025-01-01"
          timezone: America/New_York

    The key is read from an environment variable when runs start (``BLOOIO_API_KEY`` by
    default), never written into the definitions.
    """

    key_prefix: str = Field(default="blooio", description="Prefix of the three asset keys.")
    group_name: str = Field(default="blooio", description="Asset group shown in the UI.")
    partitioned: bool = Field(default=True, description="Daily partitions, or one snapshot.")
    start_date: str = Field(default=DEFAULT_START_DATE, description="First daily partition.")
    timezone: str = Field(default="UTC", description="Time zone whose midnights split days.")
    pool: str | None = Field(default="blooio", description="Concurrency pool of the API asset.")
    resource_key: str = Field(default="blooio", description="Key of the Blooio resource.")
    api_key_env_var: str = Field(
        default="BLOOIO_API_KEY", description="Environment variable holding the API key."
    )
    base_url_env_var: str = Field(
        default="BLOOIO_BASE_URL",
        description="Environment variable with another API root (Blooio's own when unset).",
    )
    page_size: int = Field(default=200, ge=1, le=200, description="Chats per request.")
    max_concurrency: int = Field(default=8, ge=1, description="Page requests in flight.")
    schedule: bool = Field(default=True, description="Add the daily schedule (stopped).")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        assets = build_blooio_assets(
            key_prefix=self.key_prefix,
            group_name=self.group_name,
            resource_key=self.resource_key,
            partitioned=self.partitioned,
            start_date=self.start_date,
            timezone=self.timezone,
            pool=self.pool,
        )
        schedules = [build_blooio_schedule(assets, name=f"{self.group_name}_daily")]
        return dg.Definitions(
            assets=assets,
            schedules=schedules if self.schedule else [],
            resources={
                self.resource_key: BlooioResource.from_env(
                    self.api_key_env_var,
                    self.base_url_env_var,
                    page_size=self.page_size,
                    max_concurrency=self.max_concurrency,
                )
            },
        )
