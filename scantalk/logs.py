"""Structured log lines that say which node and station they come from, one line per event, and
never a flood: past a few warnings of the same cause a minute, the rest are summarised."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

FORMAT = "%(asctime)s level=%(levelname)s node=%(node)s station=%(station)s %(message)s"
BURST = 5
"""Warnings (and errors) of one cause logged in full per `WINDOW_S`; the rest are counted."""
WINDOW_S = 60.0


def setup_logging(node: str, station: str, level: str = "INFO") -> logging.Logger:
    """Configure the process's logging for one node and return its logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(FORMAT))
    handler.addFilter(_Context(node, station))
    handler.addFilter(Summary())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("azure.iot.device").setLevel(logging.WARNING)
    return logging.getLogger(f"scantalk.{node}")


class _Context(logging.Filter):
    def __init__(self, node: str, station: str) -> None:
        super().__init__()
        self.node, self.station = node, station

    def filter(self, record: logging.LogRecord) -> bool:
        record.node, record.station = self.node, self.station
        return True


class _OneLine(logging.Formatter):
    """A message that spans lines (a cloud SDK's error, text from the bus) stays on one line,
    so each line is one event for whoever reads or greps the log; a traceback still follows."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).replace("\r", "").replace("\n", " | ")


class Summary(logging.Filter):
    """At most `BURST` warnings or errors of one cause (the same logger and message template,
    whatever its arguments) per `WINDOW_S`. The first one after a window that dropped some
    says how many: an open bus cannot write hundreds of lines a second, and no cause is
    hidden. Every refusal is counted in the node's stats all the same."""

    def __init__(
        self,
        burst: int = BURST,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst, self.window_s, self.clock = burst, window_s, clock
        self._lock = threading.Lock()
        self._causes: dict[tuple[str, str], tuple[float, int, int]] = {}
        """Per cause: its window's start, lines logged in it, lines dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        cause, now = (record.name, str(record.msg)), self.clock()
        with self._lock:
            start, logged, dropped = self._causes.get(cause, (now, 0, 0))
            note = ""
            if now - start >= self.window_s:
                if dropped:
                    note = f" ({dropped} more like this in {self.window_s:.0f} s not logged)"
                start, logged, dropped = now, 0, 0
            if logged >= self.burst:
                self._causes[cause] = (start, logged, dropped + 1)
                return False
            logged += 1
            if logged == self.burst:
                note += f" (more like this within {self.window_s:.0f} s are counted, not logged)"
            self._causes[cause] = (start, logged, dropped)
        record.msg = f"{record.msg}{note}"
        return True
