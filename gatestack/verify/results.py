"""Check results and the table they are printed as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str
    skipped: bool = False

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")


def format_table(results: Iterable[CheckResult]) -> str:
    """An aligned table `check | result | detail`, then (when some were not checked)
    `K not checked`, and last `N passed, M failed`."""
    results = list(results)
    header = ("check", "result", "detail")
    rows = [(result.name, result.status, result.detail) for result in results]
    name_width = max([len(header[0])] + [len(row[0]) for row in rows])
    status_width = max([len(header[1])] + [len(row[1]) for row in rows])
    lines = [f"{header[0]:<{name_width}} | {header[1]:<{status_width}} | {header[2]}"]
    lines.append(f"{'-' * name_width}-+-{'-' * status_width}-+-{'-' * 6}")
    for name, status, detail in rows:
        lines.append(f"{name:<{name_width}} | {status:<{status_width}} | {detail}".rstrip())
    passed = sum(1 for result in results if result.status == "PASS")
    failed = sum(1 for result in results if result.status == "FAIL")
    skipped = sum(1 for result in results if result.status == "SKIP")
    if skipped:
        lines.append(f"{skipped} not checked")
    lines.append(f"{passed} passed, {failed} failed")
    return "\n".join(lines)
