"""Blooio for ``dg`` projects: ``BlooioComponent`` builds the assets, schedule and resource."""

from blooio_dagster.components.blooio_component import BlooioComponent

__all__ = ["BlooioComponent"]
