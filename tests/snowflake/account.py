"""A Snowflake account for the tests: a fakesnow server (Snowflake's connector over DuckDB)
on 127.0.0.1, and the recipe connection that reaches it."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy

# fakesnow's `server` function: held now, as importing fakesnow.server (which it does when
# called) replaces the package attribute with that submodule
from fakesnow import server as fakesnow_server


@contextmanager
def fakesnow_account(database: str, catalog: str, schemas: tuple[str, ...]) -> Iterator[tuple[dict, Any]]:
    """The connection arguments and an engine of a fakesnow server holding `catalog` (its
    statements split on `;`); `schemas` dropped after, as fakesnow keeps databases for the
    process."""
    with fakesnow_server() as server:
        arguments = {k: server[k] for k in ("host", "port", "protocol", "session_parameters")}
        engine = sqlalchemy.create_engine(
            f"snowflake://u:p@acct/{database}?warehouse=wh", connect_args=arguments
        )
        with engine.begin() as conn:
            for statement in filter(str.strip, catalog.split(";")):
                conn.execute(sqlalchemy.text(statement))
        try:
            yield arguments, engine
        finally:
            with engine.connect() as conn:
                for schema in schemas:
                    conn.execute(sqlalchemy.text(f"drop schema {schema} cascade"))
            engine.dispose()


def connection(arguments: dict, database: str, **fields: Any) -> dict:
    """A recipe's `serviceConnection.config` for that account."""
    return {
        "type": "Snowflake",
        "username": "u",
        "password": "p",
        "account": "acct",
        "warehouse": "wh",
        "database": database,
        "connectionArguments": arguments,
        **fields,
    }
