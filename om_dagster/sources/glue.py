"""AWS Glue Data Catalog (`type: glue`, connection `Glue`), through boto3 paginators.

As OpenMetadata models it: one database (`databaseName`, else the catalog id), the
catalog's databases as schemas, their tables with columns and partition keys.
"""

from collections.abc import Iterator
from typing import Any, Literal

from om_dagster.core.recipe import Legacy
from om_dagster.openmetadata import fqn
from om_dagster.sources.aws import AwsConnection, AwsSource
from om_dagster.sources.hive_types import column

# Glue's InputFormat / SerDe library names -> OpenMetadata fileFormat.
FILE_FORMATS = ("parquet", "orc", "avro", "json", "csv")


class GlueConnection(AwsConnection):
    """`entity/services/connections/database/glueConnection.json`."""

    legacy = AwsConnection.legacy | {
        "storageServiceName": Legacy(
            "removed in 1.0 (object stores are storage services of their own now), ignored"
        ),
        "pipelineServiceName": Legacy(
            "removed in 0.11 (Glue jobs come from the gluepipeline connector now), ignored"
        ),
    }

    type: Literal["Glue"] = "Glue"


class GlueSource(AwsSource):
    type_name = "glue"
    connection_model = GlueConnection
    service_type = "Glue"
    client_name = "glue"

    def databases(self) -> Iterator[str]:
        if self.connection.databaseName:
            yield self.connection.databaseName
            return
        seen: set[str] = set()
        for page in self.client.get_paginator("get_databases").paginate():
            for db in page["DatabaseList"]:
                catalog = db.get("CatalogId", "default")
                if catalog not in seen:
                    seen.add(catalog)
                    yield catalog

    def schemas(self, database: str) -> Iterator[str]:
        for page in self.client.get_paginator("get_databases").paginate():
            for db in page["DatabaseList"]:
                if self.connection.databaseName or db.get("CatalogId", "default") == database:
                    yield db["Name"]

    def tables(self, schema: str) -> Iterator[tuple[str, Any]]:
        cfg = self.source_config
        for page in self.client.get_paginator("get_tables").paginate(DatabaseName=schema):
            for table in page["TableList"]:
                is_view = table.get("TableType") == "VIRTUAL_VIEW"
                included = cfg.includeViews if is_view else cfg.includeTables
                yield table["Name"], table if included else None

    def table(self, schema_fqn: str, name: str, item: dict[str, Any]) -> dict[str, Any]:
        storage = item.get("StorageDescriptor") or {}
        fields = [*storage.get("Columns", []), *item.get("PartitionKeys", [])]
        columns, seen = [], set()
        for position, field in enumerate(fields, start=1):
            if field["Name"] in seen:  # Glue can list a partition key among the columns too
                continue
            seen.add(field["Name"])
            col = column(field["Name"], field.get("Type", ""))
            col["ordinalPosition"] = position
            if field.get("Comment"):
                col["description"] = field["Comment"]
            if col["dataType"] == "UNKNOWN":
                self.status.warning(
                    f"{schema_fqn}.{fqn.quote_name(name)}.{field['Name']}",
                    f"unknown column type {field.get('Type')!r}, ingested as UNKNOWN",
                )
            columns.append(col)
        body: dict[str, Any] = {
            "name": name,
            "tableType": table_type(item),
            "columns": columns,
            "databaseSchema": schema_fqn,
        }
        if item.get("Description"):
            body["description"] = item["Description"]
        if storage.get("Location"):
            body["locationPath"] = storage["Location"]
        if file_format := format_of(storage):
            body["fileFormat"] = file_format
        if item.get("TableType") == "VIRTUAL_VIEW" and item.get("ViewOriginalText"):
            body["schemaDefinition"] = item["ViewOriginalText"]
        return body


def table_type(item: dict[str, Any]) -> str:
    if (item.get("Parameters") or {}).get("table_type", "").upper() == "ICEBERG":
        return "Iceberg"
    return {"EXTERNAL_TABLE": "External", "VIRTUAL_VIEW": "View"}.get(item.get("TableType", ""), "Regular")


def format_of(storage: dict[str, Any]) -> str | None:
    serde = storage.get("SerdeInfo") or {}
    library = f"{storage.get('InputFormat', '')} {serde.get('SerializationLibrary', '')}".lower()
    if "lazysimpleserde" in library or "opencsvserde" in library:
        return "tsv" if (serde.get("Parameters") or {}).get("serialization.format") == "\t" else "csv"
    return next((f for f in FILE_FORMATS if f in library), None)
