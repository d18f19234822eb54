"""A local Blooio-compatible server for tests, demos and benchmarks.

``BlooioTestServer`` serves deterministic synthetic chats and their messages over real HTTP on
127.0.0.1, shaped like real inboxes on request (tie groups, chats that never had a message,
future-dated chats), with opt-in :class:`Faults` for the ways real APIs misbehave. Each chat's
messages are made on demand and agree with the chat's fields. Run it in the foreground with
``python -m blooio_dagster.testing --port 8787 --chats 20000``.
"""

from blooio_dagster.testing.faults import Faults, TieOrder
from blooio_dagster.testing.server import BlooioTestServer, RequestRecord

__all__ = ["BlooioTestServer", "Faults", "RequestRecord", "TieOrder"]
