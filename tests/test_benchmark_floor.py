"""The benchmark's floor (benchmarks/floor.py, benchmarks/bare_program): the bare program
declares what the program declared, counted from a run of the program, never hard-coded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench  # noqa: E402
import engine  # noqa: E402
import floor  # noqa: E402
import plots  # noqa: E402

from gateway_config.loader import engine_config_from_raw  # noqa: E402


@pytest.fixture(scope="module")
def declared(tmp_path_factory) -> Path:
    """What the program declared for a 3-route stack over 6 backends, as the benchmark writes it."""
    directory = tmp_path_factory.mktemp("floor")
    config_file = directory / "bench-r3-l1.json"
    config_file.write_text(json.dumps(engine_config_from_raw(bench.stack_raw_config(3, 1))))
    floor.program_worker("bench-r3-l1", config_file, directory / "declared.json")
    return directory / "declared.json"


def test_the_declared_file_counts_what_the_program_registered(declared: Path) -> None:
    record = json.loads(declared.read_text())
    resources = record["resources"]
    # 6 backends x 3 objects, 3 HTTPRoutes, Namespace, EnvoyProxy, GatewayClass, Gateway and its read.
    assert record["custom"] == sum(1 for resource in resources if resource["custom"]) == 6 * 3 + 3 + 5
    assert record["component"] == len(resources) - record["custom"]
    assert sum(1 for resource in resources if resource["read"]) == 1
    assert "pulumi_kubernetes.core.v1" in record["modules"]


@pytest.mark.parametrize("kind", sorted(floor.BARE_KINDS))
def test_every_bare_program_declares_the_programs_counts(declared: Path, kind: str) -> None:
    record = json.loads(declared.read_text())
    measured = floor.bare_worker(declared, kind)
    assert (measured["custom"], measured["component"]) == (record["custom"], record["component"])


def test_the_bare_program_with_the_programs_graph_keeps_its_parents_and_dependencies(declared: Path) -> None:
    record = json.loads(declared.read_text())
    config = {"bench-bare:declared": str(declared), "bench-bare:graph": "same", "bench-bare:inputs": "same"}
    monitor = floor._run("bench-bare", config, floor.BARE_PROGRAM / "__main__.py")
    # The program's resources by their place in its registration order; the bare program names
    # each of its resources `<kind>-<that place>`. The Stack is no one's place (None).
    place = {resource["urn"]: index for index, resource in enumerate(record["resources"])}
    program_shape = sorted(
        (place[r["urn"]], place.get(r["parent"]), tuple(sorted(place[d] for d in r["dependencies"])))
        for r in record["resources"]
    )
    bare_place = {urn: int(urn.rsplit("-", 1)[1]) for _, urn, _, _ in monitor.declared}
    bare_shape = sorted(
        (bare_place[urn], bare_place.get(request.parent), tuple(sorted(bare_place[d] for d in request.dependencies)))
        for request, urn, _, _ in monitor.declared
    )
    assert bare_shape == program_shape
    assert any(dependencies for _, _, dependencies in program_shape)  # the graph has edges to keep


def test_a_thousand_route_config_is_too_large_for_the_language_host_and_a_hundred_is_not() -> None:
    size = lambda routes: engine.config_environment_size(engine_config_from_raw(bench.stack_raw_config(routes, 1)))  # noqa: E731
    assert size(100) < engine.MAX_ARG_STRLEN < size(1000)


def test_the_floor_plot_is_a_png_of_what_was_measured(tmp_path: Path) -> None:
    # GIVEN two measured sizes (the second with no "bare, no inputs" rounds)
    rows = [
        floor.FloorRow(routes=10, program=[0.8, 0.9], bare=[0.6, 0.7], bare_graph=[0.7], bare_no_inputs=[0.5]),
        floor.FloorRow(routes=100, program=[3.0], bare=[2.4], bare_graph=[2.6]),
    ]
    # WHEN plotted
    path = plots.floor_plot(rows, tmp_path / "images" / "floor.png", "test")
    # THEN a PNG is written, its folder made
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
