"""The program's `pulumi up`, `preview` and `destroy` beside `kubectl` doing the same work (issue 20).

    .venv/bin/python benchmarks/bench.py --kubectl                       # 10, 100 and 300 routes, one round each
    .venv/bin/python benchmarks/kubectl_compare.py --routes 10 --state-dir /tmp/perf-cluster

Opt-in: it needs the local cluster (`python -m gatestack cluster up --state-dir DIR`, started here
if it is not running and then left running). For each size it generates two stacks with
`bench.py`'s generator (`stack_raw_config`, one listener), each with a namespace
(`createNamespace: true`) and a GatewayClass of its own and `controller.install: false` (the
cluster runs Envoy Gateway already): `cmp-p-r<N>` deployed by the program with the real engine,
`cmp-k-r<N>` by kubectl from the objects `python -m gatestack render --config FILE` prints. Then,
step by step, alternating the two sides (the side that goes first alternates by size):

| step | this program | kubectl |
|---|---|---|
| preview from empty | `pulumi preview` of the empty stack | `kubectl diff --server-side -f` of the objects |
| create | `pulumi up` (returns once the Gateway is Programmed and every Deployment Available) | `kubectl apply --server-side -f`, then `kubectl wait` for Gateway Programmed and every Deployment Available |
| no-change preview | `pulumi preview` | `kubectl diff --server-side -f` |
| delete | `pulumi destroy` | `kubectl delete -f` (waits until every object is gone) |

Before the from-empty step each side's namespace is made, empty (kubectl's diff cannot dry-run
objects in a namespace that does not exist: `namespaces "..." not found`), and deleted after,
untimed. Each figure is the wall clock of the whole command(s), printed with /proc/loadavg.
Every pulumi command writes its engine events (`--event-log`) beside the stack's workspace;
`--timeline` prints, per resource type, when its steps started and ended.

The pulumi commands run exactly as a user's would in that workspace (`pulumi up --yes
--skip-preview`, ...), with the environment `--env KEY=VALUE` adds (to measure engine settings
such as `PULUMI_PARALLEL`).
"""

from __future__ import annotations

import argparse
import os
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

import bench  # benchmarks/: this script's directory is on sys.path
import engine
import floor

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))

from gatestack.cluster.binaries import kubectl_binary, pulumi_engine_binaries  # noqa: E402
from gatestack.cluster.layout import ClusterLayout  # noqa: E402
from gatestack.cluster.lifecycle import inside_command, inside_environment, running_cluster  # noqa: E402
from gatestack.engine.deploy import pulumi_for  # noqa: E402
from gatestack.engine.pulumi_cli import PulumiCli  # noqa: E402
from gateway_config.loader import engine_config_from_raw  # noqa: E402

SIZES = (10, 100, 300)
INLINE_ROUTES = 250  # the largest inline stack of bench.py's shape the language host accepts (engine.py)
DEFAULT_STATE_DIRECTORY = Path("/tmp/bench-cluster")
WAIT_TIMEOUT = "900s"
STEPS = ("preview from empty", "create", "no-change preview", "delete")
PULUMI_COMMANDS = {
    "preview from empty": "pulumi preview",
    "create": "pulumi up",
    "no-change preview": "pulumi preview",
    "delete": "pulumi destroy",
}
KUBECTL_COMMANDS = {
    "preview from empty": "diff --server-side",
    "create": "apply --server-side + waits",
    "no-change preview": "diff --server-side",
    "delete": "delete -f",
}


def load() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg has them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Figure:
    seconds: float
    load_before: str
    load_after: str


@dataclass
class SizeResult:
    routes: int
    objects: int
    figures: dict[tuple[str, str], Figure] = field(default_factory=dict)  # (step, "pulumi"|"kubectl") -> figure
    notes: list[str] = field(default_factory=list)


def stack_config(routes: int, name: str) -> dict[str, Any]:
    """bench.py's generated stack, in a namespace and with a GatewayClass of its own; over
    `INLINE_ROUTES` routes its routes and backends go to a route file (`routeFiles`): inline,
    the config would be too large for the language host to hand the program (engine.py)."""
    raw = bench.stack_raw_config(routes, 1)
    raw.update(namespace=name, createNamespace=True, gatewayClass={"name": name}, controller={"install": False})
    return bench.with_routes_in_files(raw, name) if routes > INLINE_ROUTES else raw


def stack_file_text(raw: dict[str, Any]) -> str:
    return yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in raw.items()}}, sort_keys=False)


class Kubectl:
    """kubectl inside the cluster's network namespace."""

    def __init__(self, cluster: ClusterLayout):
        self.cluster = cluster

    def run(self, *arguments: str, allowed: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
        command = inside_command(self.cluster, [str(kubectl_binary()), *arguments])
        result = subprocess.run(command, capture_output=True, text=True, env=inside_environment(self.cluster))
        if result.returncode not in allowed:
            raise RuntimeError(f"kubectl {' '.join(arguments)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        return result


def render_objects(stack_file: Path, output: Path) -> int:
    """`python -m gatestack render --config FILE -o OUTPUT`; the number of objects."""
    subprocess.run([sys.executable, "-m", "gatestack", "render", "--config", str(stack_file), "--output", str(output)],
                   cwd=REPOSITORY_ROOT, check=True, capture_output=True)
    return sum(1 for document in yaml.safe_load_all(output.read_text()) if document)


def timed(action: Callable[[], Any]) -> Figure:
    before = load()
    started = time.perf_counter()
    action()
    return Figure(time.perf_counter() - started, before, load())


class PulumiSide:
    """The program's stack, driven with the pulumi CLI as a user would."""

    def __init__(self, cli: PulumiCli, stack: str, events: Path, extra_environment: dict[str, str]):
        self.cli, self.stack, self.events = cli, stack, events
        self.extra_environment = extra_environment
        self.outputs: dict[str, str] = {}

    def run(self, step: str, *arguments: str) -> str:
        event_log = self.events / f"{self.stack}.{step.replace(' ', '-')}.jsonl"
        # `pulumi preview` has no --event-log (v3.274); up and destroy do.
        logging = [] if arguments[0] == "preview" else ["--event-log", str(event_log)]
        command = self.cli.wrap([str(self.cli.layout.bin / "pulumi"), *arguments, "--stack", self.stack, "--non-interactive", *logging])
        # --event-log exists only with PULUMI_DEBUG_COMMANDS (v3.274); it changes nothing else.
        environment = {**self.cli.environment(), "PULUMI_DEBUG_COMMANDS": "true", **self.extra_environment}
        result = subprocess.run(command, cwd=self.cli.workspace, env=environment, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.outputs[step] = result.stdout + result.stderr
        if result.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(arguments)} exited {result.returncode}:\n" + "\n".join(self.outputs[step].splitlines()[-25:]))
        return self.outputs[step]


def no_change(output: str) -> bool:
    """Whether a preview's summary plans nothing but `unchanged`."""
    summary = output.split("Resources:", 1)[-1]
    return not any(word in summary for word in ("to create", "to update", "to delete", "to replace"))


def floor_sides(cli: PulumiCli, routes: int, stack: str, work: Path, extra_environment: dict[str, str]) -> dict[str, PulumiSide]:
    """The engine's floor for `stack`'s objects: `benchmarks/bare_program` declaring the same
    objects (types, inputs) with no dependencies ("floor", see floor.py), and declaring
    nothing ("startup": the CLI, language host, Python, SDK and provider starting)."""
    derived = yaml.safe_load((cli.workspace / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    engine_config = engine_config_from_raw({key.split(":", 1)[1]: value for key, value in derived.items()})
    declared_file = work / f"{stack}.declared.json"
    floor.count_declared(Path(bench.__file__).resolve(), engine_config, stack, declared_file)
    empty_file = work / "nothing.declared.json"
    empty_file.write_text(json.dumps({"custom": 0, "component": 0, "modules": [], "resources": []}))
    sides = {}
    for kind, declared in (("floor", declared_file), ("startup", empty_file)):
        name = f"cmp-{kind}-r{routes}"
        workspace = engine._bare_workspace(work / "bare", name, declared, kind, floor.BARE_KINDS["bare"])
        bare_cli = PulumiCli(cli.layout, workspace, cli.kubeconfig, cli.python_virtualenv, cli.wrap)
        bare_cli.select_stack(name)
        sides[kind] = PulumiSide(bare_cli, name, work, extra_environment)
    return sides


def measure_size(
    cluster: ClusterLayout, routes: int, kubectl_first: bool, work: Path, extra_environment: dict[str, str], with_floor: bool, progress
) -> SizeResult:
    kubectl = Kubectl(cluster)
    pulumi_name, kubectl_name = f"cmp-p-r{routes}", f"cmp-k-r{routes}"
    kubectl_stack = work / f"Pulumi.{kubectl_name}.yaml"
    kubectl_stack.write_text(stack_file_text(stack_config(routes, kubectl_name)))
    objects_file = work / f"{kubectl_name}.yaml"
    objects = render_objects(kubectl_stack, objects_file)
    cli = pulumi_for(cluster, pulumi_name, pulumi_engine_binaries(), stack_file_text=stack_file_text(stack_config(routes, pulumi_name)))
    cli.select_stack(pulumi_name)
    pulumi = PulumiSide(cli, pulumi_name, work, extra_environment)
    result = SizeResult(routes, objects)
    # What an interrupted run left behind, untimed.
    pulumi.run("clean start", "destroy", "--yes", "--skip-preview")
    kubectl.run("delete", "--ignore-not-found", "-f", str(objects_file))

    def kubectl_create() -> None:
        kubectl.run("apply", "--server-side", "-f", str(objects_file))
        kubectl.run("wait", "--for=condition=Programmed", "gateway/eg", "-n", kubectl_name, f"--timeout={WAIT_TIMEOUT}")
        kubectl.run("wait", "--for=condition=Available", "deployment", "--all", "-n", kubectl_name, f"--timeout={WAIT_TIMEOUT}")

    actions: dict[str, dict[str, Callable[[], Any]]] = {
        "preview from empty": {
            "kubectl": lambda: kubectl.run("diff", "--server-side", "-f", str(objects_file), allowed=(0, 1)),
            "pulumi": lambda: pulumi.run("preview from empty", "preview"),
        },
        "create": {"kubectl": kubectl_create, "pulumi": lambda: pulumi.run("create", "up", "--yes", "--skip-preview")},
        "no-change preview": {
            "kubectl": lambda: kubectl.run("diff", "--server-side", "-f", str(objects_file), allowed=(0, 1)),
            "pulumi": lambda: pulumi.run("no-change preview", "preview"),
        },
        "delete": {
            "kubectl": lambda: kubectl.run("delete", "--ignore-not-found", "-f", str(objects_file)),  # the Namespace goes first
            "pulumi": lambda: pulumi.run("delete", "destroy", "--yes", "--skip-preview"),
        },
    }
    order = ("kubectl", "pulumi") if kubectl_first else ("pulumi", "kubectl")
    if with_floor:
        # Previewed (never deployed) beside the program's previews: from empty while the
        # namespace is empty, and while the program's objects exist (the provider's dry runs
        # then meet the live objects, as in the no-change preview).
        sides = floor_sides(cli, routes, pulumi_name, work, extra_environment)
        actions["preview from empty"]["startup"] = lambda: sides["startup"].run("startup", "preview")
        for step in ("preview from empty", "no-change preview"):
            actions[step]["floor"] = lambda step=step: sides["floor"].run(step, "preview")
    for step in STEPS:
        if step == "preview from empty":
            for name in (pulumi_name, kubectl_name):
                kubectl.run("create", "namespace", name, allowed=(0, 1))  # 1: left by an interrupted run
        for side in (*order, *(kind for kind in ("floor", "startup") if kind in actions[step])):
            figure = timed(actions[step][side])
            result.figures[(step, side)] = figure
            progress(f"{routes} routes, {step}, {side}: {figure.seconds:.1f} s (load {figure.load_before} -> {figure.load_after})")
        if step == "preview from empty":
            for name in (pulumi_name, kubectl_name):
                kubectl.run("delete", "namespace", name, "--wait=true")
        if step == "no-change preview" and not no_change(pulumi.outputs[step]):
            result.notes.append(f"{routes} routes: the no-change preview planned changes:\n" + pulumi.outputs[step].split("Resources:", 1)[-1])
        if step == "create":
            host = cli.outputs(pulumi_name).get("GATEWAY_HOST")
            result.notes.append(f"{routes} routes: GATEWAY_HOST after up: {host}")
    return result


def format_table(results: list[SizeResult]) -> str:
    header = ["routes (objects)", "step", "this program", "s", "kubectl", "s", "ratio", "engine floor s (startup s)",
              "load (1-min) before/after: pulumi; kubectl"]
    rows = []
    for result in results:
        for step in STEPS:
            ours, theirs = result.figures.get((step, "pulumi")), result.figures.get((step, "kubectl"))
            if ours is None or theirs is None:
                continue
            bare, startup = result.figures.get((step, "floor")), result.figures.get((step, "startup"))
            floor_cell = "" if bare is None else f"{bare.seconds:.1f}" + ("" if startup is None else f" ({startup.seconds:.1f})")
            rows.append([
                f"{result.routes} ({result.objects})", step, f"`{PULUMI_COMMANDS[step]}`", f"{ours.seconds:.1f}",
                f"`{KUBECTL_COMMANDS[step]}`", f"{theirs.seconds:.1f}", f"{ours.seconds / theirs.seconds:.2f}x", floor_cell,
                f"{ours.load_before.split()[0]}/{ours.load_after.split()[0]}; {theirs.load_before.split()[0]}/{theirs.load_after.split()[0]}",
            ])
    widths = [max(len(line[index]) for line in [header, *rows]) for index in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in [header, *rows]]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def timeline(event_log: Path) -> str:
    """Per resource type: how many steps, when the first started and the last ended (s from the first event)."""
    starts: dict[str, float] = {}
    spans: dict[str, list[float]] = {}
    origin: Optional[float] = None
    for line in event_log.read_text().splitlines():
        event = json.loads(line)
        stamp = float(event.get("timestamp", 0))
        origin = stamp if origin is None else origin
        if "resourcePreEvent" in event:
            metadata = event["resourcePreEvent"]["metadata"]
            if metadata.get("op") != "same":
                starts[metadata["urn"]] = stamp
        elif "resOutputsEvent" in event:
            metadata = event["resOutputsEvent"]["metadata"]
            if metadata["urn"] in starts:
                kind = metadata.get("type", "?")
                span = spans.setdefault(kind, [0, float("inf"), 0.0, 0.0])
                began = starts.pop(metadata["urn"])
                span[0] += 1
                span[1] = min(span[1], began - origin)
                span[2] = max(span[2], stamp - origin)
                span[3] += stamp - began
    lines = [f"  {kind}: {count} steps, {first:.0f}-{last:.0f} s, {total / count:.1f} s each on average"
             for kind, (count, first, last, total) in sorted(spans.items(), key=lambda item: item[1][1])]
    return "\n".join(lines)


def run(
    sizes: tuple[int, ...], state_directory: Path, extra_environment: dict[str, str], show_timeline: bool, with_floor: bool, progress
) -> list[SizeResult]:
    cluster = ClusterLayout(state_directory.resolve())
    if running_cluster(cluster) is None:
        subprocess.run([sys.executable, "-m", "gatestack", "cluster", "up", "--state-dir", str(state_directory)], cwd=REPOSITORY_ROOT, check=True)
    work = cluster.state_directory / "kubectl-compare"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for index, routes in enumerate(sizes):
        results.append(measure_size(cluster, routes, index % 2 == 0, work, extra_environment, with_floor, progress))
        if show_timeline:
            for step in STEPS:
                event_log = work / f"cmp-p-r{routes}.{step.replace(' ', '-')}.jsonl"
                if event_log.exists():
                    print(f"{routes} routes, {step}, engine timeline:\n{timeline(event_log)}", file=sys.stderr)
    return results


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=lambda text: tuple(int(item) for item in text.split(",")), default=SIZES, help="route counts (default 10,100,300)")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIRECTORY, help="the local cluster's state directory")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the pulumi commands (e.g. PULUMI_PARALLEL=32)")
    parser.add_argument("--timeline", action="store_true", help="print the engine's step timeline per resource type")
    parser.add_argument("--floor", action="store_true", help="also preview bare_program with the same objects and with none (the engine's floor)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    extra = dict(item.split("=", 1) for item in arguments.env)
    load_at_start = load()
    started = time.monotonic()
    results = run(arguments.routes, arguments.state_dir, extra, arguments.timeline, arguments.floor,
                  lambda message: print(message, file=sys.stderr, flush=True))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY_ROOT, capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; {sys.platform}, 2 cores expected, os.cpu_count()={os.cpu_count()}; extra environment {extra or 'none'}")
    print(f"load (1/5/15 min) at start {load_at_start}, at end {load()}; took {(time.monotonic() - started) / 60:.1f} min; one round per size")
    print(format_table(results))
    for result in results:
        for note in result.notes:
            print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
