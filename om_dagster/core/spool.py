"""The handover between ops: records spooled to a JSON-lines file, read back lazily.

Only a small `Spool` (a path and the upstream steps' statuses) passes through Dagster's
IO manager; the records stay on disk, one line each, so memory does not grow with the
catalog and nothing big is pickled.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from om_dagster.core.steps import Record


@dataclass
class Spool:
    """Records of one step on disk, with the statuses of every step so far."""

    path: str
    count: int = 0
    statuses: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def write(cls, path: Path, records: Iterable[Record]) -> "Spool":
        path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with path.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(record.to_json())
                out.write("\n")
                count += 1
        return cls(str(path), count)

    def __iter__(self) -> Iterator[Record]:
        with open(self.path, encoding="utf-8") as lines:
            for line in lines:
                yield Record.from_json(line)

    def remove(self) -> None:
        Path(self.path).unlink(missing_ok=True)
