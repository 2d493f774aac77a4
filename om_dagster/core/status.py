"""What a step did: counts, warnings, failures, and the recipe's rule for failing a run.

The rule is OpenMetadata's: a step fails the workflow when it has failures and its
success rate is below `successThreshold`; the run is `partialSuccess` when the mean
success rate is between the threshold and 100. Warnings never fail a run.
"""

from dataclasses import dataclass, field
from typing import Any

# Per-list cap on reasons kept in memory: the counts stay exact, the lists stay small.
MAX_KEPT = 1000
MASK = "**********"


def mask(text: str, secrets: frozenset[str]) -> str:
    """The text with every secret value replaced (longest first, so none shows in part)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@dataclass
class Issue:
    """One warning, failure or filtered entity: which entity and why."""

    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass
class Status:
    """The counts a step reports. Records are counted, not kept, so memory stays flat."""

    step: str
    records: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[Issue] = field(default_factory=list)
    failures: list[Issue] = field(default_factory=list)
    filtered: list[Issue] = field(default_factory=list)
    warning_count: int = 0
    failure_count: int = 0
    filtered_count: int = 0
    #: Values to mask in reasons (a server may echo a request, password included).
    secrets: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def scanned(self, n: int = 1) -> None:
        self.records += n

    def changed(self, n: int = 1) -> None:
        self.updated += n

    def same(self, n: int = 1) -> None:
        """Entities that already held this content: processed, nothing sent."""
        self.records += n
        self.unchanged += n

    def warning(self, name: str, reason: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_KEPT:
            self.warnings.append(Issue(name, mask(reason, self.secrets)))

    def failed(self, name: str, reason: str) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_KEPT:
            self.failures.append(Issue(name, mask(reason, self.secrets)))

    def filter(self, name: str, reason: str) -> None:
        self.filtered_count += 1
        if len(self.filtered) < MAX_KEPT:
            self.filtered.append(Issue(name, reason))

    def success_rate(self) -> float:
        """OpenMetadata's formula: ok / (ok + failed), with ok at least 1."""
        ok = max(self.records + self.updated, 1)
        return round(ok * 100 / (ok + self.failure_count), 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "records": self.records,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "warning_count": self.warning_count,
            "failure_count": self.failure_count,
            "filtered_count": self.filtered_count,
            "warnings": [i.as_dict() for i in self.warnings],
            "failures": [i.as_dict() for i in self.failures],
            "filtered": [i.as_dict() for i in self.filtered],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Status":
        lists = {k: [Issue(**i) for i in data.get(k, [])] for k in ("warnings", "failures", "filtered")}
        counts = {
            k: data.get(k, 0)
            for k in ("records", "updated", "unchanged", "warning_count", "failure_count", "filtered_count")
        }
        return cls(step=data["step"], **counts, **lists)

    def summary_line(self) -> str:
        return (
            f"{self.step}: {self.records} records, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.warning_count} warnings, {self.failure_count} failures, {self.filtered_count} filtered"
        )


@dataclass(frozen=True)
class Outcome:
    """How the run ends by the recipe's rule."""

    state: str  # success | partialSuccess | failed: what OpenMetadata is told
    fail_run: bool  # whether the Dagster run fails: a failed state under raiseOnError
    reason: str | None = None


def judge(statuses: list[Status], success_threshold: int, raise_on_error: bool) -> Outcome:
    """Apply `successThreshold` / `raiseOnError` to the statuses of every step."""
    for status in statuses:
        if status.failure_count and status.success_rate() < success_threshold:
            reason = (
                f"step {status.step} has {status.failure_count} failures "
                f"(success {status.success_rate()}% < successThreshold {success_threshold}%)"
            )
            return Outcome("failed", raise_on_error, reason)
    mean = sum(s.success_rate() for s in statuses) / len(statuses) if statuses else 100.0
    if mean < 100:
        return Outcome("partialSuccess", False, f"mean success {round(mean, 2)}%")
    return Outcome("success", False)


def printable(text: str) -> str:
    """One line whatever a name holds: control characters (a table named with a newline)
    escaped as Python would write them."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render_summary(statuses: list[Status], outcome: Outcome) -> str:
    """A `print_status`-like block for the end of the run log."""
    lines = ["Workflow summary:"]
    for status in statuses:
        lines.append(f"  {status.summary_line()} (success {status.success_rate()}%)")
        for issue in status.failures[:20]:
            lines.append(f"    failed {printable(issue.name)}: {printable(issue.reason)}")
        if status.failure_count > 20:
            lines.append(f"    ... {status.failure_count - 20} more failures")
        for issue in status.warnings[:20]:
            lines.append(f"    warning {printable(issue.name)}: {printable(issue.reason)}")
        if status.warning_count > 20:
            lines.append(f"    ... {status.warning_count - 20} more warnings")
    lines.append(f"Workflow result: {outcome.state}" + (f" ({outcome.reason})" if outcome.reason else ""))
    return "\n".join(lines)
