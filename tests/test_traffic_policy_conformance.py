"""Specification: BackendTrafficPolicies and ClientTrafficPolicies, proven on the real data plane.

A stack built from the seed with one of everything (mutual TLS required, TLS versions, ciphers
and ALPN, idle and request timeouts, a connection limit, X-Forwarded-For trust; retries on
resets, a request timeout, a circuit breaker, rate limits keyed by header and by client
address, health checks (a backend failing them taken out and readmitted on time), ConsistentHash on a 1:1 split) passes the offline proof with every
behaviour check passing; a gateway whose objects drifted from the config fails exactly the
checks of what drifted. Real tools: egctl, Envoy, echo servers on 127.0.0.1.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify import CheckResult, Target, verify
from tests.conftest import stack_raw_config
from tests.test_conformance import conformance, passed_checks

BACKEND = "BackendTrafficPolicy backend-resilience: route backend rule 0 (main)"
HTTPS = "ClientTrafficPolicy https-clients: listener https"
EXPECTED_PASSES = [
    f"{BACKEND}: rate limit 0 5/Minute",
    f"{BACKEND}: rate limit 1 500/Minute",
    f"{BACKEND}: a request failing 3 time(s) with reset is retried and succeeds",
    f"{BACKEND}: a request failing 4 time(s) with reset fails (3 retries, no more)",
    f"{BACKEND}: at most 4 requests at once, then 503",
    f"{BACKEND}: Envoy health-checks the backends with GET /health",
    f"{BACKEND}: backend answering its health checks with 503 gets no traffic after the next check (within 1.25s: an unexpected status counts at once)",
    f"{BACKEND}: backend failing its health checks (connection resets) gets traffic until 3 x 1s, none after (last request between 1.25s and 3.25s)",
    f"{BACKEND}: backend gets traffic again 1 x 1s after its health checks pass (first request between 0.00s and 1.75s)",
    "BackendTrafficPolicy sticky-sessions: route sticky rule 0: ConsistentHash on header x-user: each key sticks to one endpoint, whatever else the requests vary",
    "route backend rule 0 (main): a backend slower than the timeout gets 504 (BackendTrafficPolicy backend-resilience requestTimeout 2s)",
    f"{HTTPS}: TLS 1.2 to 1.3 only",
    f"{HTTPS}: TLS 1.2 ciphers are ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-CHACHA20-POLY1305",
    f"{HTTPS}: ALPN offers http/1.1",
    f"{HTTPS}: a client certificate from a trusted CA is accepted",
    f"{HTTPS}: a client certificate from an unknown CA is refused",
    f"{HTTPS}: a client without a certificate is refused (RequireAndVerify)",
    f"{HTTPS}: an idle connection is closed after 3s",
    f"{HTTPS}: a request not received within 2s gets 408",
    f"{HTTPS}: at most 8 connections",
    # the seed's own checks still hold, over mutual TLS too
    "route backend rule 0 (main): GET https://www.example.com/get -> backend|backend-2 (https)",
    "route backend rule 0 (main): split backend 8 : backend-2 2 over 200 requests",
]


def policy_stack() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["routes"][0]["rules"][0]["name"] = "main"
    config["routes"].append({
        "name": "sticky", "hostnames": ["sticky.example.com"], "parentRefs": [{"name": "eg", "sectionName": "http"}],
        "rules": [{"backendRefs": [{"name": "backend", "weight": 1}, {"name": "backend-2", "weight": 1}]}],
    })
    config["clientCertificateAuthorities"] = [{"name": "partners", "commonName": "partners CA", "clients": ["partner-a"]}]
    config["clientTrafficPolicies"] = [
        {
            "name": "https-clients", "targetRefs": [{"kind": "Gateway", "name": "eg", "sectionName": "https"}],
            "tls": {
                "minVersion": "1.2", "maxVersion": "1.3",
                "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"], "alpnProtocols": ["http/1.1"],
                "clientValidation": {"mode": "RequireAndVerify", "caCertificateRefs": [{"name": "partners"}]},
            },
            "timeout": {"http": {"idleTimeout": "3s", "requestReceivedTimeout": "2s"}},
            "connection": {"connectionLimit": {"value": 8}},
        },
        {
            "name": "http-clients", "targetRefs": [{"kind": "Gateway", "name": "eg", "sectionName": "http"}],
            "clientIPDetection": {"xForwardedFor": {"numTrustedHops": 1}},
        },
    ]
    config["backendTrafficPolicies"] = [
        {
            "name": "backend-resilience", "targetRefs": [{"kind": "HTTPRoute", "name": "backend"}],
            "retry": {"numRetries": 3, "retryOn": {"triggers": ["reset"]}},
            "timeout": {"http": {"requestTimeout": "2s"}},
            "circuitBreaker": {"maxParallelRequests": 4},
            "rateLimit": {"local": {"rules": [
                {"clientSelectors": [{"headers": [{"name": "x-client", "type": "Distinct"}]}], "limit": {"requests": 5, "unit": "Minute"}},
                {"clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}], "limit": {"requests": 500, "unit": "Minute"}},
            ]}},
            "healthCheck": {"active": {"type": "HTTP", "http": {"path": "/health"}, "interval": "1s"}},
        },
        {
            "name": "sticky-sessions", "targetRefs": [{"kind": "HTTPRoute", "name": "sticky"}],
            "loadBalancer": {"type": "ConsistentHash", "consistentHash": {"type": "Header", "header": {"name": "x-user"}}},
        },
    ]
    return config


def write_stack(directory: Path, name: str, config: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in config.items()}}))
    return path


def test_every_policy_behaviour_holds_on_the_data_plane(tmp_path: Path) -> None:
    result = conformance("--config", str(write_stack(tmp_path, "policies", policy_stack())))
    assert result.returncode == 0, result.stdout + result.stderr
    missing = set(EXPECTED_PASSES) - set(passed_checks(result.stdout))
    assert not missing, f"not passed: {sorted(missing)}\n{result.stdout}"
    assert "conformance of stack policies: PASSED" in result.stdout


# --- a gateway that drifted from its config --------------------------------------------------------


def checks_against_drifted(tmp_path: Path, drift: Callable[[list[dict[str, Any]]], None]) -> list[CheckResult]:
    """The policy stack's objects changed by `drift`, run in a real local gateway and verified
    against the stack's config (what should hold)."""
    source = load_stack(None, write_stack(tmp_path, "policies", policy_stack()))
    objects, ca_pems, material = rendered_for_proof(source)
    drift(objects)
    with run_local_gateway(objects, source.config.controller.version) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        return verify(source.config, targets, ca_pems, sample_size=20, material=material)


def policy(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)["spec"]


def test_drifted_policies_fail_exactly_their_checks(tmp_path: Path) -> None:
    def drift(objects: list[dict[str, Any]]) -> None:
        backend = policy(objects, "BackendTrafficPolicy", "backend-resilience")
        backend["rateLimit"]["local"]["rules"][0]["limit"]["requests"] = 50  # a limit raised
        backend["retry"]["numRetries"] = 1  # fewer retries
        backend["timeout"]["http"]["requestTimeout"] = "4s"  # a longer timeout
        tls = policy(objects, "ClientTrafficPolicy", "https-clients")["tls"]
        tls["maxVersion"] = "1.2"  # TLS 1.3 no longer offered
        tls["clientValidation"]["mode"] = "VerifyIfGiven"  # client certificates made optional

    results = checks_against_drifted(tmp_path, drift)
    failed = {result.name for result in results if not result.passed and not result.skipped}
    assert failed == {
        f"{BACKEND}: rate limit 0 5/Minute",
        f"{BACKEND}: a request failing 3 time(s) with reset is retried and succeeds",
        "route backend rule 0 (main): a backend slower than the timeout gets 504 (BackendTrafficPolicy backend-resilience requestTimeout 2s)",
        f"{HTTPS}: TLS 1.2 to 1.3 only",
        f"{HTTPS}: a client without a certificate is refused (RequireAndVerify)",
    }


@pytest.mark.parametrize(
    "change, failing",
    [
        (lambda tls: tls.update(ciphers=["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"]),
         f"{HTTPS}: TLS 1.2 ciphers are ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-CHACHA20-POLY1305"),
        (lambda tls: tls.update(alpnProtocols=["h2", "http/1.1"]), f"{HTTPS}: ALPN offers http/1.1"),
    ],
    ids=["a cipher added", "h2 offered"],
)
def test_a_drifted_tls_setting_fails_its_check(tmp_path: Path, change: Callable[[dict], None], failing: str) -> None:
    results = checks_against_drifted(tmp_path, lambda objects: change(policy(objects, "ClientTrafficPolicy", "https-clients")["tls"]))
    assert failing in {result.name for result in results if not result.passed and not result.skipped}
