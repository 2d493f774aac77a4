"""OpenMetadata itself: the REST client, FQNs, run status, pipelines defined on the server."""
