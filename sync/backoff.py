"""When to try the center again after it failed: exponential backoff with full jitter (so a room of agents that lost
the center together does not come back together), capped."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first: float = 2.0
    cap: float = 300.0
    failures: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def failed(self) -> float:
        """Record a failure; returns the seconds to wait before the next try."""
        self.failures += 1
        ceiling = min(self.cap, self.first * 2 ** (self.failures - 1))
        return self._random.uniform(ceiling / 2, ceiling)

    def succeeded(self) -> None:
        self.failures = 0
