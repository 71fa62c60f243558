"""Specification: BackendTrafficPolicies, ClientTrafficPolicies and client CAs in a stack file.

GIVEN the dev stack (the seed) with one valid policy of each kind, WHEN one thing is broken,
THEN the config is refused with `stacks/Pulumi.dev.yaml: <dotted.path>: <why; what is allowed>`;
and every field the README documents is accepted and becomes the CRD field of the same name.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from gateway_config.loader import ConfigError, parse_stack_config
from gateway_config.models import StackConfig
from gateway_config.policy_manifests import backend_traffic_policy_object, client_ca_secret_object, client_traffic_policy_object
from tests.conftest import stack_raw_config

STACK_FILE = "stacks/Pulumi.dev.yaml"
Mutation = Callable[[dict[str, Any]], None]

BACKEND_POLICY = {
    "name": "backend-policy",
    "targetRefs": [{"kind": "HTTPRoute", "name": "backend"}],
    "retry": {
        "numRetries": 3,
        "retryOn": {"triggers": ["5xx", "retriable-status-codes"], "httpStatusCodes": [503, 429]},
        "perRetry": {"timeout": "2s", "backOff": {"baseInterval": "100ms", "maxInterval": "1s"}},
    },
    "timeout": {"http": {"requestTimeout": "10s"}},
    "circuitBreaker": {"maxConnections": 100, "maxPendingRequests": 10, "maxParallelRequests": 50},
    "rateLimit": {"local": {"rules": [
        {"clientSelectors": [{"headers": [{"name": "x-client", "type": "Distinct"}]}], "limit": {"requests": 10, "unit": "Second"}},
        {"clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}, "path": {"value": "/get"},
                              "methods": [{"value": "GET"}]}], "limit": {"requests": 100, "unit": "Minute"}},
    ]}},
    "healthCheck": {"active": {"type": "HTTP", "http": {"path": "/health", "method": "GET", "expectedStatuses": [200]},
                               "interval": "5s", "timeout": "1s", "unhealthyThreshold": 3, "healthyThreshold": 1}},
    "loadBalancer": {"type": "RoundRobin"},
}
CLIENT_POLICY = {
    "name": "client-policy",
    "targetRefs": [{"kind": "Gateway", "name": "eg", "sectionName": "https"}],
    "tls": {
        "minVersion": "1.2", "maxVersion": "1.3", "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"], "alpnProtocols": ["h2", "http/1.1"],
        "clientValidation": {"mode": "VerifyIfGiven", "caCertificateRefs": [{"name": "partners"}]},
    },
    "timeout": {"http": {"requestReceivedTimeout": "30s", "idleTimeout": "5m"}},
    "clientIPDetection": {"xForwardedFor": {"numTrustedHops": 1}},
    "connection": {"connectionLimit": {"value": 1000}},
}
AUTHORITY = {"name": "partners", "commonName": "partners CA", "clients": ["partner-a"]}


def with_policies() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["routes"][0]["rules"][0]["name"] = "main"
    config["backendTrafficPolicies"] = [copy.deepcopy(BACKEND_POLICY)]
    config["clientTrafficPolicies"] = [copy.deepcopy(CLIENT_POLICY)]
    config["clientCertificateAuthorities"] = [copy.deepcopy(AUTHORITY)]
    return config


def parsed(config: dict[str, Any]) -> StackConfig:
    return parse_stack_config(config, STACK_FILE)


def backend(c: dict[str, Any]) -> dict[str, Any]:
    return c["backendTrafficPolicies"][0]


def client(c: dict[str, Any]) -> dict[str, Any]:
    return c["clientTrafficPolicies"][0]


def selector(c: dict[str, Any]) -> dict[str, Any]:
    return backend(c)["rateLimit"]["local"]["rules"][0]["clientSelectors"][0]


REFUSED: list[tuple[str, Mutation, str, str]] = [
    ("a Gateway that is not the stack's", lambda c: backend(c).update(targetRefs=[{"kind": "Gateway", "name": "other"}]),
     "backendTrafficPolicies.0.targetRefs.0.name", "its Gateway is 'eg'"),
    ("a listener the Gateway lacks", lambda c: client(c)["targetRefs"][0].update(sectionName="grpc"),
     "clientTrafficPolicies.0.targetRefs.0.sectionName", "its listeners are: http, https"),
    ("a route the stack lacks", lambda c: backend(c)["targetRefs"][0].update(name="api"),
     "backendTrafficPolicies.0.targetRefs.0.name", "HTTPRoute 'api' is not declared"),
    ("a rule name the route lacks", lambda c: backend(c)["targetRefs"][0].update(sectionName="other"),
     "backendTrafficPolicies.0.targetRefs.0.sectionName", "no rule named 'other'; its named rules: main"),
    ("a ClientTrafficPolicy on a route", lambda c: client(c).update(targetRefs=[{"kind": "HTTPRoute", "name": "backend"}]),
     "clientTrafficPolicies.0.targetRefs.0.kind", "attaches to Gateway only"),
    ("an unknown target kind", lambda c: backend(c)["targetRefs"][0].update(kind="TCPRoute"),
     "backendTrafficPolicies.0.targetRefs.0.kind", "allowed values"),
    ("two policies on one target", lambda c: c["backendTrafficPolicies"].append({**copy.deepcopy(BACKEND_POLICY), "name": "second"}),
     "backendTrafficPolicies.1.targetRefs.0", "already the target of BackendTrafficPolicy 'backend-policy'"),
    ("two policies with one name", lambda c: c["clientTrafficPolicies"].append(
        {**copy.deepcopy(CLIENT_POLICY), "targetRefs": [{"kind": "Gateway", "name": "eg"}]}),
     "clientTrafficPolicies.0.name", "declared more than once"),
    ("a policy that sets nothing", lambda c: c["backendTrafficPolicies"].__setitem__(0, {"name": "empty", "targetRefs": BACKEND_POLICY["targetRefs"]}),
     "backendTrafficPolicies.0", "sets nothing"),
    ("status codes without their trigger", lambda c: backend(c)["retry"]["retryOn"].update(triggers=["5xx"]),
     "backendTrafficPolicies.0.retry.retryOn.httpStatusCodes", "'retriable-status-codes'"),
    ("an unknown retry trigger", lambda c: backend(c)["retry"]["retryOn"].update(triggers=["timeout"]),
     "backendTrafficPolicies.0.retry.retryOn.triggers.0", "allowed values"),
    ("a status code out of range", lambda c: backend(c)["retry"]["retryOn"].update(httpStatusCodes=[600]),
     "backendTrafficPolicies.0.retry.retryOn.httpStatusCodes.0", "at most 599"),
    ("too many retries", lambda c: backend(c)["retry"].update(numRetries=11), "backendTrafficPolicies.0.retry.numRetries", "at most 10"),
    ("back-off maximum below its base", lambda c: backend(c)["retry"]["perRetry"]["backOff"].update(maxInterval="50ms"),
     "backendTrafficPolicies.0.retry.perRetry.backOff.maxInterval", "at least baseInterval"),
    ("a back-off maximum without a base", lambda c: backend(c)["retry"]["perRetry"]["backOff"].pop("baseInterval"),
     "backendTrafficPolicies.0.retry.perRetry.backOff", "needs a baseInterval"),
    ("a timeout that is not a duration", lambda c: backend(c)["timeout"]["http"].update(requestTimeout="10 seconds"),
     "backendTrafficPolicies.0.timeout.http.requestTimeout", "not a duration"),
    ("a negative circuit breaker", lambda c: backend(c)["circuitBreaker"].update(maxConnections=-1),
     "backendTrafficPolicies.0.circuitBreaker.maxConnections", "at least 0"),
    ("a rate limit without rules", lambda c: backend(c)["rateLimit"]["local"].update(rules=[]),
     "backendTrafficPolicies.0.rateLimit.local.rules", "at least 1"),
    ("a global rate limit", lambda c: backend(c)["rateLimit"].update(type="Global"),
     "backendTrafficPolicies.0.rateLimit.type", "unknown key"),
    ("a rate limit unit Envoy Gateway lacks", lambda c: backend(c)["rateLimit"]["local"]["rules"][0]["limit"].update(unit="Fortnight"),
     "backendTrafficPolicies.0.rateLimit.local.rules.0.limit.unit", "allowed values"),
    ("a Distinct header with a value", lambda c: selector(c)["headers"][0].update(value="a"),
     "backendTrafficPolicies.0.rateLimit.local.rules.0.clientSelectors.0.headers.0", "give no value or invert"),
    ("an Exact header without a value", lambda c: selector(c)["headers"][0].update(type="Exact"),
     "backendTrafficPolicies.0.rateLimit.local.rules.0.clientSelectors.0.headers.0.value", "needs a value"),
    ("a header regular expression RE2 refuses", lambda c: selector(c)["headers"][0].update(type="RegularExpression", value="(?=a)"),
     "backendTrafficPolicies.0.rateLimit.local.rules.0.clientSelectors.0.headers.0.value", "RE2"),
    ("an empty client selector", lambda c: selector(c).pop("headers"),
     "backendTrafficPolicies.0.rateLimit.local.rules.0.clientSelectors.0", "at least one of headers"),
    ("an address range without a prefix", lambda c: selector(c).update(sourceCIDR={"value": "10.0.0.1"}),
     "backendTrafficPolicies.0.rateLimit.local.rules.0.clientSelectors.0.sourceCIDR.value", "CIDR notation"),
    ("a health check without a path", lambda c: backend(c)["healthCheck"]["active"]["http"].pop("path"),
     "backendTrafficPolicies.0.healthCheck.active.http.path", "is required"),
    ("a TCP health check", lambda c: backend(c)["healthCheck"]["active"].update(type="TCP"),
     "backendTrafficPolicies.0.healthCheck.active.type", "allowed values"),
    ("ConsistentHash without its block", lambda c: backend(c).update(loadBalancer={"type": "ConsistentHash"}),
     "backendTrafficPolicies.0.loadBalancer", "needs consistentHash"),
    ("a hash block for RoundRobin", lambda c: backend(c)["loadBalancer"].update(consistentHash={"type": "SourceIP"}),
     "backendTrafficPolicies.0.loadBalancer.consistentHash", "only used with type ConsistentHash"),
    ("a Header hash without the header", lambda c: backend(c).update(
        loadBalancer={"type": "ConsistentHash", "consistentHash": {"type": "Header"}}),
     "backendTrafficPolicies.0.loadBalancer.consistentHash", "takes exactly the block 'header'"),
    ("ConsistentHash over an 8:2 split", lambda c: backend(c).update(
        loadBalancer={"type": "ConsistentHash", "consistentHash": {"type": "SourceIP"}}),
     "backendTrafficPolicies.0.loadBalancer.type", "split 8:2 would not hold"),
    ("a minimum TLS version above the maximum", lambda c: client(c)["tls"].update(minVersion="1.3", maxVersion="1.2"),
     "clientTrafficPolicies.0.tls.minVersion", "above maxVersion 1.2"),
    ("a maximum below the default minimum", lambda c: client(c)["tls"].pop("minVersion") and client(c)["tls"].update(maxVersion="1.1"),
     "clientTrafficPolicies.0.tls.maxVersion", "below the default minVersion 1.2"),
    ("a TLS version that does not exist", lambda c: client(c)["tls"].update(minVersion="1.4"),
     "clientTrafficPolicies.0.tls.minVersion", "allowed values"),
    ("a version given as a number", lambda c: client(c)["tls"].update(minVersion=1.2),
     "clientTrafficPolicies.0.tls.minVersion", "allowed values"),
    ("ciphers with TLS 1.3 only", lambda c: client(c)["tls"].update(minVersion="1.3"),
     "clientTrafficPolicies.0.tls.ciphers", "no effect with minVersion 1.3"),
    ("a cipher Envoy Gateway does not support", lambda c: client(c)["tls"].update(ciphers=["RC4-MD5"]),
     "clientTrafficPolicies.0.tls.ciphers.0", "not a cipher suite Envoy Gateway supports"),
    ("an ALPN protocol that does not exist", lambda c: client(c)["tls"].update(alpnProtocols=["h3"]),
     "clientTrafficPolicies.0.tls.alpnProtocols.0", "allowed values"),
    ("TLS settings on an HTTP listener only", lambda c: client(c)["targetRefs"][0].update(sectionName="http"),
     "clientTrafficPolicies.0.tls", "targets only HTTP listeners"),
    ("a client CA the stack lacks", lambda c: client(c)["tls"]["clientValidation"]["caCertificateRefs"][0].update(name="nobody"),
     "clientTrafficPolicies.0.tls.clientValidation.caCertificateRefs.0.name", "not declared in clientCertificateAuthorities"),
    ("a client validation mode that verifies nothing", lambda c: client(c)["tls"]["clientValidation"].update(mode="RequireAny"),
     "clientTrafficPolicies.0.tls.clientValidation.mode", "allowed values"),
    ("both trusted hops and trusted ranges", lambda c: client(c)["clientIPDetection"]["xForwardedFor"].update(trustedCIDRs=["10.0.0.0/8"]),
     "clientTrafficPolicies.0.clientIPDetection.xForwardedFor", "exactly one of numTrustedHops and trustedCIDRs"),
    ("neither trusted hops nor trusted ranges", lambda c: client(c)["clientIPDetection"].update(xForwardedFor={}),
     "clientTrafficPolicies.0.clientIPDetection.xForwardedFor", "exactly one of numTrustedHops and trustedCIDRs"),
    ("a connection limit of zero", lambda c: client(c)["connection"]["connectionLimit"].update(value=0),
     "clientTrafficPolicies.0.connection.connectionLimit.value", "at least 1"),
    ("a client CA named like a server certificate", lambda c: c["clientCertificateAuthorities"][0].update(name="example-cert"),
     "clientCertificateAuthorities.0.name", "already a server certificate's"),
    ("clients of a CA the stack does not hold", lambda c: c["clientCertificateAuthorities"][0].update(source="existingSecret"),
     "clientCertificateAuthorities.0.clients", "only be issued by a CA the stack generates"),
    ("a client listed twice", lambda c: c["clientCertificateAuthorities"][0].update(clients=["a", "a"]),
     "clientCertificateAuthorities.0.clients", "listed more than once"),
]


@pytest.mark.parametrize("mutation, path, fragment", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_broken_policy_is_refused_naming_the_field(mutation: Mutation, path: str, fragment: str) -> None:
    config = with_policies()
    mutation(config)
    with pytest.raises(ConfigError) as raised:
        parsed(config)
    lines = [line for line in str(raised.value).splitlines() if line.startswith(f"{STACK_FILE}: {path}: ")]
    assert lines, f"no line for {path} in:\n{raised.value}"
    assert any(fragment in line for line in lines), f"'{fragment}' not in:\n{raised.value}"


def test_every_documented_field_is_accepted() -> None:
    config = parsed(with_policies())
    assert [policy.name for policy in config.backend_traffic_policies] == ["backend-policy"]
    assert config.client_traffic_policies[0].tls.client_validation.mode == "VerifyIfGiven"


@pytest.mark.parametrize(
    "mutation",
    [
        lambda c: backend(c).update(targetRefs=[{"kind": "Gateway", "name": "eg"}]),
        lambda c: backend(c).update(targetRefs=[{"kind": "Gateway", "name": "eg", "sectionName": "http"}]),
        lambda c: backend(c)["targetRefs"][0].update(sectionName="main"),
        lambda c: c["backendTrafficPolicies"].append(  # a rule-level policy beside a route-level one
            {"name": "rule-level", "targetRefs": [{"kind": "HTTPRoute", "name": "backend", "sectionName": "main"}], "retry": {}}),
        lambda c: client(c)["tls"].update(minVersion="Auto", maxVersion="Auto"),
        lambda c: client(c)["tls"].update(alpnProtocols=[]),
        lambda c: client(c)["clientIPDetection"].update(xForwardedFor={"trustedCIDRs": ["10.0.0.0/8", "2001:db8::/32"]}),
        lambda c: client(c)["tls"]["clientValidation"]["caCertificateRefs"][0].update(name="managed-elsewhere", external=True),
        lambda c: backend(c).update(loadBalancer={"type": "ConsistentHash", "consistentHash": {"type": "Cookie", "cookie": {"name": "session", "ttl": "1h"}}},
                                    targetRefs=[{"kind": "HTTPRoute", "name": "backend"}]) or c["routes"][0]["rules"][0]["backendRefs"][1].update(weight=8),
    ],
)
def test_valid_policy_variants_are_accepted(mutation: Mutation) -> None:
    config = with_policies()
    mutation(config)
    parsed(config)


# --- the objects they become --------------------------------------------------------------------


def test_a_backend_traffic_policy_becomes_exactly_the_crd_fields() -> None:
    config = parsed(with_policies())
    manifest = backend_traffic_policy_object(config, config.backend_traffic_policies[0])
    assert manifest["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
    assert manifest["kind"] == "BackendTrafficPolicy"
    assert manifest["metadata"] == {"name": "backend-policy", "namespace": "default"}
    spec = manifest["spec"]
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "backend"}]
    assert spec["retry"] == BACKEND_POLICY["retry"]
    assert spec["timeout"] == {"http": {"requestTimeout": "10s"}}
    assert spec["circuitBreaker"] == BACKEND_POLICY["circuitBreaker"]
    assert spec["rateLimit"]["local"]["rules"][0] == {
        "clientSelectors": [{"headers": [{"name": "x-client", "type": "Distinct"}]}],
        "limit": {"requests": 10, "unit": "Second"},
    }
    assert spec["rateLimit"]["local"]["rules"][1]["clientSelectors"][0]["sourceCIDR"] == {"type": "Distinct", "value": "0.0.0.0/0"}
    assert spec["healthCheck"] == BACKEND_POLICY["healthCheck"]
    assert spec["loadBalancer"] == {"type": "RoundRobin"}


def test_unset_blocks_are_left_out_so_envoy_gateway_defaults_apply() -> None:
    raw = with_policies()
    raw["backendTrafficPolicies"] = [{"name": "only-retries", "targetRefs": [{"kind": "Gateway", "name": "eg"}], "retry": {}}]
    config = parsed(raw)
    assert backend_traffic_policy_object(config, config.backend_traffic_policies[0])["spec"] == {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"}],
        "retry": {},
    }


def test_a_client_traffic_policy_refers_to_the_client_ca_secret() -> None:
    config = parsed(with_policies())
    spec = client_traffic_policy_object(config, config.client_traffic_policies[0])["spec"]
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg", "sectionName": "https"}]
    assert spec["tls"] == {
        "minVersion": "1.2", "maxVersion": "1.3", "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"], "alpnProtocols": ["h2", "http/1.1"],
        "clientValidation": {"mode": "VerifyIfGiven", "caCertificateRefs": [{"group": "", "kind": "Secret", "name": "partners"}]},
    }
    assert spec["timeout"] == {"http": {"requestReceivedTimeout": "30s", "idleTimeout": "5m"}}
    assert spec["clientIPDetection"] == {"xForwardedFor": {"numTrustedHops": 1}}
    assert spec["connection"] == {"connectionLimit": {"value": 1000}}


def test_an_empty_alpn_list_is_kept_because_it_turns_alpn_off() -> None:
    raw = with_policies()
    client(raw)["tls"]["alpnProtocols"] = []
    config = parsed(raw)
    # An empty list differs from an absent one (the default h2, http/1.1): it must reach the object.
    assert client_traffic_policy_object(config, config.client_traffic_policies[0])["spec"]["tls"].get("alpnProtocols") == []


def test_a_client_ca_secret_holds_only_the_ca_certificate() -> None:
    config = parsed(with_policies())
    secret = client_ca_secret_object(config, config.client_certificate_authorities[0], "<ca pem>")
    assert secret == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "partners", "namespace": "default"},
        "type": "Opaque", "stringData": {"ca.crt": "<ca pem>"},
    }
