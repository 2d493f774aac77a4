"""The connector core: recipes, steps, statuses, the registry, the spool. No Dagster here."""
