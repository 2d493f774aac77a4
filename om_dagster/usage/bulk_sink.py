"""`metadata-usage`: the table-usage stage's files sent to OpenMetadata.

Per table and day (`UsageResource`, `TableRepository.addJoins`, `QueryResource` answer as
the server's source does; see `tests/standin.py`):

- `POST /v1/usage/table/{id}` `{date, count}`: the server replaces that day's count (`PUT`
  would add to it), so a rerun does not inflate the table's usage. (The server adds the
  count to the table's schema and database on every call, POST or PUT: theirs re-inflate.)
- `PUT /v1/tables/{id}/joins` with that day's column joins (the server replaces a day's
  count per column pair, and refuses days older than 30: those are a warning).
- then each query shape once, `PUT /v1/queries` (name: md5 of the masked text, the
  server's own checksum of that text; FQN `<service>.<md5>`), with the tables it was used in
  and who ran it (`usedBy`: a PUT replaces both, so a rerun does not duplicate them);
- last, `POST /v1/usage/compute.percentile/{table,database}/{date}` for each day sent.

A table the server does not know is a counted warning naming it, never a failure.
"""

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import BulkSink, Kind, Record, StepError
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError

JOIN_DAYS = 30  # the server takes joins of today and the 30 days before


class MetadataUsageBulkSink(BulkSink):
    type_name = "metadata-usage"
    needs_server = True

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        if metadata is None:
            raise StepError("metadata-usage writes to OpenMetadata: it needs the server")
        self.client = metadata
        self.service = recipe.service_name
        self.tables: dict[str, dict[str, Any] | None] = {}  # FQN -> id and columns, None: unknown
        self.days: set[str] = set()

    def run(self, records: Iterable[Record]) -> None:
        files = [r.body for r in records if r.kind == Kind.USAGE_FILE]
        try:
            for file in files:
                if file["kind"] == "usage":
                    for line in _lines(file["path"]):
                        self._usage(line)
            for file in files:
                if file["kind"] == "queries":
                    for line in _lines(file["path"]):
                        self._query(line)
            for day in sorted(self.days):
                for entity in ("table", "database"):
                    self.client.compute_percentile(entity, day)
        except OpenMetadataError as err:
            raise StepError(str(err)) from None

    def _table(self, fqn: str) -> dict[str, Any] | None:
        """The table's id and column names, or None (a warning, once) if the server lacks it."""
        if fqn not in self.tables:
            found = self.client.get_by_name("tables", fqn, fields="columns")
            self.tables[fqn] = (
                {"id": found["id"], "columns": {c["name"] for c in found.get("columns") or []}}
                if found
                else None
            )
            if found is None:
                self.status.warning(
                    fqn, "OpenMetadata has no such table: its usage, joins and queries not sent"
                )
        return self.tables[fqn]

    # --- usage and joins --------------------------------------------------------------------

    def _usage(self, line: dict[str, Any]) -> None:
        table = self._table(line["table"])
        if table is None:
            return
        day = line["date"]
        self.client.post_usage(table["id"], line["table"], day, line["count"])
        self.days.add(day)
        self.status.scanned()
        joins = self._joins(line, table)
        if not joins:
            return
        if date.fromisoformat(day) < datetime.now(UTC).date() - timedelta(days=JOIN_DAYS):
            self.status.warning(
                line["table"], f"joins of {day} not sent: the server keeps the last {JOIN_DAYS} days"
            )
            return
        body = {"startDate": day, "dayCount": 1, "columnJoins": joins, "directTableJoins": []}
        if refused := self.client.put_joins(table["id"], line["table"], body):
            self.status.failed(line["table"], f"joins of {day} not taken: {refused}")

    def _joins(self, line: dict[str, Any], table: dict[str, Any]) -> list[dict[str, Any]]:
        """`columnJoins` of the server's form, each joined column checked against the catalog
        first (the server refuses the whole call for one it lacks)."""
        out = []
        for column, pairs in sorted(line["joins"].items()):
            if column not in table["columns"]:
                continue
            joined = []
            for other, count in pairs:
                other_table, _, other_column = other.rpartition(".")
                found = self._table(other_table)
                if found is not None and other_column in found["columns"]:
                    joined.append({"fullyQualifiedName": other, "joinCount": count})
            if joined:
                out.append({"columnName": column, "joinedWith": joined})
        return out

    # --- queries ----------------------------------------------------------------------------

    def _query(self, line: dict[str, Any]) -> None:
        used_in = []
        for fqn in line["tables"]:
            table = self._table(fqn)
            if table is not None:
                used_in.append({"id": table["id"], "type": "table"})
        if not used_in:
            return
        body: dict[str, Any] = {
            "name": line["checksum"],
            "query": line["query"],
            "service": self.service,
            "queryUsedIn": used_in,
            "queryDate": int(datetime.fromisoformat(line["start"]).timestamp() * 1000),
        }
        if line.get("users"):
            body["usedBy"] = sorted(line["users"])
        if line.get("duration") is not None:
            body["duration"] = line["duration"]
        if refused := self.client.put_query(body):
            self.status.failed(f"{self.service}.{line['checksum']}", refused)
        else:
            self.status.scanned()


def _lines(path: str) -> Iterator[dict[str, Any]]:
    """A stage file's lines, streamed."""
    try:
        handle = Path(path).open(encoding="utf-8")  # noqa: SIM115 - closed below, after the stream
    except FileNotFoundError:
        raise StepError(f"the stage's file {path} is gone: re-execute from the stage step") from None
    with handle:
        for text in handle:
            yield json.loads(text)
