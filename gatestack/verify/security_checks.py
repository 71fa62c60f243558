"""Checks of SecurityPolicies, by real requests on a rule each policy is in effect for.

* CORS: a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed
  origin gets that origin back in Access-Control-Allow-Origin with the declared methods,
  headers, max age and credentials flag; one from an origin not listed gets no
  Access-Control-Allow-Origin;
* basic auth, API keys (in the first header or query parameter `extractFrom` names), JWT: no
  credentials get 401, wrong ones (a wrong password, an unknown
  key, a token signed by another key, from another issuer, or expired) get 401 (a token for
  another audience 403, as Envoy answers it), valid ones get
  200 from the rule's backends, with the username, client id or claims in the declared
  headers and, with `sanitize`, the key removed;
* authorization: a client from an address in a rule's `clientCIDRs` gets that rule's action
  (403 for Deny), one matching no rule the `defaultAction` (Envoy Gateway's default: Deny).

Valid credentials come from the proof material (passwords and keys from `credentials`, tokens
signed by the key swapped in for each JWT provider); without them those checks are not checked.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from gateway_config.policy_semantics import duration_seconds
from gatestack.verify.client_identity import AddressChooser, ClientRequest, fresh_value
from gatestack.verify.grpc_policy_checks import targets_only_grpc_routes
from gatestack.verify.jwt_tokens import JwtSigner
from gatestack.verify.material import api_key_carrier
from gatestack.verify.route_matching import backend_of_pod, header_lookup
from gatestack.verify.policy_targets import GovernedRule, effective_listener_policy, governed_rules
from gatestack.verify.probes import QUERY_PARAMETER_PREFIX, RequestFailed, Response

FOREIGN_ORIGIN = "https://gatestack-verify.invalid"
PAST = {"Allow": "allowed", "Deny": "denied"}
VALID = {"basic auth": "a valid user and password", "an API key": "a valid API key", "a JWT": "a valid JWT"}


def concrete_origin(origin: str) -> str:
    """An origin that `origin` allows: '*' and '*.' wildcards made concrete."""
    if origin == "*":
        return "https://gatestack-verify.example"
    return origin.replace("://*.", "://gatestack-verify.", 1)


def action_for(policy: Any, address: str) -> str:
    """What the policy's authorization does to a client at `address`: the first rule whose
    CIDRs hold it, else the default action."""
    for rule in policy.authorization.rules:
        if any(ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False) for cidr in rule.principal.client_cidrs):
            return rule.action
    return policy.authorization.default_action or "Deny"


class SecurityChecks:
    def __init__(self, verifier: Any, listeners: dict[str, Any]):
        self.verifier = verifier
        self.config = verifier.config
        self.listeners = listeners

    def run(self) -> None:
        for policy in self.config.security_policies:
            governed = governed_rules(self.config, self.listeners, self.config.security_policies, policy)
            if not governed and targets_only_grpc_routes(policy):
                continue  # checked with gRPC calls (grpc_policy_checks)
            if not governed:
                self.verifier.skip(f"SecurityPolicy {policy.name}", "no request the oracle can derive reaches a rule it governs")
                continue
            target = governed[0]
            label = f"SecurityPolicy {policy.name}: {target.label}"
            if policy.cors is not None:
                self.verifier.guarded(f"{label}: CORS", self.check_cors, label, policy, target)
            if policy.basic_auth or policy.api_key_auth or policy.jwt:
                self.verifier.guarded(f"{label}: authentication", self.check_authentication, label, policy, target)
            if policy.authorization is not None:
                self.verifier.guarded(f"{label}: authorization", self.check_authorization, label, policy, target)

    def send(self, target: GovernedRule, headers: list[tuple[str, str]], method: Optional[str] = None,
             source: Optional[str] = None) -> Response:
        probe = target.probe if method is None else target.probe.__class__(method, target.probe.host, target.probe.path, target.probe.headers)
        return self.verifier.send(target.listener, probe, headers, source=source, authenticate=False)

    # --- CORS ------------------------------------------------------------------------------
    def check_cors(self, label: str, policy: Any, target: GovernedRule) -> None:
        cors = policy.cors
        origin = concrete_origin(cors.allow_origins[0])
        method = (cors.allow_methods or ["GET"])[0]
        preflight = [("Origin", origin), ("Access-Control-Request-Method", method)]
        if cors.allow_headers:
            preflight.append(("Access-Control-Request-Headers", cors.allow_headers[0]))
        name = f"{label}: a CORS preflight from {origin} is allowed as declared"
        try:
            response = self.send(target, preflight, method="OPTIONS")
        except RequestFailed as error:
            self.verifier.add(name, False, str(error))
        else:
            problems = []
            expect = {"access-control-allow-origin": [origin]}
            if cors.allow_methods:
                expect["access-control-allow-methods"] = list(cors.allow_methods)
            if cors.allow_headers:
                expect["access-control-allow-headers"] = [header.lower() for header in cors.allow_headers]
            if cors.max_age:
                expect["access-control-max-age"] = [str(int(duration_seconds(cors.max_age)))]
            if cors.allow_credentials:
                expect["access-control-allow-credentials"] = ["true"]
            shown = []
            for header, wanted in expect.items():
                values = [part.strip() for value in response.header_values(header) for part in value.split(",")]
                compared = [value.lower() for value in values] if header == "access-control-allow-headers" else values
                shown.append(f"{header}: {', '.join(values) or '-'}")
                if not set(wanted) <= set(compared):
                    problems.append(f"{header} is {values or 'absent'}, expected {wanted}")
            self.verifier.add(name, response.status < 300 and not problems, f"status {response.status}; " + ("; ".join(problems) or "; ".join(shown)))
        foreign = f"{label}: a CORS preflight from another origin gets no Access-Control-Allow-Origin"
        if "*" in cors.allow_origins:
            self.verifier.skip(foreign, "every origin is allowed ('*')")
            return
        try:
            response = self.send(target, [("Origin", FOREIGN_ORIGIN), ("Access-Control-Request-Method", method)], method="OPTIONS")
        except RequestFailed as error:
            self.verifier.add(foreign, False, str(error))
            return
        allowed = response.header_values("access-control-allow-origin")
        self.verifier.add(foreign, not allowed, f"origin {FOREIGN_ORIGIN}: status {response.status}, Access-Control-Allow-Origin {allowed or 'absent'}")

    # --- authentication --------------------------------------------------------------------
    def expect_status(self, name: str, target: GovernedRule, headers: list[tuple[str, str]], status: int) -> Optional[Response]:
        try:
            response = self.send(target, headers)
        except RequestFailed as error:
            self.verifier.add(name, False, str(error))
            return None
        detail = f"status {response.status}"
        echo = response.echo() if response.status == 200 else None
        if echo:
            detail += f" from {echo.get('pod')}"
        backends = {ref.name for ref in target.rule.backend_refs if not ref.external and ref.weight > 0}
        ok = response.status == status and (status != 200 or (echo is not None and backend_of_pod(str(echo.get("pod", ""))) in backends))
        self.verifier.add(name, ok, detail)
        return response if ok else None

    def check_authentication(self, label: str, policy: Any, target: GovernedRule) -> None:
        kind = "basic auth" if policy.basic_auth else "an API key" if policy.api_key_auth else "a JWT"
        self.expect_status(f"{label}: a request without {kind} gets 401", target, [], 401)
        for description, headers, status in self.wrong_credentials(policy):
            self.expect_status(f"{label}: {description} gets {status}", target, headers, status)
        if policy.jwt is not None and not any(self.verifier.material.signer(policy.name, p.name) for p in policy.jwt.providers):
            provider = policy.jwt.providers[0]
            for what in ("a JWT from another issuer gets 401", "a JWT for another audience gets 403", "an expired JWT gets 401"):
                if ("issuer" in what and not provider.issuer) or ("audience" in what and not provider.audiences):
                    continue
                self.verifier.skip(f"{label}: {what}", "verify has no key the provider trusts to sign such a token "
                                   "(verify --credentials: jwt.<policy>.<provider>.privateKeyPem and keyId)")
        valid = self.verifier.material.authentication(policy)
        name = f"{label}: {VALID[kind]} gets 200"
        if not valid:
            self.verifier.skip(name, "verify was given no credentials for this policy (verify --credentials FILE)")
            return
        response = self.expect_status(name, target, valid, 200)
        if response is not None:
            self.check_forwarded(label, policy, response, valid)

    def wrong_credentials(self, policy: Any) -> list[tuple[str, list[tuple[str, str]], int]]:
        """(description, headers, status Envoy answers) for credentials that must not pass."""
        if policy.basic_auth is not None:
            user = policy.basic_auth.users[0]
            token = base64.b64encode(f"{user}:{fresh_value()}".encode()).decode()
            return [(f"a wrong password for {user}", [("Authorization", f"Basic {token}")], 401)]
        if policy.api_key_auth is not None:
            return [("an unknown API key", [(api_key_carrier(policy.api_key_auth), fresh_value())], 401)]
        wrong = []
        provider = policy.jwt.providers[0]
        stranger = JwtSigner.new(provider.issuer, list(provider.audiences))
        bearer = lambda token: [("Authorization", f"Bearer {token}")]  # noqa: E731
        wrong.append(("a JWT signed by an unknown key", bearer(stranger.token()), 401))
        signer = self.verifier.material.signer(policy.name, provider.name)
        if signer is not None:
            if provider.issuer:
                wrong.append(("a JWT from another issuer", bearer(signer.token(iss="https://gatestack-verify.invalid")), 401))
            if provider.audiences:
                # Envoy's jwt_authn answers a valid token for another audience with 403, not 401.
                wrong.append(("a JWT for another audience", bearer(signer.token(aud="gatestack-verify-other")), 403))
            past = int(time.time()) - 3600
            wrong.append(("an expired JWT", bearer(signer.token(iat=past - 600, nbf=past - 600, exp=past)), 401))
        return wrong

    def check_forwarded(self, label: str, policy: Any, response: Response, valid: list[tuple[str, str]]) -> None:
        echo = response.echo() or {}
        headers = echo.get("headers")
        expected: list[tuple[str, str]] = []
        if policy.basic_auth is not None and policy.basic_auth.forward_username_header:
            user = base64.b64decode(valid[0][1].split(" ", 1)[1]).decode().split(":", 1)[0]
            expected.append((policy.basic_auth.forward_username_header, user))
        if policy.api_key_auth is not None and policy.api_key_auth.forward_client_id_header:
            keys = self.verifier.material.credentials.get(policy.name, {})
            client = next(client for client, key in keys.items() if key == valid[0][1])
            expected.append((policy.api_key_auth.forward_client_id_header, client))
        if policy.jwt is not None:
            provider = next(p for p in policy.jwt.providers if self.verifier.material.signer(policy.name, p.name))
            for item in provider.claim_to_headers:
                expected.append((item.header, "gatestack-verify" if item.claim == "sub" else f"gatestack-{item.claim}"))
        for header, value in expected:
            seen = header_lookup(headers, header)
            self.verifier.add(f"{label}: {header}: {value} reaches the backend", seen == [value], f"echo {header}: {seen}")
        if policy.api_key_auth is not None and policy.api_key_auth.sanitize:
            carrier = valid[0][0]
            if carrier.startswith(QUERY_PARAMETER_PREFIX):
                parameter = carrier[len(QUERY_PARAMETER_PREFIX):]
                query = parse_qs(urlsplit(str(echo.get("path", ""))).query)
                self.verifier.add(f"{label}: the API key is removed before the backend", parameter not in query,
                                  f"echo path {echo.get('path')!r}: query parameter {parameter} {'present' if parameter in query else 'absent'}")
                return
            seen = header_lookup(headers, carrier)
            self.verifier.add(f"{label}: the API key is removed before the backend", seen is None, f"echo {carrier}: {'absent' if seen is None else 'present'}")

    # --- authorization ---------------------------------------------------------------------
    def check_authorization(self, label: str, policy: Any, target: GovernedRule) -> None:
        chooser = AddressChooser.for_listener(
            effective_listener_policy(self.config.client_traffic_policies, target.listener.name), target.listener.target.host
        )
        credentials = self.verifier.material.authentication(policy) or []
        cases: list[tuple[str, Optional[ClientRequest]]] = []
        for index, rule in enumerate(policy.authorization.rules):
            rule_name = rule.name or f"rule {index}"
            cases.append((f"a client in {rule.principal.client_cidrs[0]} ({rule_name}) is {PAST[rule.action]}",
                          chooser.address_in(rule.principal.client_cidrs[0])))
        every = [cidr for rule in policy.authorization.rules for cidr in rule.principal.client_cidrs]
        default = policy.authorization.default_action or "Deny"
        cases.append((f"a client matching no rule is {PAST[default]} (defaultAction)", chooser.address_outside(every)))
        for title, client in cases:
            name = f"{label}: {title}"
            if client is None:
                self.verifier.skip(name, "no request can come from such an address here (the gateway trusts no X-Forwarded-For and is not on this machine)")
                continue
            address = client.source or dict(client.headers).get("X-Forwarded-For", "127.0.0.1").split(",")[0].strip()
            expected = action_for(policy, address)
            try:
                response = self.send(target, [*client.headers, *credentials], source=client.source)
            except RequestFailed as error:
                self.verifier.add(name, False, f"{client.description}: {error}")
                continue
            ok = response.status == 403 if expected == "Deny" else response.status == 200
            self.verifier.add(name, ok, f"{client.description}: status {response.status}")
