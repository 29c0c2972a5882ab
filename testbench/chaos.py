"""A stream of scans for chaos tests: a publisher that keeps publishing through broker restarts,
and keeps each scan, as the classifier does, until the bridge's `inventory/ack` for it: it
publishes every scan not yet acknowledged again on each reconnect.

The broker saves its store only every so many changes (`broker.conf`), so a kill -9 may lose
scans it acknowledged; the end-to-end acknowledgement brings them back. So every scan the
broker ever acknowledged is safe: it must become exactly one record.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from scantalk.connection import mqtt_client
from scantalk.contract import InventoryAck, Scan, Topics
from scantalk.settings import Settings

ACK_WAIT_S = 1.0
"""How long one scan waits for its PUBACK before the next goes out (it may still come)."""


@dataclass
class Sent:
    scan_id: str
    sent: float
    """`time.monotonic()` of the publish call (the packet left at or after it)."""
    acked: float | None = None
    code: int | None = None
    """The PUBACK's reason code; below 0x80 is taken."""


class ScanPublisher:
    """Publishes valid scans at `rate` per second, one at a time (each waits up to `ACK_WAIT_S`
    for its PUBACK), from its own thread, reconnecting while the broker is away."""

    def __init__(self, port: int, station: str = "lane-1", rate: float = 20,
                 prefix: str = "chaos") -> None:  # fmt: skip
        self.topic = Topics(station).scan
        self.acks = Topics(station).inventory_ack
        self._unacked: dict[str, bytes] = {}
        """Scans the bridge has not acknowledged yet, by id: published again on reconnecting."""
        self.station, self.rate, self.prefix = station, rate, prefix
        self._cond = threading.Condition()
        self._sent: list[Sent] = []
        self._by_mid: dict[int, Sent] = {}
        self._early: dict[int, tuple[float, int]] = {}
        """PUBACKs that came before `publish` returned the mid to us."""
        self._connected = threading.Event()
        self._stop = threading.Event()
        self.client = mqtt_client(Settings(), f"test-chaos-publisher-{id(self)}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self._connected.clear()
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_ack
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect("127.0.0.1", port, clean_start=True)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="chaos-publisher", daemon=True)
        self._thread.start()

    # --- the paho thread ------------------------------------------------------------------------

    def _on_connect(self, *_: object) -> None:
        self.client.subscribe(self.acks, qos=1)
        with self._cond:
            again = list(self._unacked.values())
        for payload in again:  # the broker may have lost them: the bridge drops repeats
            self.client.publish(self.topic, payload, qos=1)
        self._connected.set()

    def _on_ack(self, _client: object, _userdata: object, msg: object) -> None:
        ack = InventoryAck.from_json(msg.payload)  # type: ignore[attr-defined]
        with self._cond:
            self._unacked.pop(ack.scan_id, None)

    def _on_publish(self, client: object, _userdata: object, mid: int) -> None:
        code = self.client.puback_code(mid)
        now = time.monotonic()
        with self._cond:
            sent = self._by_mid.pop(mid, None)
            if sent is None:
                self._early[mid] = (now, code)
            else:
                sent.acked, sent.code = now, code
            self._cond.notify_all()

    # --- the publishing thread ------------------------------------------------------------------

    def _run(self) -> None:
        n = 0
        start = time.monotonic()
        while not self._stop.is_set():
            if not self._connected.wait(0.1):
                start = time.monotonic() - n / self.rate  # no burst to catch up after an outage
                continue
            scan_id = f"{self.prefix}-{n:06d}"
            payload = Scan(
                scan_id=scan_id, station=self.station, label="banana", display_name="Banana",
                plu="4011", confidence=0.9, model="produce", frame_id=f"f{n}", alternatives=[],
            ).to_json()  # fmt: skip
            sent = Sent(scan_id, time.monotonic())
            with self._cond:
                self._unacked[scan_id] = payload
            info = self.client.publish(self.topic, payload, qos=1)
            with self._cond:
                self._sent.append(sent)
                early = self._early.pop(info.mid, None)
                if early is None:
                    self._by_mid[info.mid] = sent
                else:
                    sent.acked, sent.code = early
                deadline = sent.sent + ACK_WAIT_S
                while sent.acked is None and not self._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            n += 1
            self._stop.wait(max(0.0, start + n / self.rate - time.monotonic()))

    # --- the test's side ------------------------------------------------------------------------

    def acked_count(self) -> int:
        with self._cond:
            return sum(1 for s in self._sent if s.acked is not None)

    def wait_acked(self, more: int, timeout: float = 30) -> None:
        """Block until `more` scans beyond those acknowledged now have been acknowledged."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = sum(1 for s in self._sent if s.acked is not None) + more
            while sum(1 for s in self._sent if s.acked is not None) < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {more} more PUBACKs")
                self._cond.wait(left)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(10)
        self.client.loop_stop()
        self.client.disconnect()

    @property
    def sent(self) -> list[Sent]:
        with self._cond:
            return list(self._sent)

    def refused(self) -> list[Sent]:
        return [s for s in self.sent if s.code is not None and s.code >= 0x80]

    def acknowledged(self) -> set[str]:
        """Every scan the broker took (PUBACK below 0x80): each must become one record, for
        each is kept here until the bridge has it."""
        return {s.scan_id for s in self.sent if s.code is not None and s.code < 0x80}

    def unacknowledged(self) -> int:
        """Scans the bridge has not acknowledged yet."""
        with self._cond:
            return len(self._unacked)
