"""Rules for RequestMirror filters: what they copy to must exist, and how much is one thing."""

from __future__ import annotations

from typing import Iterator

from gateway_config.models import StackConfig
from gateway_config.problems import Problem


def mirror_problems(config: StackConfig) -> Iterator[Problem]:
    backends = {backend.name: backend for backend in config.backends}
    for route_index, route in enumerate(config.routes):
        for rule_index, rule in enumerate(route.rules):
            for filter_index, route_filter in enumerate(rule.filters):
                mirror = route_filter.request_mirror
                if mirror is None or route_filter.type != "RequestMirror":
                    continue
                where = f"routes.{route_index}.rules.{rule_index}.filters.{filter_index}.requestMirror"
                if mirror.percent is not None and mirror.fraction is not None:
                    yield Problem(where, "give percent or fraction, not both")
                if mirror.fraction is not None and mirror.fraction.numerator > mirror.fraction.denominator:
                    yield Problem(f"{where}.fraction", f"numerator {mirror.fraction.numerator} is above denominator {mirror.fraction.denominator}")
                ref = mirror.backend_ref
                if ref.external:
                    if ref.port is None:
                        yield Problem(f"{where}.backendRef.port", f"external backend '{ref.name}' needs a port")
                    continue
                backend = backends.get(ref.name)
                if backend is None or (ref.namespace or config.namespace) != config.namespace:
                    yield Problem(
                        f"{where}.backendRef.name",
                        f"backend '{ref.name}' is not declared in 'backends' (declared: {', '.join(sorted(backends)) or 'none'}); "
                        "declare it or mark the reference external: true",
                    )
                elif ref.port is not None and ref.port != backend.port:
                    yield Problem(f"{where}.backendRef.port", f"backend '{ref.name}' listens on port {backend.port}, not {ref.port}")
                if any(other.type == "RequestRedirect" for other in rule.filters):
                    yield Problem(where, "a rule that answers with a redirect forwards nothing to copy; remove the mirror")
