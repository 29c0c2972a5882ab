"""ScanTalk: says out loud what was just scanned at a self-service checkout."""

__version__ = "0.1.0"
