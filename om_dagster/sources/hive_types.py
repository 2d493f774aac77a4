"""Hive type strings (Glue, Athena) to OpenMetadata columns: `array<int>`, `map<string,int>`,
`struct<a:int,b:array<string>>`, `decimal(10,2)`, `varchar(20)`.
"""

import re
from typing import Any

SCALARS = {
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INT",
    "integer": "INT",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "decimal": "DECIMAL",
    "numeric": "NUMERIC",
    "boolean": "BOOLEAN",
    "string": "STRING",
    "varchar": "VARCHAR",
    "char": "CHAR",
    "binary": "BINARY",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "interval": "INTERVAL",
    "json": "JSON",
    "uuid": "UUID",
}
NAME = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_ ]*?)\s*(\(([^)]*)\))?\s*$")


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside <...> and (...)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def column(name: str, type_text: str) -> dict[str, Any]:
    """An OpenMetadata column for a Hive-typed field; unknown types are UNKNOWN, not guessed."""
    text = type_text.strip()
    lower = text.lower()
    col: dict[str, Any] = {"name": name, "dataTypeDisplay": lower}
    if lower.startswith("array<") and lower.endswith(">"):
        item = column("item", text[6:-1])
        col.update(dataType="ARRAY", arrayDataType=item["dataType"])
        if item.get("children"):
            col["children"] = item["children"]
        return col
    if lower.startswith("map<") and lower.endswith(">"):
        col["dataType"] = "MAP"
        return col
    if lower.startswith("struct<") and lower.endswith(">"):
        fields = [split_top(f, ":") for f in split_top(text[7:-1]) if f]
        col.update(dataType="STRUCT", children=[column(f[0], ":".join(f[1:])) for f in fields])
        return col
    if lower.startswith("uniontype<"):
        col["dataType"] = "UNION"
        return col
    match = NAME.match(lower)
    base = match.group(1) if match else lower
    col["dataType"] = SCALARS.get(base, "UNKNOWN")
    args = [a.strip() for a in match.group(3).split(",")] if match and match.group(3) else []
    if col["dataType"] in ("DECIMAL", "NUMERIC") and args:
        col["precision"], col["scale"] = int(args[0]), int(args[1]) if len(args) > 1 else 0
    elif args and args[0].isdigit():
        col["dataLength"] = int(args[0])
    if "dataLength" not in col and col["dataType"] not in ("DECIMAL", "NUMERIC"):
        col["dataLength"] = 1
    return col
