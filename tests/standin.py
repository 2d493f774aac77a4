"""A stand-in OpenMetadata server on 127.0.0.1, for tests and benchmarks.

It speaks the part of the REST API that ingestion uses (API.md): entities keyed by
FQN, create-or-update PUT, bulk PUT, paged lists, soft delete and restore, Bearer
auth, and it validates every request body against the official JSON Schemas in
`../shared/openmetadata/schema`, answering 400 like the server does.

Every answer follows the OpenMetadata server's source (openmetadata-service), named beside
the method that gives it; where the server's answer is not what a client would guess, the
method says so. Request bodies are validated against the schemas, so the messages of 400s
are jsonschema's, in the server's `[field message]` form, not the server's own words.

Run it alone: `python tests/standin.py --port 8585 [--token T] [--version 1.13.0]`.
Tests start it in a thread (`StandIn().start()`), and can inject faults.
"""

from __future__ import annotations  # annotations name `list`, which StandIn also defines

import argparse
import base64
import copy
import fnmatch
import functools
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonpatch
import jsonpointer
from jsonschema import Draft7Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

try:
    from tests.standin_pipelines import AirflowClient, PipelineService, Refused
except ModuleNotFoundError:  # run as a script (`python tests/standin.py --serve PORT`, the benches)
    from standin_pipelines import AirflowClient, PipelineService, Refused

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OM_DAGSTER_SHARED", ROOT.parent / "shared"))
SCHEMA_DIR = SHARED / "openmetadata" / "schema"
SCHEMA_BASE = "https://open-metadata.org/schema/"


def load_registry(schema_dir: Path = SCHEMA_DIR) -> Registry:
    """Every schema file under its canonical URI, so relative `$ref`s resolve offline."""
    resources = []
    for path in schema_dir.rglob("*.json"):
        contents = json.loads(path.read_text())
        uri = SCHEMA_BASE + path.relative_to(schema_dir).as_posix()
        if not str(contents.get("$id", "")).startswith(SCHEMA_BASE):
            contents = dict(contents, **{"$id": uri})  # two files carry an odd $id (README)
        # Without `$schema`, jsonschema keeps our validator class across `$ref`s (it would
        # pick the stock draft-07 one by that key): all are draft-07 anyway.
        contents.pop("$schema", None)
        resources.append((uri, Resource.from_contents(contents, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


def _first_match(validator: Any, one_of: list, instance: Any, schema: dict) -> Any:
    """`oneOf` as the server reads it: the first matching member wins. Some members overlap
    (MySQL's `authType` matches both basicAuth and gcpCloudSqlConfig), which strict
    draft-07 would refuse for every MySQL connection (shared README, "Ambiguous oneOf").
    """
    errors = []
    for index, subschema in enumerate(one_of):
        found = list(validator.descend(instance, subschema, schema_path=index))
        if not found:
            return
        errors.extend(found)
    yield ValidationError("is not valid under any of the given schemas", context=errors)


def _java_pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Any:
    """`pattern` as the server's Java regex reads it: `(?U)` (Unicode classes) is Python's
    default for text, and Python has no such flag."""
    if isinstance(instance, str) and not re.search(pattern.replace("(?U)", ""), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


ServerValidator = validators.extend(Draft7Validator, {"oneOf": _first_match, "pattern": _java_pattern})


@functools.cache
def default_schemas() -> Schemas:
    """The official schemas, loaded once per process."""
    return Schemas(SCHEMA_DIR)


class Schemas:
    """Validators of request bodies, built once per schema."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        self.registry = load_registry(schema_dir)
        self._validators: dict[str, Draft7Validator] = {}

    def validator(self, ref: str) -> Draft7Validator:
        if ref not in self._validators:
            self._validators[ref] = ServerValidator({"$ref": SCHEMA_BASE + ref}, registry=self.registry)
        return self._validators[ref]

    def errors(self, ref: str, body: Any) -> list[str]:
        """Readable problems (empty when the body is valid)."""
        found = []
        for err in self.validator(ref).iter_errors(body):
            where = "/".join(str(p) for p in err.absolute_path) or "(body)"
            found.append(f"{where}: {err.message[:300]}")
        return found


@dataclass
class Collection:
    """A kind of entity: its path, create schema, entity type and parent field."""

    path: str
    create_schema: str
    entity_type: str
    parent_field: str | None  # field of the Create request naming the parent FQN
    parent_collection: str | None


COLLECTIONS = {
    c.path: c
    for c in (
        Collection(
            "services/databaseServices",
            "api/services/createDatabaseService.json",
            "databaseService",
            None,
            None,
        ),
        Collection(
            "databases", "api/data/createDatabase.json", "database", "service", "services/databaseServices"
        ),
        Collection(
            "databaseSchemas", "api/data/createDatabaseSchema.json", "databaseSchema", "database", "databases"
        ),
        Collection("tables", "api/data/createTable.json", "table", "databaseSchema", "databaseSchemas"),
        Collection(
            "storedProcedures",
            "api/data/createStoredProcedure.json",
            "storedProcedure",
            "databaseSchema",
            "databaseSchemas",
        ),
        # `WorkflowResource` (automations: Test Connection runs); the UI POSTs, PUT upserts too
        Collection("automations/workflows", "api/automations/createWorkflow.json", "workflow", None, None),
        # `QueryResource`: FQN `<service>.<name>` (`QueryRepository.setFullyQualifiedName`)
        Collection("queries", "api/data/createQuery.json", "query", "service", "services/databaseServices"),
        Collection(
            "services/ingestionPipelines",
            "api/services/ingestionPipelines/createIngestionPipeline.json",
            "ingestionPipeline",
            "service",
            "services/databaseServices",
        ),
    )
}
ENTITY_TYPES = {c.path: c.entity_type for c in COLLECTIONS.values()} | {"dataQuality/testSuites": "testSuite"}
REFERENCED = {kind: path for path, kind in ENTITY_TYPES.items()}  # an entity reference's type -> where
# the entities whose schema has `serviceType` (their service's); others have none to carry
SERVICE_TYPED = {"database", "databaseSchema", "table", "storedProcedure"}
PIPELINE_SCHEMA = "entity/services/ingestionPipelines/ingestionPipeline.json"
PIPELINE_STATUS_SCHEMA = (
    "entity/services/ingestionPipelines/ingestionPipeline.json#/definitions/pipelineStatus"
)


# The test definitions the server seeds (`TestDefinitionResource.initialize` from
# `openmetadata-service/src/main/resources/json/data/tests/*.json`): entity type, parameters
# (name: required) and the min <= max rules of `validationRule`.
def _definition(entity: str, params: dict[str, bool], *rules: tuple[str, str]) -> dict[str, Any]:
    return {"entityType": entity, "params": params, "rules": rules}


TEST_DEFINITIONS: dict[str, dict[str, Any]] = {
    "tableRowCountToEqual": _definition("TABLE", {"value": True}),
    "tableRowCountToBeBetween": _definition(
        "TABLE", {"minValue": False, "maxValue": False}, ("minValue", "maxValue")
    ),
    "tableColumnCountToEqual": _definition("TABLE", {"columnCount": True}),
    "tableColumnCountToBeBetween": _definition(
        "TABLE", {"minColValue": False, "maxColValue": False}, ("minColValue", "maxColValue")
    ),
    "tableColumnNameToExist": _definition("TABLE", {"columnName": True}),
    "tableColumnToMatchSet": _definition("TABLE", {"columnNames": True, "ordered": False}),
    "tableCustomSQLQuery": _definition(
        "TABLE",
        {
            "sqlExpression": True,
            "strategy": False,
            "operator": False,
            "threshold": False,
            "partitionExpression": False,
        },
    ),
    "tableRowInsertedCountToBeBetween": _definition(
        "TABLE",
        {"min": False, "max": False, "columnName": True, "rangeType": True, "rangeInterval": True},
        ("min", "max"),
    ),
    "columnValuesToBeBetween": _definition(
        "COLUMN", {"minValue": False, "maxValue": False}, ("minValue", "maxValue")
    ),
    "columnValuesToBeNotNull": _definition("COLUMN", {}),
    "columnValuesToBeUnique": _definition("COLUMN", {}),
    "columnValuesToBeInSet": _definition("COLUMN", {"allowedValues": True, "matchEnum": False}),
    "columnValuesToBeNotInSet": _definition("COLUMN", {"forbiddenValues": True}),
    "columnValuesToMatchRegex": _definition("COLUMN", {"regex": True}),
    "columnValuesToNotMatchRegex": _definition("COLUMN", {"forbiddenRegex": True}),
    "columnValueLengthsToBeBetween": _definition(
        "COLUMN", {"minLength": False, "maxLength": False}, ("minLength", "maxLength")
    ),
    "columnValuesMissingCount": _definition(
        "COLUMN", {"missingCountValue": True, "missingValueMatch": False}
    ),
    "columnValueMaxToBeBetween": _definition(
        "COLUMN",
        {"minValueForMaxInCol": False, "maxValueForMaxInCol": False},
        ("minValueForMaxInCol", "maxValueForMaxInCol"),
    ),
    # its seed rule names minValueForMeanInCol (a typo): min <= max is never enforced
    "columnValueMinToBeBetween": _definition(
        "COLUMN", {"minValueForMinInCol": False, "maxValueForMinInCol": False}
    ),
    "columnValueMeanToBeBetween": _definition(
        "COLUMN",
        {"minValueForMeanInCol": False, "maxValueForMeanInCol": False},
        ("minValueForMeanInCol", "maxValueForMeanInCol"),
    ),
    "columnValueMedianToBeBetween": _definition(
        "COLUMN",
        {"minValueForMedianInCol": False, "maxValueForMedianInCol": False},
        ("minValueForMedianInCol", "maxValueForMedianInCol"),
    ),
    "columnValueStdDevToBeBetween": _definition(
        "COLUMN",
        {"minValueForStdDevInCol": False, "maxValueForStdDevInCol": False},
        ("minValueForStdDevInCol", "maxValueForStdDevInCol"),
    ),
    "columnValuesSumToBeBetween": _definition(
        "COLUMN",
        {"minValueForColSum": False, "maxValueForColSum": False},
        ("minValueForColSum", "maxValueForColSum"),
    ),
}
for _name, _seeded in TEST_DEFINITIONS.items():
    _seeded |= {"name": _name, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"testDefinition/{_name}"))}
VALUE_FILTERS = {"pipelineType"}  # list filters on a plain field
LIST_FILTERS = {"service": "service", "database": "database", "databaseSchema": "databaseSchema"}


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def quote_part(name: str) -> str:
    return f'"{name}"' if "." in name and not name.startswith('"') else name


@dataclass
class State:
    """Entities by collection and FQN, plus what tests look at."""

    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    by_id: dict[str, tuple[str, str]] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    total_requests: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    parent_usage: dict[str, dict[str, int]] = field(default_factory=dict)  # schema/database FQN -> day -> n
    joins: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # column FQN pair -> day -> n
    percentiles: list[tuple[str, str]] = field(default_factory=list)  # (entity, date) computed
    lineage: dict[tuple[str, str], dict[str, Any]] = field(
        default_factory=dict
    )  # (from id, to id) -> details


class StandIn:
    """The server: `start()` in a thread, or `serve_forever()` in a process."""

    def __init__(
        self, port: int = 0, token: str | None = None, version: str = "1.13.0", validate: bool = True
    ) -> None:
        self.token = token  # a bot's (the ingestion bot's): sees connection secrets
        self.user_tokens: set[str] = set()  # people's tokens: passwords masked, as for non-bots
        self.fail_writes: set[str] = set()  # FQNs whose store fails inside a bulk call
        self.version = version
        self.schemas = default_schemas() if validate else None
        self.state = State()
        # Fault injection: the next N matching requests get an error status / a dropped connection.
        self.fail_next: dict[str, int] = {}
        self.fail_status = 503
        self.delay_next: dict[str, tuple[float, int]] = {}
        self.drop_next: dict[str, int] = {}
        # the orchestrator (`pipelineServiceClientConfiguration`): None is a disabled client
        self.pipelines: PipelineService | None = None
        self.ingestion_bot_jwt = "standin-ingestion-bot-jwt"  # sent to the orchestrator when no token is set
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> StandIn:
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def use_orchestrator(self, api_endpoint: str, username: str, password: str) -> AirflowClient:
        """Point the server at an orchestrator, as `pipelineServiceClientConfiguration` does
        with the Airflow client class; the client, whose `calls` tests read."""
        client = AirflowClient(api_endpoint, username, password)
        self.pipelines = PipelineService(self, client)
        return client

    # --- what tests read ---------------------------------------------------------------

    def all(self, collection: str, include_deleted: bool = True) -> dict[str, dict[str, Any]]:
        with self.state.lock:
            items = self.state.entities.get(collection, {})
            return {k: v for k, v in items.items() if include_deleted or not v.get("deleted")}

    def get(self, collection: str, fqn: str) -> dict[str, Any] | None:
        return self.all(collection).get(fqn)

    def count(self, method: str, prefix: str = "") -> int:
        return sum(n for (m, p), n in self.state.requests.items() if m == method and p.startswith(prefix))

    def delay(self, method: str, path_prefix: str, seconds: float, times: int) -> None:
        """Hold the next `times` matching requests `seconds` before answering (a slow server)."""
        self.delay_next[f"{method} {path_prefix}"] = (seconds, times)

    def inject(self, kind: str, method: str, path_prefix: str, times: int, status: int = 503) -> None:
        """`kind` 'fail' answers `status`, 'drop' closes the connection without an answer."""
        self.fail_status = status
        target = self.fail_next if kind == "fail" else self.drop_next
        target[f"{method} {path_prefix}"] = times

    # --- the API ------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are written apart: without TCP_NODELAY, Nagle's algorithm holds
            # the body for the client's delayed ACK, ~40 ms an answer on loopback
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _dispatch(self, method: str) -> None:
                url = urlsplit(self.path)
                path = url.path
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with server.state.lock:
                    server.state.total_requests += 1
                    server.state.requests[(method, _template(path))] += 1
                server._hold(method, path)
                if server._take(server.drop_next, method, path):
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if server._take(server.fail_next, method, path):
                    status = server.fail_status
                    return self._send(status, {"code": status, "message": f"HTTP {status} (injected)"})
                try:
                    bot = server._authenticate(path, self.headers.get("Authorization"))
                    body = json.loads(raw) if raw else None
                    status, payload = server.route(method, path, query, body)
                    if not bot:
                        payload = _masked(payload)
                except ApiError as err:
                    status, payload = err.code, {"code": err.code, "message": err.message}
                except json.JSONDecodeError as err:
                    status, payload = 400, {"code": 400, "message": f"Unable to process JSON: {err}"}
                self._send(status, payload)

            def _send(self, status: int, payload: Any) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

        return Handler

    def _authenticate(self, path: str, header: str | None) -> bool:
        """Whether the caller is a bot (`JwtFilter`: `v1/system/version` needs no token; its
        401 texts). Without a token configured, every caller is a bot (`NoopAuthorizer`)."""
        if not self.token or path.startswith("/api/v1/system/version"):
            return True
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "Not Authorized! Token not present")
        given = header.removeprefix("Bearer ")
        if given == self.token:
            return True
        if given in self.user_tokens:
            return False
        raise ApiError(401, "Not Authorized! Invalid token.")

    def _hold(self, method: str, path: str) -> None:
        with self.state.lock:
            for key, (seconds, left) in self.delay_next.items():
                m, prefix = key.split(" ", 1)
                if left > 0 and m == method and path.startswith(prefix):
                    self.delay_next[key] = (seconds, left - 1)
                    break
            else:
                return
        time.sleep(seconds)

    def _take(self, table: dict[str, int], method: str, path: str) -> bool:
        with self.state.lock:
            for key, left in table.items():
                m, prefix = key.split(" ", 1)
                if left > 0 and m == method and path.startswith(prefix):
                    table[key] = left - 1
                    return True
        return False

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if not path.startswith("/api/v1/"):
            raise ApiError(404, f"HTTP 404 Not Found: {path}")
        rest = path[len("/api/v1/") :]
        if rest == "system/version" and method == "GET":
            return 200, {"version": self.version, "revision": "standin", "timestamp": int(time.time() * 1000)}
        if rest == "__standin/stats" and method == "GET":  # not OpenMetadata's: for benchmarks
            with self.state.lock:
                return 200, {
                    "total_requests": self.state.total_requests,
                    "requests": {f"{m} {p}": n for (m, p), n in self.state.requests.items()},
                    "entities": {c: len(e) for c, e in self.state.entities.items()},
                }
        if rest == "system/settings/profilerConfiguration" and method == "GET":
            # `SystemResource.getProfilerConfigurationSetting`: no global metric configuration
            return 200, {"config_type": "profilerConfiguration", "config_value": {"metricConfiguration": []}}
        if rest.startswith("services/testConnectionDefinitions/name/") and method == "GET":
            return 200, self.test_connection_definition(unquote(rest.rsplit("/", 1)[1]))
        if rest == "search/fieldQuery" and method == "GET":
            return 200, self.field_query(query)
        if rest.startswith("dataQuality/"):
            return self.data_quality(method, rest[len("dataQuality/") :], query, body)
        if rest.startswith("usage/"):
            return self.usage(method, rest[len("usage/") :], body)
        if rest == "lineage" and method == "PUT":
            return 200, self.put_lineage(body)
        if rest.startswith("lineage/getLineageEdge/") and method == "GET":
            from_id, _, to_id = rest[len("lineage/getLineageEdge/") :].partition("/")
            return 200, self.lineage_edge(from_id, to_id)
        if rest.startswith(("services/ingestionPipelines/", "automations/workflows/trigger/")):
            handled = self.pipeline_operation(method, rest, query)
            if handled is not None:
                return handled
        collection, tail = _split_collection(rest)
        if collection is None:
            raise ApiError(404, f"HTTP 404 Not Found: {path}")
        if collection == "services/ingestionPipelines" and tail.endswith("/pipelineStatus"):
            if method == "PUT":
                return 201, self.put_pipeline_status(unquote(tail[: -len("/pipelineStatus")]), body)
            if method == "GET":
                fqn = unquote(tail[: -len("/pipelineStatus")])
                return 200, {"data": self.queued_statuses(fqn) + self.pipeline_statuses(fqn)}
        if collection == "tables" and tail.endswith("/tableProfile") and method == "PUT":
            return 200, self.put_table_profile(tail[: -len("/tableProfile")], body)
        if collection == "tables" and tail.endswith("/joins") and method == "PUT":
            return 200, self.put_joins(tail[: -len("/joins")], body)
        if collection == "queries" and method == "PUT" and tail == "":
            return self.put_query(body)
        if collection == "queries" and method == "PUT" and tail.count("/") == 1:
            query_id, what = tail.split("/")
            if what in ("usage", "users", "usedBy"):
                return 201, self.query_relations(query_id, what, body)
        if method == "PUT" and tail == "":
            return self.put(collection, body)
        if method == "PUT" and tail == "bulk":
            return self.bulk(collection, body)
        if method == "PUT" and tail == "restore":
            return self.restore(collection, body)
        if method == "GET" and tail == "":
            return 200, self.list(collection, query)
        if method == "GET" and tail.startswith("name/"):
            return 200, self.by_name(collection, unquote(tail[len("name/") :]), query)
        if method == "DELETE" and tail and "/" not in tail:
            deleted = self.delete(collection, tail, query)
            # `IngestionPipelineRepository.postDelete`: the orchestrator's delete on a hard delete
            # only (a soft-deleted pipeline keeps running: a restore could not redeploy it)
            if (
                collection == "services/ingestionPipelines"
                and query.get("hardDelete") == "true"
                and self.pipelines
            ):
                self.pipelines.delete(deleted)
            return 200, deleted
        if method == "GET" and tail and "/" not in tail:
            return 200, self.by_id(collection, tail)
        if method == "PATCH" and tail and "/" not in tail:
            return 200, self.patch(collection, tail, body)
        raise ApiError(405, f"HTTP 405 Method Not Allowed: {method} {path}")

    # --- entities -----------------------------------------------------------------------

    def _validate(self, collection: Collection, body: Any) -> None:
        self._check_body(collection.create_schema, body)

    def _check_own(self, schema: str, entity: Any) -> None:
        """What the stand-in sends as the server's entity is one (its schema): else the stand-in
        is wrong, and says so (500) instead of letting a test pass on a shape no server sends."""
        if self.schemas is not None and (errors := self.schemas.errors(schema, entity)):
            raise ApiError(500, f"stand-in bug: its {schema} is not the server's: {errors[:3]}")

    def _check_body(self, schema: str, body: Any) -> None:
        """`@Valid Create*`: a 400 listing the violations (`ConstraintViolationExceptionMapper`)."""
        if self.schemas is None:
            return
        errors = self.schemas.errors(schema, body)
        if errors:
            raise ApiError(400, "[" + ", ".join(errors[:5]) + "]")

    def _prepare(self, collection: Collection, body: Any) -> tuple[str, dict[str, Any] | None]:
        """The FQN a create request gets and its parent, or ApiError: the checks before a write
        (`EntityResource` validation, then `EntityRepository.prepare`: the parent must exist)."""
        self._validate(collection, body)
        name = body["name"]
        if not collection.parent_field:
            return quote_part(name), None
        parent_fqn = body[collection.parent_field]
        parent_collection = collection.parent_collection
        if isinstance(parent_fqn, dict):
            # an entity reference (ingestion pipelines' `service`): `IngestionPipelineRepository
            # .prepare` reads it by its type, a service or a test suite
            kind = parent_fqn.get("type", "")
            parent_collection = REFERENCED.get(kind, parent_collection)
            where = self.state.by_id.get(parent_fqn.get("id", ""))
            parent_fqn = where[1] if where and where[0] == parent_collection else parent_fqn.get("id")
        parent = self.state.entities.get(parent_collection, {}).get(parent_fqn)
        if parent is None or parent.get("deleted"):
            kind = ENTITY_TYPES[parent_collection]
            raise ApiError(404, f"{kind} instance for {parent_fqn} not found")
        return f"{parent['fullyQualifiedName']}.{quote_part(name)}", parent

    def _store(
        self, collection: Collection, body: dict[str, Any], fqn: str, parent: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        """Create (201) or update (200) by FQN (`EntityRepository.createOrUpdate`); an update of
        a soft-deleted entity restores it (`EntityRepository.update`)."""
        items = self.state.entities.setdefault(collection.path, {})
        existing = items.get(fqn)
        now = int(time.time() * 1000)
        if existing is not None:
            if existing["_request"] == body and not existing.get("deleted"):
                return 200, existing
            entity = self._entity(collection, body, fqn, parent, existing["id"])
            entity["version"] = round(existing["version"] + 0.1, 1)
            entity["updatedAt"] = now
            items[fqn] = entity
            return 200, entity
        entity = self._entity(collection, body, fqn, parent, str(uuid.uuid4()))
        entity["updatedAt"] = now
        items[fqn] = entity
        self.state.by_id[entity["id"]] = (collection.path, fqn)
        return 201, entity

    def _upsert(self, collection: Collection, body: Any) -> tuple[int, dict[str, Any]]:
        fqn, parent = self._prepare(collection, body)
        return self._store(collection, body, fqn, parent)

    def _entity(
        self,
        collection: Collection,
        body: dict[str, Any],
        fqn: str,
        parent: dict[str, Any] | None,
        entity_id: str,
    ) -> dict[str, Any]:
        entity = copy.deepcopy(
            {k: v for k, v in body.items() if k not in ("owners", "tags", "domains", "dataProducts")}
        )
        entity.update(
            id=entity_id,
            fullyQualifiedName=fqn,
            version=0.1,
            updatedBy="admin",
            deleted=False,
            href=f"http://127.0.0.1:{self.port}/api/v1/{collection.path}/{entity_id}",
            _request=body,
        )
        if parent is not None:
            ref = _ref(parent, ENTITY_TYPES[self.state.by_id[parent["id"]][0]])
            entity[collection.parent_field] = ref
            for up in ("service", "database"):
                if up in parent and up != collection.parent_field:
                    entity[up] = parent[up]
            if collection.entity_type in SERVICE_TYPED:
                entity["serviceType"] = parent.get("serviceType")
        if collection.entity_type == "table":
            for column in entity.get("columns", []):
                column["fullyQualifiedName"] = f"{fqn}.{quote_part(column['name'])}"
        return entity

    def put(self, path: str, body: Any) -> tuple[int, Any]:
        collection = COLLECTIONS[path]
        with self.state.lock:
            status, entity = self._upsert(collection, body)
        return status, _public(entity)

    def bulk(self, path: str, body: Any) -> tuple[int, Any]:
        """`PUT /{collection}/bulk?async=false`, as `EntityResource.processBulkRequest` and
        `BulkImportService.bulkCreateOrUpdateEntitiesSequential` answer it.

        HTTP 200 whatever the outcome. A request refused before the write (validation, a
        missing parent) is a `failedRequest` carrying the request object itself, status 400.
        A stored entity is a `successRequest` carrying its FQN, a string, status 200, whether
        created or updated (creates listed first); one whose store fails carries its FQN,
        status 400. A list with no item is left out (`@JsonInclude(NON_NULL)`).
        """
        collection = COLLECTIONS[path]
        if not isinstance(body, list):
            raise ApiError(400, "Invalid request format")
        created, updated, failed = [], [], []
        with self.state.lock:
            ready = []
            for request in body:
                try:
                    ready.append((request, *self._prepare(collection, request)))
                except ApiError as err:
                    failed.append({"request": request, "status": 400, "message": err.message})
            for request, fqn, parent in ready:
                if fqn in self.fail_writes:
                    failed.append(
                        {
                            "request": fqn,
                            "status": 400,
                            "message": "Entity does not exist and could not be created",
                        }
                    )
                    continue
                status, _ = self._store(collection, request, fqn, parent)
                (created if status == 201 else updated).append({"request": fqn, "status": 200})
        passed = created + updated
        result: dict[str, Any] = {
            "status": "success" if not failed else ("partialSuccess" if passed else "failure"),
            "numberOfRowsProcessed": len(body),
            "numberOfRowsPassed": len(passed),
            "numberOfRowsFailed": len(failed),
        }
        if passed:
            result["successRequest"] = passed
        if failed:
            result["failedRequest"] = failed
        return 200, result

    def by_name(self, path: str, fqn: str, query: dict[str, str]) -> dict[str, Any]:
        with self.state.lock:
            entity = self.state.entities.get(path, {}).get(fqn)
        if entity is None or not _included(entity, query.get("include", "non-deleted")):
            raise ApiError(404, f"{COLLECTIONS[path].entity_type} instance for {fqn} not found")
        return _public(entity)

    def by_id(self, path: str, entity_id: str) -> dict[str, Any]:
        with self.state.lock:
            where = self.state.by_id.get(entity_id)
            entity = self.state.entities[where[0]][where[1]] if where and where[0] == path else None
        if entity is None:
            raise ApiError(404, f"{COLLECTIONS[path].entity_type} instance for {entity_id} not found")
        return _public(entity)

    def list(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        """A page (`EntityRepository.listAfter`): `limit` 0 to 1,000,000 (0 gives the total
        only), `paging.after` an opaque cursor, absent on the last page (`ResultList`,
        NON_NULL), `before` on pages after the first."""
        limit = int(query.get("limit", 10))
        if limit < 0:
            raise ApiError(400, "[query param limit must be greater than or equal to 0]")
        if limit > 1_000_000:
            raise ApiError(400, "[query param limit must be less than or equal to 1000000]")
        include = query.get("include", "non-deleted")
        filters = {LIST_FILTERS[k]: v for k, v in query.items() if k in LIST_FILTERS}
        service_type = query.get("serviceType")  # ingestion pipelines: by their service's type
        with self.state.lock:
            items = [
                e
                for fqn, e in sorted(self.state.entities.get(path, {}).items())
                if _included(e, include)
                and all((e.get(f) or {}).get("fullyQualifiedName") == v for f, v in filters.items())
                and all(e.get(f) == v for f, v in query.items() if f in VALUE_FILTERS)
                and (service_type is None or (e.get("service") or {}).get("type") == service_type)
            ]
        start = 0
        if query.get("after"):
            after = _uncursor(query["after"])
            start = next((i + 1 for i, e in enumerate(items) if e["id"] == after), len(items))
        page = items[start : start + limit]
        paging: dict[str, Any] = {"total": len(items)}
        if start and page:
            paging["before"] = _cursor(page[0])
        if limit and start + limit < len(items):
            paging["after"] = _cursor(page[-1])
        return {"data": [_public(e) for e in page], "paging": paging}

    def delete(self, path: str, entity_id: str, query: dict[str, str]) -> dict[str, Any]:
        with self.state.lock:
            where = self.state.by_id.get(entity_id)
            if not where or where[0] != path:
                raise ApiError(404, f"{COLLECTIONS[path].entity_type} instance for {entity_id} not found")
            entity = self.state.entities[path][where[1]]
            if query.get("hardDelete") == "true":
                del self.state.entities[path][where[1]]
                del self.state.by_id[entity_id]
            else:
                entity["deleted"] = True
                entity["version"] = round(entity["version"] + 0.1, 1)
        return _public(entity)

    def patch(self, path: str, entity_id: str, body: Any) -> dict[str, Any]:
        """RFC 6902 JSON Patch on an entity, as the official client sends for changes."""
        if not isinstance(body, list):
            raise ApiError(400, "a JSON Patch document must be an array of operations")
        with self.state.lock:
            where = self.state.by_id.get(entity_id)
            if not where or where[0] != path:
                raise ApiError(404, f"{COLLECTIONS[path].entity_type} instance for {entity_id} not found")
            entity = self.state.entities[path][where[1]]
            try:
                patched = jsonpatch.apply_patch(_public(entity), body)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
                raise ApiError(400, f"invalid JSON Patch: {err}") from None
            if patched != _public(entity):
                patched["version"] = round(entity["version"] + 0.1, 1)
            # what the server keeps beside the entity's JSON (usage, profiles...) stays
            patched |= {k: v for k, v in entity.items() if k.startswith("_")}
            self.state.entities[path][where[1]] = patched
        return _public(patched)

    def put_pipeline_status(self, fqn: str, body: Any) -> dict[str, Any]:
        """`PUT .../ingestionPipelines/{fqn}/pipelineStatus`: upserted by `runId`."""
        if self.schemas is not None:
            errors = self.schemas.errors(PIPELINE_STATUS_SCHEMA, body)
            if errors:
                raise ApiError(400, "[pipelineStatus] " + "; ".join(errors[:5]))
        with self.state.lock:
            pipeline = self.state.entities.get("services/ingestionPipelines", {}).get(fqn)
            if pipeline is None:
                raise ApiError(404, f"ingestionPipeline instance for {fqn} not found")
            runs = pipeline.setdefault("_statuses", {})
            runs[body["runId"]] = body
            pipeline.setdefault("_history", []).append(body)
        # `IngestionPipelineRepository.addPipelineStatus`: 201 and a ChangeEvent, every time
        return {
            "id": str(uuid.uuid4()),
            "eventType": "entityUpdated",
            "entityType": "ingestionPipeline",
            "entityId": pipeline["id"],
            "entityFullyQualifiedName": fqn,
            "userName": "ingestion-bot",
            "timestamp": int(time.time() * 1000),
            "currentVersion": pipeline["version"],
            "previousVersion": pipeline["version"],
            "changeDescription": {
                "fieldsUpdated": [{"name": "pipelineStatus", "newValue": json.dumps(body)}]
            },
        }

    def put_table_profile(self, table_id: str, body: Any) -> dict[str, Any]:
        """`PUT /tables/{id}/tableProfile` (`TableResource.addDataProfiler` ->
        `TableRepository.addTableProfileData`): the body is a `CreateTableProfile`; an unknown
        id is a 404, a timestamp not in milliseconds or a column profile naming no column of
        the table a 400; the answer is the table with `profile` (the table's only: column
        profiles are not attached)."""
        self._check_body("api/data/createTableProfile.json", body)
        with self.state.lock:
            where = self.state.by_id.get(table_id)
            if not where or where[0] != "tables":
                raise ApiError(404, f"table instance for {table_id} not found")
            table = self.state.entities["tables"][where[1]]
            names = {c["name"] for c in table.get("columns", [])}
            for stamped in [body["tableProfile"], *(body.get("columnProfile") or [])]:
                _milliseconds(stamped["timestamp"])
            # no transaction: the table profile is stored before the columns are checked
            table.setdefault("_profiles", []).append({"tableProfile": copy.deepcopy(body["tableProfile"])})
            for column in body.get("columnProfile") or []:
                if column["name"] not in names:
                    raise ApiError(400, f"Invalid column name {column['name']}")
            table["_profiles"][-1] = copy.deepcopy(body)
            answer = _public(table)
        return answer | {"profile": body["tableProfile"]}

    # --- usage ----------------------------------------------------------------------------

    def usage(self, method: str, rest: str, body: Any) -> tuple[int, Any]:
        """`UsageResource`: `POST|PUT /usage/table/{id}` with a `DailyCount`; POST replaces the
        day's count (`UsageDAO.insertOrReplaceCount`), PUT adds to it (`insertOrUpdateCount`);
        either way the count is added to the table's schema and database (`UsageRepository.
        tableEntityUsage`); 201 and a ChangeEvent. `POST /usage/compute.percentile/{entity}/
        {date}`: 201, no body."""
        parts = rest.split("/")
        if parts[0] == "compute.percentile" and len(parts) == 3 and method == "POST":
            with self.state.lock:
                self.state.percentiles.append((parts[1], parts[2]))
            return 201, None
        if parts[0] != "table" or len(parts) != 2 or method not in ("POST", "PUT"):
            raise ApiError(405, f"HTTP 405 Method Not Allowed: {method} /api/v1/usage/{rest}")
        self._check_body("type/dailyCount.json", body)
        with self.state.lock:
            where = self.state.by_id.get(parts[1])
            table = self.state.entities["tables"].get(where[1]) if where and where[0] == "tables" else None
            if table is None or table.get("deleted"):
                raise ApiError(404, f"table instance for {parts[1]} not found")
            day, count = body["date"], body["count"]
            daily = table.setdefault("_usage", {})
            daily[day] = count if method == "POST" else daily.get(day, 0) + count
            for parent in (table["databaseSchema"], table["database"]):
                parent_usage = self.state.parent_usage.setdefault(parent["fullyQualifiedName"], {})
                parent_usage[day] = parent_usage.get(day, 0) + count
            answer = {
                "id": str(uuid.uuid4()),
                "eventType": "entityUpdated",
                "entityType": "table",
                "entityId": table["id"],
                "entityFullyQualifiedName": table["fullyQualifiedName"],
                "timestamp": int(time.time() * 1000),
                "changeDescription": {"fieldsUpdated": [{"name": "usageSummary"}]},
                "entity": _public(table),
            }
        return 201, answer

    def put_joins(self, table_id: str, body: Any) -> dict[str, Any]:
        """`PUT /tables/{id}/joins` (`TableRepository.addJoins`): the table, then the date (today
        and the 30 days before), then each column, joined table and joined column are checked
        before anything is written; a day's count per column pair replaces that day's; 200 and
        the table with its joins."""
        self._check_body("entity/data/table.json#/definitions/tableJoins", body)
        with self.state.lock:
            where = self.state.by_id.get(table_id)
            table = self.state.entities["tables"].get(where[1]) if where and where[0] == "tables" else None
            if table is None or table.get("deleted"):
                raise ApiError(404, f"table instance for {table_id} not found")
            day = date.fromisoformat(body["startDate"])
            today = datetime.now().date()  # the server's local date
            if not today - timedelta(days=30) <= day <= today:
                raise ApiError(400, "Date range can only include past 30 days starting today")
            names = {c["name"] for c in table.get("columns", [])}
            pairs = []
            for join in body.get("columnJoins") or []:
                if join["columnName"] not in names:
                    raise ApiError(400, f"Invalid column name {join['columnName']}")
                for joined in join.get("joinedWith") or []:
                    other_fqn, _, other_column = joined["fullyQualifiedName"].rpartition(".")
                    other = self.state.entities["tables"].get(other_fqn)
                    if other is None or other.get("deleted"):
                        raise ApiError(404, f"table instance for {other_fqn} not found")
                    if other_column not in {c["name"] for c in other.get("columns", [])}:
                        raise ApiError(
                            400, f"Invalid fully qualified column name {joined['fullyQualifiedName']}"
                        )
                    mine = f"{table['fullyQualifiedName']}.{join['columnName']}"
                    pairs.append((tuple(sorted((mine, joined["fullyQualifiedName"]))), joined["joinCount"]))
            for pair, count in pairs:
                self.state.joins.setdefault(pair, {})[body["startDate"]] = count
            return _public(table) | {"joins": self.joins_of(table["fullyQualifiedName"])}

    def joins_of(self, table_fqn: str) -> dict[str, Any]:
        """`TableRepository.getJoins`: the last 30 days' counts summed, both directions."""
        columns: dict[str, dict[str, int]] = {}
        for (a, b), days in self.state.joins.items():
            for mine, other in ((a, b), (b, a)):
                if mine.rpartition(".")[0] == table_fqn:
                    column = columns.setdefault(mine.rpartition(".")[2], {})
                    column[other] = column.get(other, 0) + sum(days.values())
        return {
            "startDate": (datetime.now().date() - timedelta(days=30)).isoformat(),
            "dayCount": 30,
            "columnJoins": [
                {
                    "columnName": c,
                    "joinedWith": [{"fullyQualifiedName": o, "joinCount": n} for o, n in sorted(w.items())],
                }
                for c, w in sorted(columns.items())
            ],
            "directTableJoins": [],
        }

    def put_query(self, body: Any) -> tuple[int, Any]:
        """`PUT /queries` (`QueryResource.createOrUpdate`, `QueryMapper`, `QueryRepository`): the
        name defaults to the checksum, md5 of the text; each `queryUsedIn` entity must exist
        (404); an update replaces `users`, `usedBy` and `queryUsedIn`."""
        self._check_body("api/data/createQuery.json", body)
        checksum = hashlib.md5(body["query"].encode("utf-8")).hexdigest()
        request = dict(body, name=body.get("name") or checksum)
        with self.state.lock:
            for ref in body.get("queryUsedIn") or []:
                if ref["id"] not in self.state.by_id:
                    raise ApiError(404, f"{ref['type']} instance for {ref['id']} not found")
            fqn, parent = self._prepare(COLLECTIONS["queries"], request)
            status, entity = self._store(COLLECTIONS["queries"], request, fqn, parent)
            entity["checksum"] = checksum
            entity["_request"] = body
            for absent in ("deleted", "serviceType", "dialect"):  # not fields of query.json
                entity.pop(absent, None)
        return status, _public(entity)

    def query_relations(self, query_id: str, what: str, body: Any) -> dict[str, Any]:
        """`PUT /queries/{id}/usage` (entity references: added, `QueryRepository.addQueryUsage`),
        `/users` (user FQNs; an unknown user is a 404: this stand-in knows none) and `/usedBy`
        (names appended, duplicates kept, `addQueryUsedBy`); 201 and a ChangeEvent."""
        with self.state.lock:
            where = self.state.by_id.get(query_id)
            if not where or where[0] != "queries":
                raise ApiError(404, f"query instance for {query_id} not found")
            entity = self.state.entities["queries"][where[1]]
            items = body if isinstance(body, list) else []
            if what == "usage":
                held = {ref["id"] for ref in entity.get("queryUsedIn") or []}
                for ref in items:
                    if ref["id"] not in self.state.by_id:
                        raise ApiError(404, f"{ref.get('type', 'table')} instance for {ref['id']} not found")
                    if ref["id"] not in held:
                        entity.setdefault("queryUsedIn", []).append(
                            {"id": ref["id"], "type": ref.get("type", "table")}
                        )
                        held.add(ref["id"])
            elif what == "users":
                if items:
                    raise ApiError(404, f"user instance for {items[0]} not found")
            else:
                entity["usedBy"] = [*(entity.get("usedBy") or []), *items]
            return {
                "eventType": "entityUpdated",
                "entityType": "query",
                "entityId": query_id,
                "entityFullyQualifiedName": where[1],
                "changeDescription": {"fieldsUpdated": [{"name": {"usage": "queryUsedIn"}.get(what, what)}]},
                "entity": _public(entity),
            }

    # --- lineage ---------------------------------------------------------------------------

    def _lineage_end(self, ref: dict[str, Any]) -> dict[str, Any]:
        where = self.state.by_id.get(ref["id"])
        entity = self.state.entities[where[0]].get(where[1]) if where else None
        if entity is None or entity.get("deleted"):
            raise ApiError(404, f"{ref['type']} instance for {ref['id']} not found")
        return entity

    def put_lineage(self, body: Any) -> None:
        """`PUT /lineage` (`LineageResource.addLineage` -> `LineageRepository.addLineage`): both
        entities must exist (404), each column named, once its entity's FQN is stripped, must be
        a column of that entity (400 `Invalid column name`); the details replace what the edge
        had (`relationshipDAO.insert` upserts the JSON: nothing is merged); 200, no body."""
        self._check_body("api/lineage/addLineage.json", body)
        edge = body["edge"]
        with self.state.lock:
            source, target = self._lineage_end(edge["fromEntity"]), self._lineage_end(edge["toEntity"])
            details = copy.deepcopy(edge.get("lineageDetails") or {})
            for mapping in details.get("columnsLineage") or []:
                for column, entity in [
                    *((c, source) for c in mapping.get("fromColumns") or []),
                    (mapping.get("toColumn"), target),
                ]:
                    prefix = entity["fullyQualifiedName"] + "."
                    names = {c["name"] for c in entity.get("columns", [])}
                    if column is None or not column.startswith(prefix) or column[len(prefix) :] not in names:
                        raise ApiError(400, f"Invalid column name {column}")
            now = int(time.time() * 1000)
            details.setdefault("source", "Manual")
            details |= {"createdAt": now, "createdBy": "admin", "updatedAt": now, "updatedBy": "admin"}
            self.state.lineage[(source["id"], target["id"])] = details
        return None

    def lineage_edge(self, from_id: str, to_id: str) -> dict[str, Any]:
        """`GET /lineage/getLineageEdge/{fromId}/{toId}`: `{"edge": LineageDetails}`, or 404."""
        with self.state.lock:
            details = self.state.lineage.get((from_id, to_id))
        if details is None:
            raise ApiError(404, f"Lineage edge not found between {from_id} and  {to_id}")
        return {"edge": copy.deepcopy(details)}

    # --- data quality -------------------------------------------------------------------

    def data_quality(self, method: str, rest: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        """Test suites, test cases and their results (`TestSuiteResource`, `TestCaseResource`,
        `TestCaseResultResource`)."""
        if rest in ("testSuites/executable", "testSuites/basic") and method == "PUT":
            return self.put_test_suite(body)
        if rest.startswith("testSuites/name/") and method == "GET":  # `TestSuiteResource.getByName`
            fqn = unquote(rest[len("testSuites/name/") :])
            suite = self.state.entities.get("dataQuality/testSuites", {}).get(fqn)
            if suite is None:
                raise ApiError(404, f"testSuite instance for {fqn} not found")
            return 200, suite
        if rest == "testCases" and method == "PUT":
            return self.put_test_case(body)
        if rest == "testCases" and method == "GET":
            return 200, self.list_test_cases(query)
        if rest.startswith("testCases/") and rest.endswith("/failedRowsSample") and method == "PUT":
            return 200, self.put_failed_rows(rest[len("testCases/") : -len("/failedRowsSample")], body)
        if rest.startswith("testCases/testCaseResults/") and method == "POST":
            return 201, self.add_test_result(unquote(rest[len("testCases/testCaseResults/") :]), body)
        if rest.startswith("testDefinitions/") and method == "GET":
            key = unquote(rest[len("testDefinitions/") :])
            name = key[len("name/") :] if key.startswith("name/") else None
            found = [d for n, d in TEST_DEFINITIONS.items() if n == name or (name is None and d["id"] == key)]
            if not found:
                raise ApiError(404, f"testDefinition instance for {name or key} not found")
            return 200, _test_definition(found[0])
        raise ApiError(405, f"HTTP 405 Method Not Allowed: {method} /api/v1/dataQuality/{rest}")

    def _table(self, fqn: str) -> dict[str, Any]:
        table = self.state.entities.get("tables", {}).get(fqn)
        if table is None or table.get("deleted"):
            raise ApiError(404, f"table instance for {fqn} not found")
        return table

    def put_test_suite(self, body: Any) -> tuple[int, Any]:
        """`PUT /testSuites/executable` (deprecated) or `/basic` (`TestSuiteResource`, the same
        code): the table's suite, FQN `<table FQN>.testSuite` whatever the name; the table
        must exist (404); 201 created, 200 updated."""
        self._check_body("api/tests/createTestSuite.json", body)
        table_fqn = body.get("basicEntityReference")
        if not table_fqn:  # PUT takes it (`TestSuiteResource.createOrUpdateBasic`): a suite of nothing
            raise ApiError(501, "the stand-in keeps only table suites: send basicEntityReference")
        with self.state.lock:
            table = self._table(table_fqn)
            suites = self.state.entities.setdefault("dataQuality/testSuites", {})
            fqn = f"{table_fqn}.testSuite"
            existing = suites.get(fqn)
            suite = {
                "id": existing["id"] if existing else str(uuid.uuid4()),
                "name": fqn,
                "fullyQualifiedName": fqn,
                "basic": True,
                "basicEntityReference": _ref(table, "table"),
            }
            suites[fqn] = suite
            self.state.by_id[suite["id"]] = ("dataQuality/testSuites", fqn)
        return (200 if existing else 201), suite

    def put_test_case(self, body: Any) -> tuple[int, Any]:
        """`PUT /testCases` (`TestCaseResource.createOrUpdate`, `TestCaseRepository.prepare`):
        create (201) or update (200) by FQN, `<table>.<name>` or `<table>.<column>.<name>`;
        checked in the server's order: the entity link, its table (404), the definition
        (404), the parameters against the definition (400), the column (400)."""
        self._check_body("api/tests/createTestCase.json", body)
        match = re.match(r"^<#E::table::(.+?)(?:::columns::([^:>]+))?>$", body["entityLink"])
        if not match:
            raise ApiError(400, f"Entity link was not found in {body['entityLink']}")
        table_fqn, column = match.groups()
        with self.state.lock:
            table = self._table(table_fqn)
            definition = TEST_DEFINITIONS.get(body["testDefinition"])
            if definition is None:
                raise ApiError(404, f"testDefinition instance for {body['testDefinition']} not found")
            _check_parameters(body, definition)
            if definition["entityType"] == "COLUMN" and column is None:
                raise ApiError(
                    400,
                    "Column test case must have a field name and an array field name in the entity link. "
                    "e.g. <#E::table::{entityFqn}::columns::{columnName}>",
                )
            if column is not None and column not in {c["name"] for c in table.get("columns", [])}:
                raise ApiError(400, f"Invalid column name {column}")
            parts = [column, body["name"]] if column else [body["name"]]
            fqn = ".".join([table_fqn, *(quote_part(p) for p in parts)])
            cases = self.state.entities.setdefault("dataQuality/testCases", {})
            existing = cases.get(fqn)
            case = copy.deepcopy(body) | {
                "id": existing["id"] if existing else str(uuid.uuid4()),
                "fullyQualifiedName": fqn,
                "testDefinition": {
                    "id": definition["id"],
                    "type": "testDefinition",
                    "name": body["testDefinition"],
                    "fullyQualifiedName": body["testDefinition"],
                },
                "testSuite": {"type": "testSuite", "fullyQualifiedName": f"{table_fqn}.testSuite"},
                "_results": existing["_results"] if existing else [],
            }
            cases[fqn] = case
        return (200 if existing else 201), _public(case)

    def list_test_cases(self, query: dict[str, str]) -> dict[str, Any]:
        """`GET /testCases?entityLink=<#E::table::fqn>&includeAllTests=true`: the table's
        cases, and with `includeAllTests` its columns' too."""
        link = query.get("entityLink", "")
        everything = query.get("includeAllTests") == "true"
        with self.state.lock:
            cases = [
                _public(c)
                for _, c in sorted(self.state.entities.get("dataQuality/testCases", {}).items())
                if not link
                or c["entityLink"] == link
                or (everything and c["entityLink"].startswith(link[:-1] + "::"))
            ]
        return {"data": cases, "paging": {"total": len(cases)}}

    def add_test_result(self, fqn: str, body: Any) -> dict[str, Any]:
        """`POST /testCases/testCaseResults/{fqn}` (`TestCaseResultResource.addTestCaseResult`):
        a `createTestCaseResult` of an existing case (404), timestamp in ms; 201 with the
        stored result (its `id`, `testCaseFQN`, and an `incidentId` when it failed)."""
        self._check_body("api/tests/createTestCaseResult.json", body)
        _milliseconds(body["timestamp"])
        with self.state.lock:
            case = self.state.entities.get("dataQuality/testCases", {}).get(fqn)
            if case is None:
                raise ApiError(404, f"testCase instance for {fqn} not found")
            case["_results"].append(copy.deepcopy(body))
        failed = body["testCaseStatus"] == "Failed"
        return copy.deepcopy(body) | {
            "id": str(uuid.uuid4()),
            "testCaseFQN": fqn,
            "incidentId": str(uuid.uuid4()) if failed else None,
        }

    def put_failed_rows(self, case_id: str, body: Any) -> dict[str, Any]:
        """`PUT /testCases/{id}/failedRowsSample` (`TestCaseResource.addFailedRowsData`): a
        `tableData` for a case that exists (404); its columns must be the table's (400)."""
        self._check_body("entity/data/table.json#/definitions/tableData", body)
        with self.state.lock:
            case = next(
                (
                    c
                    for c in self.state.entities.get("dataQuality/testCases", {}).values()
                    if c["id"] == case_id
                ),
                None,
            )
            if case is None:
                raise ApiError(404, f"testCase instance for {case_id} not found")
            table_fqn = re.match(r"^<#E::table::(.+?)(?:::columns::[^:>]+)?>$", case["entityLink"]).group(1)
            names = {c["name"] for c in self._table(table_fqn).get("columns", [])}
            for column in body.get("columns", []):
                if column not in names:
                    raise ApiError(400, f"Invalid column name {column}")
            case["_failedRowsSample"] = copy.deepcopy(body)
            return _public(case)

    def failed_rows(self, fqn: str) -> dict[str, Any] | None:
        with self.state.lock:
            return copy.deepcopy(self.state.entities["dataQuality/testCases"][fqn].get("_failedRowsSample"))

    def test_results(self, fqn: str) -> list[dict[str, Any]]:
        """Every result a test case was sent, in order (what tests read)."""
        with self.state.lock:
            return copy.deepcopy(self.state.entities["dataQuality/testCases"][fqn]["_results"])

    def profiles(self, fqn: str) -> list[dict[str, Any]]:
        """Every profile a table was sent, in order (what tests read)."""
        with self.state.lock:
            return copy.deepcopy(self.state.entities["tables"][fqn].get("_profiles", []))

    def pipeline_statuses(self, fqn: str) -> list[dict[str, Any]]:
        with self.state.lock:
            pipeline = self.state.entities.get("services/ingestionPipelines", {}).get(fqn)
            if pipeline is None:
                raise ApiError(404, f"ingestionPipeline instance for {fqn} not found")
            return list(pipeline.get("_statuses", {}).values())

    def queued_statuses(self, fqn: str) -> list[dict[str, Any]]:
        """`IngestionPipelineResource.listPipelineStatuses`: the orchestrator's queued runs
        first, asked on every request."""
        pipeline = self.get("services/ingestionPipelines", fqn)
        return self.pipelines.queued(_public(pipeline)) if self.pipelines and pipeline else []

    def _bot_connection(self) -> dict[str, Any]:
        """`OpenMetadataConnectionBuilder`: where the server is, and the bot's JWT."""
        return {
            "hostPort": self.url,
            "authProvider": "openmetadata",
            "securityConfig": {"jwtToken": self.token or self.ingestion_bot_jwt},
        }

    def pipeline_operation(self, method: str, rest: str, query: dict[str, str]) -> tuple[int, Any] | None:
        """The UI's pipeline buttons (`IngestionPipelineResource`) and Test Connection
        (`WorkflowResource.trigger`), through the orchestrator; None: not one of them."""
        parts = rest.split("/")
        pipelines = parts[:2] == ["services", "ingestionPipelines"]
        if rest == "services/ingestionPipelines/status" and method == "GET":
            if self.pipelines is None:
                return 200, {"code": 200, "reason": "Pipeline Client Disabled"}
            return self._orchestrated(self.pipelines.status)
        operations = {
            "deploy": self._deploy,
            "trigger": self._trigger,
            "toggleIngestion": self._toggle,
            "kill": self._kill,
        }
        if pipelines and method == "POST" and len(parts) == 4 and parts[2] in operations:
            pipeline = self.by_id("services/ingestionPipelines", parts[3])
            if self.pipelines is None:
                disabled = "Pipeline Client Disabled"
                return 200, disabled if parts[2] == "toggleIngestion" else {"code": 200, "reason": disabled}
            return operations[parts[2]](pipeline)
        if pipelines and method == "GET" and len(parts) == 5 and parts[2] == "logs" and parts[4] == "last":
            key = unquote(parts[3])
            where = self.state.by_id.get(key)
            fqn = where[1] if where else key
            pipeline = self.get("services/ingestionPipelines", fqn)
            if pipeline is None:
                raise ApiError(404, f"ingestionPipeline instance for {key} not found")
            if self.pipelines is None:
                return 200, "Pipeline Client Disabled"
            return self._orchestrated(self.pipelines.last_logs, _public(pipeline), query.get("after"))
        if method == "POST" and parts[:3] == ["automations", "workflows", "trigger"] and len(parts) == 4:
            workflow = self.by_id("automations/workflows", parts[3])
            if self.pipelines is None:
                return 200, {"code": 200, "reason": "Pipeline Client Disabled"}
            # sent as stored: its secrets encrypted with the server's Fernet key (the runner reads
            # the Workflow again, by name, with the bot's token, which sees them decrypted)
            stored = workflow | {"request": _encrypted(workflow.get("request"))}
            self._check_own(
                "entity/automations/workflow.json",
                stored | {"openMetadataServerConnection": self._bot_connection()},
            )
            return self._orchestrated(self.pipelines.run_automation, stored, self._bot_connection())
        return None

    def _orchestrated(self, operation: Any, *args: Any) -> tuple[int, Any]:
        """An operation's answer (a status and body, or a body sent with 200); a refusal as the
        server's `ErrorMessage`."""
        try:
            answer = operation(*args)
        except Refused as err:
            raise ApiError(err.code, err.message) from None
        return answer if isinstance(answer, tuple) else (200, answer)

    def _set(self, pipeline: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """A change the server saves with `createOrUpdate`: a new version."""
        with self.state.lock:
            entity = self.state.entities["services/ingestionPipelines"][pipeline["fullyQualifiedName"]]
            entity.update(changes)
            entity["version"] = round(entity["version"] + 0.1, 1)
            entity["updatedAt"] = int(time.time() * 1000)
        return _public(entity)

    def _deploy(self, pipeline: dict[str, Any]) -> tuple[int, Any]:
        self._check_own(PIPELINE_SCHEMA, pipeline | {"openMetadataServerConnection": self._bot_connection()})
        answer = self._orchestrated(self.pipelines.deploy, pipeline, self._bot_connection())
        if not pipeline.get("deployed"):
            self._set(pipeline, deployed=True)
        return answer

    def _trigger(self, pipeline: dict[str, Any]) -> tuple[int, Any]:
        return self._orchestrated(self.pipelines.trigger, pipeline)

    def _kill(self, pipeline: dict[str, Any]) -> tuple[int, Any]:
        return self._orchestrated(self.pipelines.kill, pipeline)

    def _toggle(self, pipeline: dict[str, Any]) -> tuple[int, Any]:
        """The entity back, its `enabled` flipped (redeployed first when it was deployed, as
        `IngestionPipelineUpdater.deployIfRequired` does), or `deployed` false on a 404."""
        status = self._orchestrated(self.pipelines.toggle, pipeline)[1]
        if status == 404:
            return 200, self._set(pipeline, deployed=False)
        toggled = pipeline | {"enabled": not pipeline.get("enabled", True)}
        if pipeline.get("deployed"):
            self._orchestrated(self.pipelines.deploy, toggled, self._bot_connection())
        return 200, self._set(pipeline, enabled=toggled["enabled"])

    def status_history(self, fqn: str) -> list[dict[str, Any]]:
        """Every status PUT for a pipeline, in order (what tests read)."""
        with self.state.lock:
            return list(self.state.entities["services/ingestionPipelines"][fqn].get("_history", []))

    def test_connection_definition(self, fqn: str) -> dict[str, Any]:
        """The steps the official client runs before ingesting (its generic database test)."""
        if not fqn.endswith(".testConnectionDefinition"):
            raise ApiError(404, f"testConnectionDefinition instance for {fqn} not found")
        steps = [
            {"name": name, "description": name, "errorMessage": f"{name} failed", "mandatory": True}
            for name in ("CheckAccess", "GetSchemas", "GetTables", "GetViews")
        ]
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, fqn)),
            "name": fqn,
            "fullyQualifiedName": fqn,
            "steps": steps,
            "version": 0.1,
            "deleted": False,
        }

    def field_query(self, query: dict[str, str]) -> dict[str, Any]:
        """`/search/fieldQuery` over tables (the official client resolves foreign keys with it)."""
        index = query.get("index", "")
        collection = {"table_search_index": "tables"}.get(index)
        if collection is None:
            raise ApiError(400, f"index {index!r} is not served by the stand-in")
        pattern = re.compile(fnmatch.translate(query.get("fieldValue", "")))
        field = query.get("fieldName", "fullyQualifiedName")
        with self.state.lock:
            hits = [
                e
                for e in self.state.entities.get(collection, {}).values()
                if not e.get("deleted") and pattern.match(str(e.get(field, "")))
            ]
        size = int(query.get("size", 10))
        return {
            "hits": {
                "total": {"value": len(hits), "relation": "eq"},
                "hits": [
                    {"_index": index, "_id": e["id"], "_score": 1.0, "_source": _public(e)}
                    for e in hits[:size]
                ],
            }
        }

    def restore(self, path: str, body: Any) -> tuple[int, Any]:
        """`PUT /{collection}/restore {"id"}`: 200 and the entity when it was soft-deleted.
        Otherwise the server answers 500: `EntityRepository.restoreEntity` returns null for an
        entity that is not deleted (or not found) and `EntityResource.restoreEntity` reads it."""
        entity_id = (body or {}).get("id")
        with self.state.lock:
            where = self.state.by_id.get(entity_id)
            entity = self.state.entities[where[0]][where[1]] if where and where[0] == path else None
            if entity is None or not entity.get("deleted"):
                raise ApiError(500, "An exception with message [null] was thrown while processing request.")
            entity["deleted"] = False
            entity["version"] = round(entity["version"] + 0.1, 1)
        return 200, _public(entity)


def _split_collection(rest: str) -> tuple[str | None, str]:
    for path in sorted(COLLECTIONS, key=len, reverse=True):
        if rest == path or rest.startswith(path + "/"):
            return path, rest[len(path) + 1 :]
    return None, ""


def _template(path: str) -> str:
    """Group request counts by endpoint: ids and names folded away."""
    path = re.sub(r"/name/.*$", "/name/{fqn}", path)
    return re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}", "/{id}", path)


def _ref(entity: dict[str, Any], entity_type: str) -> dict[str, Any]:
    return {
        "id": entity["id"],
        "type": entity_type,
        "name": entity["name"],
        "fullyQualifiedName": entity["fullyQualifiedName"],
        "deleted": entity.get("deleted", False),
    }


def _cursor(entity: dict[str, Any]) -> str:
    """`ResultList`'s cursor: base64url of the entity's name and id."""
    token = json.dumps({"name": entity["name"], "id": entity["id"]})
    return base64.urlsafe_b64encode(token.encode()).decode()


def _uncursor(cursor: str) -> str:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, f"invalid cursor {cursor!r}") from None


def _included(entity: dict[str, Any], include: str) -> bool:
    deleted = bool(entity.get("deleted"))
    return include == "all" or (include == "deleted") == deleted


PASSWORD_MASK = "*********"


@functools.cache
def password_fields(schema_dir: Path = SCHEMA_DIR) -> frozenset[str]:
    """Properties the schemas mark `format: password`: the server's `@PasswordField`s."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict) and value.get("format") == "password":
                    found.add(key)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in schema_dir.rglob("*.json"):
        walk(json.loads(path.read_text()))
    return frozenset(found)


def _masked(payload: Any) -> Any:
    """What a caller who is not a bot sees (`DefaultAuthorizer.shouldMaskPasswords` is
    `!isBot`): service connections with every password field `*********`
    (`PasswordEntityMasker`), and ingestion pipelines without `sourceConfig.config` (no
    VIEW_ALL: `IngestionPipelineResource.decryptOrNullify`), as a data consumer's token."""
    if isinstance(payload, list):
        return [_masked(item) for item in payload]
    if not isinstance(payload, dict):
        return payload
    if "pipelineType" in payload and "sourceConfig" in payload:
        return dict(payload, sourceConfig={})
    if "connection" in payload and "serviceType" in payload:
        return dict(payload, connection=_mask_passwords(payload["connection"]))
    return {k: _masked(v) if k in ("data",) else v for k, v in payload.items()}


def _encrypted(node: Any) -> Any:
    """Password fields as the server stores them (`fernet:` and a token no client can read
    without the server's key): a stand-in of Fernet, opaque all the same."""
    if isinstance(node, dict):
        fields = password_fields()
        return {
            k: "fernet:" + base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).decode()
            if k in fields and isinstance(v, str)
            else _encrypted(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_encrypted(v) for v in node]
    return node


def _mask_passwords(node: Any) -> Any:
    if isinstance(node, dict):
        fields = password_fields()
        return {
            k: PASSWORD_MASK if k in fields and isinstance(v, str) else _mask_passwords(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_mask_passwords(v) for v in node]
    return node


def _milliseconds(timestamp: Any) -> None:
    """`RestUtil.validateTimestampMilliseconds`: 12 digits or more."""
    if not isinstance(timestamp, int) or len(str(abs(timestamp))) < 12:
        raise ApiError(400, f"Timestamp {timestamp} is not valid, it should be in milliseconds since epoch")


def _check_parameters(body: dict[str, Any], definition: dict[str, Any]) -> None:
    """`TestCaseRepository.validateTestParameters`: only when `parameterValues` is sent."""
    values = body.get("parameterValues")
    if values is None:
        return
    params = definition["params"]
    if values and not params:
        raise ApiError(400, "Parameter Values doesn't match Test Definition Parameters")
    given = {v.get("name"): v.get("value") for v in values}
    for name in given:
        if name not in params:
            raise ApiError(
                400,
                f"Parameter '{name}' is not defined in the test definition. "
                f"Defined parameters are: {sorted(params)}",
            )
    for name, required in params.items():
        if required and given.get(name) is None:
            raise ApiError(400, f"Required parameter {name} is not passed in parameterValues")
    for low, high in definition["rules"]:
        try:
            lo, hi = float(given[low]), float(given[high])
        except (KeyError, TypeError, ValueError):
            continue  # a rule on a missing or non-numeric value is skipped
        if lo > hi:
            raise ApiError(400, f"Value {given[low]}  is not less than  {given[high]}")


def _test_definition(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": definition["id"],
        "name": definition["name"],
        "fullyQualifiedName": definition["name"],
        "entityType": definition["entityType"],
        "testPlatforms": ["OpenMetadata"],
        "provider": "system",
        "parameterDefinition": [{"name": n, "required": r} for n, r in definition["params"].items()],
    }


def _public(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if not k.startswith("_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8585)
    parser.add_argument("--token", default=os.environ.get("STANDIN_TOKEN"))
    parser.add_argument("--version", default="1.13.0")
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args()
    server = StandIn(args.port, args.token, args.version, validate=not args.no_validate)
    print(f"stand-in OpenMetadata server on {server.url}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
