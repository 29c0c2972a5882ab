"""What a process prints, read line by line as it comes: `scantalk up`'s log in tests and in
the soak benchmark."""

from __future__ import annotations

import re
import threading
import time
from typing import IO


class Output:
    """What a process prints, line by line as it comes (a thread reads it)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def wait_for(self, pattern: str, start: int = 0, timeout: float = 60) -> tuple[int, re.Match]:
        """The first line from `start` on that `pattern` matches: its index and the match."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(start, len(self.lines)):
                    if found := re.search(pattern, self.lines[index]):
                        return index, found
                start = max(start, len(self.lines))
                left = deadline - time.monotonic()
                if self.ended or left <= 0:
                    raise AssertionError(
                        f"no line matching {pattern!r} ({'ended' if self.ended else 'timed out'})"
                        f":\n{self.text()}"
                    )
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def text(self) -> str:
        return "\n".join(self.lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
