"""Which policy governs which listener and route rule, as Envoy Gateway decides it.

A policy attached to a route rule (`sectionName`) takes precedence over one on the route,
which takes precedence over one on the listener, then the Gateway; the policies are not
merged. `governed_rules` finds, for a policy, the rules it is in effect for and a request the
route-matching oracle says reaches each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from gateway_config.models import RouteConfig, RouteMatch, RouteRule, StackConfig
from gatestack.verify.route_matching import Listener, Probe, attached_listeners, concrete_host, intersect_hostnames, probes_for_match


@dataclass(frozen=True)
class GovernedRule:
    """A route rule a policy is in effect for, on one listener, and a request that reaches it."""

    listener: Listener
    route_index: int
    route: RouteConfig
    rule_index: int
    rule: RouteRule
    probe: Probe

    @property
    def label(self) -> str:
        name = f" ({self.rule.name})" if self.rule.name else ""
        return f"route {self.route.name} rule {self.rule_index}{name}"


def _specificity(ref: Any, listener_name: str, route: Any, rule: Any, route_kind: str) -> Optional[int]:
    """How specifically `ref` targets this rule on this listener (higher wins), or None."""
    if ref.kind == route_kind and ref.name == route.name:
        if ref.section_name is None:
            return 3
        return 4 if ref.section_name == rule.name else None
    if ref.kind == "Gateway":
        if ref.section_name is None:
            return 1
        return 2 if ref.section_name == listener_name else None
    return None


def effective_policy(
    policies: list[Any], listener_name: str, route: Any, rule: Any, route_kind: str = "HTTPRoute"
) -> Optional[Any]:
    """The policy (of one kind) in effect for a rule of a `route_kind` route on a listener, or None.

    Envoy Gateway's precedence: a rule (sectionName) over its route over a listener over the Gateway.
    """
    best, best_rank = None, 0
    for policy in policies:
        for ref in policy.target_refs:
            rank = _specificity(ref, listener_name, route, rule, route_kind)
            if rank is not None and rank > best_rank:
                best, best_rank = policy, rank
    return best


def effective_listener_policy(policies: list[Any], listener_name: str) -> Optional[Any]:
    """The ClientTrafficPolicy in effect on a listener: one on the listener over one on the Gateway."""
    best, best_rank = None, 0
    for policy in policies:
        for ref in policy.target_refs:
            rank = 2 if ref.section_name == listener_name else 1 if ref.section_name is None else 0
            if rank > best_rank:
                best, best_rank = policy, rank
    return best


def reaching_probe(listener: Listener, route_index: int, route: RouteConfig, rule_index: int, rule: RouteRule) -> Optional[Probe]:
    """A request the oracle is sure reaches this rule on this listener, or None."""
    hosts = [concrete_host(pattern) for pattern in intersect_hostnames(listener.config.hostname, list(route.hostnames))]
    for host in dict.fromkeys(hosts):
        for match in rule.matches or [RouteMatch()]:
            probes, _ = probes_for_match(match, host, rule)
            for probe in probes:
                outcome = listener.table.outcome(probe)
                if outcome.certain and outcome.entry is not None and outcome.entry.rule_key == (route_index, rule_index):
                    return probe
    return None


def governed_rules(config: StackConfig, listeners: dict[str, Listener], policies: list[Any], policy: Any) -> list[GovernedRule]:
    """Every (listener, rule) `policy` is in effect for, with a request reaching it; rules
    answered by a redirect are left out (no backend sees their requests)."""
    governed = []
    for route_index, route in enumerate(config.routes):
        for listener_config in attached_listeners(config, route):
            listener = listeners.get(listener_config.name)
            if listener is None:
                continue
            for rule_index, rule in enumerate(route.rules):
                if not rule.backend_refs or effective_policy(policies, listener.name, route, rule) is not policy:
                    continue
                probe = reaching_probe(listener, route_index, route, rule_index, rule)
                if probe is not None:
                    governed.append(GovernedRule(listener, route_index, route, rule_index, rule, probe))
    return governed
