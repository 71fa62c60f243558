"""A stack config that sets every field of every policy model, so the rule inventory lists every
field the program can emit into a BackendTrafficPolicy, ClientTrafficPolicy or SecurityPolicy
(the stacks alone use only some). `tests/differential/test_rule_inventory.py` checks that it
still sets every field when the models grow.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway_config.models import StackConfig
from gatestack.differential.model_fields import list_item_model, model_in

GATEWAY = {"kind": "Gateway", "name": "eg"}
JWKS = ('{"keys":[{"kty":"EC","crv":"P-256","x":"klqvMsW34MCBUENjf6F7tOmjgjesQaSYy4tni-LsHnQ",'
        '"y":"Yn2PAQ0zDL8lzJKM_lOo-9C4Dj_RYyJf5z74Hk_g4QA","kid":"catalogue","alg":"ES256","use":"sig"}]}')


def _route(name: str) -> dict[str, Any]:
    return {"name": name, "hostnames": [f"{name}.example.com"], "rules": [{"name": "main", "backendRefs": [{"name": "backend"}]}]}


POLICIES: dict[str, Any] = {
    "clientCertificateAuthorities": [{"name": "partners", "commonName": "partners CA", "organization": "example Inc.",
                                      "keyAlgorithm": "RSA", "validityHours": 8760, "clients": ["partner-a"], "source": "generate"}],
    "backendTrafficPolicies": [
        {"name": "resilience", "targetRefs": [{"kind": "HTTPRoute", "name": "resilience"}],
         "retry": {"numRetries": 3, "retryOn": {"triggers": ["5xx", "retriable-status-codes"], "httpStatusCodes": [503]},
                   "perRetry": {"timeout": "2s", "backOff": {"baseInterval": "100ms", "maxInterval": "1s"}}},
         "timeout": {"http": {"requestTimeout": "10s"}},
         "circuitBreaker": {"maxConnections": 100, "maxPendingRequests": 10, "maxParallelRequests": 50},
         "rateLimit": {"local": {"rules": [
             {"clientSelectors": [{"headers": [{"name": "x-client", "type": "Exact", "value": "a", "invert": True}],
                                   "sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0", "invert": False},
                                   "path": {"type": "PathPrefix", "value": "/get", "invert": False},
                                   "methods": [{"value": "GET", "invert": False}]}],
              "limit": {"requests": 10, "unit": "Second"}}]}},
         "healthCheck": {"active": {"type": "HTTP", "interval": "5s", "timeout": "1s", "unhealthyThreshold": 3, "healthyThreshold": 1,
                                    "http": {"path": "/health", "method": "GET", "hostname": "health.example.com",
                                             "expectedStatuses": [200]}}},
         "loadBalancer": {"type": "ConsistentHash", "consistentHash": {"type": "Header", "header": {"name": "x-user"}}}},
        {"name": "sessions", "targetRefs": [{"kind": "HTTPRoute", "name": "sessions", "sectionName": "main"}],
         "loadBalancer": {"type": "ConsistentHash", "consistentHash": {"type": "Cookie", "cookie": {"name": "session", "ttl": "1h"}}}},
    ],
    "clientTrafficPolicies": [
        {"name": "https-clients", "targetRefs": [{**GATEWAY, "sectionName": "https"}],
         "tls": {"minVersion": "1.2", "maxVersion": "1.3", "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"], "alpnProtocols": ["h2", "http/1.1"],
                 "clientValidation": {"mode": "VerifyIfGiven",
                                      "caCertificateRefs": [{"name": "partners"}, {"name": "elsewhere-ca", "namespace": "default", "external": True}]}},
         "timeout": {"http": {"requestReceivedTimeout": "30s", "idleTimeout": "5m"}},
         "clientIPDetection": {"xForwardedFor": {"numTrustedHops": 1}},
         "connection": {"connectionLimit": {"value": 1000}}},
        {"name": "http-clients", "targetRefs": [{**GATEWAY, "sectionName": "http"}],
         "clientIPDetection": {"xForwardedFor": {"trustedCIDRs": ["10.0.0.0/8"]}}},
    ],
    "securityPolicies": [
        {"name": "web", "targetRefs": [{"kind": "HTTPRoute", "name": "backend"}],
         "cors": {"allowOrigins": ["https://www.example.com"], "allowMethods": ["GET"], "allowHeaders": ["x-custom"],
                  "exposeHeaders": ["x-request-id"], "maxAge": "10m", "allowCredentials": True},
         "jwt": {"providers": [{"name": "idp", "issuer": "https://auth.example.com", "audiences": ["api"],
                                "localJWKS": {"type": "Inline", "inline": JWKS}, "claimToHeaders": [{"claim": "sub", "header": "x-sub"}]}]},
         "authorization": {"defaultAction": "Deny", "rules": [{"name": "office", "action": "Allow", "principal": {"clientCIDRs": ["10.0.0.0/8"]}}]}},
        {"name": "remote-keys", "targetRefs": [{"kind": "HTTPRoute", "name": "resilience", "sectionName": "main"}],
         "jwt": {"providers": [{"name": "idp", "remoteJWKS": {"uri": "https://auth.example.com/jwks.json", "cacheDuration": "5m"}}]}},
        {"name": "admin", "targetRefs": [{"kind": "HTTPRoute", "name": "admin"}],
         "basicAuth": {"users": ["alice"], "forwardUsernameHeader": "x-user"}},
        {"name": "keys", "targetRefs": [{"kind": "HTTPRoute", "name": "keys"}],
         "apiKeyAuth": {"clients": ["client-a"], "extractFrom": [{"headers": ["x-api-key"]}, {"params": ["api_key"]}],
                        "forwardClientIDHeader": "x-client", "sanitize": True}},
    ],
    "credentials": {"admin": {"alice": "catalogue-password"}, "keys": {"client-a": "catalogue-key"}},
}


def catalogue_config(dev: dict[str, Any]) -> dict[str, Any]:
    """`dev` (the dev stack's raw config) with routes to attach to and every policy field set."""
    config = copy.deepcopy(dev)
    config["routes"].extend(_route(name) for name in ("resilience", "sessions", "admin", "keys"))
    config.update(copy.deepcopy(POLICIES))
    return config


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a raw config value, list items as '[]'."""
    if isinstance(value, dict):
        return {path for key, item in value.items() for path in {f"{prefix}{key}", *_paths(item, f"{prefix}{key}.")}}
    if isinstance(value, list):
        return {path for item in value for path in _paths(item, f"{prefix}[].")}
    return set()


def _model_paths(model: Any, prefix: str = "") -> set[str]:
    """Every key path a model accepts (by the stack file's names), nested models and lists of them included."""
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        paths.add(path)
        item = list_item_model(field.annotation)
        nested = model_in(field.annotation) if item is None else None
        if item is not None:
            paths |= _model_paths(item, f"{path}.[].")
        elif nested is not None:
            paths |= _model_paths(nested, f"{path}.")
    return paths


def fields_not_in_catalogue() -> list[str]:
    """Policy fields (`section.[].path`) the models accept and the catalogue does not set."""
    missing: list[str] = []
    for section in ("clientCertificateAuthorities", "backendTrafficPolicies", "clientTrafficPolicies", "securityPolicies"):
        field = next(info for name, info in StackConfig.model_fields.items() if (info.alias or name) == section)
        set_here = {path.removeprefix("[].") for path in _paths(POLICIES[section])}
        missing += sorted(f"{section}.[].{path}" for path in _model_paths(list_item_model(field.annotation)) - set_here)
    return missing
