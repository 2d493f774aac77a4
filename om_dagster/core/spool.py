"""The handover between ops: records spooled to a JSON-lines file, read back lazily.

Only a small `Spool` (a path and the upstream steps' statuses) passes through Dagster's
IO manager; the records stay on disk, one line each, so memory does not grow with the
catalog and nothing big is pickled.
"""

import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from om_dagster.core.steps import Record, StepError


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
        try:
            lines = open(self.path, encoding="utf-8")  # noqa: SIM115 - closed below, after the stream
        except FileNotFoundError:
            raise StepError(
                f"the records this step reads ({self.path}) were pruned after their retention: "
                "re-execute from the source step"
            ) from None
        with lines:
            for line in lines:
                yield Record.from_json(line)


def prune(root: Path, retention_seconds: float, now: float | None = None) -> int:
    """Delete the spool folders under `root` (one per run) untouched for `retention_seconds`,
    whatever their run's outcome, and empty ones; the number of folders deleted.

    Spools outlive their run so that a re-execution (from failure, or of one step) can read
    them; this bounds how long, so disks do not fill.
    """
    now = time.time() if now is None else now
    removed = 0
    for folder in root.iterdir() if root.is_dir() else ():
        files = list(folder.iterdir()) if folder.is_dir() else []
        newest = max((f.stat().st_mtime for f in files), default=folder.stat().st_mtime)
        if folder.is_dir() and (not files or now - newest > retention_seconds):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
