"""What Blooio's answers must look like: every check of a response's shape, in one package.

- :mod:`~blooio_dagster.api.wire.records`: the typed chat records a ``GET /chats`` body
  decodes into, and the list that reads them as dicts.
- :mod:`~blooio_dagster.api.wire.chats`: the checks of a chat-list page and of one chat.
- :mod:`~blooio_dagster.api.wire.messages`: the checks of a messages page.
- :mod:`~blooio_dagster.api.wire.values`: the checks of single values the pages carry.

A page that fails a check raises :class:`~blooio_dagster.api.errors.BlooioResponseError`,
naming what is wrong without quoting a customer's data.
Why: docs/design.md, section "What a response must look like".
"""
