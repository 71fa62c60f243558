"""Rules that relate the values of a stack's Gateway: its listeners (names, ports, TLS and the
certificates they serve), the certificates themselves, the proxy settings, and the images a
production stack must pin.

Each check returns `Problem`s with the dotted path of the value to fix; `semantics.py` gathers
them with every other rule module.
"""

from __future__ import annotations

from typing import Iterator

from gateway_config.fields import image_tag
from gateway_config.models import StackConfig
from gateway_config.problems import Problem, dotted_path, repeated_values


def listener_problems(config: StackConfig) -> Iterator[Problem]:
    listeners = config.gateway.listeners
    declared_certificates = {
        (config.certificate_namespace(certificate), certificate.secret_name) for certificate in config.certificates
    }
    duplicate_names = repeated_values([listener.name for listener in listeners])
    seen_endpoints: dict[tuple, str] = {}
    for index, listener in enumerate(listeners):
        where = dotted_path("gateway", "listeners", index)
        if listener.name in duplicate_names:
            yield Problem(
                dotted_path(where, "name"),
                f"listener name '{listener.name}' is used more than once; each listener needs its own name",
            )
        endpoint = (listener.port, listener.protocol, listener.hostname or "")
        if endpoint in seen_endpoints:
            yield Problem(
                where,
                f"listener '{listener.name}' has the same port ({listener.port}), protocol ({listener.protocol}) "
                f"and hostname ({listener.hostname or 'none'}) as listener '{seen_endpoints[endpoint]}'; "
                "listeners must differ in at least one of them",
            )
        else:
            seen_endpoints[endpoint] = listener.name
        if listener.protocol == "HTTPS" and listener.tls is None:
            yield Problem(
                dotted_path(where, "tls"),
                f"HTTPS listener '{listener.name}' has no certificate; add "
                "tls.certificateRefs naming a Secret from 'certificates' (or one marked external: true)",
            )
        if listener.protocol == "HTTP" and listener.tls is not None:
            yield Problem(
                dotted_path(where, "tls"),
                f"HTTP listener '{listener.name}' has a tls block; only HTTPS listeners take one "
                "(remove tls, or set protocol: HTTPS)",
            )
        if listener.tls is not None:
            for ref_index, ref in enumerate(listener.tls.certificate_refs):
                namespace = ref.namespace or config.namespace
                if not ref.external and (namespace, ref.name) not in declared_certificates:
                    yield Problem(
                        dotted_path(where, "tls", "certificateRefs", ref_index, "name"),
                        f"certificate '{namespace}/{ref.name}' is not declared in 'certificates'; declare it "
                        f"there (secretName: {ref.name}) or mark the reference external: true",
                    )


def certificate_problems(config: StackConfig) -> Iterator[Problem]:
    keys = [f"{config.certificate_namespace(c)}/{c.secret_name}" for c in config.certificates]
    duplicate_keys = repeated_values(keys)
    # Each certificate's Pulumi resources are named after its secretName, whatever its namespace.
    duplicate_names = repeated_values([c.secret_name for c in config.certificates])
    for index, certificate in enumerate(config.certificates):
        where = dotted_path("certificates", index)
        if keys[index] in duplicate_keys:
            yield Problem(
                dotted_path(where, "secretName"),
                f"Secret '{keys[index]}' is declared more than once; each certificate needs its own secretName",
            )
        elif certificate.secret_name in duplicate_names:
            yield Problem(
                dotted_path(where, "secretName"),
                f"secretName '{certificate.secret_name}' is used by another certificate too (in another namespace); "
                "the stack names a certificate's resources after it, and Pulumi refuses two resources of one name, "
                "so each certificate needs its own secretName",
            )
        for field, hours in (("validityHours", certificate.validity_hours), ("caValidityHours", certificate.ca_validity_hours)):
            if hours <= certificate.early_renewal_hours:
                yield Problem(
                    dotted_path(where, field),
                    f"{field} ({hours}) is not longer than earlyRenewalHours ({certificate.early_renewal_hours}), "
                    "so the certificate would be renewed on every update; make it longer than the renewal window",
                )


def proxy_problems(config: StackConfig) -> Iterator[Problem]:
    proxy = config.proxy
    if proxy.autoscaling is not None and proxy.autoscaling.min_replicas > proxy.autoscaling.max_replicas:
        yield Problem(
            "proxy.autoscaling.minReplicas",
            f"minReplicas ({proxy.autoscaling.min_replicas}) is above maxReplicas "
            f"({proxy.autoscaling.max_replicas}); it must be at most maxReplicas",
        )
    budget = proxy.disruption_budget
    if budget is not None and (budget.min_available is None) == (budget.max_unavailable is None):
        yield Problem("proxy.disruptionBudget", "give exactly one of minAvailable or maxUnavailable")


def production_problems(config: StackConfig) -> Iterator[Problem]:
    if not config.production:
        return
    images = [(dotted_path("backends", index, "image"), backend.image) for index, backend in enumerate(config.backends)]
    if config.proxy.image is not None:
        images.append(("proxy.image", config.proxy.image))
    for where, image in images:
        tag = image_tag(image)
        if "@sha256:" not in image and tag in (None, "latest"):
            yield Problem(
                where,
                f"image '{image}' has {'no tag' if tag is None else 'the tag latest'}; a production stack "
                "needs a pinned tag (e.g. ':v1.2.3') or a digest",
            )
