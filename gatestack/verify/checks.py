"""The verifier: listeners and their route tables, certificate checks, negative checks, the run."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from gateway_config.models import ListenerConfig, RouteMatch, StackConfig
from gatestack.verify.route_matching import (
    Entry,
    Listener,
    Probe,
    RouteTable,
    attached_listeners,
    concrete_host,
    host_matches_pattern,
    intersect_hostnames,
)
from gatestack.verify.probes import (
    QUERY_PARAMETER_PREFIX,
    RequestFailed,
    Response,
    Target,
    distinguished_name,
    send_request,
    tls_handshake,
    unverified_context,
    verified_context,
)
from gatestack.verify.backend_policy_checks import BackendPolicyChecks, check_timeouts
from gatestack.verify.circuit_breaker_checks import check_circuit_breakers
from gatestack.verify.client_policy_checks import ClientPolicyChecks
from gatestack.verify.inference_checks import InferenceChecks, InferenceEnvironment
from gatestack.verify.grpc_checks import GrpcChecks
from gatestack.verify.health_checks import check_health_checks
from gatestack.verify.load_balancer_checks import LoadBalancerChecks
from gatestack.verify.material import ClientCertificate, ProofMaterial, load_client_certificate
from gatestack.verify.policy_targets import effective_listener_policy, effective_policy
from gatestack.verify.security_checks import SecurityChecks
from gatestack.verify.results import CheckResult
from gatestack.verify.route_checks import RouteChecks

UNKNOWN_HOST = "unknown-host.invalid"


@dataclass
class Verifier(RouteChecks):
    """Derives the checks from a stack config and runs them; `run()` returns the results."""

    config: StackConfig
    targets: dict[str, Target]
    ca_pems: dict[str, str]
    sample_size: int
    timeout: float
    material: ProofMaterial = field(default_factory=ProofMaterial)
    inference: InferenceEnvironment = field(default_factory=InferenceEnvironment)
    results: list[CheckResult] = field(default_factory=list)
    tls_verified: dict[tuple[str, str], ssl.SSLContext] = field(default_factory=dict)
    unverified: dict[str, ssl.SSLContext] = field(default_factory=dict)

    # bookkeeping ---------------------------------------------------------------------
    def add(self, name: str, passed: bool, detail: str) -> None:
        self.results.append(CheckResult(name, passed, detail))

    def skip(self, name: str, detail: str) -> None:
        if not detail.startswith("not checked"):
            detail = f"not checked: {detail}"
        if not any(result.name == name and result.skipped for result in self.results):
            self.results.append(CheckResult(name, False, detail, skipped=True))

    def security_policy_for(self, listener: Listener, probe: Probe) -> Any:
        """The SecurityPolicy in effect for the rule `probe` reaches on `listener`, or None."""
        outcome = listener.table.outcome(probe)
        if outcome.entry is None:
            return None
        return effective_policy(self.config.security_policies, listener.name, outcome.entry.route, outcome.entry.rule)

    def authentication_for(self, listener: Listener, probe: Probe) -> Optional[list[tuple[str, str]]]:
        """Headers authenticating `probe` to its rule's SecurityPolicy ([] if it needs none,
        None if verify has no credentials for it)."""
        policy = self.security_policy_for(listener, probe)
        return [] if policy is None else self.material.authentication(policy)

    def credential_parameters(self, listener: Listener, probe: Probe) -> set[str]:
        """The query parameters `send` adds to `probe` as credentials (an API key by query)."""
        credentials = self.authentication_for(listener, probe) or []
        return {name[len(QUERY_PARAMETER_PREFIX):] for name, _ in credentials if name.startswith(QUERY_PARAMETER_PREFIX)}

    def client_certificate_for(self, listener_name: str) -> Optional[ClientCertificate]:
        """The client certificate a listener asks for (mutual TLS), when verify has one."""
        policy = effective_listener_policy(self.config.client_traffic_policies, listener_name)
        validation = policy.tls.client_validation if policy is not None and policy.tls is not None else None
        if validation is None:
            return None
        found = self.material.client_certificate([ref.name for ref in validation.ca_certificate_refs])
        return found[2] if found else None

    def context_for(self, listener: Listener, host: str) -> Optional[ssl.SSLContext]:
        if not listener.https:
            return None
        verified = self.tls_verified.get((listener.name, host))
        if verified is not None:
            return verified
        if listener.name not in self.unverified:
            context = unverified_context()
            certificate = self.client_certificate_for(listener.name)
            self.unverified[listener.name] = load_client_certificate(context, certificate) if certificate else context
        return self.unverified[listener.name]

    def send(
        self,
        listener: Listener,
        probe: Probe,
        extra_headers: Iterable[tuple[str, str]] = (),
        sni: Optional[str] = None,
        *,
        source: Optional[str] = None,
        timeout: Optional[float] = None,
        context: Optional[ssl.SSLContext] = None,
        authenticate: bool = True,
    ) -> Response:
        """`probe` on `listener`, with extra headers, from a local `source` address, over TLS
        with `context` (default: the listener's, with its client certificate if it needs one),
        and (`authenticate`) with valid credentials when the rule it reaches asks for them."""
        credentials = self.authentication_for(listener, probe) if authenticate else []
        return send_request(
            listener.target,
            probe.method,
            probe.host,
            probe.path,
            [*probe.headers, *extra_headers, *(credentials or [])],
            tls=(context or self.context_for(listener, sni or probe.host)) if listener.https else None,
            sni=sni,
            timeout=timeout or self.timeout,
            source=source,
        )

    # structure -----------------------------------------------------------------------
    def table_for(self, listeners: list[ListenerConfig]) -> RouteTable:
        names = {listener.name for listener in listeners}
        entries = []
        for route_index, route in enumerate(self.config.routes):
            for listener in attached_listeners(self.config, route):
                if listener.name not in names:
                    continue
                for pattern in intersect_hostnames(listener.hostname, list(route.hostnames)):
                    for rule_index, rule in enumerate(route.rules):
                        for match_index, match in enumerate(rule.matches or [RouteMatch()]):
                            entries.append(Entry(route_index, route, rule_index, rule, match_index, match, pattern))
        return RouteTable(list({entry.key: entry for entry in entries}.values()))

    def build_listeners(self) -> dict[str, Listener]:
        listeners = self.config.gateway.listeners
        result = {}
        for listener in listeners:
            target = self.targets.get(listener.name)
            if target is None:
                self.skip(f"listener {listener.name}", "no target address given for this listener")
                continue
            if listener.protocol == "HTTP":
                # HTTP listeners on one port share one Envoy listener and route configuration.
                group = [l for l in listeners if l.protocol == "HTTP" and l.port == listener.port]
            else:
                group = [listener]
            result[listener.name] = Listener(listener, target, self.table_for(group))
        return result

    # the run -------------------------------------------------------------------------
    def run(self) -> list[CheckResult]:
        listeners = self.build_listeners()
        for listener in listeners.values():
            if listener.https:
                self.guarded(f"listener {listener.name}", self.check_certificates, listener)
        backend_policies = BackendPolicyChecks(self, listeners)
        # A rate limit keyed by client is checked with a fresh key, before anything else.
        self.guarded("rate limits", backend_policies.check_keyed_rate_limits)
        for route_index, route in enumerate(self.config.routes):
            self.guarded(f"route {route.name}", self.check_route, route_index, route, listeners)
        self.guarded("negative checks", self.check_negatives, listeners)
        self.guarded("client traffic policies", ClientPolicyChecks(self, listeners).run)
        self.guarded("security policies", SecurityChecks(self, listeners).run)
        self.guarded("gRPC routes", GrpcChecks(self, listeners).run)
        self.guarded("retries", backend_policies.check_retries)
        self.guarded("circuit breakers", check_circuit_breakers, backend_policies)
        self.guarded("load balancers", LoadBalancerChecks(backend_policies).run)
        self.guarded("timeouts", check_timeouts, self, listeners, backend_policies)
        # After the others: Envoy's first health checks are a minute apart (health_checks.py).
        self.guarded("health checks", check_health_checks, backend_policies)
        self.guarded("inference pools", InferenceChecks(self, listeners, self.inference).run)
        # A rate limit shared by every client last: exhausting it would fail the checks after it.
        self.guarded("shared rate limits", backend_policies.check_deferred_rate_limits)
        return self.results

    def guarded(self, what: str, check: Any, *arguments: Any) -> None:
        """Run one group of checks; a bug or an unforeseen answer becomes a FAIL, not a traceback."""
        try:
            check(*arguments)
        except Exception as error:  # noqa: BLE001 - reported as a failed check
            self.add(f"{what}: remaining checks", False, f"verify could not complete them: {type(error).__name__}: {error}")

    # TLS -----------------------------------------------------------------------------
    def served_hostnames(self, listener: Listener) -> list[str]:
        """Hostnames to ask an HTTPS listener for: its routes' (wildcards made concrete); for
        routes without hostnames (or none at all), the listener's hostname, else the DNS names
        of its certificates."""
        patterns = listener.table.patterns()
        hosts = [concrete_host(pattern) for pattern in patterns if pattern != "*"]
        if "*" in patterns or not hosts:
            if listener.config.hostname:
                hosts.append(concrete_host(listener.config.hostname))
            else:
                for ref in listener.config.tls.certificate_refs if listener.config.tls else []:
                    certificate = self.certificate(ref.name, ref.namespace)
                    if certificate is not None:
                        hosts.extend(concrete_host(name) for name in certificate.effective_dns_names)
        return list(dict.fromkeys(hosts))

    def certificate(self, name: str, namespace: Optional[str]) -> Any:
        for certificate in self.config.certificates:
            if certificate.secret_name == name and self.config.certificate_namespace(certificate) == (namespace or self.config.namespace):
                return certificate
        return None

    def secret_for(self, listener: Listener, host: str) -> Optional[str]:
        refs = listener.config.tls.certificate_refs if listener.config.tls else []
        for ref in refs:
            certificate = self.certificate(ref.name, ref.namespace)
            if certificate is not None and any(host_matches_pattern(host, name) for name in certificate.effective_dns_names):
                return ref.name
        return refs[0].name if refs else None

    def check_certificates(self, listener: Listener) -> None:
        hosts = self.served_hostnames(listener)
        if not hosts:
            self.skip(f"listener {listener.name}: certificate", "no hostname to ask for (no routes, listener hostname or certificate DNS names)")
            return
        for host in hosts:
            secret = self.secret_for(listener, host)
            name = f"listener {listener.name}: certificate for {host} verifies against CA of {secret}"
            ca_pem = self.ca_pems.get(secret or "")
            if ca_pem is None:
                self.skip(name, f"no CA PEM given for secret {secret}")
                continue
            try:
                context = verified_context(ca_pem)
                certificate = self.client_certificate_for(listener.name)
                if certificate is not None:
                    load_client_certificate(context, certificate)
            except (ssl.SSLError, ValueError) as error:
                self.add(name, False, f"the CA PEM of {secret} could not be loaded: {error}")
                continue
            try:
                handshake = tls_handshake(listener.target, host, context, self.timeout)
            except RequestFailed as error:
                self.add(name, False, f"SNI {host}: {error}")
                continue
            self.tls_verified[(listener.name, host)] = context
            cert = handshake["cert"]
            subject = distinguished_name(cert.get("subject", ()))
            issuer = distinguished_name(cert.get("issuer", ()))
            sans = ",".join(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")
            self.add(name, True, f"{handshake['version']}; subject {subject}; issuer {issuer}; DNS {sans}")

    # routes --------------------------------------------------------------------------

    # negative checks -------------------------------------------------------------------
    def check_negatives(self, listeners: dict[str, Listener]) -> None:
        http = [l for l in listeners.values() if not l.https]
        chosen = http or [l for l in listeners.values() if l.https]
        groups: dict[tuple, Listener] = {}
        for listener in chosen:
            key = ("HTTP", listener.config.port) if not listener.https else ("HTTPS", listener.name)
            groups.setdefault(key, listener)
        for listener in groups.values():
            suffix = f" ({listener.name})" if len(groups) > 1 else ""
            self.check_unknown_host(listener, suffix)
            self.check_unmatched_paths(listener, suffix)

    def some_path(self, listener: Listener) -> str:
        for entry in listener.table.entries:
            if entry.match.path is not None and entry.match.path.type != "RegularExpression":
                return entry.match.path.value
        return "/"

    def check_unknown_host(self, listener: Listener, suffix: str) -> None:
        name = f"unknown host gets 404{suffix}"
        probe = Probe("GET", UNKNOWN_HOST, self.some_path(listener))
        pattern = listener.table.virtual_host(UNKNOWN_HOST)
        if pattern is not None:
            routes = sorted({e.route.name for e in listener.table.entries if e.pattern == pattern})
            self.skip(name, f"route {', '.join(routes)} accepts any host")
            return
        sni = None
        if listener.https:
            hosts = self.served_hostnames(listener)
            sni = hosts[0] if hosts else UNKNOWN_HOST
        self.expect_404(name, listener, probe, sni)

    def check_unmatched_paths(self, listener: Listener, suffix: str) -> None:
        for host in listener.table.concrete_hosts():
            pattern = listener.table.virtual_host(host)
            candidates = []
            for entry in listener.table.entries:
                path = entry.match.path
                if entry.pattern == pattern and path is not None and path.type != "RegularExpression" and path.value != "/":
                    candidates.append(path.value.rstrip("/") + "ter")
            candidates.append("/no-such-path")
            for path in dict.fromkeys(candidates):
                probe = Probe("GET", host, path)
                outcome = listener.table.outcome(probe)
                if outcome.entry is not None:
                    continue  # some rule takes it (e.g. PathPrefix /): not a negative case
                self.expect_404(f"{host}{path} gets 404{suffix}", listener, probe, None)

    def expect_404(self, name: str, listener: Listener, probe: Probe, sni: Optional[str]) -> None:
        try:
            response = self.send(listener, probe, sni=sni)
        except RequestFailed as error:
            self.add(name, False, f"{probe.label(listener.https)}: {error}")
            return
        detail = f"{probe.label(listener.https)} -> {response.status}"
        echo = response.echo()
        if echo and echo.get("pod"):
            detail += f" from pod {echo.get('pod')}"
        self.add(name, response.status == 404, detail)
