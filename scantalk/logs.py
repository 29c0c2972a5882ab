"""Structured log lines that say which node and station they come from."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s level=%(levelname)s node=%(node)s station=%(station)s %(message)s"


def setup_logging(node: str, station: str, level: str = "INFO") -> logging.Logger:
    """Configure the process's logging for one node and return its logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_Context(node, station))
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
