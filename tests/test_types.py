from sqlalchemy import types as sa
from sqlalchemy.dialects import mysql, postgresql

from om_dagster.sources.types import column_type


def test_dialect_types_fall_back_to_their_generic_parent():
    assert column_type(postgresql.JSONB()).data_type == "JSON"
    assert column_type(postgresql.UUID()).data_type == "UUID"
    assert column_type(postgresql.INTERVAL()).data_type == "INTERVAL"
    assert column_type(mysql.ENUM("a", "b")).data_type == "ENUM"
    assert column_type(mysql.SET("a", "b")).data_type == "SET"
    assert column_type(mysql.BIT()).data_type == "BIT"


def test_timezone_aware_timestamps_are_timestampz():
    assert column_type(postgresql.TIMESTAMP(timezone=True)).data_type == "TIMESTAMPZ"
    assert column_type(sa.DateTime(timezone=False)).data_type == "DATETIME"


def test_arrays_carry_their_item_type():
    mapped = column_type(postgresql.ARRAY(sa.Integer()))
    assert (mapped.data_type, mapped.array_type, mapped.display) == ("ARRAY", "INT", "array<int>")


class Hyperloglog(sa.UserDefinedType):
    cache_ok = True


def test_unknown_types_are_flagged_not_guessed():
    mapped = column_type(Hyperloglog())
    assert (mapped.data_type, mapped.known) == ("UNKNOWN", False)


def test_a_column_without_declared_type_is_null_as_openmetadata_has_it():
    mapped = column_type(sa.NullType())
    assert (mapped.data_type, mapped.display, mapped.known) == ("NULL", "NULL", True)
