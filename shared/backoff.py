"""How long to wait before the next try: one exponential backoff policy for every retry loop.

It only computes delays (no clock, no sleeping): the caller waits, through a stoppable wait
(``shared.wait.wait_or_stop``) or a clock the tests step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` after the n-th consecutive failure: ``base_s * factor**(n-1)``, at most
    ``cap_s``; ``jitter`` (0..1) takes up to that fraction off at random, so many clients
    failing together do not retry in lockstep."""

    base_s: float
    cap_s: float = math.inf
    factor: float = 2.0
    jitter: float = 0.0
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < 0 or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid backoff {self!r}")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (the first failure is 1)."""
        delay = self.base_s
        # Grown step by step and stopped at the cap: factor**n would overflow a float for the
        # failure counts of a long outage.
        for _ in range(max(failures, 1) - 1):
            if delay >= self.cap_s:
                break
            delay *= self.factor
        delay = min(delay, self.cap_s)
        if self.jitter:
            delay -= delay * self.jitter * self.random()
        return float(delay)
