"""The reconnection backoff policy of the official client (``backo2``), pure and seedable.

``delay = min(initial * factor ** attempt ± jitter, maximum)`` where the jitter is
``floor(r * randomization_factor * delay)``, added or subtracted depending on ``floor(r * 10)`` being odd
or even, with one draw ``r`` of the injected random source per attempt. Times are in seconds.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with randomisation; ``attempts`` counts the delays handed out since ``reset``."""

    initial: float = 1.0
    maximum: float = 5.0
    randomization_factor: float = 0.5
    factor: float = 2.0
    random: Callable[[], float] = field(default=_random.random, repr=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0:
            raise ValueError("delays must be >= 0")
        if not 0 <= self.randomization_factor <= 1:
            raise ValueError("randomization_factor must be between 0 and 1")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")

    def duration(self) -> float:
        """The delay before the next attempt; counts one attempt."""
        # milliseconds, as the official client computes them (integers at the end)
        try:
            ms = self.initial * 1000 * self.factor**self.attempts
        except OverflowError:
            ms = math.inf
        self.attempts += 1
        if math.isinf(ms):
            return self.maximum
        if self.randomization_factor:
            r = self.random()
            deviation = math.floor(r * self.randomization_factor * ms)
            ms = ms - deviation if (math.floor(r * 10) & 1) == 0 else ms + deviation
        ms = min(ms, self.maximum * 1000)
        return max(int(ms), 0) / 1000

    def reset(self) -> None:
        self.attempts = 0
