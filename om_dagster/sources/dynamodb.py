"""Amazon DynamoDB (`type: dynamodb`, connection `DynamoDB`), through boto3 paginators.

Tables are read from their key schema and attribute definitions (DescribeTable): no
item is scanned. As OpenMetadata models it: database `databaseName` (else "default"),
schema "default".
"""

from collections.abc import Iterator
from typing import Any, Literal

from om_dagster.sources.aws import AwsConnection, AwsSource

ATTRIBUTE_TYPES = {"S": "STRING", "N": "NUMBER", "B": "BINARY"}


class DynamoDBConnection(AwsConnection):
    """`entity/services/connections/database/dynamoDBConnection.json`."""

    type: Literal["DynamoDB"] = "DynamoDB"


class DynamoDBSource(AwsSource):
    type_name = "dynamodb"
    connection_model = DynamoDBConnection
    service_type = "DynamoDB"
    client_name = "dynamodb"

    def tables(self, schema: str) -> Iterator[tuple[str, Any]]:
        for page in self.client.get_paginator("list_tables").paginate():
            for name in page["TableNames"]:
                yield name, name if self.source_config.includeTables else None

    def table(self, schema_fqn: str, name: str, item: Any) -> dict[str, Any]:
        described = self.client.describe_table(TableName=name)["Table"]
        keys = {k["AttributeName"]: k["KeyType"] for k in described.get("KeySchema", [])}
        columns = []
        for position, attribute in enumerate(described.get("AttributeDefinitions", []), start=1):
            data_type = ATTRIBUTE_TYPES.get(attribute["AttributeType"], "UNKNOWN")
            col: dict[str, Any] = {
                "name": attribute["AttributeName"],
                "dataType": data_type,
                "dataTypeDisplay": data_type.lower(),
                "dataLength": 1,
                "ordinalPosition": position,
            }
            if len(keys) == 1 and attribute["AttributeName"] in keys:
                col["constraint"] = "PRIMARY_KEY"
            columns.append(col)
        constraints = []
        if len(keys) > 1:  # partition + sort key, as OpenMetadata reports them
            constraints.append({"constraintType": "PRIMARY_KEY", "columns": list(keys)})
            constraints += [
                {"constraintType": "SORT_KEY", "columns": [k]} for k, t in keys.items() if t == "RANGE"
            ]
        return {
            "name": name,
            "tableType": "Regular",
            "columns": columns,
            "tableConstraints": constraints,
            "databaseSchema": schema_fqn,
        }
