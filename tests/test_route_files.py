"""Specification: route files (`api-gateway:routeFiles`, gateway_config/route_files.py).

A stack keeps long `routes`, `grpcRoutes` and `backends` lists in YAML files of the repository,
which the program reads itself, so its config fits the 128 KiB the language host's PULUMI_CONFIG
may have (pulumi/pulumi#8680). Files are merged after the stack's own entries, in pattern order
(a glob's matches sorted), validated once as one config; a bad entry names its file and its
index there; a pattern that names nothing, or anything outside the project, is one clear line.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_config import route_files
from gateway_config.loader import ConfigError, engine_config_from_raw, parse_stack_config
from gatestack.engine.workspace import local_cluster_stack_file
from gatestack.mock_engine.program_run import run_program
from gatestack.stack_source import load_stack
from tests.conftest import stack_raw_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench  # noqa: E402
import engine  # noqa: E402

STACK_FILE = "stacks/Pulumi.dev.yaml"


def route(name: str, backend: str = "backend", weight: int = 1) -> dict[str, Any]:
    return {"name": name, "hostnames": [f"{name}.example.com"], "rules": [{"backendRefs": [{"name": backend, "weight": weight}]}]}


def write(project: Path, path: str, content: Any) -> None:
    """A file of the project: `content` dumped as YAML, or written as it is when a string."""
    file = project / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))


def dev_with(route_file_patterns: list[str]) -> dict[str, Any]:
    """The dev stack's raw config naming `route_file_patterns`."""
    raw = copy.deepcopy(stack_raw_config("dev"))
    raw["routeFiles"] = route_file_patterns
    return raw


def refusal(raw: dict[str, Any], project: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(raw, STACK_FILE, project)
    return str(raised.value).splitlines()


# --- merging ---------------------------------------------------------------------------------


def test_entries_follow_the_stack_files_own_file_by_file_in_pattern_order_with_glob_matches_sorted(tmp_path: Path) -> None:
    write(tmp_path, "stacks/routes/b.yaml", {"routes": [route("from-b")]})
    write(tmp_path, "stacks/routes/a.yaml", {"routes": [route("from-a-1"), route("from-a-2")]})
    write(tmp_path, "stacks/first.yaml", {"routes": [route("from-first")]})
    config = parse_stack_config(dev_with(["stacks/first.yaml", "stacks/routes/*.yaml"]), STACK_FILE, tmp_path)
    inline = [item["name"] for item in stack_raw_config("dev")["routes"]]
    assert [item.name for item in config.routes] == [*inline, "from-first", "from-a-1", "from-a-2", "from-b"]


def test_a_file_matched_by_two_patterns_is_read_once_at_its_first_place(tmp_path: Path) -> None:
    write(tmp_path, "routes/a.yaml", {"routes": [route("a")]})
    write(tmp_path, "routes/b.yaml", {"routes": [route("b")]})
    config = parse_stack_config(dev_with(["routes/b.yaml", "routes/*.yaml"]), STACK_FILE, tmp_path)
    assert [item.name for item in config.routes][-2:] == ["b", "a"]


def test_references_and_all_three_lists_work_across_files(tmp_path: Path) -> None:
    write(tmp_path, "routes/backends.yaml", {"backends": [{"name": "orders"}, {"name": "greeter", "protocol": "grpc"}]})
    write(tmp_path, "routes/orders.yaml", {"routes": [route("orders", backend="orders")]})
    write(tmp_path, "routes/grpc.yaml", {"grpcRoutes": [{"name": "greeter", "rules": [{"backendRefs": [{"name": "greeter"}]}]}]})
    config = parse_stack_config(dev_with(["routes/*.yaml"]), STACK_FILE, tmp_path)
    assert [item.name for item in config.backends][-2:] == ["orders", "greeter"]
    assert config.routes[-1].rules[0].backend_refs[0].name == "orders"
    assert config.grpc_routes[-1].name == "greeter"


def test_paths_resolve_from_the_project_directory_not_the_current_one(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "project", "routes/a.yaml", {"routes": [route("a")]})
    monkeypatch.setattr(route_files, "PROJECT_DIRECTORY", tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    assert parse_stack_config(dev_with(["routes/a.yaml"]), STACK_FILE).routes[-1].name == "a"


# --- messages --------------------------------------------------------------------------------


def test_a_bad_entry_names_its_file_and_its_index_in_that_file(tmp_path: Path) -> None:
    write(tmp_path, "stacks/routes/a.yaml", {"routes": [route("a")]})
    write(tmp_path, "stacks/routes/prod-api.yaml", {"routes": [route("ok"), route("bad", weight=-1)]})
    assert refusal(dev_with(["stacks/routes/*.yaml"]), tmp_path) == [
        "stacks/routes/prod-api.yaml: routes.1.rules.0.backendRefs.0.weight: is -1; it must be at least 0",
        "(references between sections are checked once these are fixed)",
    ]


def test_a_broken_reference_in_a_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "routes/a.yaml", {"routes": [route("a"), route("lost", backend="nowhere")]})
    (line,) = refusal(dev_with(["routes/a.yaml"]), tmp_path)
    assert line.startswith("routes/a.yaml: routes.1.rules.0.backendRefs.0.name: backend 'nowhere' is not declared")


def test_a_route_declared_in_the_stack_file_and_again_in_a_file_is_reported_in_both(tmp_path: Path) -> None:
    inline_name = stack_raw_config("dev")["routes"][0]["name"]
    write(tmp_path, "routes/a.yaml", {"routes": [route(inline_name)]})
    lines = refusal(dev_with(["routes/a.yaml"]), tmp_path)
    assert [line.split(": ")[:2] for line in lines] == [[STACK_FILE, "routes.0.name"], ["routes/a.yaml", "routes.0.name"]]


@pytest.mark.parametrize("pattern, message", [
    ("stacks/routes/missing.yaml",
     "'stacks/routes/missing.yaml': no such file (paths are relative to the directory holding Pulumi.yaml)"),
    ("stacks/routes/*.yml", "'stacks/routes/*.yml' matches no file (patterns are relative to the directory holding Pulumi.yaml)"),
    ("../shared/routes.yaml",
     "'../shared/routes.yaml' is outside the project directory; route files must be in the repository, given relative to "
     "the directory holding Pulumi.yaml"),
    ("stacks/../../routes/*.yaml",
     "'stacks/../../routes/*.yaml' is outside the project directory; route files must be in the repository, given relative "
     "to the directory holding Pulumi.yaml"),
    ("/etc/routes.yaml", "'/etc/routes.yaml' is an absolute path; give it relative to the project directory (the one holding Pulumi.yaml)"),
    ("stacks/routes", "'stacks/routes' is a directory; name its files, e.g. 'stacks/routes/*.yaml'"),
], ids=["missing file", "empty glob", "path escaping", "glob escaping", "absolute path", "directory"])
def test_a_pattern_that_names_no_file_of_the_project_is_one_line_naming_the_stack_file(tmp_path: Path, pattern: str, message: str) -> None:
    write(tmp_path, "stacks/routes/a.yaml", {"routes": [route("a")]})
    assert refusal(dev_with(["stacks/routes/a.yaml", pattern]), tmp_path)[0] == f"{STACK_FILE}: routeFiles.1: {message}"


def test_a_symbolic_link_out_of_the_project_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "outside.yaml", {"routes": [route("a")]})
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "routes.yaml").symlink_to(tmp_path / "outside.yaml")
    assert refusal(dev_with(["*.yaml"]), tmp_path / "project")[0].startswith(
        f"{STACK_FILE}: routeFiles.0: '*.yaml' is outside the project directory")


@pytest.mark.parametrize("text, line", [
    ("route:\n  - {name: a}\n", "route: unknown key 'route'; did you mean 'routes'? a route file holds only routes, grpcRoutes, backends"),
    ("routes: {name: a}\n", "routes: is a dict; a list is required (entries as under api-gateway:routes in a stack file)"),
    ("routes: [a\n", "line 2: is not valid YAML: expected ',' or ']', but got '<stream end>', while parsing a flow sequence on line 1 (column 1)"),
    ("routes: []\nroutes: []\n", "line 2: key 'routes' appears more than once (first on line 1); YAML keeps only the last, so give each key once"),
    ("- name: a\n", "(file): is a list; a route file is a mapping holding any of the lists routes, grpcRoutes, backends"),
    ("", "(file): is empty; a route file is a mapping holding any of the lists routes, grpcRoutes, backends"),
], ids=["unknown key", "not a list", "YAML syntax error", "duplicate key", "not a mapping", "empty"])
def test_a_route_file_holding_anything_but_the_three_lists_is_refused(tmp_path: Path, text: str, line: str) -> None:
    write(tmp_path, "routes/a.yaml", text)
    assert refusal(dev_with(["routes/a.yaml"]), tmp_path)[0] == f"routes/a.yaml: {line}"


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "routes/a.yaml", "routs: []\n")
    write(tmp_path, "routes/b.yaml", {"routes": [route("b", weight=-1)]})
    lines = refusal(dev_with(["routes/*.yaml", "routes/c.yaml"]), tmp_path)
    assert [line.split(": ")[:2] for line in lines[:-1]] == [
        ["routes/a.yaml", "routs"], [STACK_FILE, "routeFiles.1"], ["routes/b.yaml", "routes.0.rules.0.backendRefs.0.weight"]]


def test_list_limits_apply_to_the_merged_lists(tmp_path: Path) -> None:
    raw = dev_with(["routes/backends.yaml"])
    inline = len(raw["backends"])
    write(tmp_path, "routes/backends.yaml", {"backends": [{"name": f"b{index}"} for index in range(257 - inline)]})
    assert refusal(raw, tmp_path)[0] == (
        f"{STACK_FILE}: backends: has 257 entries; at most 256 are allowed (counting the entries from routeFiles)")


def test_route_files_that_are_not_a_list_of_strings_are_reported_by_the_model(tmp_path: Path) -> None:
    raw = dev_with([])
    raw["routeFiles"] = "routes/*.yaml"
    assert refusal(raw, tmp_path)[0].startswith(f"{STACK_FILE}: routeFiles: is 'routes/*.yaml' (str); a list is required")


# --- the same config wherever it is loaded ----------------------------------------------------


@pytest.fixture
def dev_routes_in_a_file(tmp_path: Path, monkeypatch) -> dict[str, Any]:
    """The dev stack with its routes and backends moved to a route file of a stand-in project."""
    raw = copy.deepcopy(stack_raw_config("dev"))
    write(tmp_path, "stacks/routes/dev.yaml", {"routes": raw.pop("routes"), "backends": raw.pop("backends")})
    raw["routeFiles"] = ["stacks/routes/*.yaml"]
    monkeypatch.setattr(route_files, "PROJECT_DIRECTORY", tmp_path)
    return raw


def test_the_program_declares_the_same_resources_with_routes_inline_or_in_a_file(dev_routes_in_a_file) -> None:
    inline = run_program("dev", stack_raw_config("dev"))
    from_files = run_program("dev", dev_routes_in_a_file)
    # Compared by URN: registration order follows the SDK's scheduling, not the config.
    declared = lambda run: {item.urn: (item.inputs, item.parent, sorted(item.dependencies)) for item in run.resources}  # noqa: E731
    assert declared(from_files) == declared(inline)
    assert any(item.type.endswith(":HTTPRoute") for item in inline.resources)


def test_gatestack_config_file_reads_route_files(dev_routes_in_a_file, tmp_path: Path) -> None:
    stack_file = tmp_path / "elsewhere" / "Pulumi.dev.yaml"
    write(tmp_path, "elsewhere/Pulumi.dev.yaml", {"config": {f"api-gateway:{key}": value for key, value in dev_routes_in_a_file.items()}})
    assert load_stack(None, stack_file).config.routes == parse_stack_config(stack_raw_config("dev"), STACK_FILE).routes


def test_the_engine_workspace_copy_keeps_route_files_which_resolve_from_the_project(dev_routes_in_a_file) -> None:
    text = yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in dev_routes_in_a_file.items()}})
    derived = yaml.safe_load(local_cluster_stack_file(text, None))["config"]
    assert derived["api-gateway:routeFiles"] == ["stacks/routes/*.yaml"]
    raw = {key.split(":", 1)[1]: value for key, value in derived.items()}
    assert [item.name for item in parse_stack_config(raw, STACK_FILE).routes] == [
        item["name"] for item in stack_raw_config("dev")["routes"]]


def test_a_thousand_routes_in_files_fit_the_language_hosts_environment_string(tmp_path: Path) -> None:
    """The benchmark's 1,000-route stack: inline, its PULUMI_CONFIG is over Linux's 128 KiB
    for one environment string; with its routes in files, far under, and the same config."""
    inline = bench.stack_raw_config(1000, 1)
    in_files = {key: value for key, value in inline.items() if key not in ("routes", "backends")}
    write(tmp_path, "stacks/routes/bench/backends.yaml", {"backends": inline["backends"]})
    for part in range(4):
        write(tmp_path, f"stacks/routes/bench/part-{part}.yaml", {"routes": inline["routes"][part * 250:(part + 1) * 250]})
    in_files["routeFiles"] = ["stacks/routes/bench/*.yaml"]
    size = lambda raw: engine.config_environment_size(engine_config_from_raw(raw))  # noqa: E731
    assert size(in_files) < engine.MAX_ARG_STRLEN < size(inline)
    assert size(in_files) < 1024  # no longer grows with the routes
    from_files = parse_stack_config(in_files, STACK_FILE, tmp_path)
    assert from_files.routes == parse_stack_config(inline, STACK_FILE).routes
    assert json.loads(engine_config_from_raw(in_files)["api-gateway:routeFiles"]) == ["stacks/routes/bench/*.yaml"]


def test_the_benchmarks_route_files_option_gives_the_same_routes_in_a_config_that_fits(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bench, "REPOSITORY_ROOT", tmp_path)
    monkeypatch.setattr(route_files, "PROJECT_DIRECTORY", tmp_path)
    inline = bench.stack_raw_config(1000, 1)
    in_files = bench.with_routes_in_files(inline, "bench-r1000-l1")
    assert in_files["routeFiles"] == [".local/bench-routes/bench-r1000-l1/routes.yaml"]
    assert engine.config_environment_size(engine_config_from_raw(in_files)) < engine.MAX_ARG_STRLEN
    assert parse_stack_config(in_files, STACK_FILE).routes == parse_stack_config(inline, STACK_FILE).routes
