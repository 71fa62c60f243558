"""Checks of a BackendTrafficPolicy's active health checks, by real requests through the gateway.

For each policy with `healthCheck.active`, on the first rule it governs:

* Envoy health-checks the backends with the declared method and path (the echo stand-ins
  report the health-check requests they saw);
* a status outside `expectedStatuses` takes a backend out at the next health check: Envoy marks
  an endpoint unhealthy at once on an unexpected status, whatever `unhealthyThreshold` says, so
  the backend gets no traffic within one `interval`;
* thresholds and interval: a backend whose health checks fail by connection resets (network
  failures, the kind Envoy counts against `unhealthyThreshold`) gets traffic until the
  `unhealthyThreshold`-th failed check and none after it, that is between
  (unhealthyThreshold - 1) x interval and unhealthyThreshold x interval after it starts
  failing; once its checks pass again, it gets traffic after `healthyThreshold` of them,
  between (healthyThreshold - 1) x interval and healthyThreshold x interval.

Defaults are Envoy Gateway's: interval 3s, timeout 1s, unhealthyThreshold 3, healthyThreshold 1.

How it is observed: one backend of the rule (the "victim") is told, through any request, to
fail its health checks for a while (the echo stand-in's X-Echo-Health-Fail); requests are sent
at a steady rate from a fresh client address and each answer names the backend that served it.
A correct gateway never routes to the victim after ejecting it nor before readmitting it, so
those bounds are exact up to a timing tolerance (`TIMING_TOLERANCE_SECONDS`). The other bounds
("it still had traffic until the threshold", "it was out long enough to tell") are statistical:
with the victim's share p of the split, k requests in a row all miss it with probability
(1 - p)^k, so the acceptance windows are widened by the k requests that make that at most
1e-6 / 2 (`miss_run`); the check's name shows the resulting window.

Envoy health-checks a cluster that has never had traffic every 60 s (its `no_traffic_interval`,
which Envoy Gateway v1.9 leaves at Envoy's default), and the check scheduled then is not moved
when traffic starts: for up to a minute after a proxy starts, checks are not `interval` apart.
The timing checks therefore first wait (at most `REGULAR_CHECKS_WAIT_SECONDS`) until the victim
reports a health check made after traffic began, from which on Envoy keeps `interval`.

What is not checked: a rule with one backend (its only endpoint unhealthy, Envoy routes to it
anyway: panic mode below 50% healthy endpoints), and a victim whose ejection would leave fewer
than half the endpoints healthy, counted per backend (the local gateway: one endpoint each) or
per replica (a cluster): Envoy would then route to it regardless. Backends other than the local
echo stand-in cannot be told to fail.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

from gateway_config.policy_semantics import duration_seconds
from gatestack.stand_ins.echo_server import HEALTH_CHECK_REPORT_HEADER, HEALTH_FAIL_HEADER
from gatestack.verify.client_identity import AddressChooser
from gatestack.verify.route_matching import backend_of_pod
from gatestack.verify.policy_targets import GovernedRule, effective_listener_policy
from gatestack.verify.probes import KeepAliveSession, RequestFailed
from gatestack.verify.statistics import FALSE_FAILURE_BOUND

# Envoy Gateway's defaults for an active health check.
DEFAULT_INTERVAL = "3s"
DEFAULT_TIMEOUT = "1s"
DEFAULT_UNHEALTHY_THRESHOLD = 3
DEFAULT_HEALTHY_THRESHOLD = 1
# Envoy's default panic threshold: below this share of healthy endpoints it routes to all of them.
PANIC_THRESHOLD = Fraction(1, 2)
# Envoy's health-check timer is exact to milliseconds; this covers the requests' own latency.
TIMING_TOLERANCE_SECONDS = 0.25
POLL_RATE_PER_SECOND = 20.0
MIN_POLL_RATE_PER_SECOND = 4.0
# Envoy's no_traffic_interval (60 s), plus room for the first regular check.
REGULAR_CHECKS_WAIT_SECONDS = 65.0
UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400}


@dataclass(frozen=True)
class HealthSettings:
    interval: float
    timeout: float
    unhealthy: int
    healthy: int
    expected_statuses: tuple[int, ...]

    @classmethod
    def of(cls, active: Any) -> "HealthSettings":
        return cls(
            duration_seconds(active.interval or DEFAULT_INTERVAL),
            duration_seconds(active.timeout or DEFAULT_TIMEOUT),
            active.unhealthy_threshold or DEFAULT_UNHEALTHY_THRESHOLD,
            active.healthy_threshold or DEFAULT_HEALTHY_THRESHOLD,
            tuple(active.http.expected_statuses or (200,)),
        )

    def failing_status(self) -> int:
        """A status Envoy must take as unhealthy: 503 unless it is expected."""
        return next(status for status in (503, 500, 502, 504, 404, 599) if status not in self.expected_statuses)


def miss_run(share: Fraction, statements: int = 2) -> int:
    """Requests in a row that all miss a backend with this share of a split, with probability
    at most 1e-6 / statements: the k with (1 - share)^k <= that bound."""
    bound = float(FALSE_FAILURE_BOUND) / statements
    if share >= 1:
        return 1
    return max(1, math.ceil(math.log(bound) / math.log(1 - float(share))))


def choose_victim(rule: Any, replicas: dict[str, int]) -> tuple[Optional[str], Fraction, str]:
    """The backend of a rule to take out: the one with the largest share whose ejection leaves
    at least half the endpoints healthy, counted per backend and per replica (else Envoy's
    panic mode would route to it anyway). (name, share, "") or (None, 0, why not)."""
    weights: dict[str, int] = {}
    for ref in rule.backend_refs:
        if not ref.external and ref.weight > 0:
            weights[ref.name] = weights.get(ref.name, 0) + ref.weight
    if len(weights) < 2:
        return None, Fraction(0), "the rule has one backend: with its only endpoint unhealthy Envoy routes to it anyway (panic mode)"
    total_weight = sum(weights.values())
    total_replicas = sum(replicas.get(name, 1) for name in weights)
    candidates = [
        name for name in weights
        if Fraction(len(weights) - 1, len(weights)) >= PANIC_THRESHOLD
        and Fraction(total_replicas - replicas.get(name, 1), total_replicas) >= PANIC_THRESHOLD
    ]
    if not candidates:
        return None, Fraction(0), "taking out any backend leaves fewer than half the endpoints healthy: Envoy would route to it anyway (panic mode)"
    victim = max(candidates, key=lambda name: (weights[name], name))
    return victim, Fraction(weights[victim], total_weight), ""


def counted_rate(policy: Any, duration: float) -> Optional[float]:
    """The highest steady request rate (<= POLL_RATE_PER_SECOND) a fresh client can keep up for
    `duration` seconds under the policy's own rate limits, or None when it is below
    MIN_POLL_RATE_PER_SECOND. Rules keyed by a header are not counted (the polls send none)."""
    rate = POLL_RATE_PER_SECOND
    if policy.rate_limit is not None:
        for rule in policy.rate_limit.local.rules:
            if any(header for selector in rule.client_selectors for header in selector.headers):
                continue
            per_second = rule.limit.requests / UNIT_SECONDS[rule.limit.unit]
            rate = min(rate, (rule.limit.requests + per_second * duration) / duration)
    return rate if rate >= MIN_POLL_RATE_PER_SECOND else None


class Poller:
    """Requests to one rule at a steady rate, recording (seconds since `origin`, backend or error)."""

    def __init__(self, checks: Any, governed: GovernedRule, credentials: list[tuple[str, str]], rate: float):
        self.verifier, self.governed, self.credentials, self.period = checks.verifier, governed, credentials, 1 / rate
        self.chooser = AddressChooser.for_listener(
            effective_listener_policy(self.verifier.config.client_traffic_policies, governed.listener.name),
            governed.listener.target.host,
        )
        self.session: Optional[KeepAliveSession] = None
        self.headers: list[tuple[str, str]] = []
        self.seen: list[tuple[float, str]] = []
        self.fresh_client()

    def fresh_client(self) -> None:
        """Go on from a new client address (when one can be made): a rate limit keyed by client
        address then counts these requests afresh, each phase within its budget."""
        if self.session is not None:
            self.session.close()
        client = self.chooser.address_in("0.0.0.0/0")
        self.headers = [*self.governed.probe.headers, *(client.headers if client else ()), *self.credentials]
        self.session = KeepAliveSession(
            self.governed.listener.target, tls=self.verifier.context_for(self.governed.listener, self.governed.probe.host),
            sni=self.governed.probe.host, timeout=self.verifier.timeout, source=client.source if client else None,
        )

    def one(self, origin: float) -> str:
        probe = self.governed.probe
        try:
            response = self.session.request(probe.method, probe.host, probe.path, self.headers)
        except RequestFailed as error:
            answer = f"error {error}"
        else:
            echo = response.echo() if response.status == 200 else None
            answer = backend_of_pod(str(echo.get("pod", ""))) if echo else f"status {response.status}"
        self.seen.append((time.monotonic() - origin, answer))
        return answer

    def until(self, origin: float, end: float, stop_at: Optional[str] = None) -> Optional[float]:
        """Poll until `end` seconds after `origin`, or until `stop_at` answers (its time)."""
        next_at = time.monotonic()
        while time.monotonic() - origin < end:
            if self.one(origin) == stop_at:
                return self.seen[-1][0]
            next_at += self.period
            time.sleep(max(0.0, next_at - time.monotonic()))
        return None


def describe(seen: list[tuple[float, str]], start: float, end: float) -> str:
    """Counts by backend of the answers between `start` and `end` seconds."""
    counts: dict[str, int] = {}
    for moment, answer in seen:
        if start <= moment < end:
            counts[answer] = counts.get(answer, 0) + 1
    return ", ".join(f"{answer} {count}" for answer, count in sorted(counts.items())) or "none"


def check_health_checks(checks: Any) -> None:
    for policy in checks.policies:
        if policy.health_check is None:
            continue
        active = policy.health_check.active
        governed = checks.first_governed(policy, "health checks")
        if governed is None:
            continue
        seen_check(checks, policy, governed, active)
        HealthEjection(checks, policy, governed, HealthSettings.of(active)).run()


def seen_check(checks: Any, policy: Any, governed: GovernedRule, active: Any) -> None:
    """Envoy health-checks the backends with the declared method and path."""
    method = active.http.method or "GET"
    name = f"BackendTrafficPolicy {policy.name}: {governed.label}: Envoy health-checks the backends with {method} {active.http.path}"
    if not checks.can_instruct(governed, name):
        return
    interval = duration_seconds(active.interval or DEFAULT_INTERVAL)
    deadline = time.monotonic() + 2 * interval + 2
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        response = checks.verifier.send(governed.listener, governed.probe, [(HEALTH_CHECK_REPORT_HEADER, "report")])
        echo = response.echo() or {}
        seen = echo.get("healthChecks") or {}
        if any(key.startswith(f"{method} ") and key.endswith(active.http.path) for key in seen):
            break
        time.sleep(0.5)
    matching = {key: count for key, count in seen.items() if key.startswith(f"{method} ") and key.endswith(active.http.path)}
    checks.verifier.add(name, bool(matching), f"health checks seen by a backend: {seen or 'none'}")


class HealthEjection:
    """The two timing checks (an unexpected status; resets against the thresholds) for one policy."""

    def __init__(self, checks: Any, policy: Any, governed: GovernedRule, settings: HealthSettings):
        self.checks, self.policy, self.governed, self.settings = checks, policy, governed, settings
        self.verifier = checks.verifier
        self.base = f"BackendTrafficPolicy {policy.name}: {governed.label}"

    def names(self, victim: str, share: Fraction, rate: float) -> tuple[str, str, str]:
        s, slack = self.settings, TIMING_TOLERANCE_SECONDS
        gap = miss_run(share) / rate
        status = s.failing_status()
        eject_low = max(0.0, (s.unhealthy - 1) * s.interval - slack - gap)
        return (
            f"{self.base}: {victim} answering its health checks with {status} gets no traffic after the next check "
            f"(within {s.interval + slack:.2f}s: an unexpected status counts at once)",
            f"{self.base}: {victim} failing its health checks (connection resets) gets traffic until "
            f"{s.unhealthy} x {s.interval:g}s, none after (last request between {eject_low:.2f}s and {s.unhealthy * s.interval + slack:.2f}s)",
            f"{self.base}: {victim} gets traffic again {s.healthy} x {s.interval:g}s after its health checks pass "
            f"(first request between {max(0.0, (s.healthy - 1) * s.interval - slack):.2f}s and {s.healthy * s.interval + slack + gap:.2f}s)",
        )

    def run(self) -> None:
        replicas = {backend.name: backend.replicas for backend in self.verifier.config.backends}
        victim, share, why_not = choose_victim(self.governed.rule, replicas)
        s = self.settings
        longest = s.unhealthy * s.interval + s.healthy * s.interval + 4 * TIMING_TOLERANCE_SECONDS + 30
        rate = counted_rate(self.policy, longest) if victim else None
        names = self.names(victim, share, rate) if victim and rate else (
            f"{self.base}: a backend answering its health checks with an unexpected status gets no traffic after the next check",
            f"{self.base}: a backend failing its health checks gets traffic until unhealthyThreshold x interval, none after",
            f"{self.base}: a backend gets traffic again healthyThreshold x interval after its health checks pass",
        )
        if victim is None:
            for name in names:
                self.verifier.skip(name, why_not)
            return
        if rate is None:
            for name in names:
                self.verifier.skip(name, f"the policy's own rate limit allows fewer than {MIN_POLL_RATE_PER_SECOND:g} requests a second to watch them")
            return
        credentials = self.verifier.authentication_for(self.governed.listener, self.governed.probe)
        if credentials is None:
            for name in names:
                self.verifier.skip(name, "the rule needs credentials verify was not given")
            return
        if not self.checks.can_instruct(self.governed, names[0]):
            for name in names[1:]:
                self.verifier.skip(name, "the backends are not the local echo stand-in, which can be told to fail health checks")
            return
        poller = Poller(self.checks, self.governed, credentials, rate)
        gap = miss_run(share) / rate
        try:
            if not self.wait_for_regular_checks(poller, victim, s.interval):
                for name in names:
                    self.verifier.add(name, False, f"{victim} reported no new health check within {REGULAR_CHECKS_WAIT_SECONDS + s.interval:g}s")
                return
            poller.fresh_client()
            self.unexpected_status(names[0], poller, victim, gap)
            poller.fresh_client()
            self.thresholds(names[1], names[2], poller, victim, gap)
        finally:
            poller.session.close()

    def wait_for_regular_checks(self, poller: Poller, victim: str, interval: float) -> bool:
        """Wait until the victim reports one more health check than it first did (Envoy's checks
        are `interval` apart from then on; see the module docstring); False if none came."""
        probe, path = self.governed.probe, self.policy.health_check.active.http.path
        first: Optional[int] = None
        deadline = time.monotonic() + REGULAR_CHECKS_WAIT_SECONDS + interval
        while time.monotonic() < deadline:
            try:
                response = poller.session.request(probe.method, probe.host, probe.path, [*poller.headers, (HEALTH_CHECK_REPORT_HEADER, "report")])
            except RequestFailed:
                continue
            echo = response.echo() if response.status == 200 else None
            if echo and backend_of_pod(str(echo.get("pod", ""))) == victim:
                count = sum(number for key, number in (echo.get("healthChecks") or {}).items() if key.endswith(path))
                if first is None:
                    first = count
                elif count > first:
                    time.sleep(0.5)  # the other clusters checking this backend started together
                    return True
            time.sleep(0.1)
        return False

    def instruct(self, poller: Poller, victim: str, seconds: float, how: str) -> float:
        """Tell the victim's servers to fail health checks for `seconds`; the time it took effect."""
        before = time.monotonic()
        probe = self.governed.probe
        poller.session.request(probe.method, probe.host, probe.path, [*poller.headers, (HEALTH_FAIL_HEADER, f"{victim};{int(seconds * 1000)};{how}")])
        return (before + time.monotonic()) / 2

    def wait_for(self, poller: Poller, victim: str, seconds: float) -> bool:
        """Whether the victim answers within `seconds` (it is in rotation)."""
        return poller.until(time.monotonic(), seconds, stop_at=victim) is not None

    def unexpected_status(self, name: str, poller: Poller, victim: str, gap: float) -> None:
        s = self.settings
        if not self.wait_for(poller, victim, s.healthy * s.interval + 5 + gap):
            self.verifier.add(name, False, f"{victim} got no traffic before its health checks were made to fail")
            return
        failing = s.interval + 2 * gap + 1
        poller.seen.clear()
        origin = self.instruct(poller, victim, failing, str(s.failing_status()))
        poller.until(origin, failing)
        hits = [moment for moment, answer in poller.seen if answer == victim]
        last = max(hits, default=0.0)
        errors = [answer for _, answer in poller.seen if answer.startswith(("status", "error"))]
        after_last = sum(1 for moment, _ in poller.seen if moment > last)
        ok = last <= s.interval + TIMING_TOLERANCE_SECONDS and after_last >= miss_run_from_gap(gap, poller) and not errors
        detail = (f"last request to {victim} at {last:.2f}s, then {after_last} to the others; "
                  f"answers 0..{failing:.1f}s: {describe(poller.seen, 0, failing)}")
        self.verifier.add(name, ok, detail)
        # Back in rotation before the next check.
        self.wait_for(poller, victim, s.healthy * s.interval + 5 + gap)

    def thresholds(self, eject_name: str, return_name: str, poller: Poller, victim: str, gap: float) -> None:
        s, slack = self.settings, TIMING_TOLERANCE_SECONDS
        if not self.wait_for(poller, victim, s.healthy * s.interval + 5 + gap):
            self.verifier.add(eject_name, False, f"{victim} got no traffic before its health checks were made to fail")
            self.verifier.skip(return_name, "the backend was never taken out")
            return
        failing = s.unhealthy * s.interval + slack + 2 * gap + 1
        poller.seen.clear()
        origin = self.instruct(poller, victim, failing, "reset")
        poller.until(origin, failing)
        hits = [moment for moment, answer in poller.seen if answer == victim]
        last = max(hits, default=0.0)
        after_last = sum(1 for moment, _ in poller.seen if moment > last)
        errors = [answer for _, answer in poller.seen if answer.startswith(("status", "error"))]
        low = max(0.0, (s.unhealthy - 1) * s.interval - slack - gap)
        high = s.unhealthy * s.interval + slack
        ok = low <= last <= high and after_last >= miss_run_from_gap(gap, poller) and not errors
        self.verifier.add(eject_name, ok, (
            f"last request to {victim} at {last:.2f}s after its checks began failing, then {after_last} to the others; "
            f"answers 0..{failing:.1f}s: {describe(poller.seen, 0, failing)}"
        ))
        if not ok and after_last < miss_run_from_gap(gap, poller):
            self.verifier.skip(return_name, "the backend was not seen taken out")
            self.wait_for(poller, victim, s.healthy * s.interval + 5 + gap)
            return
        # Its checks pass again at `failing` seconds after `origin`.
        returned = poller.until(origin, failing + s.healthy * s.interval + slack + gap + 2, stop_at=victim)
        if returned is None:
            self.verifier.add(return_name, False, f"no request reached {victim} within {s.healthy * s.interval + slack + gap + 2:.2f}s after its checks passed again")
            return
        back = returned - failing
        ok = max(0.0, (s.healthy - 1) * s.interval - slack) <= back <= s.healthy * s.interval + slack + gap
        self.verifier.add(return_name, ok, f"first request to {victim} {back:.2f}s after its health checks passed again")


def miss_run_from_gap(gap: float, poller: Poller) -> int:
    """The miss run `gap` seconds stand for at the poller's rate."""
    return max(1, round(gap / poller.period))
