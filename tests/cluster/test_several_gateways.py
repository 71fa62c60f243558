"""Specification: one stack declaring several Gateways (`gateways:`), deployed with the real
engine: each is Programmed at an address of its own, and serves only the routes that name it
in their parentRefs (a request for the other's route hostname gets 404 there)."""

from __future__ import annotations

import yaml

from gatestack.engine.deploy import pulumi_for
from tests.cluster.cluster_support import kubectl_json
from tests.cluster.example_support import request

STACK = "two-gateways"
NAMESPACE = "two-gateways"
HOSTNAMES = {"public": "shop.example.com", "internal": "admin.internal.example.com"}


def two_gateways_stack_text() -> str:
    """A public and an internal Gateway of one class, each with one route of its own."""
    document = {
        "config": {
            "api-gateway:namespace": NAMESPACE,
            "api-gateway:createNamespace": True,
            "api-gateway:gatewayClass": {"name": "eg-two-gateways"},
            "api-gateway:gateways": [
                {"name": name, "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]} for name in HOSTNAMES
            ],
            "api-gateway:backends": [{"name": "echo"}],
            "api-gateway:routes": [
                {
                    "name": f"{name}-route",
                    "hostnames": [hostname],
                    "parentRefs": [{"name": name}],
                    "rules": [{"backendRefs": [{"name": "echo"}]}],
                }
                for name, hostname in HOSTNAMES.items()
            ],
        }
    }
    return yaml.safe_dump(document, sort_keys=False)


def test_each_gateway_of_a_stack_is_programmed_at_its_own_address_and_serves_only_its_own_routes(cluster, engine_binaries) -> None:
    # GIVEN a stack with a public and an internal Gateway, up
    pulumi = pulumi_for(cluster, STACK, engine_binaries, two_gateways_stack_text())
    pulumi.select_stack(STACK)
    pulumi.up(STACK)
    hosts = pulumi.outputs(STACK)["GATEWAY_HOSTS"]
    # THEN both are Programmed, each at an address of its own
    for name in HOSTNAMES:
        gateway = kubectl_json(cluster, "get", "gateway", "-n", NAMESPACE, name)
        assert {item["type"]: item["status"] for item in gateway["status"]["conditions"]}["Programmed"] == "True"
        assert gateway["status"]["addresses"][0]["value"] == hosts[name]
    assert len(set(hosts.values())) == 2
    # AND each serves its own route's hostname and answers 404 for the other's
    for name, hostname in HOSTNAMES.items():
        for other, address in hosts.items():
            answer = request(cluster, address, 80, hostname)
            assert answer["status"] == (200 if other == name else 404), (name, other, answer)
    pulumi.destroy(STACK)
