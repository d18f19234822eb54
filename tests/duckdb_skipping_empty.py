"""DuckDBPandasIOManager as dagster-duckdb-pandas 0.29 behaves: empty frames are not stored.

The floor environment has 0.28, which creates an empty table for an empty DataFrame, and the
newest environment cannot install 0.29 (it refuses pandas 3). This subclass gives the floor
environment 0.29's behaviour, so the tests of days without rows see both. Only tests marked
``duckdb`` call it, so dagster-duckdb-pandas is imported inside.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandas as pd

#: What 0.29 logs when it skips an empty DataFrame.
SKIP_WARNING = "Skipping DuckDB write for empty DataFrame. An empty table will not be created."


@functools.cache
def skipping_empty_duckdb_pandas_io_manager() -> type[Any]:
    """DuckDBPandasIOManager with 0.29's handling of empty frames."""
    from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

    class SkipEmptyTypeHandler(DuckDBPandasTypeHandler):  # type: ignore[misc, unused-ignore]
        """0.29's ``DuckDBPandasTypeHandler.handle_output`` for an empty frame, which reads::

            if obj.empty:
                context.log.warning(
                    "Skipping DuckDB write for empty DataFrame. An empty table will not be created."
                )
            else:
                connection.execute(f"create table if not exists ... as select * from obj;")
                ...

        followed, in both cases, by the same output metadata (the row count, here 0, and the
        frame's columns). The IO manager has already deleted the partition's old rows, if its
        table exists; no table is created. Non-empty frames are stored as 0.28 stores them.
        """

        def handle_output(
            self, context: dg.OutputContext, table_slice: Any, obj: pd.DataFrame, connection: Any
        ) -> None:
            if not obj.empty:
                super().handle_output(context, table_slice, obj, connection)
                return
            context.log.warning(SKIP_WARNING)
            # 0.29's TableMetadataSet(partition_row_count=..., storage_kind="duckdb"), or
            # row_count=... for an unpartitioned output or a range of partitions.
            count = (
                "dagster/partition_row_count" if context.has_partition_key else "dagster/row_count"
            )
            columns = [dg.TableColumn(name=str(n), type=str(t)) for n, t in obj.dtypes.items()]
            context.add_output_metadata(
                {
                    count: 0,
                    "dagster/storage_kind": "duckdb",
                    "dataframe_columns": dg.MetadataValue.table_schema(dg.TableSchema(columns)),
                }
            )

    class SkippingEmptyDuckDBPandasIOManager(DuckDBPandasIOManager):  # type: ignore[misc, unused-ignore]
        @staticmethod
        def type_handlers() -> Sequence[Any]:
            return [SkipEmptyTypeHandler()]

    return SkippingEmptyDuckDBPandasIOManager
