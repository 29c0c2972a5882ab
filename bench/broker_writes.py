"""Bytes the broker writes to its store (`/proc/<pid>/io` write_bytes): per scan, and per Home
Assistant birth, with the store saved after every change (as before issue 25) against the
persistence in force in `scantalk/commands/broker.conf`, in the same run.

    .venv/bin/python -m bench.broker_writes [--scans 200] [--births 200]

Per scan, the traffic a lane makes: the camera's retained snapshot (a real 640x480 JPEG of the
demo scene), the scan (QoS 1, into the bridge's and a checkout's persistent sessions, both
connected), its speech request and two acks (QoS 1), what was spoken and the predictions (QoS 0).
Per birth, the real bridge answers Home Assistant's `online` on `homeassistant/status`.
Writes are read from the kernel, so they include every save and its fsync'd pages; a clean
stop's final save is counted too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bridge.homeassistant import birth_topic
from scantalk.commands.broker import Broker, free_port
from scantalk.contract import (
    AckStatus,
    Guess,
    InventoryAck,
    NodeName,
    Prediction,
    SayRequest,
    Scan,
    Spoken,
    Topics,
)
from scantalk.processes import stop_process
from testbench.bus import Bus, wait_online
from testbench.scenes import photo_jpeg

BEFORE = "\n# before issue 25: the whole store after every change\nautosave_interval 1\n"
SETTINGS = {"every change (before)": BEFORE, "now (broker.conf)": ""}
T = Topics("lane-1")


def written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/<pid>/io")


def lane_traffic(bus: Bus, n: int, snapshot: bytes) -> None:
    scan_id = f"bench-{n:05d}"
    for i in range(8):
        bus.client.publish(T.prediction, Prediction("lane-1", f"f{n}-{i}", "produce", 6.0,
                           [Guess("banana", 0.9)]).to_json(), qos=0)  # fmt: skip
    scan = Scan(scan_id, "lane-1", "banana", "Banana", "4011", 0.9, "produce", f"f{n}", [])
    bus.publish(T.scan, scan.to_json())
    bus.publish(T.say, SayRequest("lane-1", "Banana", "en", scan_id).to_json())
    bus.publish(T.snapshot, snapshot, retain=True)
    for status in (AckStatus.QUEUED, AckStatus.DELIVERED):
        bus.publish(T.inventory_ack, InventoryAck("lane-1", scan_id, status, "local").to_json())
    bus.client.publish(T.spoken, Spoken("lane-1", "Banana", "espeak-ng", True, 30.0).to_json())


def per_birth(extra: str, births: int, tmp: Path) -> float:
    with Broker(free_port(), tmp, extra_conf=extra) as broker:
        assert broker.process
        env = {**os.environ, "SCANTALK_MQTT_PORT": str(broker.port),
               "SCANTALK_DATA_DIR": str(tmp / "data"), "SCANTALK_STATION": "lane-1"}  # fmt: skip
        bridge = subprocess.Popen([sys.executable, "-m", "scantalk", "node", "bridge"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        bus = Bus(broker.port, [T.stats(NodeName.BRIDGE), T.status(NodeName.BRIDGE)])
        try:
            wait_online(bus, "bridge")
            start = written(broker.process.pid)
            for _ in range(births):
                bus.publish(birth_topic("homeassistant"), b"online")
            # The births' answer: one publish at once, one for the rest after the debounce.
            bus.wait_for(
                T.stats(NodeName.BRIDGE),
                lambda h: json.loads(h.payload)["counters"].get("discovery_published", 0) >= 3,
                timeout=60,
            )
            time.sleep(2)  # a save follows its changes within a second or two: let it land
            return (written(broker.process.pid) - start) / births
        finally:
            bus.close()
            stop_process(bridge)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=200)
    parser.add_argument("--births", type=int, default=200)
    args = parser.parse_args()
    print(f"broker store writes: {args.scans} scans, {args.births} Home Assistant births")
    print(f"{'persistence':<26}{'KiB per scan':>14}{'KiB per birth':>15}{'MiB per storm':>15}")
    for name, extra in SETTINGS.items():
        scan_kib = per_scan_measured(extra, args.scans) / 1024
        with tempfile.TemporaryDirectory() as tmp:
            birth_kib = per_birth(extra, args.births, Path(tmp)) / 1024
        print(f"{name:<26}{scan_kib:>14.1f}{birth_kib:>15.1f}"
              f"{birth_kib * args.births / 1024:>15.2f}")  # fmt: skip


def per_scan_measured(extra: str, scans: int) -> float:
    """Bytes per scan, the broker's final save on a clean stop included."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(free_port(), Path(tmp), extra_conf=extra).start()
        assert broker.process
        pid = broker.process.pid
        sessions = [Bus(broker.port, [T.scan], persistent=True) for _ in range(2)]
        lane = Bus(broker.port, ["bench/none"])
        snapshot = photo_jpeg("fruit/banana.png")
        start = written(pid)
        try:
            for n in range(scans):
                lane_traffic(lane, n, snapshot)
            for session in sessions:
                session.wait_for(T.scan, count=scans)
            before_stop = written(pid)
        finally:
            for bus in (*sessions, lane):
                bus.close()
        # The final save on a clean stop: the store once more (the size of mosquitto.db).
        broker.stop()
        final = (broker.dir / "mosquitto.db").stat().st_size
        return (before_stop - start + final) / scans


if __name__ == "__main__":
    main()
