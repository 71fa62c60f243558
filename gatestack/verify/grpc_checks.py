"""Checks of GRPCRoutes, by real gRPC calls (grpcio; messages are raw bytes, no generated code).

For each rule, on the route's first HTTP listener (h2c), else its first HTTPS one (TLS against
the stack's CA, SNI and :authority the route's hostname):

* routing: a call derived from each match (an Exact service and method; a service alone gets
  the method `Verify`, a method alone the service `gatestack.Verify`; Exact metadata) is answered
  by one of the rule's backends, which saw the service and method called. A call another rule
  takes first (a match with service and method beats one with only one of them, then more
  metadata matches) is not made; RegularExpression matches are not checked;
* split: `sample_size` calls, each backend's count within its exact binomial interval;
* RequestHeaderModifier: the metadata reaches the backend; ResponseHeaderModifier: set/add
  values come back as response metadata;
* RequestMirror: the mirror backend receives its share of copies (`mirror_checks`);
* a call to a service no rule takes is answered UNIMPLEMENTED (Envoy's 404 for gRPC);
* the rule's SecurityPolicy and BackendTrafficPolicy: `grpc_policy_checks`.

The backends must be the gRPC echo stand-in (`grpc_echo_server.py`) or answer as it does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Optional

import grpc

from gatestack.stand_ins.echo_server import MARK_HEADER, MARKS_REPORT_HEADER
from gatestack.stand_ins.grpc_echo_server import ECHO_SET_HEADER
from gatestack.verify.client_identity import fresh_value
from gatestack.verify.grpc_policy_checks import GrpcPolicyChecks, as_metadata, grpc_effective_policy
from gatestack.verify.mirror_checks import mirrored_share
from gatestack.verify.route_matching import attached_listeners, backend_of_pod, concrete_host, intersect_hostnames
from gatestack.verify.statistics import FALSE_FAILURE_BOUND, binomial_interval, split_intervals

UNROUTED_SERVICE = "gatestack.verify.NoSuchService"


@dataclass(frozen=True)
class GrpcCall:
    service: str
    method: str
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"


@dataclass
class GrpcAnswer:
    code: grpc.StatusCode
    document: Optional[dict[str, Any]]
    response_metadata: dict[str, list[str]]
    details: str = ""


def call_for(match: Any) -> Optional[GrpcCall]:
    method = match.method
    if method is not None and method.type == "RegularExpression":
        return None
    if any(header.type == "RegularExpression" for header in match.headers):
        return None
    service = (method.service if method and method.service else "gatestack.Verify").lstrip(".")
    name = method.method if method and method.method else "Verify"
    return GrpcCall(service, name, tuple((header.name.lower(), header.value) for header in match.headers))


def _specificity(match: Any) -> tuple[int, int]:
    method = match.method
    rank = 0 if method is None else (3 if method.service and method.method else 2 if method.service else 1)
    return rank, len(match.headers)


def _takes(match: Any, call: GrpcCall) -> Optional[bool]:
    method = match.method
    if method is not None:
        if method.type == "RegularExpression":
            return None
        if method.service and method.service.lstrip(".") != call.service:
            return False
        if method.method and method.method != call.method:
            return False
    sent = dict(call.metadata)
    for header in match.headers:
        if header.type == "RegularExpression":
            return None
        if sent.get(header.name.lower()) != header.value:
            return False
    return True


class GrpcChecks:
    def __init__(self, verifier: Any, listeners: dict[str, Any]):
        self.verifier = verifier
        self.config = verifier.config
        self.listeners = listeners
        # The valid credentials of the rule being checked (its SecurityPolicy's), as metadata.
        self.authentication: tuple[tuple[str, str], ...] = ()

    def run(self) -> None:
        for route_index, route in enumerate(self.config.grpc_routes):
            self.verifier.guarded(f"GRPCRoute {route.name}", self.check_route, route_index, route)

    # --- calling ----------------------------------------------------------------------------
    def channel(self, listener: Any, host: str) -> grpc.Channel:
        target = f"{listener.target.host}:{listener.target.port}"
        options = [("grpc.default_authority", host), ("grpc.enable_retries", 0)]
        if not listener.https:
            return grpc.insecure_channel(target, options=options)
        ca_pem = next(iter(self.verifier.ca_pems.values()), None)
        credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem.encode() if ca_pem else None)
        return grpc.secure_channel(target, credentials, options=[*options, ("grpc.ssl_target_name_override", host)])

    def call(self, listener: Any, host: str, call: GrpcCall, extra: tuple[tuple[str, str], ...] = (), *,
             authenticate: bool = True) -> GrpcAnswer:
        """One call, with the rule's valid credentials as metadata unless `authenticate` is False."""
        with self.channel(listener, host) as channel:
            stub = channel.unary_unary(call.path, request_serializer=None, response_deserializer=None)
            metadata = [*call.metadata, *extra, *(self.authentication if authenticate else ())]
            try:
                body, state = stub.with_call(b"", metadata=metadata, timeout=self.verifier.timeout)
            except grpc.RpcError as error:
                return GrpcAnswer(error.code(), None, {}, error.details() or "")
            metadata: dict[str, list[str]] = {}
            for key, value in state.initial_metadata() or ():
                metadata.setdefault(key, []).append(value)
            try:
                document = json.loads(body)
            except ValueError:
                document = None
            return GrpcAnswer(grpc.StatusCode.OK, document, metadata)

    # --- the checks -------------------------------------------------------------------------
    def check_route(self, route_index: int, route: Any) -> None:
        attached = [self.listeners[l.name] for l in attached_listeners(self.config, route) if l.name in self.listeners]
        plain = [listener for listener in attached if not listener.https]
        chosen = (plain or attached)[:1]
        if not chosen:
            self.verifier.skip(f"GRPCRoute {route.name}", "attached to no listener verify can reach")
            return
        listener = chosen[0]
        hosts = [concrete_host(pattern) for pattern in intersect_hostnames(listener.config.hostname, list(route.hostnames))]
        host = hosts[0]
        for rule_index, rule in enumerate(route.rules):
            label = f"GRPCRoute {route.name} rule {rule_index}" + (f" ({rule.name})" if rule.name else "")
            security = grpc_effective_policy(self.config.security_policies, listener.name, route, rule)
            backend_policy = grpc_effective_policy(self.config.backend_traffic_policies, listener.name, route, rule)
            valid = as_metadata(self.verifier.material.authentication(security)) if security is not None else ()
            self.authentication = valid or ()
            policies = GrpcPolicyChecks(self, label, rule, listener, host)
            if valid is None:
                first = next((candidate for candidate in (call_for(match) if match is not None else None for match in rule.matches)
                              if candidate is not None), None)
                self.verifier.skip(label, f"its SecurityPolicy {security.name} needs credentials verify cannot send with a gRPC call "
                                   "(verify --credentials FILE; an API key by query parameter never can)")
                policies.security(security, first or GrpcCall("gatestack.Verify", "Verify"), None)
                continue
            primary = None
            for match_index, match in enumerate(rule.matches or [None]):
                call = call_for(match) if match is not None else GrpcCall("gatestack.Verify", "Verify")
                expected = "|".join(ref.name for ref in rule.backend_refs if ref.weight > 0)
                if call is None:
                    self.verifier.skip(f"{label}: match {match_index} -> {expected}", "regular-expression match")
                    continue
                name = f"{label}: {call.path} -> {expected} ({listener.name})"
                winner = self.winner(route, call)
                if winner != rule_index:
                    self.verifier.skip(name, "another rule takes this call" if winner is not None else "which rule takes it cannot be told")
                    continue
                self.check_routing(name, rule, listener, host, call)
                primary = primary or call
            if primary is None:
                continue
            if security is not None:
                policies.security(security, primary, valid)
            if backend_policy is not None:
                policies.rate_limits(backend_policy, primary)
            self.check_details(label, rule, listener, host, primary)
        self.authentication = ()
        self.check_unrouted(route, listener, host)

    def winner(self, route: Any, call: GrpcCall) -> Optional[int]:
        candidates = []
        for rule_index, rule in enumerate(route.rules):
            for match in rule.matches or [None]:
                takes = True if match is None else _takes(match, call)
                if takes is None:
                    return None
                if takes:
                    candidates.append(((0, 0) if match is None else _specificity(match), rule_index))
        if not candidates:
            return None
        candidates.sort(reverse=True)
        if len(candidates) > 1 and candidates[0][0] == candidates[1][0] and candidates[0][1] != candidates[1][1]:
            return None
        return candidates[0][1]

    def backend_of(self, answer: GrpcAnswer) -> Optional[str]:
        return backend_of_pod(str((answer.document or {}).get("pod", "")))

    def check_routing(self, name: str, rule: Any, listener: Any, host: str, call: GrpcCall) -> None:
        answer = self.call(listener, host, call)
        backends = {ref.name for ref in rule.backend_refs if ref.weight > 0}
        if answer.code != grpc.StatusCode.OK or answer.document is None:
            self.verifier.add(name, False, f"status {answer.code.name}: {answer.details}")
            return
        document = answer.document
        ok = self.backend_of(answer) in backends and (document.get("service"), document.get("method")) == (call.service, call.method)
        self.verifier.add(name, ok, f"OK from {document.get('pod')}; backend saw {document.get('service')}/{document.get('method')}")

    def check_details(self, label: str, rule: Any, listener: Any, host: str, call: GrpcCall) -> None:
        for route_filter in rule.filters:
            if route_filter.request_header_modifier is not None:
                modifier = route_filter.request_header_modifier
                answer = self.call(listener, host, call)
                seen = (answer.document or {}).get("metadata", {})
                for pair in [*modifier.set, *modifier.add]:
                    values = seen.get(pair.name.lower())
                    self.verifier.add(f"{label}: metadata {pair.name}: {pair.value} reaches the backend",
                                      values is not None and pair.value in values, f"backend saw {pair.name.lower()}: {values}")
                for removed in modifier.remove:
                    answer = self.call(listener, host, call, ((removed.lower(), "gatestack-verify"),))
                    values = (answer.document or {}).get("metadata", {}).get(removed.lower())
                    self.verifier.add(f"{label}: metadata {removed} sent by the client does not reach the backend", values is None,
                                      f"backend saw {removed.lower()}: {values}")
            if route_filter.response_header_modifier is not None:
                modifier = route_filter.response_header_modifier
                asked = ",".join(f"{pair.name}:gatestack-verify-original" for pair in modifier.set)
                answer = self.call(listener, host, call, ((ECHO_SET_HEADER, asked),) if asked else ())
                for pair in [*modifier.set, *modifier.add]:
                    values = answer.response_metadata.get(pair.name.lower(), [])
                    ok = values == [pair.value] if pair in modifier.set else pair.value in values
                    self.verifier.add(f"{label}: response metadata {pair.name}: {pair.value}", ok, f"response {pair.name.lower()}: {values}")
            if route_filter.request_mirror is not None:
                self.check_mirror(label, route_filter.request_mirror, listener, host, call)
        if len([ref for ref in rule.backend_refs if ref.weight > 0]) > 1:
            self.check_split(label, rule, listener, host, call)

    def check_split(self, label: str, rule: Any, listener: Any, host: str, call: GrpcCall) -> None:
        weights: dict[str, int] = {}
        for ref in rule.backend_refs:
            weights[ref.name] = weights.get(ref.name, 0) + ref.weight
        names = list(weights)
        n = self.verifier.sample_size
        intervals = dict(zip(names, split_intervals(n, [weights[b] for b in names])))
        counts = {backend: 0 for backend in names}
        others: dict[str, int] = {}
        for _ in range(n):
            answer = self.call(listener, host, call)
            backend = self.backend_of(answer) if answer.code == grpc.StatusCode.OK else None
            if backend in counts:
                counts[backend] += 1
            else:
                key = answer.code.name if answer.code != grpc.StatusCode.OK else f"pod {(answer.document or {}).get('pod')!r}"
                others[key] = others.get(key, 0) + 1
        passed = not others and all(intervals[b][0] <= counts[b] <= intervals[b][1] for b in names)
        detail = ", ".join(f"{b} {counts[b]}" for b in names) + " (accepted " + " / ".join(f"{lo}..{hi}" for lo, hi in intervals.values()) + ")"
        if others:
            detail += f"; other answers: {others}"
        self.verifier.add(f"{label}: split " + " : ".join(f"{b} {weights[b]}" for b in names) + f" over {n} calls", passed, detail)

    def check_mirror(self, label: str, mirror: Any, listener: Any, host: str, call: GrpcCall) -> None:
        share, n, target = mirrored_share(mirror), self.verifier.sample_size, mirror.backend_ref.name
        name = f"{label}: {float(share) * 100:g} % of {n} calls are mirrored to {target}"
        token = fresh_value()
        for _ in range(n):
            self.call(listener, host, call, ((MARK_HEADER.lower(), token),))
        counts, previous = {}, None
        for _ in range(15):
            counts = (self.call(listener, host, call, ((MARKS_REPORT_HEADER.lower(), token),)).document or {}).get("marks", {})
            if counts == previous:
                break
            previous = counts
            time.sleep(0.3)
        low, high = binomial_interval(n, share, FALSE_FAILURE_BOUND)
        received = counts.get(target, 0)
        self.verifier.add(name, low <= received <= high, f"{target} received {received} copies (accepted {low}..{high}); by backend: {counts}")

    def check_unrouted(self, route: Any, listener: Any, host: str) -> None:
        call = GrpcCall(UNROUTED_SERVICE, "Verify")
        name = f"GRPCRoute {route.name}: {call.path} on {host} gets UNIMPLEMENTED"
        if self.winner(route, call) is not None:
            self.verifier.skip(name, "a rule of the route takes every call")
            return
        answer = self.call(listener, host, call)
        self.verifier.add(name, answer.code == grpc.StatusCode.UNIMPLEMENTED, f"status {answer.code.name}")
