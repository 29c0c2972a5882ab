"""A SQLite database that keeps what it was given over a crash of its process or of the
machine: the store behind both ends of a scan (the classifier's journal, the bridge's outbox)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """Open (or make) the database at `path` with `schema`: write-ahead log, each commit synced
    to disk before it returns, autocommit unless a statement says `BEGIN`. One connection for
    the process's threads, which serialise their use of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


def write_whole(path: Path, text: str) -> None:
    """Replace a small file whole: a reader, or the next start after a crash, sees the old text
    or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
