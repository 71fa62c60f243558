"""Checks of a BackendTrafficPolicy's `loadBalancer`, by real requests through the gateway.

Envoy Gateway gives each backend of a rule a locality of the rule's cluster, weighted by the
backend's weight, with one endpoint per pod; the algorithm chooses an endpoint within the
locality. So the algorithm shows in which pod of one backend answers: the checks watch the
"observed backend", the rule's backend with the most replicas (at least two), by the echo JSON's
`pod`. On one keep-alive connection, so that one Envoy worker (which keeps its own round-robin
position) serves every request.

* RoundRobin: over `sample_size` sequential requests, the observed backend's pods answer in a
  strict rotation (each window of R answers holds all R pods). Random or LeastRequest (which,
  with no request in flight, is a random pick) produce such a rotation with probability
  R! / R^m over m answers; the check's name states it.
* Random: the answers are not a strict rotation (a round-robin gateway always produces one),
  and, with one pod kept busy by a slow request, that pod's share of fast requests lies in the
  exact binomial acceptance interval of 1/R (false failure at most 1e-6). LeastRequest (Envoy's
  default two random choices, the less busy one taken) sends a busy pod 1/R^2 of them; the
  sample is chosen so that the two intervals do not overlap.
* LeastRequest: with one pod kept busy, its share of fast requests lies in the acceptance
  interval of 1/R^2 (Random or RoundRobin give 1/R, outside it).
* ConsistentHash on a header, a cookie or the client address: every key sticks to one endpoint
  over repeated requests that vary the other keys (a fresh client address, no cookie, another
  header value), so a gateway hashing on something else fails. For a cookie with `ttl`, a
  request without it is answered with Set-Cookie for that cookie name.

RoundRobin, Random and LeastRequest need the local echo stand-in (its delays, and no other
clients: with other traffic on the same Envoy worker the rotation interleaves); elsewhere they
are not checked. A rule whose backends all have one replica has nothing to tell apart (not
checked).
"""

from __future__ import annotations

import math
import threading
import time
from fractions import Fraction
from typing import Any, Optional

from gatestack.stand_ins.echo_server import DELAY_HEADER
from gatestack.verify.backend_policy_checks import effective_policy_timeout
from gatestack.verify.client_identity import AddressChooser, fresh_value
from gatestack.verify.health_checks import counted_rate
from gatestack.verify.route_matching import backend_of_pod
from gatestack.verify.policy_targets import GovernedRule, effective_listener_policy
from gatestack.verify.probes import KeepAliveSession, RequestFailed, send_request
from gatestack.verify.statistics import FALSE_FAILURE_BOUND, binomial_interval

CONSISTENT_HASH_KEYS = 8
CONSISTENT_HASH_REPEATS = 6
LOAD_SAMPLES = (100, 200, 400, 800, 1600)
BUSY_SECONDS = 8.0
MAX_ATTEMPTS = 6


def rotation_probability(pods: int, answers: int) -> Fraction:
    """P(a uniformly random pick among `pods` forms a strict rotation over `answers`)."""
    if answers <= pods:
        return Fraction(1)
    return Fraction(math.factorial(pods), pods ** answers)  # R!/R^R distinct at first, then 1/R each


def is_strict_rotation(answers: list[str], pods: int) -> bool:
    """Whether every window of `pods` consecutive answers holds `pods` different pods."""
    if len(answers) < pods:
        return False
    return len(set(answers[:pods])) == pods and all(answers[index] == answers[index - pods] for index in range(pods, len(answers)))


def load_sample(pods: int) -> Optional[tuple[int, tuple[int, int], tuple[int, int]]]:
    """The smallest sample (fast requests to the observed backend) whose acceptance intervals for a
    busy pod's count, under LeastRequest (1/R^2) and Random (1/R), do not overlap:
    (n, least-request interval, random interval), or None."""
    alpha = FALSE_FAILURE_BOUND
    for n in LOAD_SAMPLES:
        least = binomial_interval(n, Fraction(1, pods * pods), alpha)
        random = binomial_interval(n, Fraction(1, pods), alpha)
        if least[1] < random[0]:
            return n, least, random
    return None


def observed_backend(rule: Any, replicas: dict[str, int]) -> Optional[tuple[str, int]]:
    """The rule's backend with the most replicas (>= 2; ties: the larger weight), and its replicas."""
    weights: dict[str, int] = {}
    for ref in rule.backend_refs:
        if not ref.external and ref.weight > 0:
            weights[ref.name] = weights.get(ref.name, 0) + ref.weight
    candidates = [name for name in weights if replicas.get(name, 1) >= 2]
    if not candidates:
        return None
    name = max(candidates, key=lambda item: (replicas.get(item, 1), weights[item], item))
    return name, replicas[name]


def pod_of(response: Any) -> str:
    echo = response.echo() if response.status == 200 else None
    return str(echo.get("pod", "")) if echo else f"status {response.status}"


def _answer(session: Any, probe: Any, headers: list[tuple[str, str]]) -> str:
    """The pod that answered one request on `session`, or `error <why>` when none did."""
    try:
        return pod_of(session.request(probe.method, probe.host, probe.path, headers))
    except RequestFailed as error:
        return f"error {error}"


class LoadBalancerChecks:
    """The checks above for every BackendTrafficPolicy with a `loadBalancer`."""

    def __init__(self, checks: Any):
        self.checks = checks
        self.verifier = checks.verifier

    def run(self) -> None:
        for policy in self.checks.policies:
            balancer = policy.load_balancer
            if balancer is None:
                continue
            governed = self.checks.first_governed(policy, "load balancer")
            if governed is None:
                continue
            base = f"BackendTrafficPolicy {policy.name}: {governed.label}: {balancer.type}"
            credentials = self.verifier.authentication_for(governed.listener, governed.probe)
            if credentials is None:
                self.verifier.skip(base, "the rule needs credentials verify was not given")
            elif balancer.type == "ConsistentHash":
                self.consistent_hash(base, policy, governed, credentials)
            else:
                self.algorithm(base, policy, governed, credentials)

    def chooser(self, governed: GovernedRule) -> AddressChooser:
        return AddressChooser.for_listener(
            effective_listener_policy(self.verifier.config.client_traffic_policies, governed.listener.name),
            governed.listener.target.host,
        )

    def session(self, governed: GovernedRule, source: Optional[str]) -> KeepAliveSession:
        return KeepAliveSession(
            governed.listener.target, tls=self.verifier.context_for(governed.listener, governed.probe.host),
            sni=governed.probe.host, timeout=self.verifier.timeout, source=source,
        )

    # --- RoundRobin, Random, LeastRequest -------------------------------------------------------
    def algorithm(self, base: str, policy: Any, governed: GovernedRule, credentials: list[tuple[str, str]]) -> None:
        replicas = {backend.name: backend.replicas for backend in self.verifier.config.backends}
        observed = observed_backend(governed.rule, replicas)
        if observed is None:
            self.verifier.skip(base, "every backend of the rule has one replica: which endpoint answers within a backend is not observable")
            return
        backend, pods = observed
        if not self.checks.can_instruct(governed, base):
            return
        client = self.chooser(governed).address_in("0.0.0.0/0")
        headers = [*governed.probe.headers, *(client.headers if client else ()), *credentials]
        source = client.source if client else None
        kind = policy.load_balancer.type
        if kind in ("RoundRobin", "Random"):
            self.rotation(base, kind, governed, headers, source, backend, pods)
        if kind in ("Random", "LeastRequest"):
            self.under_load(base, kind, policy, governed, headers, backend, pods)

    def sequential(self, governed: GovernedRule, headers: list[tuple[str, str]], source: Optional[str], count: int) -> list[str]:
        session, probe, answers = self.session(governed, source), governed.probe, []
        try:
            for _ in range(count):
                answers.append(_answer(session, probe, headers))
        finally:
            session.close()
        return answers

    def rotation(self, base: str, kind: str, governed: GovernedRule, headers: list[tuple[str, str]], source: Optional[str],
                 backend: str, pods: int) -> None:
        answers = self.sequential(governed, headers, source, self.verifier.sample_size)
        errors = sorted({answer for answer in answers if answer.startswith(("status", "error"))})
        mine = [answer for answer in answers if backend_of_pod(answer) == backend]
        chance = rotation_probability(pods, len(mine))
        strict = is_strict_rotation(mine, pods)
        shown = f"{len(mine)} of {len(answers)} answers from {backend}: {', '.join(mine[:2 * pods])}, ..."
        if kind == "RoundRobin":
            name = (f"{base}: {backend}'s {pods} endpoints answer in strict rotation "
                    f"(by chance with Random or LeastRequest: {float(chance):.0e})")
            ok = strict and not errors and chance <= FALSE_FAILURE_BOUND
        else:
            name = f"{base}: {backend}'s {pods} endpoints do not answer in strict rotation (RoundRobin would)"
            ok = not strict and not errors and chance <= FALSE_FAILURE_BOUND
        if chance > FALSE_FAILURE_BOUND:
            self.verifier.skip(name, f"{len(mine)} answers from {backend} are too few to tell a rotation from chance")
            return
        self.verifier.add(name, ok, shown + (f"; other answers: {', '.join(errors)}" if errors else ""))

    def under_load(self, base: str, kind: str, policy: Any, governed: GovernedRule, headers: list[tuple[str, str]],
                   backend: str, pods: int) -> None:
        sample = load_sample(pods)
        share = "1/R" if kind == "Random" else "1/R^2"
        name_stub = f"{base}: with one of {backend}'s {pods} endpoints busy, it gets {share} of the requests"
        if sample is None:
            self.verifier.skip(name_stub, f"{pods} endpoints need more than {LOAD_SAMPLES[-1]} requests to tell LeastRequest from Random")
            return
        n, least, random = sample
        interval = random if kind == "Random" else least
        name = f"{name_stub} ({interval[0]}..{interval[1]} of {n}; LeastRequest {least[0]}..{least[1]}, Random {random[0]}..{random[1]})"
        timeout = effective_policy_timeout(governed.rule, policy)
        busy_seconds = min(BUSY_SECONDS, (timeout or BUSY_SECONDS + 1) - 0.5)
        if busy_seconds < 2:
            self.verifier.skip(name, f"the rule's timeout ({timeout:g}s) ends a slow request too soon to keep an endpoint busy")
            return
        if counted_rate(policy, busy_seconds) is None:
            self.verifier.skip(name, "the policy's own rate limit allows too few requests to sample")
            return
        for _ in range(MAX_ATTEMPTS):
            outcome = self.one_busy_round(governed, headers, backend, n, busy_seconds)
            if outcome is None:
                continue  # the slow request went to another backend: again
            busy, on_busy, total, others = outcome
            if total < n:
                self.verifier.add(name, False, f"only {total} fast requests reached {backend} while {busy} was busy")
                return
            ok = interval[0] <= on_busy <= interval[1] and not others
            self.verifier.add(name, ok, f"{busy} busy: {on_busy} of {total} fast requests to {backend} reached it"
                              + (f"; other answers: {', '.join(others)}" if others else ""))
            return
        self.verifier.add(name, False, f"no slow request reached {backend} in {MAX_ATTEMPTS} attempts")

    def one_busy_round(self, governed: GovernedRule, headers: list[tuple[str, str]], backend: str, n: int,
                       busy_seconds: float) -> Optional[tuple[str, int, int, list[str]]]:
        """One slow request keeps a pod busy while fast ones are sent: (busy pod, fast answers from
        it, fast answers from the backend, other answers), or None if the slow one went elsewhere."""
        slow: dict[str, str] = {}
        probe, listener = governed.probe, governed.listener

        def hold() -> None:
            try:
                response = send_request(
                    listener.target, probe.method, probe.host, probe.path,
                    [*headers, (DELAY_HEADER, str(int(busy_seconds * 1000)))],
                    tls=self.verifier.context_for(listener, probe.host) if listener.https else None,
                    timeout=busy_seconds + 10,
                )
                slow["pod"] = pod_of(response)
            except RequestFailed as error:
                slow["pod"] = f"error {error}"

        holder = threading.Thread(target=hold, daemon=True)
        started = time.monotonic()
        holder.start()
        time.sleep(0.3)  # the slow request reaches its pod first
        session, answers = self.session(governed, None), []
        try:
            while time.monotonic() - started < busy_seconds - 0.5 and sum(1 for a in answers if backend_of_pod(a) == backend) < n:
                answers.append(_answer(session, probe, headers))
        finally:
            session.close()
        holder.join()
        busy = slow.get("pod", "")
        if backend_of_pod(busy) != backend:
            return None
        mine = [answer for answer in answers if backend_of_pod(answer) == backend][:n]
        others = sorted({answer for answer in answers if answer.startswith(("status", "error"))})
        return busy, sum(1 for answer in mine if answer == busy), len(mine), others

    # --- ConsistentHash ---------------------------------------------------------------------------
    def consistent_hash(self, base: str, policy: Any, governed: GovernedRule, credentials: list[tuple[str, str]]) -> None:
        hashing = policy.load_balancer.consistent_hash
        key_name = {"Header": f"header {hashing.header.name}" if hashing.header else "", "Cookie": f"cookie {hashing.cookie.name}" if hashing.cookie else "", "SourceIP": "the client address"}[hashing.type]
        name = f"{base} on {key_name}: each key sticks to one endpoint, whatever else the requests vary"
        chooser = self.chooser(governed)
        probe, listener = governed.probe, governed.listener
        spread: dict[str, set[str]] = {}
        for _ in range(CONSISTENT_HASH_KEYS):
            key = fresh_value()
            if hashing.type == "SourceIP":
                client = chooser.address_in("0.0.0.0/0")
                if client is None:
                    self.verifier.skip(name, "requests cannot come from several client addresses here")
                    return
                key = client.description
            endpoints = spread.setdefault(key, set())
            for repeat in range(CONSISTENT_HASH_REPEATS):
                varied = chooser.address_in("0.0.0.0/0") if hashing.type != "SourceIP" else None
                extra: list[tuple[str, str]] = [("X-Gatestack-Varied", fresh_value())]
                if hashing.type == "Header":
                    extra.append((hashing.header.name, key))
                elif hashing.type == "Cookie":
                    extra.append(("Cookie", f"{hashing.cookie.name}={key}"))
                else:
                    extra.extend(client.headers)
                source = client.source if hashing.type == "SourceIP" else (varied.source if varied else None)
                if varied is not None and varied.headers:
                    extra.extend(varied.headers)
                try:
                    response = self.verifier.send(listener, probe, [*extra, *credentials], source=source, authenticate=False)
                except RequestFailed as error:
                    endpoints.add(f"error {error}")
                    continue
                endpoints.add(pod_of(response))
        loose = {key: sorted(values) for key, values in spread.items() if len(values) != 1}
        detail = f"{len(spread)} keys x {CONSISTENT_HASH_REPEATS} requests, each from another client address where possible; " + (
            f"keys reaching several endpoints: {loose}" if loose else "every key stayed on one endpoint"
        )
        self.verifier.add(name, not loose, detail)
        if hashing.type == "Cookie" and hashing.cookie.ttl:
            self.cookie_set(base, hashing.cookie, governed, credentials)

    def cookie_set(self, base: str, cookie: Any, governed: GovernedRule, credentials: list[tuple[str, str]]) -> None:
        name = f"{base}: a request without cookie {cookie.name} is answered with Set-Cookie {cookie.name}"
        try:
            response = self.verifier.send(governed.listener, governed.probe, credentials, authenticate=False)
        except RequestFailed as error:
            self.verifier.add(name, False, str(error))
            return
        cookies = response.header_values("set-cookie")
        ok = any(value.split("=", 1)[0].strip() == cookie.name for value in cookies)
        self.verifier.add(name, ok, f"status {response.status}; Set-Cookie {cookies or 'absent'}")
