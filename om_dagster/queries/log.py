"""`query-log-usage` and `query-log-lineage`: queries from a CSV file (`queryLogFilePath`).

The columns, by header (OpenMetadata's names; only `query_text` is required):
`query_text`, `database_name`, `schema_name`, `user_name`, `start_time`, `end_time`,
`duration` (milliseconds), `aborted` (true/false), `session_id` (temporary tables are
followed within a session; without one, within a user's queries on a database), `cost`
(not read). Times are ISO 8601 in any form (`2024-05-01 10:00:00`, with fractions of a
second or not, `T`, an offset or `Z`; without an offset, UTC) or seconds since the epoch.
`queryLogFilePath` may be a folder: its `*.csv` files in name order. Files are streamed,
row by row, and read whole (`resultLimit`, `queryLogDuration` and `filterCondition` are
for a database's own history, as in OpenMetadata).
"""

import csv
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from om_dagster.core.recipe import Recipe, field_warnings
from om_dagster.core.steps import Failure, Result, Source, StepError
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.queries.config import SOURCE_CONFIG, query_config, query_record

COLUMNS = frozenset(
    {"query_text", "database_name", "schema_name", "user_name", "start_time", "end_time", "duration"}
    | {"aborted", "session_id", "cost"}  # cost: read by OpenMetadata's cost analysis, not here
)
TRUE = frozenset({"true", "t", "1", "yes", "y"})


def parse_time(text: str) -> datetime:
    """An ISO 8601 time in any of its forms, or epoch seconds; naive means UTC."""
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class QueryLogSource(Source):
    """Queries of a CSV query log, for the `query-parser` processor."""

    type_name: ClassVar[str] = "query-log"

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.query_config = query_config(recipe)

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        config = query_config(recipe)
        if not config.queryLogFilePath:
            raise recipe.error(
                f"{SOURCE_CONFIG}.queryLogFilePath", "required: the CSV file of queries to read"
            )
        warnings = field_warnings(recipe.path, config, SOURCE_CONFIG)
        for name in ("filterCondition", "resultLimit", "queryLogDuration"):
            if name in config.model_fields_set:  # as OpenMetadata, a file is read whole
                warnings.append(
                    f"{recipe.path}: {SOURCE_CONFIG}.{name}: applies to a database's own query history; "
                    "a query log file is read whole, ignored"
                )
        return warnings

    def iter_results(self) -> Iterator[Result]:
        """The queries of the file, or of each `*.csv` file of the folder, in name order."""
        path = Path(self.query_config.queryLogFilePath or "")
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        for file in files:
            yield from self._file(file)

    def _file(self, path: Path) -> Iterator[Result]:
        where = f"{self.recipe.path}: {SOURCE_CONFIG}.queryLogFilePath"
        try:
            handle = path.open(newline="", encoding="utf-8")
        except OSError as err:
            raise StepError(f"{where}: cannot read {path}: {err.strerror}") from None
        csv.field_size_limit(sys.maxsize)  # a query may be long
        with handle:
            reader = csv.DictReader(handle)
            if "query_text" not in (reader.fieldnames or []):
                raise StepError(f"{where}: {path} has no query_text column (its header: {reader.fieldnames})")
            if unknown := set(reader.fieldnames or []) - COLUMNS:
                self.status.warning(str(path), f"columns not read: {', '.join(sorted(unknown))}")
            for line, row in enumerate(reader, start=2):
                try:
                    yield self._record(row)
                except ValueError as err:
                    yield Failure(f"{path}:{line}", f"not a query: {err}")

    def _record(self, row: dict[str, str | None]) -> Any:
        def cell(name: str) -> str | None:
            value = (row.get(name) or "").strip()
            return value or None

        text = cell("query_text")
        if text is None:
            raise ValueError("query_text is empty")
        start = parse_time(row["start_time"]) if cell("start_time") else None
        duration = float(row["duration"]) if cell("duration") else None
        if duration is None and start is not None and cell("end_time"):
            duration = (parse_time(row["end_time"] or "") - start).total_seconds() * 1000
        return query_record(
            text,
            database=cell("database_name"),
            schema=cell("schema_name"),
            user=cell("user_name"),
            start=start,
            duration_ms=duration,
            aborted=(cell("aborted") or "").lower() in TRUE,
            session=cell("session_id"),
        )


class QueryLogUsageSource(QueryLogSource):
    type_name = "query-log-usage"
