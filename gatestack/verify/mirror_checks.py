"""The RequestMirror check: the mirror backend receives its share of the rule's requests.

`sample_size` requests, each marked with one token (`X-Echo-Mark`), go to the rule; Envoy copies
a share to the mirror backend and drops its answers. The local echo stand-ins count marked
requests per Deployment over the whole process, so any of them reports how many copies the
mirror backend saw (`X-Echo-Marks`). The count must lie in the exact binomial acceptance
interval of the declared share (as a split's, at most 1e-6 false failures); 100 % must be
exactly every request, 0 % none. Copies are sent asynchronously: the count is read until it
stops changing. Against other backends the check is not checked.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from gatestack.stand_ins.echo_server import MARK_HEADER, MARKS_REPORT_HEADER
from gatestack.verify.client_identity import fresh_value
from gatestack.verify.probes import RequestFailed
from gatestack.verify.statistics import FALSE_FAILURE_BOUND, binomial_interval

SETTLE_SECONDS = 0.3
SETTLE_LIMIT_SECONDS = 5.0


def mirrored_share(mirror: Any) -> Fraction:
    if mirror.fraction is not None:
        return Fraction(mirror.fraction.numerator, mirror.fraction.denominator)
    return Fraction(100 if mirror.percent is None else mirror.percent, 100)


def check_mirror(verifier: Any, label: str, mirror: Any, listener: Any, probe: Any) -> None:
    share = mirrored_share(mirror)
    target = mirror.backend_ref.name
    n = verifier.sample_size
    name = f"{label}: {float(share) * 100:g} % of {n} requests are mirrored to {target}"
    if mirror.backend_ref.external:
        verifier.skip(name, f"external backend {target}: the copies it receives cannot be counted")
        return
    token = fresh_value()
    for index in range(n):
        try:
            verifier.send(listener, probe, [(MARK_HEADER, token)])
        except RequestFailed as error:
            verifier.add(name, False, f"request {index + 1} of {n} failed: {error}")
            return
    counts, previous, deadline = None, None, time.monotonic() + SETTLE_LIMIT_SECONDS
    while time.monotonic() < deadline:
        try:
            response = verifier.send(listener, probe, [(MARKS_REPORT_HEADER, token)])
        except RequestFailed as error:
            verifier.add(name, False, f"asking for the count failed: {error}")
            return
        echo = response.echo() or {}
        if "marks" not in echo:
            verifier.skip(name, "the backends are not the local echo stand-in, which counts what it receives")
            return
        counts = echo["marks"]
        if counts == previous:
            break
        previous = counts
        time.sleep(SETTLE_SECONDS)
    low, high = binomial_interval(n, share, FALSE_FAILURE_BOUND)
    received = (counts or {}).get(target, 0)
    detail = f"{target} received {received} copies (accepted {low}..{high}); marked requests by backend: {counts}"
    verifier.add(name, low <= received <= high, detail)
