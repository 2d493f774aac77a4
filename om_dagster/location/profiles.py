"""A profiler run's tables as asset metadata: what the UI shows beside the materialization.

Read from the sink's input as a stream; at most `SHOWN` tables are listed (the first ones,
in the source's order), so thousands of tables cost no more than a hundred.
"""

from collections.abc import Iterable
from typing import Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from om_dagster.core.steps import Kind, Record

SHOWN = 100
SCHEMA = TableSchema(
    columns=[
        TableColumn("table", "string"),
        TableColumn("rows", "int"),
        TableColumn("columns", "int"),
        TableColumn("most nulls", "string", description="the column with the highest null proportion"),
        TableColumn("null %", "float"),
        TableColumn("statements", "int", description="SQL statements the profile took"),
    ]
)


def profile_metadata(records: Iterable[Record]) -> dict[str, MetadataValue]:
    shown: list[TableRecord] = []
    tables = rows = statements = 0
    for record in records:
        if record.kind != Kind.TABLE_PROFILE:
            continue
        tables += 1
        body: dict[str, Any] = record.body
        table = body["profile"]["tableProfile"]
        rows += int(table.get("rowCount") or 0)
        statements += int(body.get("statements") or 0)
        if len(shown) < SHOWN:
            columns = body["profile"].get("columnProfile") or []
            worst = max(columns, key=lambda c: c.get("nullProportion") or 0, default=None)
            shown.append(
                TableRecord(
                    {
                        "table": body["fqn"],
                        "rows": int(table.get("rowCount") or 0),
                        "columns": int(table.get("columnCount") or len(columns)),
                        "most nulls": worst["name"] if worst else "",
                        "null %": round(100 * (worst.get("nullProportion") or 0), 2) if worst else 0.0,
                        "statements": int(body.get("statements") or 0),
                    }
                )
            )
    if not tables:
        return {}
    label = "profiles" if tables <= SHOWN else f"profiles (the first {SHOWN} of {tables})"
    return {
        "tables profiled": MetadataValue.int(tables),
        "rows counted": MetadataValue.int(rows),
        "statements per table": MetadataValue.float(round(statements / tables, 2)),
        label: MetadataValue.table(shown, schema=SCHEMA),
    }
