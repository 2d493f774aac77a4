"""`metadata-rest` sink: create requests into an OpenMetadata server, few round trips.

Per schema it lists what the server already holds (one paged call), then sends only
tables whose fingerprint (`sourceHash`, an md5 of the create request) changed, in bulk
PUTs of `bulk_sink_batch_size`; the server names each table of its answer by FQN. A
second run of an unchanged catalog sends no table at all. `markDeletedTables`
soft-deletes tables the server holds under an ingested schema that the source no
longer has.
"""

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Kind, Record, Sink, StepError
from om_dagster.openmetadata import fqn
from om_dagster.openmetadata.client import AuthError, OpenMetadataClient, OpenMetadataError

COLLECTIONS = {
    Kind.DATABASE_SERVICE: "services/databaseServices",
    Kind.DATABASE: "databases",
    Kind.DATABASE_SCHEMA: "databaseSchemas",
    Kind.TABLE: "tables",
}
# what an edge keeps of the details the server holds, besides the merged columns
LINEAGE_KEPT = frozenset({"pipeline", "description", "sqlQuery"})
PARENT = {Kind.DATABASE: "service", Kind.DATABASE_SCHEMA: "database", Kind.TABLE: "databaseSchema"}
OPTIONS = {"bulk_sink_batch_size"}
# Server errors in a row (a 5xx or no answer, retries spent) before the sink stops: a server
# that fails every write gets a handful of calls, not one per table.
BREAKER = 5
# Bulk calls failing in a row (while single PUTs work) before the rest of the run skips the
# bulk endpoint: each failed bulk call costs a round trip, and retries when it answers 502-504.
BULK_BREAKER = 2


@dataclass(frozen=True, slots=True)
class Known:
    """A table the server holds: enough to skip, restore or soft-delete it."""

    id: str
    source_hash: str | None
    deleted: bool


def merge_columns(held: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Column mappings of both, one per target column, sources united and sorted."""
    by_target: dict[str, set[str]] = {}
    for mapping in [*held, *new]:
        by_target.setdefault(mapping["toColumn"], set()).update(mapping.get("fromColumns") or [])
    return [{"fromColumns": sorted(froms), "toColumn": to} for to, froms in sorted(by_target.items())]


def source_hash(body: dict[str, Any]) -> str:
    """md5 of the request as canonical JSON: equal hashes mean nothing to send."""
    canonical = json.dumps(
        {k: v for k, v in body.items() if k != "sourceHash"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.md5(canonical.encode(), usedforsecurity=False).hexdigest()


def entity_fqn(kind: str, body: dict[str, Any]) -> str:
    parent = body.get(PARENT.get(kind, ""), "")
    return f"{parent}.{fqn.quote_name(body['name'])}" if parent else fqn.quote_name(body["name"])


class MetadataRestSink(Sink):
    type_name = "metadata-rest"
    needs_server = True

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        if metadata is None:
            raise StepError("the metadata-rest sink needs the OpenMetadata client (`metadata`)")
        self.client = metadata
        self.batch_size = int(config.get("bulk_sink_batch_size", 100))
        self.pending: list[tuple[dict[str, Any], bool]] = []  # (table request, existed before)
        self.schema_fqn: str | None = None
        self.known: dict[str, Known] = {}
        self.seen: set[str] = set()
        self.listed = False  # whether `known` is complete for the current schema
        self.server_version: str | None = None
        self.server_errors = 0  # in a row, for the breaker
        self.bulk_failures = 0  # bulk calls failed in a row

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        config = recipe.workflow.sink.config or {}
        size = config.get("bulk_sink_batch_size", 100)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise recipe.error(
                "sink.config.bulk_sink_batch_size", f"expected a positive integer, got {size!r}"
            )
        return [
            f"{recipe.path}: sink.config.{key}: not a metadata-rest option, ignored"
            for key in sorted(set(config) - OPTIONS)
        ]

    @classmethod
    def create(
        cls, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe
    ) -> "MetadataRestSink":
        sink = cls(config, metadata, recipe)
        try:
            sink.server_version = sink.client.version()
        except OpenMetadataError as err:
            raise StepError(str(err)) from None
        return sink

    # --- records ----------------------------------------------------------------------

    def write(self, record: Record) -> None:
        try:
            if record.kind == Kind.TABLE:
                self._table(record.body)
            elif record.kind == Kind.SCHEMA_DONE:
                self._schema_done(record.body)
            elif record.kind == Kind.TABLE_PROFILE:
                self._profile(record.body)
            elif record.kind == Kind.TEST_RESULTS:
                self._test_results(record.body)
            elif record.kind == Kind.LINEAGE:
                self._lineage(record.body)
            elif record.kind == Kind.DATABASE_SERVICE:
                self._service(record.body)
            elif record.kind in (Kind.DATABASE, Kind.DATABASE_SCHEMA):
                self._flush()
                self._put(record.kind, record.body)
                if record.kind == Kind.DATABASE_SCHEMA:
                    self._load_schema(entity_fqn(record.kind, record.body))
        except AuthError as err:
            raise StepError(str(err)) from None

    def _service(self, body: dict[str, Any]) -> None:
        name = body["name"]
        if self.client.get_by_name(COLLECTIONS[Kind.DATABASE_SERVICE], fqn.quote_name(name)) is not None:
            self.status.same()
            return
        request = dict(body)
        connection = self.recipe.service_connection if self.recipe.server.storeServiceConnection else None
        if connection is not None:
            # The connection comes from the recipe here, never through the record stream.
            request["connection"] = {"config": connection}
        self._put(Kind.DATABASE_SERVICE, request)

    def _put(self, kind: str, body: dict[str, Any]) -> None:
        request = body if kind == Kind.DATABASE_SERVICE else dict(body, sourceHash=source_hash(body))
        try:
            self.client.put(COLLECTIONS[kind], request)
            self.status.scanned()
            self.server_errors = 0
        except AuthError:
            raise
        except OpenMetadataError as err:
            self.status.failed(entity_fqn(kind, body), str(err))
            self._server_error(err)

    def _profile(self, body: dict[str, Any]) -> None:
        """A table's profile; a table the server no longer knows is a warning naming it."""
        try:
            if self.client.put_table_profile(body["id"], body["fqn"], body["profile"]):
                self.status.scanned()
            else:
                self.status.warning(body["fqn"], "OpenMetadata does not know this table (deleted?)")
            self.server_errors = 0
        except AuthError:
            raise
        except OpenMetadataError as err:
            self.status.failed(body["fqn"], str(err))
            self._server_error(err)

    def _test_results(self, body: dict[str, Any]) -> None:
        """The table's suite, the recipe's cases (create-or-update), then each result."""
        try:
            self.client.put_test_suite(body["fqn"])
            self.server_errors = 0
        except AuthError:
            raise
        except OpenMetadataError as err:
            for case in body["cases"]:
                self.status.failed(case["fqn"], f"its test suite was refused: {err}")
            self._server_error(err)
            return
        for case in body["cases"]:
            try:
                case_id = self.client.put_test_case(case["create"]) if case["create"] else case["id"]
                self.client.add_test_result(case["fqn"], case["result"])
                self.status.scanned()
                self.server_errors = 0
            except AuthError:
                raise
            except OpenMetadataError as err:
                self.status.failed(case["fqn"], str(err))
                self._server_error(err)
                continue
            if case.get("failedRowsSample") and case_id:
                try:  # the rows are an illustration: a refusal is a warning, the result stands
                    self.client.put_failed_rows(case_id, case["fqn"], case["failedRowsSample"])
                except AuthError:
                    raise
                except OpenMetadataError as err:
                    self.status.warning(case["fqn"], f"its failed rows sample was refused: {err}")

    def _lineage(self, body: dict[str, Any]) -> None:
        """An edge, its column mappings merged with those the server holds (a PUT replaces
        them all: `LineageRepository.addLineage`), so reruns and other sources add, never
        drop or duplicate; unchanged when the server already has them all."""
        what = f"lineage {body['from']['fqn']} -> {body['to']['fqn']}"
        try:
            held = self.client.lineage_edge(body["from"]["id"], body["to"]["id"], what)
            columns = merge_columns((held or {}).get("columnsLineage") or [], body["columns"])
            if held is not None and columns == merge_columns(held.get("columnsLineage") or [], []):
                self.status.same()
                return
            details = {k: v for k, v in (held or {}).items() if k in LINEAGE_KEPT}
            details |= {
                "sqlQuery": (held or {}).get("sqlQuery") or body["sqlQuery"],
                "source": body["source"],
            }
            details["columnsLineage"] = columns
            edge = {
                "fromEntity": {"id": body["from"]["id"], "type": "table"},
                "toEntity": {"id": body["to"]["id"], "type": "table"},
                "lineageDetails": details,
            }
            if refused := self.client.put_lineage(edge, what):
                self.status.failed(what, refused)
            else:
                self._count(held is not None)
            self.server_errors = 0
        except AuthError:
            raise
        except OpenMetadataError as err:
            self.status.failed(what, str(err))
            self._server_error(err)

    def _load_schema(self, schema_fqn: str) -> None:
        """What the server holds under this schema, to skip unchanged tables.

        If the server cannot list them, every table is sent (PUT is idempotent) and no
        table of the schema is marked deleted: nothing is lost, nothing wrongly deleted.
        """
        self.schema_fqn = schema_fqn
        self.seen = set()
        self.known = {}
        self.listed = False
        query = {"databaseSchema": schema_fqn, "fields": "sourceHash", "include": "all"}
        try:
            for entity in self.client.list(COLLECTIONS[Kind.TABLE], query):
                self.known[entity["name"]] = Known(
                    entity["id"], entity.get("sourceHash"), bool(entity.get("deleted"))
                )
        except AuthError:
            raise
        except OpenMetadataError as err:
            self.known = {}
            self.status.warning(
                schema_fqn, f"could not list its tables, so all are sent and none marked deleted: {err}"
            )
            self._server_error(err)
            return
        self.listed = True

    def _table(self, body: dict[str, Any]) -> None:
        name = body["name"]
        if body["databaseSchema"] != self.schema_fqn:  # tables without their schema record first
            self._flush()
            self._load_schema(body["databaseSchema"])
        self.seen.add(name)
        digest = source_hash(body)
        known = self.known.get(name)
        if known and known.source_hash == digest and not known.deleted:
            self.status.same()
            return
        # A soft-deleted table that is back is sent like any other: the server's create-or-update
        # restores it (`EntityRepository.update`, `BulkImportService.bulkUpdateEntities`).
        self.pending.append((dict(body, sourceHash=digest), known is not None))
        if len(self.pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        if self.bulk_failures >= BULK_BREAKER:
            for body, was in batch:
                self._put_one(body, was)
            return
        existed = {entity_fqn(Kind.TABLE, body): was for body, was in batch}
        try:
            result = self.client.bulk_put(
                COLLECTIONS[Kind.TABLE], [body for body, _ in batch], partial(entity_fqn, Kind.TABLE)
            )
        except AuthError:
            raise
        except OpenMetadataError as err:
            # The whole call was refused: send one by one so each table stands on its own.
            self.bulk_failures += 1
            what = (
                f"bulk PUT failed {self.bulk_failures} times in a row, so every table from here on is "
                "sent one by one"
                if self.bulk_failures >= BULK_BREAKER
                else "bulk PUT failed, its tables sent one by one"
            )
            self.status.warning(self.schema_fqn or "?", f"{what}: {err}")
            self._server_error(err)
            for body, was in batch:
                self._put_one(body, was)
            return
        self.server_errors = self.bulk_failures = 0
        for table in result.succeeded:
            self._count(existed.get(table, False))
        for table, message in result.failed:
            self.status.failed(table, f"bulk PUT refused it: {message}")
        unanswered = len(batch) - len(result.succeeded) - len(result.failed)
        if unanswered > 0:
            self.status.failed(self.schema_fqn or "?", f"bulk PUT left {unanswered} tables without an answer")

    def _put_one(self, body: dict[str, Any], existed: bool) -> None:
        try:
            self.client.put(COLLECTIONS[Kind.TABLE], body)
            self._count(existed)
            self.server_errors = 0
        except AuthError:
            raise
        except OpenMetadataError as err:
            self.status.failed(entity_fqn(Kind.TABLE, body), str(err))
            self._server_error(err)

    def _server_error(self, err: OpenMetadataError) -> None:
        """Count a 5xx or a call with no answer toward the breaker (a 4xx is an answer about one
        entity); stop the sink when the server has failed BREAKER calls in a row."""
        if err.status is not None and err.status < 500:
            return
        self.server_errors += 1
        if self.server_errors >= BREAKER:
            raise StepError(
                f"the OpenMetadata server failed {BREAKER} calls in a row, so nothing more is sent; "
                f"the last: {err}"
            )

    def _count(self, existed: bool) -> None:
        if existed:
            self.status.changed()
        else:
            self.status.scanned()

    def _schema_done(self, body: dict[str, Any]) -> None:
        self._flush()
        if not body.get("markDeletedTables") or body["databaseSchema"] != self.schema_fqn or not self.listed:
            return
        gone = set(self.known) - self.seen - set(body.get("keep", []))
        for name in sorted(gone):
            known = self.known[name]
            if known.deleted:
                continue
            table = f"{self.schema_fqn}.{fqn.quote_name(name)}"
            try:
                self.client.delete(COLLECTIONS[Kind.TABLE], known.id, table)
                self.status.changed()
            except AuthError:
                raise
            except OpenMetadataError as err:
                self.status.failed(table, f"could not mark deleted: {err}")
                self._server_error(err)

    def close(self) -> None:
        self._flush()
