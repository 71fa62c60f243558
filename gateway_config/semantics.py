"""Every rule that relates several values of a stack config, gathered in one place.

`find_problems` is what the loader (and a component checking its arguments) runs once a config
has the right shape. Each rule module checks one part of the stack and returns `Problem`s with
the dotted path of the value to fix; this module is the only one that imports them all, so a
new rule module is added here. Together with the single-value rules in `fields.py` they refuse
everything Gateway API, Envoy Gateway or the API server would refuse later (or accept and then
serve wrongly), so a typo never reaches a cluster half-applied.
"""

from __future__ import annotations

from gateway_config import gateway_semantics, route_semantics
from gateway_config.gateway_api_rules import gateway_api_problems
from gateway_config.grpc_semantics import grpc_route_problems
from gateway_config.inference_semantics import inference_problems
from gateway_config.mirror_semantics import mirror_problems
from gateway_config.models import StackConfig
from gateway_config.policy_semantics import policy_problems
# `Problem` is importable from here too, as it has always been.
from gateway_config.problems import Problem
from gateway_config.security_semantics import security_policy_problems


def find_problems(config: StackConfig) -> list[Problem]:
    """Every cross-value problem of `config`, in a stable order (empty when it is sound)."""
    return [
        *gateway_semantics.listener_problems(config),
        *gateway_semantics.gateway_problems(config),
        *gateway_semantics.certificate_problems(config),
        *route_semantics.backend_problems(config),
        *route_semantics.route_problems(config),
        *gateway_api_problems(config),
        *gateway_semantics.proxy_problems(config),
        *gateway_semantics.production_problems(config),
        *policy_problems(config),
        *security_policy_problems(config),
        *mirror_problems(config),
        *grpc_route_problems(config),
        *inference_problems(config),
    ]
