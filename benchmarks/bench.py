"""Benchmark: the program's cost as a stack grows (a script, not a test).

    .venv/bin/python benchmarks/bench.py                      # the full run (see README.md)
    .venv/bin/python benchmarks/bench.py --quick              # 1/10/100 routes, 1 and 8 listeners, 1 run
    .venv/bin/python benchmarks/bench.py --skip-conformance   # no Envoy, no egctl
    .venv/bin/python benchmarks/bench.py --floor              # the program beside the SDK's floor (floor.py)
    .venv/bin/python benchmarks/bench.py --kubectl            # pulumi up/preview/destroy beside kubectl (kubectl_compare.py)
    .venv/bin/python benchmarks/bench.py --floor --plot docs/images/benchmark-floor.png   # and its plot (plots.py)

For every (routes, listeners) pair it generates a stack file into a temporary directory
(`Pulumi.bench-r<routes>-l<listeners>.yaml`) and measures, each in a fresh subprocess:

* validate: `parse_stack_config(raw)` (pydantic models + cross-value rules), raw already read;
* evaluate: `run_program()` - the real `__main__.py` under the Pulumi SDK's mock engine - after
  a warm-up run of a 1-route stack in the same process (so imports are not counted);
  resources/s = declared resources / evaluate time;
* eval peak: the peak RSS of that worker process (imports + warm-up + validate + evaluate),
  from `os.wait4()`'s rusage of that one child (`ru_maxrss`, the same number
  `getrusage(RUSAGE_CHILDREN)` gives when it is the only child waited for);
* render: the wall time of the whole command `python -m gatestack render --config FILE -o FILE`
  (interpreter start, imports, validation, evaluation, YAML), and its peak RSS, measured the same way;
* conformance (1, 10 and 100 routes): the wall time of
  `python -m gatestack conformance --config FILE --sample-size N` with the tools already in `.tools/`,
  split into its steps as the command reports them (render with real certificates, validate,
  translate + start Envoy, verify). One run each.

validate, evaluate and render are the median of `--runs` runs (default 3, each in a new
process); a measurement whose first run took longer than `--repeat-below` seconds is not
repeated (marked `*`). The last rows give the growth ratio from the second-largest to the
largest route count, per listener count.

Generated stacks: HTTP listeners `l0..l<L-1>` on ports 8000+i; route `r<i>` has hostname
`r<i>.example.com`, attaches to listener `l<i mod L>` (parentRefs sectionName), and has one
rule: PathPrefix `/`, a RequestHeaderModifier adding `x-bench-route: r<i>`, and backends
`b<2i mod P>` (weight 8) and `b<2i+1 mod P>` (weight 2), over a pool of P = min(2 x routes, 256)
echo backends: 256 is the most backends a stack may declare (`StackConfig.backends`), so up to
128 routes every route has two backends of its own and at 1,000 routes each backend serves
about 8 routes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import engine  # benchmarks/engine.py, floor.py and table.py: this script's directory is on sys.path
import floor
import plots
from table import Row, format_table

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MAX_BACKENDS = 256  # StackConfig.backends: max_length=256
FIRST_LISTENER_PORT = 8000
WARM_UP_STACK = "bench-warm-up"

FULL_ROUTES = (1, 10, 100, 1000)
FULL_LISTENERS = (1, 8, 32)
FULL_CONFORMANCE_ROUTES = (1, 10, 100)
QUICK_ROUTES = (1, 10, 100)
QUICK_LISTENERS = (1, 8)
QUICK_CONFORMANCE_ROUTES = (1, 10)


# --- the generated stacks ---------------------------------------------------------------------


def backend_pool_size(routes: int) -> int:
    return min(2 * routes, MAX_BACKENDS)


def stack_raw_config(routes: int, listeners: int) -> dict[str, Any]:
    """A stack's project keys (without `api-gateway:`), as `raw_config_from_stack_file` returns them."""
    pool = backend_pool_size(routes)
    return {
        "namespace": "default",
        "gateway": {
            "name": "eg",
            "listeners": [
                {"name": f"l{index}", "protocol": "HTTP", "port": FIRST_LISTENER_PORT + index}
                for index in range(listeners)
            ],
        },
        "backends": [{"name": f"b{index}"} for index in range(pool)],
        "routes": [
            {
                "name": f"r{index}",
                "parentRefs": [{"name": "eg", "sectionName": f"l{index % listeners}"}],
                "hostnames": [f"r{index}.example.com"],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                        "filters": [
                            {
                                "type": "RequestHeaderModifier",
                                "requestHeaderModifier": {"add": [{"name": "x-bench-route", "value": f"r{index}"}]},
                            }
                        ],
                        "backendRefs": [
                            {"name": f"b{(2 * index) % pool}", "port": 3000, "weight": 8},
                            {"name": f"b{(2 * index + 1) % pool}", "port": 3000, "weight": 2},
                        ],
                    }
                ],
            }
            for index in range(routes)
        ],
    }


def stack_name(routes: int, listeners: int) -> str:
    return f"bench-r{routes}-l{listeners}"


def with_routes_in_files(raw: dict[str, Any], stack: str) -> dict[str, Any]:
    """`raw` with its routes and backends moved to a route file of the repository, named by
    `routeFiles` (README, `routeFiles`): the config the language host passes then stays a few
    hundred bytes at any size. The file goes to `.local/bench-routes/<stack>/` (ignored by git):
    route files must be inside the project directory."""
    import yaml

    directory = REPOSITORY_ROOT / ".local" / "bench-routes" / stack
    directory.mkdir(parents=True, exist_ok=True)
    lists = {key: raw[key] for key in ("backends", "routes")}
    (directory / "routes.yaml").write_text(yaml.safe_dump(lists, sort_keys=False))
    rest = {key: value for key, value in raw.items() if key not in lists}
    return {**rest, "routeFiles": [(directory / "routes.yaml").relative_to(REPOSITORY_ROOT).as_posix()]}


def write_stack_file(directory: Path, routes: int, listeners: int) -> Path:
    import yaml

    raw = stack_raw_config(routes, listeners)
    document = {"config": {f"api-gateway:{key}": value for key, value in raw.items()}}
    path = directory / f"Pulumi.{stack_name(routes, listeners)}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


# --- the worker (a fresh process per measurement) --------------------------------------------


def worker(stack_file: Path) -> dict[str, Any]:
    """Validate and evaluate one stack file; runs in its own process (see `measure_evaluation`)."""
    sys.path.insert(0, str(REPOSITORY_ROOT))
    from gateway_config.loader import parse_stack_config, raw_config_from_stack_file
    from gatestack.mock_engine.program_run import run_program

    name = stack_file.name.split(".")[1]
    raw = raw_config_from_stack_file(stack_file)
    # Validation first, as in the program (`load_config()` runs before any resource is
    # declared), so the heap the garbage collector walks is the one the program has then.
    gc.collect()
    started = time.perf_counter()
    parse_stack_config(raw, str(stack_file))
    validate_seconds = time.perf_counter() - started
    # Warm-up: import the program's modules (pulumi_kubernetes loads its types lazily) so the
    # timed run measures the program, not the imports.
    run_program(WARM_UP_STACK, stack_raw_config(1, 1))
    gc.collect()
    started = time.perf_counter()
    run = run_program(name, raw)
    evaluate_seconds = time.perf_counter() - started
    return {"validate": validate_seconds, "evaluate": evaluate_seconds, "resources": len(run.resources)}


# --- measuring from the parent ---------------------------------------------------------------


@dataclass
class ChildResult:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_child(command: list[str], timeout: Optional[float] = None) -> ChildResult:
    """Run `command`, returning its wall time and the peak RSS of that process alone (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPOSITORY_ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            if timeout is not None:
                deadline = started + timeout
                while True:
                    pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                    if pid:
                        break
                    if time.perf_counter() > deadline:
                        process.kill()
                        pid, status, usage = os.wait4(process.pid, 0)
                        break
                    time.sleep(0.05)
            else:
                pid, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            raise
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return ChildResult(
            seconds=seconds,
            peak_mb=usage.ru_maxrss / 1024,  # Linux: kilobytes
            returncode=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


class BenchmarkError(RuntimeError):
    pass


def _check(result: ChildResult, what: str) -> None:
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-25:])
        raise BenchmarkError(f"{what} failed (exit {result.returncode}):\n{tail}")


def measure_evaluation(stack_file: Path) -> dict[str, Any]:
    result = run_child([PYTHON, str(Path(__file__).resolve()), "--worker", str(stack_file)])
    _check(result, f"evaluating {stack_file.name}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["peak_mb"] = result.peak_mb
    return measured


def measure_render(stack_file: Path, output: Path) -> dict[str, Any]:
    command = [PYTHON, "-m", "gatestack", "render", "--config", str(stack_file), "--output", str(output)]
    result = run_child(command)
    _check(result, f"gatestack render {stack_file.name}")
    return {"render": result.seconds, "render_peak_mb": result.peak_mb, "render_bytes": output.stat().st_size}


_STEP = re.compile(r"^==> (?P<title>.*)$")
_DONE = re.compile(r"^\s+done in (?P<seconds>[0-9.]+)s$")
_STEP_NAMES = (("render", "render"), ("validate", "validate"), ("translate", "translate+start"), ("verify", "verify"))


def conformance_steps(stderr: str) -> dict[str, float]:
    """Each step's duration as `gatestack conformance` prints it (`==> title` ... `done in 1.2s`)."""
    steps: dict[str, float] = {}
    title = None
    for line in stderr.splitlines():
        if match := _STEP.match(line):
            title = match["title"]
        elif (match := _DONE.match(line)) and title is not None:
            key = next((name for prefix, name in _STEP_NAMES if title.startswith(prefix)), title)
            steps[key] = float(match["seconds"])
            title = None
    return steps


def measure_conformance(stack_file: Path, sample_size: int, timeout: float) -> dict[str, Any]:
    command = [PYTHON, "-m", "gatestack", "conformance", "--config", str(stack_file), "--sample-size", str(sample_size)]
    result = run_child(command, timeout=timeout)
    _check(result, f"gatestack conformance {stack_file.name}")
    summary = [line for line in result.stdout.splitlines() if line.startswith("conformance of stack")]
    return {
        "conformance": result.seconds,
        "conformance_peak_mb": result.peak_mb,
        "conformance_steps": conformance_steps(result.stderr),
        "conformance_summary": summary[-1] if summary else "",
    }


def _repeat(measure, runs: int, repeat_below: float, key: str) -> list[dict[str, Any]]:
    results = [measure()]
    if results[0][key] <= repeat_below:
        results += [measure() for _ in range(runs - 1)]
    return results


def benchmark_one(
    directory: Path,
    routes: int,
    listeners: int,
    *,
    runs: int,
    repeat_below: float,
    conformance: bool,
    sample_size: int,
    conformance_timeout: float,
    progress,
) -> Row:
    stack_file = write_stack_file(directory, routes, listeners)
    row = Row(routes, listeners, backend_pool_size(routes), requested_runs=runs)
    progress(f"{stack_name(routes, listeners)}: evaluate")
    evaluations = _repeat(lambda: measure_evaluation(stack_file), runs, repeat_below, "evaluate")
    for key in ("validate", "evaluate", "peak_mb"):
        row.runs[key] = [item[key] for item in evaluations]
    row.values["resources"] = evaluations[0]["resources"]
    progress(f"{stack_name(routes, listeners)}: render")
    output = directory / f"{stack_name(routes, listeners)}.rendered.yaml"
    renders = _repeat(lambda: measure_render(stack_file, output), runs, repeat_below, "render")
    for key in ("render", "render_peak_mb"):
        row.runs[key] = [item[key] for item in renders]
    row.values["render_bytes"] = renders[0]["render_bytes"]
    output.unlink(missing_ok=True)
    if conformance:
        progress(f"{stack_name(routes, listeners)}: conformance (--sample-size {sample_size})")
        measured = measure_conformance(stack_file, sample_size, conformance_timeout)
        row.runs["conformance"] = [measured["conformance"]]
        row.values.update(measured)
    progress(f"{stack_name(routes, listeners)}: " + ", ".join(f"{key} {row.median(key):.2f}" for key in row.runs))
    return row


# --- main --------------------------------------------------------------------------------------


def _machine() -> str:
    import platform

    cpus = os.cpu_count()
    memory = ""
    try:
        total_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.machine()}, {cpus} CPUs{memory}, Python {platform.python_version()}"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for package in ("pulumi", "pulumi-kubernetes", "pydantic", "PyYAML"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def _commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPOSITORY_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (with uncommitted changes)" if dirty else "")


def _load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def _header(load_at_start: str, extra: str) -> None:
    print(f"machine: {_machine()}; {_versions()}; commit {_commit()}")
    print(f"load average (1/5/15 min) at start {load_at_start}, at end {_load()}")
    print(extra)
    print()


def run_floor(arguments: argparse.Namespace, progress) -> int:
    """`--floor`: program and bare program alternating, medians and ratios (see floor.py)."""
    load_at_start = _load()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gatestack-floor-") as directory:
        for routes in arguments.routes:
            listeners = arguments.listeners[0]
            rows.append(
                floor.measure_floor(
                    Path(directory), routes, arguments.runs, stack_raw_config(routes, listeners),
                    stack_name(routes, listeners), Path(__file__).resolve(), progress,
                )
            )
    _header(load_at_start, f"floor: median of {arguments.runs} alternating runs (program, bare, bare with the program's graph, bare with no inputs), each in a fresh process, "
            f"{arguments.listeners[0]} listener(s); took {(time.perf_counter() - started) / 60:.1f} min")
    print(floor.format_floor_table(rows))
    if arguments.plot is not None:
        title = f"Evaluation under the SDK's mocks, {arguments.listeners[0]} listener(s), median of {arguments.runs} rounds (load {load_at_start})"
        print(f"wrote {plots.floor_plot(rows, arguments.plot, title)}")
    return 0 if all(row.ratio <= row.target for row in rows) else 3


def run_engine(arguments: argparse.Namespace, progress) -> int:
    """`--engine`: `pulumi preview` of program and bare programs against the local cluster (see engine.py)."""
    started_cluster = subprocess.run(
        [PYTHON, "-m", "gatestack", "cluster", "up", "--state-dir", str(arguments.state_dir)], cwd=REPOSITORY_ROOT
    )
    if started_cluster.returncode != 0:
        return started_cluster.returncode
    load_at_start = _load()
    started = time.perf_counter()
    rows = []
    listeners = arguments.listeners[0]
    script = Path(__file__).resolve()
    refused = []
    for routes in arguments.routes:
        stack = stack_name(routes, listeners)
        raw = stack_raw_config(routes, listeners)
        if arguments.route_files:
            raw = with_routes_in_files(raw, stack)
        try:
            rows.append(
                engine.measure_engine(
                    routes, arguments.runs, raw, stack, arguments.state_dir,
                    lambda config, path, stack=stack: floor.count_declared(script, config, stack, path), floor.BARE_KINDS, progress,
                )
            )
        except engine.ConfigTooLarge as error:
            progress(str(error))
            refused.append(str(error))
    _header(load_at_start, f"engine: median of {arguments.runs} alternating rounds (program, bare, bare with the program's graph, bare ConfigMaps) of "
            f"`pulumi preview` on an empty stack, {listeners} listener(s); peaks: the highest of the rounds; "
            f"took {(time.perf_counter() - started) / 60:.1f} min")
    print(engine.format_engine_table(rows))
    for line in refused:
        print(f"not measured: {line}")
    return 0


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1, 10 and 100 routes over 1 and 8 listeners, one run each, conformance for 1 and 10 routes")
    parser.add_argument("--skip-conformance", action="store_true", help="do not run `gatestack conformance`")
    parser.add_argument("--routes", type=lambda text: tuple(int(item) for item in text.split(",")), help="route counts, e.g. 1,10,100,1000")
    parser.add_argument("--listeners", type=lambda text: tuple(int(item) for item in text.split(",")), help="listener counts, e.g. 1,8,32")
    parser.add_argument("--conformance-routes", type=lambda text: tuple(int(item) for item in text.split(",")), help="route counts to run conformance for")
    parser.add_argument("--runs", type=int, help="runs per fast measurement; the median is reported (default 3, 1 with --quick)")
    parser.add_argument("--repeat-below", type=float, default=60.0, help="repeat a measurement only when its first run took at most this many seconds (default 60)")
    parser.add_argument("--sample-size", type=int, default=20, help="gatestack conformance --sample-size: requests per weighted split (default 20)")
    parser.add_argument("--conformance-timeout", type=float, default=900.0, help="give up on one conformance run after this many seconds")
    parser.add_argument("--keep", type=Path, help="write the generated stack files here (kept) instead of a temporary directory")
    parser.add_argument("--json", type=Path, help="also write every measurement (all runs) to this JSON file")
    parser.add_argument("--plot", type=Path, help="--floor: also draw the figures as a PNG here (plots.py, matplotlib)")
    parser.add_argument("--floor", action="store_true", help="the program beside a bare program of the same resource counts (floor.py): 10, 100, 1,000 routes, 1 listener, 5 alternating pairs")
    parser.add_argument("--engine", action="store_true", help="`pulumi preview` on the real engine against the local cluster, program beside bare programs (engine.py): 100, 250 and 1,000 routes (1,000 only with --route-files: inline, its config is too large for the language host), 3 rounds")
    parser.add_argument("--route-files", action="store_true", help="--engine: each stack's routes and backends in a route file (`routeFiles`), so 1,000 routes fit the language host's config")
    parser.add_argument("--state-dir", type=Path, default=engine.DEFAULT_STATE_DIRECTORY, help="--engine: the local cluster's state directory (default /tmp/bench-cluster; started if not running, left running)")
    parser.add_argument("--kubectl", action="store_true", help="pulumi up/preview/destroy beside kubectl doing the same work, with the engine's floor (kubectl_compare.py): 10, 100 and 300 routes, one round; --routes and --state-dir are passed on")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor-worker", nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    arguments.routes_given = arguments.routes
    quick = arguments.quick
    if arguments.engine:
        arguments.routes = arguments.routes or engine.ENGINE_ROUTES
        arguments.listeners = arguments.listeners or (1,)
        arguments.runs = arguments.runs or engine.ENGINE_RUNS
    if arguments.floor:
        arguments.routes = arguments.routes or floor.FLOOR_ROUTES
        arguments.listeners = arguments.listeners or (1,)
        arguments.runs = arguments.runs or floor.FLOOR_RUNS
    arguments.routes = arguments.routes or (QUICK_ROUTES if quick else FULL_ROUTES)
    arguments.listeners = arguments.listeners or (QUICK_LISTENERS if quick else FULL_LISTENERS)
    arguments.conformance_routes = arguments.conformance_routes or (QUICK_CONFORMANCE_ROUTES if quick else FULL_CONFORMANCE_ROUTES)
    arguments.runs = arguments.runs or (1 if quick else 3)
    return arguments


def main(argv: Optional[list[str]] = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    if arguments.worker is not None:
        print(json.dumps(worker(arguments.worker)))
        return 0
    if arguments.floor_worker is not None:
        kind, path, *stack = arguments.floor_worker
        print(json.dumps(floor.main_worker(kind, Path(path), stack[0] if stack else None)))
        return 0

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if arguments.kubectl:
        # Its own script (the cluster's tools and the pulumi CLI); the routes default there.
        forwarded = ["--state-dir", str(arguments.state_dir), "--floor"]
        if arguments.routes_given:
            forwarded += ["--routes", ",".join(str(routes) for routes in arguments.routes_given)]
        return subprocess.call([PYTHON, str(Path(__file__).with_name("kubectl_compare.py")), *forwarded], cwd=REPOSITORY_ROOT)
    if arguments.floor:
        return run_floor(arguments, progress)
    if arguments.engine:
        return run_engine(arguments, progress)
    conformance_wanted = not arguments.skip_conformance
    if conformance_wanted:
        missing = [tool for tool in ("egctl", "kubectl-validate") if not list((REPOSITORY_ROOT / ".tools").glob(f"{tool}-*/{tool}"))]
        if missing:
            print(
                f"benchmark: {', '.join(missing)} not in .tools/; conformance is timed with the tools in place: "
                "run `.venv/bin/python -m gatestack tools` first, or pass --skip-conformance",
                file=sys.stderr,
            )
            return 2
    if arguments.keep is not None:
        arguments.keep.mkdir(parents=True, exist_ok=True)
        directory_context = None
        directory = arguments.keep
    else:
        directory_context = tempfile.TemporaryDirectory(prefix="gatestack-bench-")
        directory = Path(directory_context.name)
    rows: list[Row] = []
    load_at_start = _load()
    started = time.perf_counter()
    try:
        for routes in arguments.routes:
            for listeners in arguments.listeners:
                rows.append(
                    benchmark_one(
                        directory,
                        routes,
                        listeners,
                        runs=arguments.runs,
                        repeat_below=arguments.repeat_below,
                        conformance=conformance_wanted and routes in arguments.conformance_routes,
                        sample_size=arguments.sample_size,
                        conformance_timeout=arguments.conformance_timeout,
                        progress=progress,
                    )
                )
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if directory_context is not None:
            directory_context.cleanup()
    elapsed = time.perf_counter() - started
    print(f"machine: {_machine()}; {_versions()}; commit {_commit()}")
    print(f"load average (1/5/15 min) at start {load_at_start}, at end {_load()}")
    print(
        f"runs: median of {arguments.runs} (* = one run: the first took over {arguments.repeat_below:.0f} s); "
        + (f"conformance: one run, --sample-size {arguments.sample_size}; " if conformance_wanted else "conformance: skipped; ")
        + f"benchmark took {elapsed / 60:.1f} min"
    )
    print()
    print(format_table(rows))
    if arguments.json is not None:
        arguments.json.write_text(
            json.dumps(
                [
                    {"routes": row.routes, "listeners": row.listeners, "backends": row.backends, "runs": row.runs, **row.values}
                    for row in rows
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
