"""An example Dagster project that uses blooio-dagster as a customer would."""
