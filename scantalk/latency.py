"""Latency summaries: one definition of a percentile for the evaluation and the benchmarks, and
a window of recent values for the nodes' gauges."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The value below which a share `q` of `values` lies (nearest rank, no interpolation)."""
    if not values:
        raise ValueError("no values to take a percentile of")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, p95 and p99, rounded to hundredths: what a latency report shows."""
    return {
        "median": round(statistics.median(values), 2),
        "p95": round(percentile(values, 0.95), 2),
        "p99": round(percentile(values, 0.99), 2),
    }


class Window:
    """Values of the last `seconds` (e.g. inference times), for gauges that must fall back
    when nothing happens. Thread-safe enough for one writer and a stats reader: both take the
    lock."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._items: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    def add(self, value: float = 1.0) -> None:
        with self._lock:
            self._items.append((time.monotonic(), value))
            self._trim()

    def values(self) -> list[float]:
        with self._lock:
            self._trim()
            return [value for _, value in self._items]

    def count(self) -> float:
        return float(len(self.values()))

    def median(self) -> float | None:
        """The median of the window; None when empty (nothing measured is not 0 ms)."""
        values = self.values()
        return round(statistics.median(values), 2) if values else None

    def _trim(self) -> None:
        horizon = time.monotonic() - self.seconds
        while self._items and self._items[0][0] < horizon:
            self._items.popleft()
