"""`file` sink: one create request per line (JSON lines), as `metadata ingest` writes it."""

import json
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Kind, Record, Sink
from om_dagster.openmetadata.client import OpenMetadataClient


class FileSink(Sink):
    type_name = "file"

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.path = recipe.resolve(config["filename"])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.out = self.path.open("w", encoding="utf-8")

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        config = recipe.workflow.sink.config or {}
        if not isinstance(config.get("filename"), str) or not config["filename"]:
            raise recipe.error(
                "sink.config.filename", "required for the file sink: the JSON-lines file to write"
            )
        extra = sorted(set(config) - {"filename"})
        return [f"{recipe.path}: sink.config.{key}: not a file sink option, ignored" for key in extra]

    def write(self, record: Record) -> None:
        if record.kind not in Kind.CREATES:
            return
        self.out.write(json.dumps(record.body, ensure_ascii=False))
        self.out.write("\n")
        self.status.scanned()

    def close(self) -> None:
        self.out.close()
