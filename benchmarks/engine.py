"""The real engine: `pulumi preview` of the program beside the bare program, against the local cluster.

    .venv/bin/python benchmarks/bench.py --engine                          # 100, 250 (1,000 refused: too large inline), 3 rounds each
    .venv/bin/python benchmarks/bench.py --engine --route-files          # 100, 250, 1,000: routes in route files
    .venv/bin/python benchmarks/bench.py --engine --routes 100 --runs 2 --state-dir /tmp/bench-cluster

Opt-in (it starts the local cluster of `python -m gatestack cluster up` in `--state-dir`, default
`/tmp/bench-cluster`, and leaves it running: `python -m gatestack cluster down --state-dir DIR`
stops it). For each stack size it previews, alternating, in one run:

* program: the project's `__main__.py` for the generated stack, in the workspace
  `gatestack.engine.workspace` prepares (the local cluster's settings applied: the controller is
  already installed, so the program declares no charts);
* bare: `benchmarks/bare_program` with the custom and component counts that the program
  declares for that same config (counted by a mock run, see `floor.py`), each custom resource
  with the program's type and inputs (`bench-bare:inputs: same`): the provider gets the same
  objects to check and diff;
* bare, program's graph: the same, with the program's parents and dependencies
  (`bench-bare:graph: same`): beside the program, the cost of the program's Python; beside
  bare, the cost of waiting for dependencies (the SDK registers a resource only once its
  dependencies' registrations have been answered, and the engine answers one when its step,
  here the provider's Check, Diff and server-side dry run, is done);
* bare, ConfigMaps: the same counts, each custom resource a ConfigMap with no inputs but
  `apiVersion` and `kind` (`bench-bare:inputs: none`): the least the engine and the Kubernetes
  provider can do per resource; beside bare, the provider's work on the program's objects.

Every preview is the whole `pulumi preview --stack S --non-interactive` (CLI start, language
host, provider start, the program, the engine's Check and Diff per resource) on an empty stack,
timed by its wall clock. While it runs, /proc is polled every `POLL_SECONDS` for the processes
below it: the peak resident memory (VmHWM) of the language host's tree (pulumi-language-python
and the Python program it runs) and of pulumi-resource-kubernetes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
BARE_PROGRAM = Path(__file__).resolve().parent / "bare_program"
# 250: the largest stack of the benchmark's shape whose config the language host can hand over
# (see MAX_ARG_STRLEN); 1,000 routes is refused with the reason unless --route-files moves the
# routes and backends out of the config (`routeFiles`, read by the program itself).
ENGINE_ROUTES = (100, 250, 1000)
ENGINE_RUNS = 3
DEFAULT_STATE_DIRECTORY = Path("/tmp/bench-cluster")
POLL_SECONDS = 0.1
# The language host hands the program its whole config in one environment variable,
# PULUMI_CONFIG (pulumi-language-python v3.79 main.go; pulumi/pulumi#8680), and Linux refuses
# to start a process with any one argument or environment string longer than MAX_ARG_STRLEN
# (32 pages, 128 KiB): `fork/exec python3: argument list too long`.
MAX_ARG_STRLEN = 32 * 4096
# program, then bare_program configured as floor.BARE_KINDS says ("bare-no-inputs": ConfigMaps)
KINDS = ("program", "bare", "bare-graph", "bare-no-inputs")
# /proc/PID/status names are cut at 15 characters: "pulumi-language-python" reads "pulumi-language".
LANGUAGE_HOST = "pulumi-language"  # the host; its tree holds the `-exec` shim and the Python program
PROVIDER = "pulumi-resource"  # pulumi-resource-kubernetes, the only provider these programs use


def _process_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, command name, VmHWM in kB) for every process /proc shows now."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        hwm = fields.get("VmHWM", "0 kB").split()[0]
        table[int(entry.name)] = (int(fields["PPid"]), fields["Name"].strip(), int(hwm))
    return table


def _descendants(table: dict[int, tuple[int, str, int]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        for child in children.get(pid, ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


@dataclass
class PreviewRun:
    seconds: float
    language_host_mb: float  # the language host's tree: the sum of its processes' peaks
    provider_mb: float
    output_tail: str


def timed_preview(command: list[str], cwd: Path, environment: dict[str, str]) -> PreviewRun:
    """Run one `pulumi preview` command, polling /proc for its language host's and provider's peaks."""
    peaks: dict[int, tuple[str, int, bool]] = {}  # pid -> (name, VmHWM kB, in the language host's tree)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    output: list[str] = []
    reader = _start_reader(process, output)
    while process.poll() is None:
        table = _process_table()
        below = _descendants(table, process.pid)
        hosts = {pid for pid in below if table[pid][1].startswith(LANGUAGE_HOST)}
        host_tree = hosts | {child for host in hosts for child in _descendants(table, host)}
        for pid in below:
            name, hwm = table[pid][1], table[pid][2]
            # VmHWM only grows, so the last reading before a process exits is its peak (to within a poll).
            peaks[pid] = (name, max(hwm, peaks.get(pid, (name, 0, False))[1]), pid in host_tree or peaks.get(pid, ("", 0, False))[2])
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    reader.join()
    if process.returncode != 0:
        raise RuntimeError(f"`{' '.join(command[-6:])}` exited {process.returncode}:\n" + "".join(output[-20:]))
    return PreviewRun(
        seconds=seconds,
        language_host_mb=sum(hwm for _, hwm, in_host in peaks.values() if in_host) / 1024,
        provider_mb=max((hwm for name, hwm, _ in peaks.values() if name.startswith(PROVIDER)), default=0) / 1024,
        output_tail="".join(output[-6:]),
    )


def _start_reader(process: subprocess.Popen, output: list[str]):
    import threading

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@dataclass
class EngineRow:
    routes: int
    custom: int = 0
    component: int = 0
    runs: dict[str, list[PreviewRun]] = field(default_factory=dict)

    def median(self, kind: str, attribute: str = "seconds") -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs[kind])

    def peak(self, kind: str, attribute: str) -> float:
        return max(getattr(run, attribute) for run in self.runs[kind])


class ConfigTooLarge(RuntimeError):
    """The stack's config cannot reach the program through the language host (see MAX_ARG_STRLEN)."""


def config_environment_size(engine_config: dict[str, str]) -> int:
    """Bytes of `PULUMI_CONFIG=<json>`, as the language host builds it for `engine_config`."""
    return len(("PULUMI_CONFIG=" + json.dumps(engine_config, separators=(",", ":"))).encode())


def _bare_workspace(root: Path, stack: str, declared_file: Path, kind: str, settings: dict[str, str]) -> Path:
    """A workspace whose program is `bare_program`, its stack config naming the declared file and `settings`."""
    import yaml

    workspace = root / kind
    workspace.mkdir(parents=True, exist_ok=True)
    project = {
        "name": "bench-bare",
        "runtime": {"name": "python", "options": {"virtualenv": str(REPOSITORY_ROOT / ".venv")}},
        "main": str(BARE_PROGRAM),
    }
    (workspace / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    stack_file = workspace / f"Pulumi.{stack}.yaml"
    previous = yaml.safe_load(stack_file.read_text()) if stack_file.exists() else {}
    config = {"bench-bare:declared": str(declared_file), **{f"bench-bare:{key}": value for key, value in settings.items()}}
    document = {**(previous or {}), "config": config}
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return workspace


def measure_engine(
    routes: int,
    runs: int,
    raw_config: dict[str, Any],
    stack: str,
    state_directory: Path,
    count_declared: Callable[[dict[str, str], Path], dict[str, Any]],
    bare_kinds: dict[str, dict[str, str]],
    progress,
) -> EngineRow:
    """`runs` rounds of previews of one stack size, one of each of `KINDS` per round."""
    import yaml

    sys.path.insert(0, str(REPOSITORY_ROOT))
    from gateway_config.loader import engine_config_from_raw
    from gatestack.cluster.binaries import pulumi_engine_binaries
    from gatestack.cluster.layout import ClusterLayout
    from gatestack.engine.deploy import engine_layout, pulumi_for
    from gatestack.engine.pulumi_cli import PulumiCli

    cluster = ClusterLayout(state_directory.resolve())
    stack_text = yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in raw_config.items()}}, sort_keys=False)
    program_cli = pulumi_for(cluster, stack, pulumi_engine_binaries(), stack_file_text=stack_text)
    # What the program declares with the workspace's settings (controller already installed).
    derived = yaml.safe_load((program_cli.workspace / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw_derived = {key.split(":", 1)[1]: value for key, value in derived.items()}
    bench_root = engine_layout(cluster).root / "bench"
    bench_root.mkdir(parents=True, exist_ok=True)
    declared_file = bench_root / f"{stack}.declared.json"
    engine_config = engine_config_from_raw(raw_derived)
    size = config_environment_size(engine_config)
    if size > MAX_ARG_STRLEN:
        raise ConfigTooLarge(
            f"{stack}: the program's config is {size:,} bytes as PULUMI_CONFIG, over Linux's {MAX_ARG_STRLEN:,}-byte limit "
            "for one environment string: the language host cannot start it (`argument list too long`, pulumi/pulumi#8680)"
        )
    declared = count_declared(engine_config, declared_file)
    row = EngineRow(routes, declared["custom"], declared["component"], {kind: [] for kind in KINDS})
    clis = {"program": program_cli}
    for kind in KINDS[1:]:
        workspace = _bare_workspace(bench_root, stack, declared_file, kind, bare_kinds[kind])
        clis[kind] = PulumiCli(program_cli.layout, workspace, program_cli.kubeconfig, program_cli.python_virtualenv, program_cli.wrap)
    for cli in clis.values():
        cli.select_stack(stack)
    for run in range(runs):
        for kind in KINDS:
            cli = clis[kind]
            command = cli.wrap([str(cli.layout.bin / "pulumi"), "preview", "--stack", stack, "--non-interactive"])
            measured = timed_preview(command, cli.workspace, cli.environment())
            row.runs[kind].append(measured)
            progress(
                f"engine {stack} run {run + 1}/{runs}: {kind} preview {measured.seconds:.1f} s, language host "
                f"{measured.language_host_mb:.0f} MB, provider {measured.provider_mb:.0f} MB"
            )
    return row


def format_engine_table(rows: list[EngineRow]) -> str:
    header = [
        "routes", "declared (custom + component)", "program s", "bare s", "ratio", "bare, program's graph s", "ratio to it",
        "bare ConfigMaps s", "ratio to it", "host peak MB: program / bare / graph / ConfigMaps",
        "provider peak MB: program / bare / graph / ConfigMaps",
    ]
    body = []
    for row in rows:
        body.append([
            f"{row.routes:,}",
            f"{row.custom:,} + {row.component:,}",
            f"{row.median('program'):.1f}",
            f"{row.median('bare'):.1f}",
            f"{row.median('program') / row.median('bare'):.2f}",
            f"{row.median('bare-graph'):.1f}",
            f"{row.median('program') / row.median('bare-graph'):.2f}",
            f"{row.median('bare-no-inputs'):.1f}",
            f"{row.median('program') / row.median('bare-no-inputs'):.2f}",
            " / ".join(f"{row.peak(kind, 'language_host_mb'):.0f}" for kind in KINDS),
            " / ".join(f"{row.peak(kind, 'provider_mb'):.0f}" for kind in KINDS),
        ])
    widths = [max(len(line[index]) for line in [header, *body]) for index in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
    return "\n".join([line(header), separator, *map(line, body)])
