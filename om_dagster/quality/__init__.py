"""Data quality: OpenMetadata test suites, run by the database. No Dagster here."""
