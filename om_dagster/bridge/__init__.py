"""OpenMetadata's orchestrator calls, answered by Dagster."""
