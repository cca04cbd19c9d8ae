"""Restart delays for a process that keeps dying.

A crash loop must neither hammer the node (an ig that fails to load its eBPF program
does so in milliseconds) nor leave a gadget dark for long after a one-off crash. So the
delay doubles per consecutive failure up to a cap, gets a little jitter so children that
died together do not restart in lock-step, and starts over once a child has run long
enough to count as healthy.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 60.0,
        *,
        stable_after: float = 60.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if initial < 0 or maximum < initial:
            raise ValueError(f"need 0 <= initial <= maximum, got {initial} and {maximum}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.stable_after = stable_after
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._base = initial

    @property
    def base(self) -> float:
        """The un-jittered delay the next failure will get."""
        return self._base

    def next_delay(self, ran_for: float) -> float:
        """The delay before restarting a child that ran ``ran_for`` seconds and exited."""
        if ran_for >= self.stable_after:
            self._base = self.initial
        spread = self._base * self.jitter
        delay = min(self.maximum, max(0.0, self._base + self._rng.uniform(-spread, spread)))
        self._base = min(self.maximum, self._base * 2)
        return delay

    def reset(self) -> None:
        self._base = self.initial
