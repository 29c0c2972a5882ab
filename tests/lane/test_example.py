"""The checkout listener in `examples/` on a real broker: one line per scan, repeats dropped,
`plu: null` said plainly, and scans published while it was down delivered when it is back."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from scantalk.contract import Guess, Scan, Topics
from scantalk.processes import die_with_parent, stop_process
from testbench import CHECKOUT
from testbench.environ import clean_environ

T = Topics("lane-1")
EXAMPLE = CHECKOUT / "examples" / "checkout_listener.py"
LISTENING = f"listening on $share/checkout/{Topics('+').scan}"


def scan(scan_id: str, label: str, name: str, plu: str | None, confidence: float) -> bytes:
    return Scan(
        scan_id=scan_id,
        station="lane-1",
        label=label,
        display_name=name,
        plu=plu,
        confidence=confidence,
        model="produce",
        frame_id="",
        alternatives=[Guess("lemon", 0.05)],
    ).to_json()


class Listener:
    """The example as its own process, its output lines collected as they come."""

    def __init__(self, port: int) -> None:
        env = {**clean_environ(), "CHECKOUT_CLIENT_ID": "checkout-test-1"}
        env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "127.0.0.1", str(port), "checkout"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            preexec_fn=die_with_parent,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._cond:
                self.lines.append(raw.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, part: str, timeout: float = 20) -> str:
        """The first line containing `part`, waiting up to `timeout` s for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [text for text in self.lines if part in text]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line with {part!r} within {timeout} s: {self.lines}")
                self._cond.wait(min(left, 0.5))

    def stop(self) -> int:
        code = stop_process(self.process)
        self._reader.join(5)
        return code


def test_listener_prints_each_scan_once_and_catches_up_after_a_restart(broker, bus):
    first = Listener(broker.port)
    second = None
    try:
        first.wait_for(LISTENING)
        bus.publish(T.scan, scan("scan-1", "banana", "Banana", "4011", 0.91))
        assert first.wait_for("Banana") == "lane-1: Banana - PLU 4011 (91%)"

        # QoS 1 is at least once: the same scan again is not a second banana. The next scan
        # arrives after it (one publisher, one subscriber: in order), so once that is printed
        # the repeat would have been too.
        bus.publish(T.scan, scan("scan-1", "banana", "Banana", "4011", 0.91))
        bus.publish(T.scan, scan("scan-2", "custard_apple", "Custard apple", None, 0.87))
        no_plu = first.wait_for("Custard apple")
        assert no_plu == "lane-1: Custard apple - no PLU: weigh/key in (87%)"
        assert sum("Banana" in text for text in first.lines) == 1

        # A weighed banana, then a second one added: the same scan at its next revision.
        weighed = {**json.loads(scan("scan-w", "banana", "Banana", "4011", 0.91)),
                   "unit": "kg", "weight_kg": 1.234}  # fmt: skip
        bus.publish(T.scan, json.dumps(weighed).encode())
        assert first.wait_for("1.234 kg") == "lane-1: Banana 1.234 kg - PLU 4011 (91%)"
        bus.publish(T.scan, json.dumps({**weighed, "weight_kg": 1.456, "revision": 2}).encode())
        revised = first.wait_for("1.456 kg")
        assert revised == "lane-1: Banana 1.456 kg - PLU 4011 (91%), new weight"

        assert first.stop() == 0  # SIGTERM: a clean disconnect; the broker keeps the session
        bus.publish(T.scan, scan("scan-3", "lemon", "Lemon", "4053", 0.95))  # while it is down

        second = Listener(broker.port)
        assert second.wait_for("Lemon") == "lane-1: Lemon - PLU 4053 (95%)"
        second.wait_for(LISTENING)
        assert not [text for text in second.lines if "Banana" in text or "Custard" in text]
    finally:
        first.stop()
        if second is not None:
            second.stop()
