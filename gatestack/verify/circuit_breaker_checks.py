"""Checks of a BackendTrafficPolicy's `circuitBreaker`, by slow requests sent at once.

Envoy Gateway's defaults: 1024 for each of `maxConnections`, `maxPendingRequests` and
`maxParallelRequests`. With HTTP/1.1 to the backends one connection carries one request at a
time, so of N slow requests sent at once (the echo stand-in holds each `SLOW_SECONDS`):

* `min(maxConnections, maxParallelRequests)` get a connection and are answered after one delay;
* up to `maxPendingRequests` more wait for a connection to come free and are answered later
  (after two delays or more): so `maxConnections` on its own shows as the size of the first
  wave, with every request answered;
* the rest, beyond `capacity = min(maxParallelRequests, maxConnections + maxPendingRequests)`,
  are refused at once with Envoy's own 503 (body "upstream connect error or disconnect/reset
  before headers. reset reason: overflow"; Envoy Gateway suppresses x-envoy-overloaded).

Checks, on the first rule the policy governs:

* "at most {capacity} requests at once, then 503": capacity + 4 slow requests at once: exactly
  `capacity` answered, the others refused at once with the 503 overflow;
* "at most {connections} connections: the next requests wait": min(capacity, wave + 4) slow
  requests at once: every one answered, exactly `wave` after one delay, the others later.
  Made when requests can queue (wave < capacity).

A check that needs more than `MAX_AT_ONCE` requests at once is not checked (so
`maxPendingRequests` on its own, behind 1024 connections, is not), nor are backends other than
the local echo stand-in (they cannot be told to answer slowly).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gatestack.stand_ins.echo_server import DELAY_HEADER
from gatestack.verify.probes import RequestFailed

ENVOY_GATEWAY_DEFAULT = 1024
MAX_AT_ONCE = 36
EXTRA = 4
SLOW_SECONDS = 1.5
OVERFLOW = "overflow"


def limits(breaker: Any) -> tuple[int, int, int]:
    """(connections, pending, parallel), Envoy Gateway's default for each one left out."""
    def value(field: Any) -> int:
        return field if field is not None else ENVOY_GATEWAY_DEFAULT

    return value(breaker.max_connections), value(breaker.max_pending_requests), value(breaker.max_parallel_requests)


def expectation(breaker: Any) -> tuple[int, int]:
    """(capacity: requests answered at all, wave: requests answered after one delay)."""
    connections, pending, parallel = limits(breaker)
    return min(parallel, connections + pending), min(connections, parallel)


def check_circuit_breakers(checks: Any) -> None:
    for policy in checks.policies:
        breaker = policy.circuit_breaker
        if breaker is None:
            continue
        governed = checks.first_governed(policy, "circuit breaker")
        if governed is None:
            continue
        capacity, wave = expectation(breaker)
        connections, pending, _ = limits(breaker)
        label = f"BackendTrafficPolicy {policy.name}: {governed.label}"
        refusal = f"{label}: at most {capacity} requests at once, then 503"
        queueing = f"{label}: at most {wave} connections: the next requests wait for one ({pending} may)"
        names = [refusal] + ([queueing] if wave < capacity else [])
        if not checks.can_instruct(governed, names[0]):
            for name in names[1:]:
                checks.verifier.skip(name, "the backends are not the local echo stand-in, which can be told to answer slowly")
            continue
        if capacity + EXTRA > MAX_AT_ONCE:
            checks.verifier.skip(refusal, f"{capacity + EXTRA} slow requests at once are more than verify sends (at most {MAX_AT_ONCE})")
        else:
            check_refusals(checks, governed, refusal, capacity)
        if wave < capacity:
            if wave + 1 > MAX_AT_ONCE:
                checks.verifier.skip(queueing, f"requests queue only once {wave} connections are busy: more than verify sends at once (at most {MAX_AT_ONCE})")
            else:
                check_queueing(checks, governed, queueing, wave, min(capacity, wave + EXTRA))


def slow_requests(checks: Any, governed: Any, count: int) -> list[tuple[int, str, float]]:
    """`count` slow requests at once: (status or 0, body start or error, seconds taken) each."""
    def one(_: int) -> tuple[int, str, float]:
        started = time.monotonic()
        try:
            response = checks.verifier.send(governed.listener, governed.probe, [(DELAY_HEADER, str(int(SLOW_SECONDS * 1000)))],
                                            timeout=SLOW_SECONDS * (count + 2))
        except RequestFailed as error:
            return 0, str(error), time.monotonic() - started
        return response.status, response.body[:200].decode(errors="replace"), time.monotonic() - started

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def check_refusals(checks: Any, governed: Any, name: str, capacity: int) -> None:
    count = capacity + EXTRA
    outcomes = slow_requests(checks, governed, count)
    answered = sum(1 for status, _, _ in outcomes if status == 200)
    refused = sum(1 for status, body, took in outcomes if status == 503 and OVERFLOW in body and took < SLOW_SECONDS / 2)
    others = sorted({f"{status} {body[:60]!r}" for status, body, _ in outcomes if status != 200 and not (status == 503 and OVERFLOW in body)})
    checks.verifier.add(
        name, answered == capacity and refused == count - capacity and not others,
        f"{count} at once: {answered} answered, {refused} refused at once with 503 (overflow)"
        + (f"; other answers: {', '.join(others)}" if others else ""),
    )


def check_queueing(checks: Any, governed: Any, name: str, wave: int, count: int) -> None:
    outcomes = slow_requests(checks, governed, count)
    answered = [took for status, _, took in outcomes if status == 200]
    first = sum(1 for took in answered if took < SLOW_SECONDS * 1.5)
    others = sorted({f"{status} {body[:60]!r}" for status, body, _ in outcomes if status != 200})
    times = ", ".join(f"{took:.1f}s" for took in sorted(answered))
    checks.verifier.add(
        name, len(answered) == count and first == wave,
        f"{count} at once: {first} answered after one delay ({SLOW_SECONDS:g}s), {len(answered) - first} later ({times})"
        + (f"; other answers: {', '.join(others)}" if others else ""),
    )
