"""The SDK's floor: the program beside a bare program of the same resource counts.

    .venv/bin/python benchmarks/bench.py --floor                 # 10, 100 and 1,000 routes, 5 pairs each
    .venv/bin/python benchmarks/bench.py --floor --routes 100 --runs 3

For each stack size, four kinds of measurement alternate (program, bare, bare with the
program's graph, bare with no inputs, program, ...), each in a fresh process, all in one run, so that all see the same machine load:

* program: `__main__.py` for the generated stack (see `bench.stack_raw_config`) under the
  Pulumi SDK's own `MockMonitor` with plain mocks (`PlainMocks`: a resource's state is its
  inputs, its ID `<name>-id`);
* bare: `bare_program/__main__.py`, run the same way (`runpy`, as the language host runs a
  program): it imports the same `pulumi_kubernetes` modules the program loaded and declares as
  many custom and component resources as the program did (counted by the monitor in the
  program's first run, so the floor follows the program, never a hard-coded count), each
  custom resource parented to a component (round robin), under the same mocks and monitor,
  through one-line subclasses as any real program (see that file for why). Its custom resources carry the program's types and inputs (the values the monitor received,
  as plain data: no Outputs, no options, no dependencies), because serialising a Deployment's
  or an HTTPRoute's spec is the SDK's work for any program that declares them.
* bare, program's graph: the same resources with the program's parents and dependencies
  (graph `same`): the program beside it is the cost of the program's own Python; this beside
  the bare one is what its ordering costs the SDK (shown, not the bound).
* bare, no inputs: the same with every custom resource an input-less ConfigMap: the SDK's
  cost per resource alone (shown, not the bound).

Each worker's clocks start before `import pulumi` and stop when the program has finished
(every resource registered, every output resolved), so imports the program makes are counted
in both (that is what weighs at 10 routes). Interpreter start-up and reading the stack file
(which the Pulumi CLI does, not the program) are outside the clocks. The table gives each
kind's median wall time and the ratio program / bare (the bound of issue 12: at most 1.3, 1.5
at 10 routes), and the medians of the process CPU time (all threads; less disturbed than wall
time when other work shares the machine). The floor is what the Pulumi SDK itself costs for
those resource counts and inputs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
BARE_PROGRAM = Path(__file__).resolve().parent / "bare_program"
PROJECT_NAME = "api-gateway"
FLOOR_ROUTES = (10, 100, 1000)
FLOOR_RUNS = 5
# The acceptance bounds of issue 12: program / bare, by stack size (imports weigh most at 10 routes).
TARGET_RATIO = {10: 1.5}
DEFAULT_TARGET_RATIO = 1.3


def _plain_monitor():
    """The SDK's `MockMonitor` with plain mocks, counting what is registered (the same for both programs)."""
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks

    class PlainMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            return [f"{args.name}-id", args.inputs]

        def call(self, args: pulumi.runtime.MockCallArgs):
            return {}

    class CountingMonitor(pulumi_mocks.MockMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            # (request, URN, custom, read) in the order of registration; decoded after the clocks stop.
            self.declared = []

        @property
        def custom(self) -> int:
            return sum(1 for _, _, custom, _ in self.declared if custom)

        @property
        def component(self) -> int:
            return len(self.declared) - self.custom

        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                self.declared.append((request, response.urn, bool(request.custom), False))
            return response

        def ReadResource(self, request):
            # A read is a custom resource as far as the engine is concerned.
            response = super().ReadResource(request)
            self.declared.append((request, response.urn, True, True))
            return response

    return PlainMocks, CountingMonitor


def _run(stack: str, engine_config: dict[str, str], program: Path) -> Any:
    """Run `program` (a `__main__.py`) as the language host does, under the plain mocks; the monitor that counted it."""
    import runpy

    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    plain_mocks, counting_monitor = _plain_monitor()
    mocks = plain_mocks()
    monitor = counting_monitor(mocks)
    settings.set_root_resource(None)
    pulumi.runtime.set_all_config(engine_config, [])
    pulumi.runtime.set_mocks(mocks, project=PROJECT_NAME, stack=stack, preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))
    return monitor


def program_worker(stack: str, engine_config_file: Path, declared_file: Path) -> dict[str, Any]:
    """Time `__main__.py` for `stack`; runs in its own process. Writes what it declared to `declared_file`."""
    engine_config = json.loads(engine_config_file.read_text())
    sys.path.insert(0, str(REPOSITORY_ROOT))
    started, cpu_started = time.perf_counter(), time.process_time()
    monitor = _run(stack, engine_config, REPOSITORY_ROOT / "__main__.py")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    from pulumi.runtime import rpc

    declared_file.write_text(
        json.dumps(
            {
                "custom": monitor.custom,
                "component": monitor.component,
                "modules": sorted(name for name in sys.modules if name.startswith("pulumi_kubernetes")),
                # In the order of registration, so parents and dependencies come first.
                "resources": [
                    {
                        "urn": urn,
                        "type": request.type,
                        "custom": custom,
                        # A remote component (a Helm v4 Chart) is a dependency of its own; a local one
                        # stands for its children.
                        "remote": bool(getattr(request, "remote", False)),
                        "read": read,
                        "parent": request.parent or None,
                        "dependencies": list(request.dependencies),
                        "inputs": rpc.deserialize_properties(request.properties if read else request.object) if custom else {},
                    }
                    for request, urn, custom, read in monitor.declared
                ],
            }
        )
    )
    return {"seconds": seconds, "cpu": cpu, "custom": monitor.custom, "component": monitor.component}


# kind of measurement -> bare_program's config (see its docstring)
BARE_KINDS = {
    "bare": {"inputs": "same", "graph": "flat"},
    "bare-graph": {"inputs": "same", "graph": "same"},
    "bare-no-inputs": {"inputs": "none", "graph": "flat"},
}


def bare_worker(declared_file: Path, kind: str) -> dict[str, Any]:
    """Time `bare_program` for what `declared_file` holds, configured as `BARE_KINDS[kind]`; runs in its own process."""
    config = {"bench-bare:declared": str(declared_file), **{f"bench-bare:{key}": value for key, value in BARE_KINDS[kind].items()}}
    started, cpu_started = time.perf_counter(), time.process_time()
    monitor = _run("bench-bare", config, BARE_PROGRAM / "__main__.py")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"seconds": seconds, "cpu": cpu, "custom": monitor.custom, "component": monitor.component}


def main_worker(kind: str, path: Path, extra: Optional[str]) -> dict[str, Any]:
    if kind == "program":
        return program_worker(extra, path, path.with_suffix(".declared.json"))
    return bare_worker(path, kind)


def count_declared(bench_script: Path, engine_config: dict[str, str], stack: str, declared_file: Path) -> dict[str, Any]:
    """What the program declares for `engine_config`, written to `declared_file` (a mock run in a fresh process)."""
    config_file = declared_file.with_name(f"{stack}.json")
    config_file.write_text(json.dumps(engine_config))
    measured = _worker(bench_script, "program", config_file, stack)
    config_file.with_suffix(".declared.json").replace(declared_file)
    return measured


# --- the parent ---------------------------------------------------------------------------------


@dataclass
class FloorRow:
    routes: int
    custom: int = 0
    component: int = 0
    program: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    bare_no_inputs: list[float] = field(default_factory=list)
    bare_graph: list[float] = field(default_factory=list)
    program_cpu: list[float] = field(default_factory=list)
    bare_cpu: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.program) / statistics.median(self.bare)

    @property
    def target(self) -> float:
        return TARGET_RATIO.get(self.routes, DEFAULT_TARGET_RATIO)


def _worker(bench_script: Path, kind: str, path: Path, stack: Optional[str] = None) -> dict[str, Any]:
    command = [sys.executable, str(bench_script), "--floor-worker", kind, str(path)] + ([stack] if stack else [])
    result = subprocess.run(command, cwd=REPOSITORY_ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-25:])
        raise RuntimeError(f"floor worker {kind} {path.name} failed (exit {result.returncode}):\n{tail}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_floor(directory: Path, routes: int, runs: int, raw_config: dict[str, Any], stack: str, bench_script: Path, progress) -> FloorRow:
    """`runs` alternating pairs of (program, bare) for one stack size."""
    sys.path.insert(0, str(REPOSITORY_ROOT))
    from gateway_config.loader import engine_config_from_raw

    config_file = directory / f"{stack}.json"
    config_file.write_text(json.dumps(engine_config_from_raw(raw_config)))
    # Each program run rewrites it; the bare programs follow the first run's counts.
    declared_file = config_file.with_suffix(".declared.json")
    counts_file = directory / f"{stack}.first-run.json"
    row = FloorRow(routes)
    for run in range(runs):
        program = _worker(bench_script, "program", config_file, stack)
        if run == 0:
            row.custom, row.component = program["custom"], program["component"]
            declared_file.replace(counts_file)
        elif (program["custom"], program["component"]) != (row.custom, row.component):
            raise RuntimeError(f"the program declared {program['custom']} + {program['component']}, then {row.custom} + {row.component}")
        bare = _worker(bench_script, "bare", counts_file)
        bare_graph = _worker(bench_script, "bare-graph", counts_file)
        bare_no_inputs = _worker(bench_script, "bare-no-inputs", counts_file)
        for measured in (bare, bare_graph, bare_no_inputs):
            if (measured["custom"], measured["component"]) != (row.custom, row.component):
                raise RuntimeError(f"a bare program declared {measured['custom']} + {measured['component']}, not {row.custom} + {row.component}")
        row.program.append(program["seconds"])
        row.bare.append(bare["seconds"])
        row.bare_no_inputs.append(bare_no_inputs["seconds"])
        row.bare_graph.append(bare_graph["seconds"])
        row.program_cpu.append(program["cpu"])
        row.bare_cpu.append(bare["cpu"])
        progress(
            f"floor {stack} run {run + 1}/{runs}: program {program['seconds']:.2f} s, bare {bare['seconds']:.2f} s, "
            f"bare with the program's graph {bare_graph['seconds']:.2f} s, bare with no inputs {bare_no_inputs['seconds']:.2f} s"
        )
    return row


def format_floor_table(rows: list[FloorRow]) -> str:
    header = ["routes", "declared (custom + component)", "program s", "bare (floor) s", "ratio", "target", "met?", "bare, program's graph s", "ratio to it", "bare, no inputs s", "ratio to it", "CPU s: program / bare", "CPU ratio"]
    body = [
        [
            f"{row.routes:,}",
            f"{row.custom:,} + {row.component:,}",
            f"{statistics.median(row.program):.2f}",
            f"{statistics.median(row.bare):.2f}",
            f"{row.ratio:.2f}",
            f"<= {row.target:.1f}",
            "yes" if row.ratio <= row.target else "no",
            f"{statistics.median(row.bare_graph):.2f}",
            f"{statistics.median(row.program) / statistics.median(row.bare_graph):.2f}",
            f"{statistics.median(row.bare_no_inputs):.2f}",
            f"{statistics.median(row.program) / statistics.median(row.bare_no_inputs):.2f}",
            f"{statistics.median(row.program_cpu):.2f} / {statistics.median(row.bare_cpu):.2f}",
            f"{statistics.median(row.program_cpu) / statistics.median(row.bare_cpu):.2f}",
        ]
        for row in rows
    ]
    widths = [max(len(line[index]) for line in [header, *body]) for index in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
    return "\n".join([line(header), separator, *map(line, body)])
