"""Snapshots: the frame that produced each scan, kept so a person reviewing a disputed scan
(or Home Assistant's image entity) can see what the camera saw."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

RECENT_FRAMES = 64
"""Published frames held in memory until a scan names one of them."""


class Snapshots:
    def __init__(self, folder: Path, keep: int) -> None:
        self.folder, self.keep = folder, keep
        folder.mkdir(parents=True, exist_ok=True)
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, frame_id: str, jpeg: bytes) -> None:
        with self._lock:
            self._recent[frame_id] = jpeg
            if len(self._recent) > RECENT_FRAMES:
                self._recent.popitem(last=False)

    def keep_for(self, scan_id: str, frame_id: str, scanned_at: str) -> bytes | None:
        """Write the scan's frame to disk (a bounded ring, oldest out first); None if unknown."""
        with self._lock:
            jpeg = self._recent.get(frame_id)
        if jpeg is None:
            return None
        stamp = scanned_at.replace(":", "").replace("-", "")
        (self.folder / f"{stamp}_{scan_id}.jpg").write_bytes(jpeg)
        for old in sorted(self.folder.glob("*.jpg"))[: -self.keep]:
            old.unlink(missing_ok=True)
        return jpeg
