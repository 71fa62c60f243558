"""Checks of BackendTrafficPolicies and route timeouts, by real requests.

Each BackendTrafficPolicy is checked on a rule it is in effect for (`policy_targets`):

* retries: the backend is told to fail a request exactly `numRetries` times (the request must
  then succeed) and `numRetries + 1` times (it must then fail): 503 answers when the triggers
  retry them (5xx, gateway-error, retriable-status-codes with 503, or Envoy Gateway's default),
  connection resets for `reset`;
* local rate limits: with a fresh client key (a Distinct header value, or a client address),
  the first `requests` pass and the next one gets 429; the limit refills continuously, so
  `requests x elapsed / unit` more may pass while the burst is sent. A limit without a key is
  checked last, as "at most": earlier checks spent some of its budget;
* circuit breakers: see `circuit_breaker_checks`;
* active health checks: see `health_checks` (the requests Envoy sends, and a backend failing
  them taken out and readmitted on the declared thresholds and interval);
* load balancing: see `load_balancer_checks`.

Timeouts, for every rule with one (its own `timeouts`, else its BackendTrafficPolicy's
`timeout.http.requestTimeout`, as Envoy Gateway gives them precedence): a backend told to
answer slower than the timeout gets 504 at the timeout (or at the per-try timeout when
retries cannot outrun it). They run concurrently, at the end.

The backend instructions exist only in the local echo stand-in (`echo_server.py`); against
other backends those checks are reported as not checked.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from gateway_config.policy_semantics import duration_seconds
from gatestack.stand_ins.echo_server import DELAY_HEADER, FAIL_HEADER, HEALTH_CHECK_REPORT_HEADER
from gatestack.verify.client_identity import AddressChooser, ClientRequest, fresh_value
from gatestack.verify.grpc_policy_checks import targets_only_grpc_routes
from gatestack.verify.route_matching import attached_listeners, backend_of_pod
from gatestack.verify.policy_targets import GovernedRule, effective_listener_policy, effective_policy, governed_rules, reaching_probe
from gatestack.verify.probes import KeepAliveSession, RequestFailed

UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400}
MAX_RATE_LIMIT_REQUESTS = 2000
ENVOY_GATEWAY_DEFAULT_RETRIES = 2


def is_stand_in(verifier: Any, governed: GovernedRule) -> bool:
    """Whether the rule's backends are the local echo stand-in (they can be told to misbehave)."""
    try:
        response = verifier.send(governed.listener, governed.probe, [(HEALTH_CHECK_REPORT_HEADER, "report")])
    except RequestFailed:
        return False
    echo = response.echo() if response.status == 200 else None
    return bool(echo) and "healthChecks" in echo


def _internal_backends(governed: GovernedRule) -> set[str]:
    return {ref.name for ref in governed.rule.backend_refs if not ref.external and ref.weight > 0}


class BackendPolicyChecks:
    """The checks above for one run of the verifier (`verifier` sends, adds and skips)."""

    def __init__(self, verifier: Any, listeners: dict[str, Any]):
        self.verifier = verifier
        self.listeners = listeners
        self.policies = list(verifier.config.backend_traffic_policies)
        self.deferred_rate_limits: list[tuple[str, GovernedRule, Any, ClientRequest]] = []
        self.governed = {policy.name: governed_rules(verifier.config, listeners, self.policies, policy) for policy in self.policies}
        self.stand_in: dict[str, bool] = {}

    def first_governed(self, policy: Any, what: str) -> Optional[GovernedRule]:
        governed = self.governed[policy.name]
        if not governed and targets_only_grpc_routes(policy):
            return None  # checked with gRPC calls (grpc_policy_checks)
        if not governed:
            self.verifier.skip(f"BackendTrafficPolicy {policy.name}: {what}", "no request the oracle can derive reaches a rule it governs")
            return None
        return governed[0]

    def can_instruct(self, governed: GovernedRule, name: str) -> bool:
        key = governed.label
        if key not in self.stand_in:
            self.stand_in[key] = is_stand_in(self.verifier, governed)
        if not self.stand_in[key]:
            self.verifier.skip(name, "the backends are not the local echo stand-in, which can be told to fail or wait")
        return self.stand_in[key]

    # --- rate limits -----------------------------------------------------------------------
    def check_keyed_rate_limits(self) -> None:
        for policy in self.policies:
            if policy.rate_limit is None:
                continue
            governed = self.first_governed(policy, "rate limit")
            if governed is None:
                continue
            for index, rule in enumerate(policy.rate_limit.local.rules):
                name = (
                    f"BackendTrafficPolicy {policy.name}: {governed.label}: rate limit {index} "
                    f"{rule.limit.requests}/{rule.limit.unit}"
                )
                client, keyed, why_not = self.client_for(governed, rule)
                if client is None:
                    self.verifier.skip(name, why_not)
                elif rule.limit.requests > MAX_RATE_LIMIT_REQUESTS:
                    self.verifier.skip(name, f"more than {MAX_RATE_LIMIT_REQUESTS} requests to exhaust")
                elif keyed:
                    self.exhaust(name, governed, rule, client, exact=True)
                else:
                    self.deferred_rate_limits.append((name, governed, rule, client))

    def check_deferred_rate_limits(self) -> None:
        for name, governed, rule, client in self.deferred_rate_limits:
            self.exhaust(name, governed, rule, client, exact=False)

    def client_for(self, governed: GovernedRule, rule: Any) -> tuple[Optional[ClientRequest], bool, str]:
        """Headers and source address that satisfy every selector of `rule`, whether they form
        a fresh key (a counter of their own), or (None, False, why not)."""
        probe = governed.probe
        client_policy = effective_listener_policy(self.verifier.config.client_traffic_policies, governed.listener.name)
        chooser = AddressChooser.for_listener(client_policy, governed.listener.target.host)
        headers: list[tuple[str, str]] = []
        source: Optional[str] = None
        described: list[str] = []
        keyed = False
        for selector in rule.client_selectors:
            for header in selector.headers:
                if header.invert or header.type == "RegularExpression":
                    return None, False, f"header {header.name} is matched by {'inversion' if header.invert else 'a regular expression'}"
                value = fresh_value() if header.type == "Distinct" else header.value
                keyed = keyed or header.type == "Distinct"
                headers.append((header.name, value))
                described.append(f"{header.name}: {value}")
            if selector.methods:
                methods = {method.value for method in selector.methods if not method.invert}
                if probe.method not in methods:
                    return None, False, f"the request reaching the rule is {probe.method}, not one of {sorted(methods)}"
            if selector.path is not None:
                path, prefix = probe.path_only, selector.path.value.rstrip("/")
                inside = path == selector.path.value if selector.path.type == "Exact" else (not prefix or path == prefix or path.startswith(prefix + "/"))
                if inside == selector.path.invert:
                    return None, False, f"the request reaching the rule ({path}) is not selected by the path condition"
            if selector.source_cidr is not None:
                if selector.source_cidr.invert:
                    return None, False, "the client address condition is inverted"
                request = chooser.address_in(selector.source_cidr.value)
                if request is None:
                    return None, False, (
                        f"no request can come from an address in {selector.source_cidr.value} (the gateway trusts no "
                        "X-Forwarded-For and is not on this machine)"
                    )
                headers.extend(request.headers)
                source = request.source
                described.append(request.description)
                keyed = keyed or selector.source_cidr.type == "Distinct"
        return ClientRequest(tuple(headers), source, ", ".join(described) or "every request"), keyed, ""

    def exhaust(self, name: str, governed: GovernedRule, rule: Any, client: ClientRequest, exact: bool) -> None:
        limit = rule.limit.requests
        per_second = limit / UNIT_SECONDS[rule.limit.unit]
        listener, probe = governed.listener, governed.probe
        # One connection and one set of credentials for the burst: the fewer seconds it takes,
        # the fewer requests the continuously refilling limit lets through besides its own.
        headers = [*probe.headers, *client.headers, *(self.verifier.authentication_for(listener, probe) or [])]
        session = KeepAliveSession(
            listener.target, tls=self.verifier.context_for(listener, probe.host), sni=probe.host,
            timeout=self.verifier.timeout, source=client.source,
        )
        passed, started, statuses = 0, time.monotonic(), {}
        while True:
            allowance = math.floor((time.monotonic() - started) * per_second) + 1
            try:
                response = session.request(probe.method, probe.host, probe.path, headers)
            except RequestFailed as error:
                session.close()
                self.verifier.add(name, False, f"request {passed + 1} ({client.description}): {error}")
                return
            if response.status == 429:
                break
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status != 200:
                session.close()
                self.verifier.add(name, False, f"request {passed + 1} ({client.description}) got {response.status}, not 200 or 429")
                return
            passed += 1
            if passed > limit + allowance:
                break
        session.close()
        elapsed = time.monotonic() - started
        refill = math.floor(elapsed * per_second)
        got_429 = passed <= limit + refill
        low = limit if exact else 0
        ok = got_429 and low <= passed <= limit + refill
        accepted = f"{low}..{limit + refill}" if exact else f"at most {limit + refill} (earlier checks used some)"
        detail = (
            f"{client.description}: {passed} passed, then " + ("429" if got_429 else "no 429")
            + f" within {elapsed:.2f}s (accepted {accepted}: the limit, plus {refill} refilled while sending)"
        )
        self.verifier.add(name, ok, detail)

    # --- retries ----------------------------------------------------------------------------
    def check_retries(self) -> None:
        for policy in self.policies:
            if policy.retry is None:
                continue
            governed = self.first_governed(policy, "retries")
            if governed is None:
                continue
            retries = policy.retry.num_retries if policy.retry.num_retries is not None else ENVOY_GATEWAY_DEFAULT_RETRIES
            how = failure_mode(policy.retry)
            base = f"BackendTrafficPolicy {policy.name}: {governed.label}"
            if how is None:
                triggers = ", ".join(policy.retry.retry_on.triggers) if policy.retry.retry_on else ""
                self.verifier.skip(f"{base}: retries", f"a backend cannot provoke its triggers ({triggers})")
                continue
            recovered = f"{base}: a request failing {retries} time(s) with {how} is retried and succeeds"
            exhausted = f"{base}: a request failing {retries + 1} time(s) with {how} fails ({retries} retries, no more)"
            if not self.can_instruct(governed, recovered):
                self.verifier.skip(exhausted, "the backends are not the local echo stand-in")
                continue
            for name, times, want_success in ((recovered, retries, True), (exhausted, retries + 1, False)):
                header = (FAIL_HEADER, f"{fresh_value()};{times};{how}")
                try:
                    response = self.verifier.send(governed.listener, governed.probe, [header])
                except RequestFailed as error:
                    self.verifier.add(name, False, str(error))
                    continue
                echo = response.echo() if response.status == 200 else None
                backend = backend_of_pod(str(echo.get("pod", ""))) if echo else None
                if want_success:
                    ok = response.status == 200 and backend in _internal_backends(governed)
                    self.verifier.add(name, ok, f"status {response.status}" + (f" from {echo.get('pod')}" if echo else ""))
                else:
                    self.verifier.add(name, 500 <= response.status < 600, f"status {response.status}")


def failure_mode(retry: Any) -> Optional[str]:
    """How a backend can fail so that these retry settings retry it: '503', 'reset' or None."""
    retry_on = retry.retry_on
    if retry_on is None or (not retry_on.triggers and not retry_on.http_status_codes):
        return "503"  # Envoy Gateway's default includes retriable-status-codes with 503
    triggers = set(retry_on.triggers)
    if triggers & {"5xx", "gateway-error"} or ("retriable-status-codes" in triggers and 503 in retry_on.http_status_codes):
        return "503"
    if "reset" in triggers:
        return "reset"
    return None


def timeout_expectation(rule: Any, policy: Any) -> Optional[tuple[float, float, str]]:
    """(earliest, latest seconds for the 504, what the timeout is) for a rule, or None."""
    effective, source = None, ""
    if rule.timeouts is not None and (rule.timeouts.backend_request or rule.timeouts.request):
        value = rule.timeouts.backend_request or rule.timeouts.request
        effective, source = duration_seconds(value), f"route timeout {value}"
    elif policy is not None and policy.timeout is not None:
        value = policy.timeout.http.request_timeout
        effective, source = duration_seconds(value), f"BackendTrafficPolicy {policy.name} requestTimeout {value}"
    if effective is None:
        return None
    per_try = policy.retry.per_retry.timeout if policy is not None and policy.retry and policy.retry.per_retry else None
    earliest = min(effective, duration_seconds(per_try)) if per_try else effective
    return earliest, effective, source + (f", per-try timeout {per_try}" if per_try else "")


def effective_policy_timeout(rule: Any, policy: Any) -> Optional[float]:
    """The seconds after which the gateway ends a request to the rule (route timeout, else the
    policy's, or the per-try timeout if sooner), or None when neither sets one."""
    expectation = timeout_expectation(rule, policy)
    return expectation[0] if expectation else None


def check_timeouts(verifier: Any, listeners: dict[str, Any], checks: BackendPolicyChecks) -> None:
    """A slow answer gets 504 at the timeout, for every rule with one (concurrently)."""
    jobs = []
    for route_index, route in enumerate(verifier.config.routes):
        attached = [listeners[item.name] for item in attached_listeners(verifier.config, route) if item.name in listeners]
        attached.sort(key=lambda listener: listener.https)  # plain HTTP first, as the route checks
        for rule_index, rule in enumerate(route.rules):
            if not rule.backend_refs:
                continue
            for listener in attached:
                policy = effective_policy(checks.policies, listener.name, route, rule)
                expectation = timeout_expectation(rule, policy)
                probe = reaching_probe(listener, route_index, route, rule_index, rule) if expectation else None
                if probe is not None:
                    governed = GovernedRule(listener, route_index, route, rule_index, rule, probe)
                    name = f"{governed.label}: a backend slower than the timeout gets 504 ({expectation[2]})"
                    if checks.can_instruct(governed, name):
                        jobs.append((name, governed, expectation))
                    break

    def run(job: tuple[str, GovernedRule, tuple[float, float, str]]) -> tuple[str, bool, str]:
        name, governed, (earliest, latest, _) = job
        delay = int((latest + 3) * 1000)
        started = time.monotonic()
        try:
            response = verifier.send(governed.listener, governed.probe, [(DELAY_HEADER, str(delay))], timeout=latest + 10)
        except RequestFailed as error:
            return name, False, str(error)
        elapsed = time.monotonic() - started
        ok = response.status == 504 and earliest - 0.25 <= elapsed <= latest + 1.0
        return name, ok, f"status {response.status} after {elapsed:.2f}s (backend asked to wait {delay / 1000:.1f}s; accepted 504 within {earliest:.2f}..{latest + 1.0:.2f}s)"

    with ThreadPoolExecutor(max_workers=max(len(jobs), 1)) as pool:
        for name, ok, detail in pool.map(run, jobs):
            verifier.add(name, ok, detail)
