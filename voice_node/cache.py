"""The audio cache on disk: one WAV per (engine, voice, language, text), bounded in size.

A repeat item plays from here without synthesis; the cache survives restarts. When it grows
past its bound, the least recently played files go first.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path


class AudioCache:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @staticmethod
    def key(engine: str, voice: str, language: str, text: str) -> str:
        return hashlib.sha256(f"{engine}\0{voice}\0{language}\0{text}".encode()).hexdigest()[:40]

    def get(self, key: str) -> Path | None:
        path = self.folder / f"{key}.wav"
        try:
            os.utime(path)  # recently used: evicted last
        except FileNotFoundError:
            return None
        return path

    def staging(self, key: str) -> Path:
        """Where an engine writes a new WAV before `put` makes it visible."""
        return self.folder / f"{key}.{threading.get_ident()}.part"

    def put(self, key: str, staged: Path) -> Path:
        path = self.folder / f"{key}.wav"
        staged.replace(path)  # whole files only: a crash never leaves half a WAV in the cache
        self._evict()
        return path

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.wav"))

    def _evict(self) -> None:
        with self._lock:
            files = sorted(
                ((p.stat().st_mtime, p.stat().st_size, p) for p in self.folder.glob("*.wav")),
                key=lambda entry: entry[0],
            )
            total = sum(size for _, size, _ in files)
            for _, size, path in files:
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
