"""The sample catalog of the embedded default recipe (`workflows/sample_sqlite.yaml`).

`python -m om_dagster.sample PATH` rebuilds `workflows/data/sample.db`: a small shop
with keys, a composite key, a unique pair, a view and a few awkward names.
"""

import sqlite3
import sys
from pathlib import Path

DDL = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email VARCHAR(120) NOT NULL UNIQUE,
    name VARCHAR(80) NOT NULL,
    created_at TIMESTAMP,
    balance NUMERIC(12, 2) DEFAULT 0
);
CREATE TABLE products (
    sku CHAR(12) PRIMARY KEY,
    title TEXT NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    weight_kg REAL,
    active BOOLEAN NOT NULL DEFAULT 1,
    picture BLOB
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    ordered_on DATE NOT NULL,
    note TEXT
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (id),
    line_no INTEGER NOT NULL,
    sku CHAR(12) NOT NULL REFERENCES products (sku),
    quantity INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, sku)
);
CREATE TABLE "shipping.events" (
    "event id" INTEGER PRIMARY KEY,
    "order" INTEGER REFERENCES orders (id),
    "état" VARCHAR(20)
);
CREATE VIEW customer_totals AS
    SELECT c.id, c.name, COUNT(o.id) AS orders
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
    GROUP BY c.id, c.name;
"""


def build(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(DDL)
    conn.close()
    return path


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "workflows/data/sample.db"))
