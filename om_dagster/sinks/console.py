"""`console` sink: prints each create request, for trying a recipe out."""

import json
import sys

from om_dagster.core.steps import Kind, Record, Sink


class ConsoleSink(Sink):
    type_name = "console"

    def write(self, record: Record) -> None:
        if record.kind not in Kind.CREATES:
            return
        sys.stdout.write(f"{record.kind}: {json.dumps(record.body, ensure_ascii=False)}\n")
        self.status.scanned()

    def close(self) -> None:
        sys.stdout.flush()
