"""SQLAlchemy column types to OpenMetadata `dataType` (enum in `entity/data/table.json`).

Lookup walks the type's class hierarchy, so a dialect type (e.g. PostgreSQL `JSONB`)
falls back to its generic parent (`JSON`) when it has no entry of its own. Dialects
add names with `register`. Length, precision and display follow OpenMetadata's own
rules so entities match what `metadata ingest` creates.
"""

from dataclasses import dataclass

from sqlalchemy import types as sa

# Upper-cased SQLAlchemy class names (generic and dialect) -> OpenMetadata dataType.
TYPE_MAP: dict[str, str] = {
    # integers
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "SMALLINTEGER": "SMALLINT",
    "MEDIUMINT": "INT",
    "INTEGER": "INT",
    "INT": "INT",
    "BIGINT": "BIGINT",
    "BIGINTEGER": "BIGINT",
    # exact and approximate numbers
    "NUMERIC": "NUMERIC",
    "DECIMAL": "DECIMAL",
    "NUMBER": "NUMBER",
    "MONEY": "MONEY",
    "FLOAT": "FLOAT",
    "REAL": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DOUBLE_PRECISION": "DOUBLE",
    # logical and bits
    "BOOLEAN": "BOOLEAN",
    "BIT": "BIT",
    # time
    "DATE": "DATE",
    "DATETIME": "DATETIME",
    "TIMESTAMP": "TIMESTAMP",
    "TIME": "TIME",
    "INTERVAL": "INTERVAL",
    "YEAR": "YEAR",
    # text
    "CHAR": "CHAR",
    "NCHAR": "CHAR",
    "VARCHAR": "VARCHAR",
    "NVARCHAR": "VARCHAR",
    "STRING": "VARCHAR",
    "UNICODE": "VARCHAR",
    "TEXT": "TEXT",
    "UNICODETEXT": "TEXT",
    "CLOB": "CLOB",
    "TINYTEXT": "TEXT",
    "MEDIUMTEXT": "MEDIUMTEXT",
    "LONGTEXT": "TEXT",
    # binary
    "BINARY": "BINARY",
    "VARBINARY": "VARBINARY",
    "BLOB": "BLOB",
    "LARGEBINARY": "BLOB",
    "TINYBLOB": "BLOB",
    "MEDIUMBLOB": "MEDIUMBLOB",
    "LONGBLOB": "LONGBLOB",
    "BYTEA": "BYTEA",
    # structured
    "JSON": "JSON",
    "UUID": "UUID",
    "UUIDTYPE": "UUID",
    "ENUM": "ENUM",
    "SET": "SET",
    "ARRAY": "ARRAY",
    "XML": "XML",
    # no declared type (e.g. an expression column of a SQLite view): OpenMetadata says NULL
    "NULLTYPE": "NULL",
}

LENGTH_TYPES = frozenset({"CHAR", "VARCHAR", "BINARY", "VARBINARY"})
PRECISION_TYPES = frozenset({"NUMERIC", "DECIMAL", "NUMBER"})


def register(mapping: dict[str, str]) -> None:
    """Add a dialect's type names (upper-cased class names) to the map."""
    TYPE_MAP.update({name.upper(): data_type for name, data_type in mapping.items()})


@dataclass(frozen=True, slots=True)
class ColumnType:
    data_type: str
    display: str
    length: int
    precision: int | None = None
    scale: int | None = None
    array_type: str | None = None
    known: bool = True


def lookup(sa_type: sa.TypeEngine) -> str | None:
    for cls in type(sa_type).__mro__:
        if not issubclass(cls, sa.TypeEngine):  # e.g. `object`: not a type name ("OBJECT" is one)
            continue
        found = TYPE_MAP.get(cls.__name__.upper())
        if found:
            if found in ("TIMESTAMP", "DATETIME") and getattr(sa_type, "timezone", False):
                return "TIMESTAMPZ"
            return found
    return None


def column_type(sa_type: sa.TypeEngine) -> ColumnType:
    """Map one reflected type; unknown types become UNKNOWN with `known=False`."""
    data_type = lookup(sa_type)
    if data_type is None:
        return ColumnType("UNKNOWN", "unknown", 1, known=False)
    if data_type == "ARRAY":
        item = getattr(sa_type, "item_type", None)
        item_type = (lookup(item) if item is not None else None) or "UNKNOWN"
        return ColumnType("ARRAY", f"array<{item_type.lower()}>", 1, array_type=item_type)
    length = getattr(sa_type, "length", None) if data_type in LENGTH_TYPES else None
    if data_type in LENGTH_TYPES:
        length = length or 1
        return ColumnType(data_type, f"{data_type}({length})", length)
    precision = getattr(sa_type, "precision", None) if data_type in PRECISION_TYPES else None
    if precision is not None:
        scale = getattr(sa_type, "scale", None) or 0
        return ColumnType(data_type, f"{data_type}({precision},{scale})", 1, int(precision), int(scale))
    return ColumnType(data_type, data_type, 1)
