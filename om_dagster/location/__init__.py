"""The Dagster layer: the code location (definitions, the asset factory, ops, resources, sensors)."""
