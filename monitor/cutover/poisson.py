"""The exact Poisson tail behind "significantly below": no normal approximation, no library.

For an integer k ≥ 0, P(X ≤ k) with X ~ Poisson(μ) equals Q(k + 1, μ), the regularised upper
incomplete gamma function, whose series for an integer first argument is finite:
Q(k + 1, μ) = e^−μ · Σ_{i=0..k} μ^i / i!. The sum is taken from its largest end in log space,
so it neither overflows for a national count of millions nor loses the small tails that
matter at a significance of 0.01.
"""

from __future__ import annotations

import math

# Stop adding terms once they no longer change the sum in double precision.
_EPS = 1e-17


def log_pmf(k: int, mu: float) -> float:
    """ln P(X = k) for X ~ Poisson(mu), mu > 0."""
    return -mu + k * math.log(mu) - math.lgamma(k + 1)


def cdf(k: int, mu: float) -> float:
    """P(X ≤ k) for X ~ Poisson(mu): the regularised upper incomplete gamma Q(k + 1, mu).

    Exact up to floating-point rounding for every k ≥ 0 and mu ≥ 0. Below the mean the terms
    μ^i/i! shrink going down from k (ratio i/μ < 1), so they are summed downwards; at or above
    the mean the upper tail Σ_{i>k} shrinks going up (ratio μ/i < 1) and is subtracted from 1.
    """
    if k < 0:
        return 0.0
    if mu <= 0:
        return 1.0
    head = log_pmf(k, mu)
    if k < mu:
        total = term = 1.0  # relative to P(X = k)
        for i in range(k, 0, -1):
            term *= i / mu
            total += term
            if term < total * _EPS:
                break
        return min(1.0, math.exp(head + math.log(total)))
    total, term, i = 0.0, 1.0, k + 1
    while True:
        term *= mu / i
        total += term
        if term < total * _EPS:
            break
        i += 1
    return max(0.0, 1.0 - math.exp(head + math.log(total)))


def significantly_below(observed: int, expected_ratio: float, baseline: int, significance: float) -> tuple[bool, float]:
    """(is observed significantly below expected_ratio × baseline, the p-value P(X ≤ observed)).

    The p-value is the chance that a Poisson process running at expected_ratio × baseline
    produces at most `observed` calls; below `significance` the shortfall is not noise.
    """
    p = cdf(observed, expected_ratio * baseline)
    return p < significance, p
