"""The durable outbox and local record store: one SQLite database (WAL) in the data directory.

A scan is written here before its MQTT message is acknowledged, and leaves the pending set only
when its destination confirmed it, so no accepted scan is lost to a crash or an outage.
With no IoT Hub configured this database *is* the inventory record store.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from scantalk.contract import ContractError, InventoryRecord, now_rfc3339, printable
from scantalk.durable import open_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    scan_id      TEXT PRIMARY KEY,
    body         TEXT NOT NULL,
    accepted_at  TEXT NOT NULL,
    delivered_at TEXT,
    destination  TEXT
);
CREATE INDEX IF NOT EXISTS pending ON records (accepted_at) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS accepted ON records (accepted_at);
"""
REVISION = "coalesce(json_extract({}.body, '$.revision'), 1)"
"""A stored record's revision (records stored before revisions existed are revision 1)."""


def stored_record(body: str) -> InventoryRecord:
    """A stored record as the contract reads it. One stored before the contract refused
    control characters in its name is read with each shown as U+FFFD: it is still sent and
    listed, never lost to a rule that came after it."""
    try:
        return InventoryRecord.from_json(body)
    except ContractError:
        fields = json.loads(body)  # ids stay as stored: they find the record again
        fields["displayName"] = printable(fields.get("displayName", ""))
        return InventoryRecord.from_dict(fields)


@dataclass(frozen=True)
class StoredRecord:
    record: InventoryRecord
    accepted_at: str
    delivered_at: str | None
    destination: str | None


class Outbox:
    def __init__(self, path: Path) -> None:
        self._db = open_durable(path, SCHEMA)
        self._lock = threading.Lock()

    def add(self, record: InventoryRecord) -> bool:
        """Store a record durably; False when its scan id was already stored at this revision
        or a later one (a redelivery). A later revision (a new weight) replaces the stored one
        and is pending again, in its scan's place in the queue."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO records (scan_id, body, accepted_at) VALUES (?, ?, ?) "
                "ON CONFLICT (scan_id) DO UPDATE SET body = excluded.body, "
                "delivered_at = NULL, destination = NULL "
                f"WHERE {REVISION.format('excluded')} > {REVISION.format('records')}",
                (record.scan_id, record.to_json().decode(), now_rfc3339()),
            )
        return cursor.rowcount == 1

    def delivered(self, scan_id: str) -> bool:
        """Whether the stored record of a scan (its latest revision) reached its destination."""
        with self._lock:
            row = self._db.execute(
                "SELECT delivered_at IS NOT NULL FROM records WHERE scan_id = ?", (scan_id,)
            ).fetchone()
        return bool(row and row[0])

    def count(self, pending_only: bool = False) -> int:
        where = "WHERE delivered_at IS NULL" if pending_only else ""
        with self._lock:
            return self._db.execute(f"SELECT count(*) FROM records {where}").fetchone()[0]

    def count_since(self, accepted_at: str) -> int:
        """Records accepted at or after an RFC 3339 UTC time (as `now_rfc3339` writes it)."""
        with self._lock:
            return self._db.execute(
                "SELECT count(*) FROM records WHERE accepted_at >= ?", (accepted_at,)
            ).fetchone()[0]

    def mark_delivered(self, record: InventoryRecord, destination: str) -> None:
        """Only this revision: a later one that came while it was being sent stays pending."""
        with self._lock:
            self._db.execute(
                "UPDATE records SET delivered_at = ?, destination = ? "
                f"WHERE scan_id = ? AND {REVISION.format('records')} = ?",
                (now_rfc3339(), destination, record.scan_id, record.revision),
            )

    def records(self, pending_only: bool = False, limit: int = -1) -> list[StoredRecord]:
        """Oldest first; `limit` -1 is all."""
        where = "WHERE delivered_at IS NULL" if pending_only else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT body, accepted_at, delivered_at, destination FROM records {where} "
                "ORDER BY accepted_at LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredRecord(stored_record(b), a, d, dest) for b, a, d, dest in rows]

    def close(self) -> None:
        self._db.close()
