"""A local Blooio-compatible server for tests, demos and benchmarks.

``BlooioTestServer`` serves deterministic synthetic chats over real HTTP on 127.0.0.1,
with opt-in :class:`Faults`. Run it in the foreground with
``python -m blooio_dagster.testing --port 8787 --chats 20000``.
"""

from blooio_dagster.testing.server import BlooioTestServer, Faults, RequestRecord

__all__ = ["BlooioTestServer", "Faults", "RequestRecord"]
