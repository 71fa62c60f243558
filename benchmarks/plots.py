"""The benchmark's figures as plots: PNG files for docs/benchmarks.md, drawn with matplotlib.

`bench.py --floor --plot FILE` draws what it measured: seconds to evaluate the program under the
SDK's mocks against the number of routes, beside its floor (a bare program declaring the same
resources, types and inputs with no code of its own), the bare program given the program's
graph, and the least the SDK does per resource (bare, no inputs). Each point is the median of the
run's alternating rounds; each program point is labelled with its ratio to the floor.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Sequence

# The object-oriented API without pyplot: no GUI backend, no global state, files only.
from matplotlib.figure import Figure

# One colour per series, the same in every plot.
SERIES = (
    ("program", "the program (__main__.py)", "#1f77b4"),
    ("bare", "floor: bare program, same resources and inputs", "#2ca02c"),
    ("bare_graph", "bare program with the program's graph", "#ff7f0e"),
    ("bare_no_inputs", "bare program, no inputs", "#7f7f7f"),
)


def floor_plot(rows: Sequence, path: Path, title: str) -> Path:
    """Write the floor plot of `rows` (`floor.FloorRow`) to `path` (PNG, 150 dpi); returns it."""
    routes = [row.routes for row in rows]
    figure = Figure(figsize=(7.5, 4.5), dpi=150)
    axes = figure.subplots()
    for attribute, label, colour in SERIES:
        medians = [statistics.median(getattr(row, attribute)) if getattr(row, attribute) else None for row in rows]
        points = [(x, y) for x, y in zip(routes, medians) if y is not None]
        if points:
            axes.plot(*zip(*points), marker="o", label=label, color=colour, linewidth=2 if attribute in ("program", "bare") else 1)
    for row in rows:
        axes.annotate(
            f"{row.ratio:.2f}x", (row.routes, statistics.median(row.program)),
            textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8, color=SERIES[0][2],
        )
    axes.margins(y=0.12)  # room above the top point for its ratio label
    axes.set_xscale("log")
    axes.set_xticks(routes, [f"{count:,}" for count in routes])
    axes.set_xlabel("routes in the stack")
    axes.set_ylabel("seconds to evaluate (median)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
