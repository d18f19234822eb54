"""Blooio's V2 API over HTTP: settings, the send loop, response checks, records and errors.

The bottom layer. It imports neither Dagster nor pandas, so a script that only talks to the
API pays for neither.
"""
