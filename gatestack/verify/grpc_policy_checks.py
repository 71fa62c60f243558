"""Checks of the policies on a GRPCRoute's rules, by real gRPC calls.

A BackendTrafficPolicy or SecurityPolicy targets a GRPCRoute (or one of its rules by name, or
the Gateway); the most specific one is in effect for a rule (as for HTTPRoutes). On the first
call a rule's routing check makes:

* SecurityPolicy basic auth, API keys (a header of `extractFrom`), JWT: a call without
  credentials is answered UNAUTHENTICATED (Envoy's 401 as gRPC status 16), one with wrong ones
  (another password, an unknown key, a token signed by an unknown key) too, one with valid ones
  OK from the rule's backends. Every other call verify makes to the rule carries valid
  credentials; without them (verify --credentials) the rule's checks are not checked. An API
  key read from a query parameter cannot ride on a gRPC call (not checked).
* BackendTrafficPolicy local rate limit keyed by a Distinct header (a fresh value as metadata):
  the first `requests` calls are answered, the next one is refused with UNAVAILABLE (Envoy's
  429 as gRPC status 14; RESOURCE_EXHAUSTED accepted too); the limit refills continuously, so
  `requests x elapsed / unit` more may pass. Limits keyed by client address or shared by every
  client are not checked on gRPC calls (a channel cannot choose its source address here, and
  spending a shared limit would fail the checks after it); nor are retries, timeouts, circuit
  breakers or load balancing on a GRPCRoute (the gRPC stand-in cannot be told to fail or wait).
"""

from __future__ import annotations

import base64
import math
import time
from typing import Any, Optional

import grpc

from gatestack.verify.client_identity import fresh_value
from gatestack.verify.jwt_tokens import JwtSigner
from gatestack.verify.policy_targets import effective_policy
from gatestack.verify.probes import QUERY_PARAMETER_PREFIX

UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400}
MAX_RATE_LIMIT_CALLS = 500
REFUSED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


def grpc_effective_policy(policies: list[Any], listener_name: str, route: Any, rule: Any) -> Optional[Any]:
    """The policy (of one kind) in effect for a GRPCRoute rule on a listener, or None."""
    return effective_policy(policies, listener_name, route, rule, route_kind="GRPCRoute")


def targets_only_grpc_routes(policy: Any) -> bool:
    """Whether a policy attaches to GRPCRoutes alone (its checks are the gRPC ones)."""
    return all(ref.kind == "GRPCRoute" for ref in policy.target_refs)


def as_metadata(headers: Optional[list[tuple[str, str]]]) -> Optional[tuple[tuple[str, str], ...]]:
    """Credentials as gRPC metadata (lower-case keys), or None when they cannot be sent so."""
    if headers is None or any(name.startswith(QUERY_PARAMETER_PREFIX) for name, _ in headers):
        return None
    return tuple((name.lower(), value) for name, value in headers)


class GrpcPolicyChecks:
    """The checks above for one rule (`checks` is the `GrpcChecks` of the run)."""

    def __init__(self, checks: Any, label: str, rule: Any, listener: Any, host: str):
        self.checks, self.label, self.rule, self.listener, self.host = checks, label, rule, listener, host
        self.verifier = checks.verifier

    def backends(self) -> set[str]:
        return {ref.name for ref in self.rule.backend_refs if ref.weight > 0}

    # --- SecurityPolicy --------------------------------------------------------------------------
    def security(self, policy: Any, call: Any, valid: Optional[tuple[tuple[str, str], ...]]) -> None:
        if not (policy.basic_auth or policy.api_key_auth or policy.jwt):
            return
        base = f"{self.label}: SecurityPolicy {policy.name}"
        kind = "basic auth" if policy.basic_auth else "an API key" if policy.api_key_auth else "a JWT"
        self.expect(f"{base}: a call without {kind} gets UNAUTHENTICATED", call, (), (grpc.StatusCode.UNAUTHENTICATED,))
        wrong = self.wrong_credentials(policy)
        if wrong is None:
            self.verifier.skip(f"{base}: a call with {kind} the policy does not know gets UNAUTHENTICATED",
                               "an API key read from a query parameter cannot be sent with a gRPC call")
        else:
            self.expect(f"{base}: a call with {kind} the policy does not know gets UNAUTHENTICATED", call, wrong,
                        (grpc.StatusCode.UNAUTHENTICATED,))
        name = f"{base}: a call with valid credentials gets OK from {'|'.join(sorted(self.backends()))}"
        if valid is None:
            self.verifier.skip(name, "verify has no credentials it can send with a gRPC call for this policy (verify --credentials FILE)")
            return
        self.expect(name, call, valid, (grpc.StatusCode.OK,))

    def wrong_credentials(self, policy: Any) -> Optional[tuple[tuple[str, str], ...]]:
        if policy.basic_auth is not None:
            token = base64.b64encode(f"{policy.basic_auth.users[0]}:{fresh_value()}".encode()).decode()
            return (("authorization", f"Basic {token}"),)
        if policy.api_key_auth is not None:
            first = policy.api_key_auth.extract_from[0]
            return ((first.headers[0].lower(), fresh_value()),) if first.headers else None
        provider = policy.jwt.providers[0]
        return (("authorization", f"Bearer {JwtSigner.new(provider.issuer, list(provider.audiences)).token()}"),)

    def expect(self, name: str, call: Any, metadata: tuple[tuple[str, str], ...], codes: tuple[grpc.StatusCode, ...]) -> None:
        answer = self.checks.call(self.listener, self.host, call, metadata, authenticate=False)
        detail = f"status {answer.code.name}" + (f" from {(answer.document or {}).get('pod')}" if answer.document else "")
        ok = answer.code in codes and (answer.code != grpc.StatusCode.OK or self.checks.backend_of(answer) in self.backends())
        self.verifier.add(name, ok, detail)

    # --- BackendTrafficPolicy --------------------------------------------------------------------
    def rate_limits(self, policy: Any, call: Any) -> None:
        if policy.rate_limit is None:
            return
        for index, rule in enumerate(policy.rate_limit.local.rules):
            name = f"{self.label}: BackendTrafficPolicy {policy.name}: rate limit {index} {rule.limit.requests}/{rule.limit.unit}"
            headers = [header for selector in rule.client_selectors for header in selector.headers]
            others = [selector for selector in rule.client_selectors if selector.source_cidr or selector.path or selector.methods]
            distinct = [header for header in headers if header.type == "Distinct" and not header.invert]
            if not distinct or others or len(distinct) != len(headers):
                self.verifier.skip(name, "only a limit keyed by a Distinct header is checked with gRPC calls")
                continue
            if rule.limit.requests > MAX_RATE_LIMIT_CALLS:
                self.verifier.skip(name, f"more than {MAX_RATE_LIMIT_CALLS} calls to exhaust")
                continue
            key = tuple((header.name.lower(), fresh_value()) for header in distinct)
            self.exhaust(name, call, key, rule.limit.requests, rule.limit.requests / UNIT_SECONDS[rule.limit.unit])

    def exhaust(self, name: str, call: Any, key: tuple[tuple[str, str], ...], limit: int, per_second: float) -> None:
        passed, started = 0, time.monotonic()
        with self.checks.channel(self.listener, self.host) as channel:
            stub = channel.unary_unary(call.path, request_serializer=None, response_deserializer=None)
            metadata = [*call.metadata, *key, *self.checks.authentication]
            refused: Optional[grpc.StatusCode] = None
            while passed <= limit + math.floor((time.monotonic() - started) * per_second) + 1:
                try:
                    stub(b"", metadata=metadata, timeout=self.verifier.timeout)
                except grpc.RpcError as error:
                    if error.code() in REFUSED:
                        refused = error.code()
                        break
                    self.verifier.add(name, False, f"call {passed + 1} ({key[0][0]}: {key[0][1]}): {error.code().name}")
                    return
                passed += 1
        elapsed = time.monotonic() - started
        refill = math.floor(elapsed * per_second)
        ok = refused is not None and limit <= passed <= limit + refill
        self.verifier.add(name, ok, f"{key[0][0]}: {key[0][1]}: {passed} answered, then " + (refused.name if refused else "no refusal")
                          + f" within {elapsed:.2f}s (accepted {limit}..{limit + refill})")
