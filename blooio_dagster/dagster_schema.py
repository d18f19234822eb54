"""The tables of :mod:`blooio_dagster.tables.catalogue` as Dagster ``TableSchema``s.

Kept apart from the catalogue so that converting chats to a DataFrame never imports Dagster;
only the asset side, which has Dagster loaded anyway, imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from blooio_dagster.tables.catalogue import Column


def table_schema(columns: Sequence[Column], frame: pd.DataFrame | None = None) -> dg.TableSchema:
    """The Dagster ``TableSchema`` of a table, typed from ``frame`` when given.

    A column pandas holds as ``object`` (the summary's dates) keeps its declared type.
    """
    declared = {c.name: c.dtype for c in columns}
    types = dict(declared)
    if frame is not None:
        types = {
            str(name): declared.get(str(name), "object") if str(dtype) == "object" else str(dtype)
            for name, dtype in frame.dtypes.items()
        }
    descriptions = {c.name: c.description for c in columns}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, type=dtype, description=descriptions.get(name))
            for name, dtype in types.items()
        ]
    )
