"""Snapshots: the frame that produced each scan, kept so a person reviewing a disputed scan
(or Home Assistant's image entity) can see what the camera saw.

Files are named by arrival, `000123_<scan id>.jpg`: a sequence number the camera keeps (resumed
from the highest file at start), then the scan id reduced to letters, digits and dashes. Nothing
a scan says steers where a file goes or which goes first: the oldest by arrival leaves first, so
a forged scan (a far-future `time`, a `../` in its id) takes one slot of the ring's normal
turnover, and no more.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path

RECENT_FRAMES = 64
"""Published frames held in memory until a scan names one of them."""
SCAN_ID_CHARS = 64
"""Of a scan id, at most this many characters go into a file name (a UUID has 36)."""
SEQUENCE_DIGITS = 6
NAMED = re.compile(r"(\d+)(?:_[A-Za-z0-9-]*)?\.jpg")
"""A snapshot file this ring wrote: its arrival number, then the scan id."""


def safe_id(scan_id: str) -> str:
    """The scan id as it may appear in a file name: letters, digits and dashes only."""
    return re.sub(r"[^A-Za-z0-9-]", "", scan_id)[:SCAN_ID_CHARS]


def arrival(path: Path) -> tuple[int, int]:
    """Sort key, oldest first: files of an earlier naming (by the scan's time) before any
    numbered one, then by arrival number."""
    match = NAMED.fullmatch(path.name)
    return (1, int(match.group(1))) if match else (0, 0)


class Snapshots:
    def __init__(self, folder: Path, keep: int) -> None:
        self.folder, self.keep = folder, keep
        folder.mkdir(parents=True, exist_ok=True)
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._sequence = max(
            (arrival(path)[1] for path in folder.glob("*.jpg")),
            default=0,
        )

    def remember(self, frame_id: str, jpeg: bytes) -> None:
        with self._lock:
            self._recent[frame_id] = jpeg
            if len(self._recent) > RECENT_FRAMES:
                self._recent.popitem(last=False)

    def keep_for(self, scan_id: str, frame_id: str) -> bytes | None:
        """Write the scan's frame to disk (a bounded ring, oldest arrival out first); None if
        unknown. Not the scan's time: that is what its sender says."""
        with self._lock:
            jpeg = self._recent.get(frame_id)
            if jpeg is None:
                return None
            self._sequence += 1
            name = f"{self._sequence:0{SEQUENCE_DIGITS}d}"
            scan = safe_id(scan_id)
            path = self.folder / (f"{name}_{scan}.jpg" if scan else f"{name}.jpg")
            path.write_bytes(jpeg)
            kept = sorted(self.folder.glob("*.jpg"), key=arrival)
            for old in kept[: -self.keep]:
                old.unlink(missing_ok=True)
        return jpeg
