"""Lineage: table and column edges from a service's views and queries, merged into OpenMetadata."""
