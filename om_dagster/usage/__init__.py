"""Usage: parsed queries counted per table and day (stage), and sent to OpenMetadata (bulk sink)."""
