"""Check a running gateway against its stack config by sending it real requests.

`verify(config, targets, ca_pems)` derives the checks from a `StackConfig` (the same checks
the seed guide does by hand with curl, generalised to every route of the stack), sends the
requests with the standard library only (`http.client` + `ssl`), and returns one
`CheckResult` per check. `format_table(results)` prints them. The same code runs against a
cluster (targets = the Gateway's address, ports 80/443) and against the local gateway
(targets = 127.0.0.1:10080/10443).

What is checked
---------------
For every rule of every route, on each listener the route attaches to (its parentRefs'
sectionName, or every listener of the stack's Gateway); routing, split and filter checks run
on the HTTP listeners (on the HTTPS ones when the route has no HTTP listener), and every HTTPS
listener gets a TLS request per rule:

* routing: for each hostname of the route (without hostnames: the listener's hostname, else
  ``gatestack-verify.example``; a wildcard ``*.example.com`` is asked as
  ``gatestack-verify.example.com``) and each match, a request built from the match (path value,
  exact header and query-parameter matches, method) reaches one of the rule's backends: the
  echo JSON's ``pod`` is ``<backend>-<hash>-<suffix>``, so the backend is the pod name without
  its last two dash-separated parts. Without a URLRewrite the echo's path, host and method must
  be the ones sent. Over HTTPS the echo must also show ``X-Forwarded-Proto: https``.
  A request is only made for a rule when the gateway's matching precedence (Gateway API:
  exact hostname over wildcard, then Exact > RegularExpression > PathPrefix, longer path,
  method, more header matches, more query matches; ties across routes are undecidable here)
  sends it to that rule; otherwise the match is reported as not checked, naming the rule that
  takes it. Regular-expression paths (and header/query values) are not checked: no request can
  be derived from them honestly.
* split: a rule with two or more backends gets ``sample_size`` sequential requests; each
  backend's count must lie in its acceptance interval (below); a weight-0 backend must get 0.
* RequestHeaderModifier: set/add values reach the backend as declared (names in the echo JSON
  in Go's canonical casing, ``added-header`` -> ``Added-Header``); removed headers, sent by the
  client, do not. ResponseHeaderModifier: set/add present in the response, removed ones absent
  (the backend is asked to send them with echo-basic's ``X-Echo-Set-Header``).
* RequestRedirect: the status code and the Location (scheme, host, port, path) as Gateway API
  derives them; the redirect is not followed. URLRewrite: the echo JSON's host/path show it.
* every HTTPS listener: for each hostname it serves, a TLS handshake with SNI = the hostname,
  verified against the CA of the listener's certificate (``ca_pems[secretName]``) with
  hostname checking.
* negative: an unknown host (``unknown-host.invalid``) gets 404, and for each route hostname
  paths no rule on that host matches (``/getter`` next to PathPrefix ``/get``: a PathPrefix
  matches whole segments; ``/no-such-path``) get 404, when precedence says no rule takes them.

Split acceptance intervals (exact binomial)
-------------------------------------------
With weights w_i summing to W, backend i's count over n sequential requests is taken as
X_i ~ Binomial(n, w_i / W). Its acceptance interval is the shortest [lo, hi] with
P(X_i outside) <= 1e-6 / m, where m is the number of backends with 0 < w_i < W (a union bound,
so a correct gateway fails the whole split check with probability at most 1e-6). The
probabilities are exact rational arithmetic on the integers C(n, k) a^k b^(n-k) (p = a/(a+b)),
not a normal approximation. A weight-0 backend must get exactly 0, a lone positive-weight one
exactly n. Numbers:

* 8:2 at n = 200: backend 130..186, backend-2 14..70 (probability outside 3.2e-7 each).
  A 50/50 split (100/100) fails; Envoy Gateway's locality-weighted split gives exactly 160/40.
* 1:1 at n = 200: 65..135. 1:3 at n = 200: 22..82 / 118..178. 8:2 at n = 20: 6..20 / 0..14
  (20 requests, as in the seed guide, cannot tell 8:2 from 1:1: hence the default of 200).

Results
-------
`CheckResult(name, passed, detail, skipped=False)`. A check that cannot be made honestly
(regex match, external backend, no CA given, ...) has ``skipped=True`` and ``passed=False``:
it is shown as SKIP, counted neither as passed nor as failed, and never reported as a pass.
A connection failure or timeout (5 s per request by default) is a FAIL with the error.

Modules
-------
``oracle`` (which rule takes a request, what it should do), ``probes`` (sending one request or
TLS handshake), ``route_checks`` and ``checks`` (the checks themselves, and the run),
``statistics`` (the split intervals), ``results`` (results and their table); the policies'
checks each in a module of their own (``backend_policy_checks``, ``health_checks``,
``circuit_breaker_checks``, ``load_balancer_checks``, ``client_policy_checks``,
``security_checks``, ``grpc_policy_checks``), and ``credentials_file`` (verify --credentials).
"""

from __future__ import annotations

from typing import Optional

from gateway_config.models import StackConfig
from gatestack.stand_ins.echo_server import canonical_header_name
from gatestack.verify.checks import UNKNOWN_HOST, Verifier
from gatestack.verify.inference_checks import EndpointPickerControl, InferenceEnvironment
from gatestack.verify.material import ClientCertificate, ProofMaterial
from gatestack.verify.route_matching import MADE_UP_HOST, SUBPATH_PROBE, WILDCARD_STAND_IN, backend_of_pod
from gatestack.verify.probes import (
    DEFAULT_TIMEOUT_SECONDS,
    RequestFailed,
    Response,
    Target,
    send_request,
    tls_handshake,
    unverified_context,
    verified_context,
)
from gatestack.verify.results import CheckResult, format_table
from gatestack.verify.route_checks import ECHO_SET_HEADER, ORIGINAL_VALUE
from gatestack.verify.statistics import (
    FALSE_FAILURE_BOUND,
    binomial_interval,
    binomial_outside_probability,
    split_intervals,
)

__all__ = [
    "CheckResult", "ClientCertificate", "DEFAULT_TIMEOUT_SECONDS", "ECHO_SET_HEADER", "EndpointPickerControl", "FALSE_FAILURE_BOUND",
    "InferenceEnvironment", "MADE_UP_HOST",
    "ORIGINAL_VALUE", "ProofMaterial", "RequestFailed", "Response", "SUBPATH_PROBE", "Target", "UNKNOWN_HOST",
    "WILDCARD_STAND_IN", "backend_of_pod", "binomial_interval", "binomial_outside_probability",
    "canonical_header_name", "format_table", "send_request", "split_intervals", "tls_handshake",
    "unverified_context", "verified_context", "verify",
]


def verify(
    config: StackConfig,
    targets: dict[str, Target],
    ca_pems: Optional[dict[str, str]],
    sample_size: int = 200,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    material: Optional[ProofMaterial] = None,
    inference: Optional[InferenceEnvironment] = None,
) -> list[CheckResult]:
    """Send the checks derived from `config` to the gateway and return their results.

    `targets` maps Gateway listener name -> where it is reachable; `ca_pems` maps a
    certificate's secretName -> the PEM of the CA that signed it (None: TLS chains are not
    verified and that check is reported as not checked). `material` holds the client identities
    verify may use (client certificates for mutual TLS); checks needing one it lacks are not checked.
    `inference` says whether Endpoint Pickers run and how to stop one (inference_checks.py).
    """
    if sample_size < 1:
        raise ValueError("sample_size must be at least 1")
    return Verifier(
        config, targets, ca_pems or {}, sample_size, timeout, material or ProofMaterial(), inference or InferenceEnvironment()
    ).run()
