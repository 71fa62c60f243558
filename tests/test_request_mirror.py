"""Specification: the HTTPRoute RequestMirror filter, from the stack file to the data plane.

A rule copies a share of its requests to another backend; the copies' answers are dropped. The
config is refused when the mirror backend is not declared, when the share is given twice, or
with a redirect; the HTTPRoute carries Gateway API's `requestMirror` with the backend's port;
on a real Envoy the mirror backend receives its share, and a gateway that stopped mirroring
fails exactly that check.
"""

from __future__ import annotations

import copy
import http.client
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from gateway_config.loader import ConfigError, parse_stack_config
from gateway_config.manifests import http_route_object
from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.stand_ins.echo_server import EchoContext, EchoServer
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify import Target, verify
from tests.conftest import stack_raw_config
from tests.test_conformance import conformance, passed_checks

STACK_FILE = "stacks/Pulumi.dev.yaml"
MIRROR_CHECK = "route backend rule 0: 30 % of 200 requests are mirrored to shadow"


def with_mirror(**mirror: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["backends"].append({"name": "shadow"})
    block = {"backendRef": {"name": "shadow"}, "percent": 30, **mirror}
    config["routes"][0]["rules"][0]["filters"].append({"type": "RequestMirror", "requestMirror": {k: v for k, v in block.items() if v is not None}})
    return config


def mirror_block(c: dict[str, Any]) -> dict[str, Any]:
    return c["routes"][0]["rules"][0]["filters"][1]["requestMirror"]


WHERE = "routes.0.rules.0.filters.1.requestMirror"
REFUSED: list[tuple[str, Callable[[dict], None], str, str]] = [
    ("a mirror backend the stack lacks", lambda c: mirror_block(c)["backendRef"].update(name="nowhere"),
     f"{WHERE}.backendRef.name", "not declared in 'backends'"),
    ("percent and fraction", lambda c: mirror_block(c).update(fraction={"numerator": 1}), WHERE, "percent or fraction, not both"),
    ("a fraction above one", lambda c: mirror_block(c).pop("percent") and mirror_block(c).update(fraction={"numerator": 3, "denominator": 2}),
     f"{WHERE}.fraction", "above denominator"),
    ("a percent above 100", lambda c: mirror_block(c).update(percent=101), f"{WHERE}.percent", "at most 100"),
    ("the wrong port", lambda c: mirror_block(c)["backendRef"].update(port=8080), f"{WHERE}.backendRef.port", "listens on port 3000"),
    ("an external mirror without a port", lambda c: mirror_block(c)["backendRef"].update(name="elsewhere", external=True),
     f"{WHERE}.backendRef.port", "needs a port"),
    ("the block of another type", lambda c: c["routes"][0]["rules"][0]["filters"][1].update(type="URLRewrite"),
     "routes.0.rules.0.filters.1", "needs exactly the block 'urlRewrite'"),
]


@pytest.mark.parametrize("mutation, path, fragment", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_broken_mirror_is_refused_naming_the_field(mutation: Callable[[dict], None], path: str, fragment: str) -> None:
    config = with_mirror()
    mutation(config)
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(config, STACK_FILE)
    lines = [line for line in str(raised.value).splitlines() if line.startswith(f"{STACK_FILE}: {path}: ")]
    assert any(fragment in line for line in lines), str(raised.value)


def test_a_mirror_in_a_redirecting_rule_is_refused() -> None:
    config = with_mirror()
    rule = config["routes"][0]["rules"][0]
    rule.pop("backendRefs")
    rule["filters"] = [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}, rule["filters"][1]]
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(config, STACK_FILE)
    assert "routes.0.rules.0.filters.1.requestMirror: a rule that answers with a redirect forwards nothing to copy" in str(raised.value)


def test_the_http_route_carries_the_mirror_with_the_backends_port() -> None:
    config = parse_stack_config(with_mirror(), STACK_FILE)
    filters = http_route_object(config, config.routes[0])["spec"]["rules"][0]["filters"]
    assert filters[1] == {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"group": "", "kind": "Service", "name": "shadow", "port": 3000}, "percent": 30},
    }
    fraction = parse_stack_config(with_mirror(percent=None, fraction={"numerator": 1, "denominator": 3}), STACK_FILE)
    block = http_route_object(fraction, fraction.routes[0])["spec"]["rules"][0]["filters"][1]["requestMirror"]
    assert block["fraction"] == {"numerator": 1, "denominator": 3} and "percent" not in block


def test_marked_requests_are_counted_by_deployment_over_every_echo_server() -> None:
    with EchoServer("127.0.0.1", 0, EchoContext(pods=("web-abc-xyz",))) as web, \
            EchoServer("127.0.0.1", 0, EchoContext(pods=("shadow-abc-xyz",))) as shadow:
        for server in (web, web, shadow):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", "/", headers={"X-Echo-Mark": "token-1"})
            connection.getresponse().read()
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        connection.request("GET", "/", headers={"X-Echo-Marks": "token-1"})
        assert json.loads(connection.getresponse().read())["marks"] == {"web": 2, "shadow": 1}


def stack_file(directory: Path) -> Path:
    path = directory / "Pulumi.mirror.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in with_mirror().items()}}))
    return path


def test_the_mirror_backend_receives_its_share_on_the_data_plane(tmp_path: Path) -> None:
    result = conformance("--config", str(stack_file(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert MIRROR_CHECK in passed_checks(result.stdout)


@pytest.mark.parametrize("drift", [lambda block: block.update(percent=100), lambda block: block.update(percent=0)], ids=["all copied", "none copied"])
def test_a_gateway_mirroring_another_share_fails_the_mirror_check_only(tmp_path: Path, drift: Callable[[dict], None]) -> None:
    source = load_stack(None, stack_file(tmp_path))
    objects, ca_pems, material = rendered_for_proof(source)
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    drift(route["spec"]["rules"][0]["filters"][1]["requestMirror"])
    with run_local_gateway(objects, source.config.controller.version) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        results = verify(source.config, targets, ca_pems, material=material)
    assert {r.name for r in results if not r.passed and not r.skipped} == {MIRROR_CHECK}


def test_a_route_waits_for_the_backend_it_mirrors_to(stack_run) -> None:
    run = stack_run("staging")
    (route,) = [r for r in run.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute") if r.name == "backend-http-route"]
    services = {r.name: r.urn for r in run.of_type("kubernetes:core/v1:Service")}
    assert services["backend-shadow-service"] in route.dependencies
