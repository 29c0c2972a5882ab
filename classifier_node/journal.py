"""The scan journal: the classifier's durable copy of each scan until the bridge has it.

A scan is written here (SQLite, WAL, synchronous) before it is published, and stays until the
bridge's `inventory/ack` for it says `queued`, `delivered` or `rejected`: so a scan survives a
crash of the classifier before the broker's PUBACK, and a crash of the broker after it, without
the broker having to save its store per message (the end-to-end argument). Scans not yet
acknowledged are published again after every reconnect and, with backoff, after a timeout.

Each scan also takes the station's next sequence number, kept here across restarts, so a
subscriber can see a gap. The journal is bounded: a lane whose bridge is gone for good (or
never ran) must not fill its disk. At the bound the oldest scan leaves the journal, counted and
logged: the broker may still hold it for a bridge's persistent session, and the newest scans
are the ones a shopper is still at the lane for.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from scantalk.contract import ContractError, Scan
from scantalk.durable import open_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    scan_id   TEXT NOT NULL,
    revision  INTEGER NOT NULL,
    body      TEXT NOT NULL,
    written   INTEGER PRIMARY KEY AUTOINCREMENT,
    attempts  INTEGER NOT NULL DEFAULT 0,
    due       REAL NOT NULL,
    UNIQUE (scan_id, revision)
);
CREATE TABLE IF NOT EXISTS sequence (station TEXT PRIMARY KEY, last INTEGER NOT NULL);
"""
FIRST_RETRY_S = 5.0
"""An ack normally follows a scan within milliseconds; after this, publish it again."""
MAX_RETRY_S = 300.0


@dataclass(frozen=True)
class Unacked:
    scan: Scan
    attempts: int


class Journal:
    def __init__(self, path: Path, bound: int) -> None:
        self._db = open_durable(path, SCHEMA)
        self._lock = threading.Lock()
        self.bound = bound

    def add(self, scan: Scan) -> tuple[Scan, int]:
        """Write a scan before it is published; a first revision takes the station's next
        sequence number. Returns the scan as journalled, and how many old scans the bound
        pushed out."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if scan.revision == 1:
                self._db.execute(
                    "INSERT INTO sequence (station, last) VALUES (?, 1) "
                    "ON CONFLICT (station) DO UPDATE SET last = last + 1",
                    (scan.station,),
                )
                (seq,) = self._db.execute(
                    "SELECT last FROM sequence WHERE station = ?", (scan.station,)
                ).fetchone()
                scan = replace(scan, seq=seq)
            self._db.execute(
                "INSERT OR REPLACE INTO scans (scan_id, revision, body, due) VALUES (?, ?, ?, ?)",
                (scan.scan_id, scan.revision, scan.to_json().decode(), _now() + FIRST_RETRY_S),
            )
            dropped = self._db.execute(  # all but the newest `bound` rows
                "DELETE FROM scans WHERE written IN "
                "(SELECT written FROM scans ORDER BY written DESC LIMIT -1 OFFSET ?)",
                (self.bound,),
            ).rowcount
        return scan, dropped

    def acknowledged(self, scan_id: str, revision: int) -> bool:
        """The bridge has this revision of the scan (or refused it for good): forget it and
        any earlier one; a later revision stays until its own ack. True when it was here."""
        with self._lock:
            return (
                self._db.execute(
                    "DELETE FROM scans WHERE scan_id = ? AND revision <= ?", (scan_id, revision)
                ).rowcount
                > 0
            )

    def due(self, everything: bool = False, limit: int = 100) -> tuple[list[Unacked], int]:
        """Scans to publish again, oldest first, at most `limit`: those whose ack is overdue, or
        all of them (`everything`, after a reconnect). Each one's next retry backs off. Also
        how many rows could not be read as scans (written under an older contract): they are
        let go, for they would block every scan behind them."""
        now = _now()
        found, unreadable = [], 0
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                "SELECT written, body, attempts FROM scans WHERE ? OR due <= ? "
                "ORDER BY written LIMIT ?",
                (everything, now, limit),
            ).fetchall()
            for written, body, attempts in rows:
                try:
                    scan = Scan.from_json(body)
                except ContractError:
                    self._db.execute("DELETE FROM scans WHERE written = ?", (written,))
                    unreadable += 1
                    continue
                wait = min(FIRST_RETRY_S * 2 ** (attempts + 1), MAX_RETRY_S)
                self._db.execute(
                    "UPDATE scans SET attempts = ?, due = ? WHERE written = ?",
                    (attempts + 1, now + wait, written),
                )
                found.append(Unacked(scan, attempts + 1))
        return found, unreadable

    def pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM scans").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _now() -> float:
    return time.time()  # wall clock: `due` outlives the process
