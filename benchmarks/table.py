"""The table `bench.py` prints for its default run: one row per (routes, listeners), then the growth rows."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Optional

@dataclass
class Row:
    routes: int
    listeners: int
    backends: int
    requested_runs: int = 1
    runs: dict[str, list[float]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def median(self, key: str) -> Optional[float]:
        samples = self.runs.get(key)
        return statistics.median(samples) if samples else None


# --- the table -------------------------------------------------------------------------------

COLUMNS = (
    ("routes", "routes"),
    ("listeners", "lis."),
    ("backends", "backends"),
    ("resources", "resources"),
    ("validate", "validate ms"),
    ("evaluate", "evaluate s"),
    ("rate", "resources/s"),
    ("peak_mb", "eval peak MB"),
    ("render", "render s"),
    ("render_peak_mb", "render peak MB"),
    ("conformance", "conformance s"),
    ("steps", "conformance steps: render / validate / translate+start / verify s"),
)


def _cell(row: Row, key: str) -> str:
    def mark(name: str) -> str:
        return "*" if len(row.runs.get(name, ())) < row.requested_runs else ""

    if key == "routes":
        return f"{row.routes:,}"
    if key == "listeners":
        return str(row.listeners)
    if key == "backends":
        return str(row.backends)
    if key == "resources":
        return f"{row.values['resources']:,}"
    if key == "validate":
        return f"{row.median('validate') * 1000:.1f}{mark('validate')}"
    if key == "evaluate":
        return f"{row.median('evaluate'):.2f}{mark('evaluate')}"
    if key == "rate":
        return f"{row.values['resources'] / row.median('evaluate'):,.0f}"
    if key == "peak_mb":
        return f"{row.median('peak_mb'):.0f}"
    if key == "render":
        return f"{row.median('render'):.2f}{mark('render')}"
    if key == "render_peak_mb":
        return f"{row.median('render_peak_mb'):.0f}"
    if key == "conformance":
        return f"{row.median('conformance'):.1f}" if "conformance" in row.runs else "-"
    if key == "steps":
        steps = row.values.get("conformance_steps") or {}
        if "conformance" not in row.runs:
            return "-"
        return " / ".join(f"{steps[name]:.1f}" if name in steps else "?" for name in ("render", "validate", "translate+start", "verify"))
    raise KeyError(key)


def _ratio(larger: Row, smaller: Row, key: str, fmt: str = "{:.1f}x") -> str:
    a, b = larger.median(key), smaller.median(key)
    return fmt.format(a / b) if a is not None and b else "-"


def growth_row(larger: Row, smaller: Row) -> list[str]:
    label = f"{larger.routes:,}/{smaller.routes:,}"
    cells = {
        "routes": label,
        "listeners": str(larger.listeners),
        "backends": f"{larger.backends / smaller.backends:.2f}x",
        "resources": f"{larger.values['resources'] / smaller.values['resources']:.1f}x",
        "validate": _ratio(larger, smaller, "validate"),
        "evaluate": _ratio(larger, smaller, "evaluate"),
        "rate": "-",
        "peak_mb": _ratio(larger, smaller, "peak_mb", "{:.2f}x"),
        "render": _ratio(larger, smaller, "render"),
        "render_peak_mb": _ratio(larger, smaller, "render_peak_mb", "{:.2f}x"),
        "conformance": _ratio(larger, smaller, "conformance") if "conformance" in larger.runs and "conformance" in smaller.runs else "-",
        "steps": "-",
    }
    return [cells[key] for key, _ in COLUMNS]


def format_table(rows: list[Row]) -> str:
    header = [title for _, title in COLUMNS]
    body = [[_cell(row, key) for key, _ in COLUMNS] for row in rows]
    growth = []
    route_counts = sorted({row.routes for row in rows})
    if len(route_counts) >= 2:
        smaller_count, larger_count = route_counts[-2], route_counts[-1]
        by_key = {(row.routes, row.listeners): row for row in rows}
        for listeners in sorted({row.listeners for row in rows}):
            larger, smaller = by_key.get((larger_count, listeners)), by_key.get((smaller_count, listeners))
            if larger and smaller:
                growth.append(growth_row(larger, smaller))
    widths = [max(len(line[index]) for line in [header, *body, *growth]) for index in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
    lines = [line(header), separator, *map(line, body)]
    if growth:
        lines.append(separator)  # below it: growth ratios, larger / smaller route count
        lines.extend(map(line, growth))
    return "\n".join(lines)
