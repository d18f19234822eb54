"""Complete reads over the API: every chat of the changing chat list once, and every message
of many chats.

Above :mod:`blooio_dagster.api`; imports neither Dagster nor pandas.
"""
