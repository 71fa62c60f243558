"""Specification: SecurityPolicies proven on the real data plane.

The seed plus routes behind CORS, basic auth, a JWT provider with keys by URL (served by a local
HTTPS stand-in: nothing is fetched from outside), one with keys inline, API keys and an IP
deny rule, and API keys in a query parameter passes the offline proof with every behaviour check passing; a gateway whose policies
drifted (an origin removed, an issuer changed, an IP rule loosened, the key no longer removed,
the key looked for in another query parameter)
fails exactly those checks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from gatestack.offline_proof.conformance_run import rendered_for_proof
from gatestack.offline_proof.local_gateway import run_local_gateway
from gatestack.stack_source import load_stack
from gatestack.verify import CheckResult, Target, verify
from gatestack.verify.jwt_tokens import JwtSigner
from gatestack.verify.probes import with_query_parameters, without_query_parameters
from tests.conftest import stack_raw_config
from tests.test_conformance import conformance, passed_checks

HOSTS = ["admin.example.com", "api.example.com", "inline.example.com", "keys.example.com", "params.example.com", "private.example.com"]
EXPECTED_PASSES = [
    "SecurityPolicy web-cors: route backend rule 0: a CORS preflight from https://www.example.com is allowed as declared",
    "SecurityPolicy web-cors: route backend rule 0: a CORS preflight from another origin gets no Access-Control-Allow-Origin",
    "SecurityPolicy admin-basic: route admin rule 0: a request without basic auth gets 401",
    "SecurityPolicy admin-basic: route admin rule 0: a wrong password for alice gets 401",
    "SecurityPolicy admin-basic: route admin rule 0: a valid user and password gets 200",
    "SecurityPolicy admin-basic: route admin rule 0: x-user: alice reaches the backend",
    "SecurityPolicy api-jwt: route api rule 0: a request without a JWT gets 401",
    "SecurityPolicy api-jwt: route api rule 0: a JWT signed by an unknown key gets 401",
    "SecurityPolicy api-jwt: route api rule 0: a JWT from another issuer gets 401",
    "SecurityPolicy api-jwt: route api rule 0: a JWT for another audience gets 403",
    "SecurityPolicy api-jwt: route api rule 0: an expired JWT gets 401",
    "SecurityPolicy api-jwt: route api rule 0: a valid JWT gets 200",
    "SecurityPolicy api-jwt: route api rule 0: x-jwt-sub: gatestack-verify reaches the backend",
    "SecurityPolicy inline-jwt: route inline rule 0: a valid JWT gets 200",
    "SecurityPolicy inline-jwt: route inline rule 0: an expired JWT gets 401",
    "SecurityPolicy keys-api-key: route keys rule 0: a request without an API key gets 401",
    "SecurityPolicy keys-api-key: route keys rule 0: an unknown API key gets 401",
    "SecurityPolicy keys-api-key: route keys rule 0: a valid API key gets 200",
    "SecurityPolicy keys-api-key: route keys rule 0: x-client-id: client-a reaches the backend",
    "SecurityPolicy keys-api-key: route keys rule 0: the API key is removed before the backend",
    "SecurityPolicy params-api-key: route params rule 0: a request without an API key gets 401",
    "SecurityPolicy params-api-key: route params rule 0: an unknown API key gets 401",
    "SecurityPolicy params-api-key: route params rule 0: a valid API key gets 200",
    "SecurityPolicy params-api-key: route params rule 0: x-client-id: client-b reaches the backend",
    "SecurityPolicy params-api-key: route params rule 0: the API key is removed before the backend",
    "SecurityPolicy private-ip: route private rule 0: a client in 127.0.0.128/25 (blocked) is denied",
    "SecurityPolicy private-ip: route private rule 0: a client matching no rule is allowed (defaultAction)",
    # requests to the protected rules carry the proof's credentials
    "route api rule 0: GET https://api.example.com/ -> backend (https)",
    "route admin rule 0: GET admin.example.com/ -> backend (http)",
    "route params rule 0: GET params.example.com/ -> backend (http)",  # the key in the query, removed
]


def security_stack() -> dict[str, Any]:
    config = copy.deepcopy(stack_raw_config("dev"))
    config["certificates"][0]["dnsNames"] = ["www.example.com", *HOSTS]
    for host in HOSTS:
        config["routes"].append({"name": host.split(".")[0], "hostnames": [host], "rules": [{"backendRefs": [{"name": "backend"}]}]})
    config["securityPolicies"] = [
        {"name": "web-cors", "targetRefs": [{"kind": "HTTPRoute", "name": "backend"}],
         "cors": {"allowOrigins": ["https://www.example.com", "https://*.example.org"], "allowMethods": ["GET", "POST"],
                  "allowHeaders": ["x-custom"], "maxAge": "10m", "allowCredentials": True}},
        {"name": "admin-basic", "targetRefs": [{"kind": "HTTPRoute", "name": "admin"}],
         "basicAuth": {"users": ["alice", "bob"], "forwardUsernameHeader": "x-user"}},
        {"name": "api-jwt", "targetRefs": [{"kind": "HTTPRoute", "name": "api"}],
         "jwt": {"providers": [{"name": "example", "issuer": "https://auth.example.com", "audiences": ["api"],
                                "remoteJWKS": {"uri": "https://auth.example.com/.well-known/jwks.json"},
                                "claimToHeaders": [{"claim": "sub", "header": "x-jwt-sub"}]}]}},
        {"name": "inline-jwt", "targetRefs": [{"kind": "HTTPRoute", "name": "inline"}],
         "jwt": {"providers": [{"name": "partner", "issuer": "https://partner.example.net",
                                "localJWKS": {"type": "Inline", "inline": JwtSigner.new(None, []).jwks()}}]}},
        {"name": "keys-api-key", "targetRefs": [{"kind": "HTTPRoute", "name": "keys"}],
         "apiKeyAuth": {"clients": ["client-a"], "extractFrom": [{"headers": ["x-api-key"]}], "forwardClientIDHeader": "x-client-id", "sanitize": True}},
        {"name": "params-api-key", "targetRefs": [{"kind": "HTTPRoute", "name": "params"}],
         "apiKeyAuth": {"clients": ["client-b"], "extractFrom": [{"params": ["api_key"]}], "forwardClientIDHeader": "x-client-id", "sanitize": True}},
        {"name": "private-ip", "targetRefs": [{"kind": "HTTPRoute", "name": "private"}],
         "authorization": {"defaultAction": "Allow", "rules": [{"name": "blocked", "action": "Deny", "principal": {"clientCIDRs": ["127.0.0.128/25"]}}]}},
    ]
    config["credentials"] = {"admin-basic": {"alice": "wonderland-7", "bob": "builder-9"}, "keys-api-key": {"client-a": "key-aaaa-1111"},
                             "params-api-key": {"client-b": "key-bbbb-2222"}}
    return config


def test_an_api_key_by_query_parameter_goes_in_the_request_line_and_out_of_the_compared_path() -> None:
    assert with_query_parameters("/get", [("?api_key", "k 1"), ("X-A", "b")]) == ("/get?api_key=k+1", [("X-A", "b")])
    assert with_query_parameters("/get?x=1", [("?api_key", "k")])[0] == "/get?x=1&api_key=k"
    assert without_query_parameters("/get?x=1&api_key=k", {"api_key"}) == "/get?x=1"
    assert without_query_parameters("/get?api_key=k", {"api_key"}) == "/get"


def stack_file(directory: Path) -> Path:
    path = directory / "Pulumi.security.yaml"
    path.write_text(yaml.safe_dump({"config": {f"api-gateway:{key}": value for key, value in security_stack().items()}}))
    return path


def test_every_security_behaviour_holds_on_the_data_plane(tmp_path: Path) -> None:
    result = conformance("--config", str(stack_file(tmp_path)), "--sample-size", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    missing = set(EXPECTED_PASSES) - set(passed_checks(result.stdout))
    assert not missing, f"not passed: {sorted(missing)}\n{result.stdout}"
    # the credentials of the stack file never reach the output
    for secret in ("wonderland-7", "key-aaaa-1111", "key-bbbb-2222"):
        assert secret not in result.stdout + result.stderr


def test_drifted_security_policies_fail_exactly_their_checks(tmp_path: Path) -> None:
    source = load_stack(None, stack_file(tmp_path))
    objects, ca_pems, material = rendered_for_proof(source)
    policies = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "SecurityPolicy"}
    policies["web-cors"]["cors"]["allowOrigins"] = ["https://*.example.org"]  # an origin removed
    policies["api-jwt"]["jwt"]["providers"][0]["issuer"] = "https://other.example.com"  # another issuer
    policies["private-ip"]["authorization"]["rules"][0]["action"] = "Allow"  # a deny rule loosened
    policies["keys-api-key"]["apiKeyAuth"]["sanitize"] = False  # the key reaches the backend
    policies["params-api-key"]["apiKeyAuth"]["extractFrom"] = [{"params": ["key"]}]  # looked for elsewhere
    with run_local_gateway(objects, source.config.controller.version, https_stand_ins=material.jwks_stand_ins) as gateway:
        targets = {name: Target(address, port) for name, (address, port) in gateway.listeners.items()}
        results: list[CheckResult] = verify(source.config, targets, ca_pems, sample_size=20, material=material)
    failed = {result.name for result in results if not result.passed and not result.skipped}
    api = "route api rule 0: GET {}api.example.com/ -> backend ({})"
    assert failed == {
        "SecurityPolicy web-cors: route backend rule 0: a CORS preflight from https://www.example.com is allowed as declared",
        "SecurityPolicy keys-api-key: route keys rule 0: the API key is removed before the backend",
        "SecurityPolicy private-ip: route private rule 0: a client in 127.0.0.128/25 (blocked) is denied",
        # every token of the stack's issuer is now refused as from a wrong issuer (401)
        "SecurityPolicy api-jwt: route api rule 0: a valid JWT gets 200",
        "SecurityPolicy api-jwt: route api rule 0: a JWT for another audience gets 403",
        api.format("", "http"),
        api.format("https://", "https"),
        # the proof's key, in api_key, is no longer found
        "SecurityPolicy params-api-key: route params rule 0: a valid API key gets 200",
        "route params rule 0: GET params.example.com/ -> backend (http)",
        "route params rule 0: GET https://params.example.com/ -> backend (https)",
    }
