"""A produce scale on a pseudo-terminal: the scale node opens its path with pyserial exactly as
it opens `/dev/ttyUSB0`.

The path is a symlink, like udev's `/dev/serial/by-id/…`: `unplug()` closes the pty (the node's
reads fail as on a pulled cable) and leaves the link dangling; `plug()` makes a new pty behind
the same link. The scale answers `W`, `S` and `Z` (nci, toledo) or sends a line per reading
(continuous), from its state: a weight, in motion or not, over capacity, a zero error; it can
also go silent or send garbage.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from pathlib import Path

from scale_node.protocol import CR, ETX, LF, STX

CONTINUOUS_EVERY_S = 0.1


class ScaleSim:
    def __init__(self, link: Path, protocol: str = "nci", unit: str = "kg") -> None:
        self.link, self.protocol, self.unit = link, protocol, unit
        self.kg = 0.0
        self.motion = False
        self.over_capacity = False
        self.zero_error = False
        self.silent = False
        self.garbage: bytes | None = None
        """Sent instead of every answer while set."""
        self.requests: list[bytes] = []
        self._master: int | None = None
        self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.plug()

    # --- the cable -----------------------------------------------------------------------

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # a serial line passes bytes as they are
        name = os.ttyname(slave)
        self._slave = slave  # held, as a plugged device's node stays while the node reopens it
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        self.link.symlink_to(name)
        self._master, self._stop = master, threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(master, self._stop), daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._master is not None:
            os.close(self._master)
            os.close(self._slave)
            self._master = None

    def close(self) -> None:
        self.unplug()
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()

    # --- what it says ----------------------------------------------------------------------

    def _nci_status(self) -> bytes:
        first = 0x30 | (0b1 if self.motion else 0) | (0b10 if self.kg == 0 else 0)
        second = 0x30 | (0b10 if self.over_capacity else 0) | (0b01 if self.kg < 0 else 0)
        third = 0x30 | 0b1000 if self.zero_error else None
        status = [first, second | 0x40, third] if third is not None else [first, second]
        return b"S" + bytes(status)

    def _number(self) -> str:
        value = self.kg / 0.45359237 if self.unit == "lb" else self.kg
        return f"{value:.2f}" if self.unit == "lb" else f"{value:.3f}"

    def answer(self, command: bytes) -> bytes:
        if command.startswith(b"Z"):
            self.kg = 0.0
        if self.protocol == "nci":
            status = LF + self._nci_status() + CR + ETX
            valid = not (self.motion or self.over_capacity or self.zero_error or self.kg < 0)
            if command.startswith(b"W") and valid:
                return LF + f"{self._number()}{self.unit.upper()}".encode() + CR + status
            return status
        code = (
            0b1000 if self.zero_error else 0b10 if self.over_capacity
            else 0b100 if self.kg < 0 else 0b1 if self.motion else 0
        )  # fmt: skip
        if code or command.startswith(b"Z"):
            return STX + b"?" + bytes([0x40 | code]) + CR
        return STX + self._number().zfill(6).encode() + CR

    def line(self) -> bytes:
        head = "OL" if self.over_capacity else "US" if self.motion else "ST"
        if self.unit == "lb":
            return f"{head},GS,{self.kg / 0.45359237:+09.2f}lb".encode() + CR + LF
        return f"{head},GS,{self.kg:+010.3f}kg".encode() + CR + LF

    def _send(self, master: int, data: bytes) -> None:
        if self.silent:
            return
        with contextlib.suppress(OSError):  # nobody has the line open
            os.write(master, self.garbage if self.garbage is not None else data)

    def _serve(self, master: int, stop: threading.Event) -> None:
        pending = b""
        while not stop.is_set():
            timeout = CONTINUOUS_EVERY_S if self.protocol == "continuous" else 0.05
            ready, _, _ = select.select([master], [], [], timeout)
            if self.protocol == "continuous":
                self._send(master, self.line())
            if not ready:
                continue
            try:
                pending += os.read(master, 256)
            except OSError:  # the node closed its end: wait for it to open again
                stop.wait(0.05)
                continue
            while pending:
                end = 1 if self.protocol == "toledo" else pending.find(CR) + 1
                if end == 0:
                    break
                command, pending = pending[:end], pending[end:]
                self.requests.append(command)
                if self.protocol != "continuous":
                    self._send(master, self.answer(command))
