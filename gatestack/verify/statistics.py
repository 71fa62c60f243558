"""Exact binomial acceptance intervals for weighted splits (see the package docstring)."""

from __future__ import annotations

import math
from fractions import Fraction

FALSE_FAILURE_BOUND = Fraction(1, 1_000_000)


def binomial_interval(n: int, p: Fraction, alpha: Fraction) -> tuple[int, int]:
    """The shortest [lo, hi] with P(X < lo) + P(X > hi) <= alpha for X ~ Binomial(n, p),
    computed exactly. p = 0 gives (0, 0), p = 1 gives (n, n)."""
    p = Fraction(p)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if p == 0:
        return 0, 0
    if p == 1:
        return n, n
    a, b = p.numerator, p.denominator - p.numerator  # p = a / (a + b)
    total = (a + b) ** n
    mode = min(n, (n + 1) * a // (a + b))
    mode_term = math.comb(n, mode) * a**mode * b ** (n - mode)
    lo = hi = mode
    covered = mode_term
    # Neighbouring terms by exact integer ratios: T(k+1) = T(k) (n-k) a / ((k+1) b).
    below = mode_term * mode * b // ((n - mode + 1) * a) if lo > 0 else 0
    above = mode_term * (n - mode) * a // ((mode + 1) * b) if hi < n else 0
    while (total - covered) * alpha.denominator > total * alpha.numerator:
        if lo > 0 and (below >= above or hi == n):
            lo -= 1
            covered += below
            below = below * lo * b // ((n - lo + 1) * a) if lo > 0 else 0
        else:
            hi += 1
            covered += above
            above = above * (n - hi) * a // ((hi + 1) * b) if hi < n else 0
    return lo, hi


def binomial_outside_probability(n: int, p: Fraction, lo: int, hi: int) -> Fraction:
    """P(X < lo or X > hi) for X ~ Binomial(n, p), exactly."""
    p = Fraction(p)
    inside = sum(
        (math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(max(lo, 0), min(hi, n) + 1)),
        Fraction(0),
    )
    return 1 - inside


def split_intervals(n: int, weights: list[int], bound: Fraction = FALSE_FAILURE_BOUND) -> list[tuple[int, int]]:
    """Acceptance interval of each backend's count over n requests, so that a gateway that
    splits correctly fails the whole check with probability at most `bound` (union bound
    over the backends whose share is neither 0 nor 1)."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    uncertain = sum(1 for weight in weights if 0 < weight < total)
    alpha = bound / max(uncertain, 1)
    return [binomial_interval(n, Fraction(weight, total), alpha) for weight in weights]
