"""Queries from a log or the database: read, parsed once each, for usage and lineage."""
