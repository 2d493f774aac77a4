"""The profiler engine: the shape of every table, computed by its database. No Dagster here."""
