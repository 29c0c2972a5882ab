"""Bridge throughput and the latency its outbox adds, against the IoT Hub stand-in.

    .venv/bin/python -m bench.bridge [--scans 300]

Baseline, in the same run: the same SDK client code (`bridge.destinations.IoTHub`) sending
records directly, one after another, with no MQTT hop and no outbox. Then the bridge process
(device mode, durable SQLite outbox) fed the same number of scans over the local broker.
Latency is from handing over (send call / scan publish) to the hub stand-in receiving it:
for a burst of scans at once (throughput, queueing included) and for scans one at a time
(what a single scan sees: the MQTT hop, the durable outbox write, the forwarder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl

from bridge.destinations import IoTHub
from scantalk.commands.broker import Broker, free_port
from scantalk.contract import Guess, InventoryRecord, Scan, Topics
from scantalk.latency import percentile
from scantalk.processes import stop_process
from testbench.bus import Bus, wait_online
from testbench.hub import Hub

T = Topics("lane-1")


def scan(prefix: str, n: int) -> Scan:
    return Scan(f"{prefix}-{n:05d}", "lane-1", "banana", "Banana", "4011", 0.9, "produce",
                f"f{n}", [Guess("lemon", 0.02)])  # fmt: skip


def arrivals(hub_bus: Bus, prefix: str) -> dict[str, float]:
    return {
        mid: h.received
        for h in hub_bus.matching("devices/#")
        if (mid := dict(parse_qsl(h.topic.rsplit("/", 1)[1]))["$.mid"]).startswith(prefix)
    }


def summary(name: str, latencies: list[float], seconds: float) -> str:
    return (f"{name:<28}{len(latencies) / seconds:>10.0f}{statistics.median(latencies):>10.2f}"
            f"{percentile(latencies, 0.99):>10.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=300)
    args = parser.parse_args()
    n = args.scans
    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub(Path(tmp))
        hub.broker.start()
        lane = Broker(free_port(), Path(tmp) / "lane").start()
        hub_bus = hub.listen()
        try:
            env = hub.env("bench-direct")
            direct = IoTHub.from_connection_string(
                env["SCANTALK_IOTHUB_CONNECTION_STRING"], str(hub.ca)
            )
            direct.send(InventoryRecord.from_scan(scan("warm", 0), "bench"))
            sent_at = {}
            started = time.monotonic()
            for i in range(n):
                record = InventoryRecord.from_scan(scan("direct", i), "bench")
                sent_at[record.scan_id] = time.monotonic()
                direct.send(record)
            hub_bus.wait_until(lambda: len(arrivals(hub_bus, "direct")) >= n, "direct records")
            direct_s = time.monotonic() - started
            got = arrivals(hub_bus, "direct")
            direct_latency = [(got[k] - t) * 1000 for k, t in sent_at.items()]
            direct.close()

            node_env = {
                **os.environ, **hub.env("bench-bridge"), "SCANTALK_MQTT_PORT": str(lane.port),
                "SCANTALK_DATA_DIR": str(Path(tmp) / "data"),
            }  # fmt: skip
            bridge = subprocess.Popen(
                [sys.executable, "-m", "scantalk", "node", "bridge"], env=node_env
            )
            lane_bus = Bus(lane.port, ["scantalk/#"])  # the wire format, on purpose
            wait_online(lane_bus, "bridge")
            published_at = {}
            started = time.monotonic()
            for i in range(n):
                s = scan("bridge", i)
                published_at[s.scan_id] = time.monotonic()
                lane_bus.client.publish(T.scan, s.to_json(), qos=1)
            hub_bus.wait_until(lambda: len(arrivals(hub_bus, "bridge")) >= n, "bridged records")
            bridge_s = time.monotonic() - started
            got = arrivals(hub_bus, "bridge")
            bridge_latency = [(got[k] - t) * 1000 for k, t in published_at.items()]
            paced = []  # one scan at a time: the latency a single scan sees, without a queue
            for i in range(min(n, 100)):
                s = scan("paced", i)
                t0 = time.monotonic()
                lane_bus.client.publish(T.scan, s.to_json(), qos=1)

                def arrived(scan_id: str = s.scan_id) -> bool:
                    return scan_id in arrivals(hub_bus, "paced")

                hub_bus.wait_until(arrived, s.scan_id)
                paced.append((arrivals(hub_bus, "paced")[s.scan_id] - t0) * 1000)
            lane_bus.close()
            stop_process(bridge)
        finally:
            hub_bus.close()
            lane.stop()
            hub.broker.stop()
    print(f"{n} records to the IoT Hub stand-in (azure-iot-device over TLS)")
    print(f"{'path':<28}{'per s':>10}{'med ms':>10}{'p99 ms':>10}")
    print(summary("SDK direct (baseline)", direct_latency, direct_s))
    print(summary("scan -> bridge, burst", bridge_latency, bridge_s))
    paced_s = sum(paced) / 1000
    print(summary("scan -> bridge, one by one", paced, paced_s))
    added = statistics.median(paced) - statistics.median(direct_latency)
    print(f"throughput ratio bridge/direct: {direct_s / bridge_s:.2f}; "
          f"median latency added by MQTT hop + outbox: {added:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
