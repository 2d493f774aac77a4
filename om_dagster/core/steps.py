"""The connector core: steps, the records they pass, and their lifecycle. No Dagster here.

A workflow is `Source -> [Processor] -> Sink` or `Source -> Stage -> BulkSink`, as in
OpenMetadata. Every step is built with `create(config, recipe)`, reports through its
`Status`, and is closed with `close()` whatever happened.
"""

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

from om_dagster.core.status import Status

if TYPE_CHECKING:
    from om_dagster.core.recipe import Recipe
    from om_dagster.openmetadata.client import OpenMetadataClient


class Kind:
    """Record kinds: create requests, in parent-first order, and control records."""

    DATABASE_SERVICE = "databaseService"
    DATABASE = "database"
    DATABASE_SCHEMA = "databaseSchema"
    TABLE = "table"
    # Control: a schema's tables are all emitted; `keep` names tables the source still
    # has but did not emit (filtered or failed), so markDeleted* never touches them.
    SCHEMA_DONE = "schemaDone"
    # A table as the server holds it (id, FQN, columns, its profiler config): what the
    # profiler and the test runner read.
    TABLE_ENTITY = "tableEntity"
    # `createTableProfile.json` for a table, by its id and FQN: what the sink sends.
    TABLE_PROFILE = "tableProfile"
    # A table's test cases with their results (and the create request of the recipe's own).
    TEST_RESULTS = "testResults"
    # A query a usage or lineage source read (its text, where and when it ran, by whom).
    QUERY = "query"
    # A query as the parser saw it: the tables it read and wrote, joins, column lineage.
    PARSED_QUERY = "parsedQuery"
    # A file of one day's usage per table, as the table-usage stage wrote it.
    USAGE_FILE = "usageFile"
    # An edge between two tables (ids and FQNs), its column mappings, query and source.
    LINEAGE = "lineage"

    CREATES = (DATABASE_SERVICE, DATABASE, DATABASE_SCHEMA, TABLE)
    # What a source counts as read: the entities it creates, and the tables it lists to work on.
    READ = (*CREATES, TABLE_ENTITY, QUERY)


@dataclass(frozen=True, slots=True)
class Record:
    """One entity for the sink: its kind and the OpenMetadata Create request body."""

    kind: str
    body: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "body": self.body}, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> "Record":
        data = json.loads(line)
        return cls(data["kind"], data["body"])


@dataclass(frozen=True, slots=True)
class Failure:
    """An entity a step could not produce or write, and why. Counted, never dropped."""

    name: str
    reason: str


Result = Record | Failure


class StepError(Exception):
    """A step cannot start or go on: the whole run fails with this one-line message."""


def first_line(err: BaseException) -> str:
    """A driver's error in one line: the database's own message when SQLAlchemy wraps one."""
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class Step(ABC):
    """Base of every step: built from its recipe section, reports a Status, closes."""

    #: The name the recipe uses for this step's `type`.
    type_name: ClassVar[str]
    #: source | processor | stage | sink | bulkSink
    role: ClassVar[str]
    #: Whether the step needs the `aws` resource (AWS credentials from dagster-aws).
    uses_aws: ClassVar[bool] = False
    #: Whether the step writes to the OpenMetadata server (checked before the source reads).
    needs_server: ClassVar[bool] = False

    def __init__(
        self, config: dict[str, Any], metadata: "OpenMetadataClient | None", recipe: "Recipe"
    ) -> None:
        self.config = config
        self.metadata = metadata
        self.recipe = recipe
        self.status = Status(step=self.step_name(), secrets=recipe.secrets)

    @classmethod
    def create(cls, config: dict[str, Any], metadata: "OpenMetadataClient | None", recipe: "Recipe") -> Self:
        """Build the step from its recipe section; `metadata` is the server's client."""
        return cls(config, metadata, recipe)

    @classmethod
    def check(cls, recipe: "Recipe") -> list[str]:
        """Validate this step's part of the recipe at load time; return warnings.

        Raise `RecipeError` naming the field when the recipe cannot run.
        """
        return []

    def step_name(self) -> str:
        return f"{self.role}:{self.type_name}"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and flush buffers; called once, also after errors."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            if self.metadata is not None:
                self.metadata.close()


class Source(Step):
    """Reads a system and yields records, or failures for what it could not read."""

    role = "source"

    @classmethod
    def service_connection(cls, recipe: "Recipe") -> dict[str, Any] | None:
        """The connection the service entity stores: the recipe's, in today's schema."""
        connection = recipe.workflow.source.serviceConnection
        return connection.config if connection else None

    @abstractmethod
    def iter_results(self) -> Iterable[Result]:
        """Yield a record per entity, a Failure per entity that could not be read."""

    def run(self) -> Iterator[Record]:
        """The records, with every failure counted in the status."""
        for result in self.iter_results():
            if isinstance(result, Failure):
                self.status.failed(result.name, result.reason)
            else:
                if result.kind in Kind.READ:
                    self.status.scanned()
                yield result


class Processor(Step):
    """Transforms records on their way to the sink."""

    role = "processor"

    def process(self, record: Record) -> Result | None:
        """A record to pass on, a Failure, or None to filter it out. (A processor that reads
        several records at once overrides `run` instead.)"""
        raise NotImplementedError(f"{type(self).__name__} overrides neither process nor run")

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if record.kind not in Kind.CREATES:
                yield record
                continue
            result = self.process(record)
            if result is None:
                self.status.filter(record.body.get("name", "?"), f"filtered by {self.type_name}")
            elif isinstance(result, Failure):
                self.status.failed(result.name, result.reason)
            else:
                self.status.scanned()
                yield result


class Sink(Step):
    """Writes records somewhere; counts each one as written, updated or failed."""

    role = "sink"

    @abstractmethod
    def write(self, record: Record) -> None:
        """Write (or buffer) one record, filling the status."""

    def run(self, records: Iterable[Record]) -> None:
        for record in records:
            self.write(record)


class Stage(Step):
    """Aggregates records (e.g. usage) into files a BulkSink then loads."""

    role = "stage"

    @abstractmethod
    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        """Consume the source's records; yield the aggregated ones."""


class BulkSink(Step):
    """Loads what a Stage produced in bulk."""

    role = "bulkSink"

    @abstractmethod
    def run(self, records: Iterable[Record]) -> None:
        """Write all staged records, filling the status."""
