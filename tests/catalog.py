"""The same small catalog on SQLite, PostgreSQL and MariaDB, for the profiler and the tests.

`sales` holds rows whose every metric the tests compute themselves (`rows()`), `blank`
none, and `big_sales` is a view. The `catalog` fixture (in conftest) gives one database per
parameter, with its metadata recipe and the FQN prefix of its tables.
"""

import copy
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy

from tests.conftest import recipe_dict

ROWS = 500


def rows(seed: int = 7) -> list[tuple]:
    """id, a decimal whose sum a BIGINT cast truncates, unicode text, NULLs, an all-NULL column."""
    rng = random.Random(seed)
    out = []
    for i in range(ROWS):
        amount = None if i % 10 == 3 else Decimal(rng.randrange(0, 10_000_00)) / 100
        name = (
            None if i % 17 == 0 else rng.choice(["é", "żółw", "naïve café", "x", "数据", "ok"]) + str(i % 40)
        )
        out.append((i, amount, name, None))
    return out


DDL = {
    "sqlite": "CREATE TABLE sales (id INTEGER, amount DECIMAL(10,2), name VARCHAR(40), unset TEXT)",
    "postgresql": "CREATE TABLE sales (id INTEGER, amount NUMERIC(10,2), name VARCHAR(40), unset TEXT)",
    "mysql": "CREATE TABLE sales (id INTEGER, amount DECIMAL(10,2), name VARCHAR(40), unset TEXT) "
    "DEFAULT CHARSET=utf8mb4",
}


def fill(engine: sqlalchemy.Engine) -> None:
    """The same tables on any database: `sales` (the rows above), `blank` (none), a view."""
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(DDL[engine.dialect.name]))
        conn.execute(
            sqlalchemy.text("INSERT INTO sales VALUES (:i, :a, :n, :u)"),
            [{"i": i, "a": number(engine, a), "n": n, "u": u} for i, a, n, u in rows()],
        )
        conn.execute(sqlalchemy.text("CREATE TABLE blank (id INTEGER, label TEXT)"))
        conn.execute(sqlalchemy.text("CREATE VIEW big_sales AS SELECT * FROM sales WHERE amount > 5000"))


def number(engine: sqlalchemy.Engine, value: Decimal | None) -> Decimal | float | None:
    """sqlite3 binds no Decimal: its DECIMAL columns hold floats anyway."""
    return float(value) if engine.dialect.name == "sqlite" and value is not None else value


def sqlite_catalog(path: Path) -> Path:
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    fill(engine)
    engine.dispose()
    return path


def profiler_recipe(
    db: Path, server_url: str, source_config: dict | None = None, processor: dict | None = None
):
    recipe = recipe_dict(db, server_url=server_url)
    recipe["source"]["sourceConfig"]["config"] = {"type": "Profiler", **(source_config or {})}
    recipe["processor"] = {"type": "orm-profiler", "config": processor or {}}
    return recipe


def quartile(values: list[float], q: float) -> float:
    """`percentile_cont`: linear interpolation between the two nearest ranks."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


@dataclass
class Catalog:
    """A database holding `sales` and `blank`, its metadata recipe, and its tables' FQN prefix."""

    recipe: dict
    prefix: str
    server: Any = None  # the database server's fixture, for PostgreSQL and MariaDB

    def profiler_recipe(self, source_config: dict | None = None, processor: dict | None = None) -> dict:
        recipe = copy.deepcopy(self.recipe)
        recipe["source"]["sourceConfig"]["config"] = {"type": "Profiler", **(source_config or {})}
        recipe["processor"] = {"type": "orm-profiler", "config": processor or {}}
        return recipe
