"""The lane's twin, measured: desired patch to in force, model rollout from "verified" to in force
and the frames it cost, and reported-property messages on a busy lane.

    .venv/bin/python -m bench.twin [--patches 20] [--busy-seconds 60]

Real parts: a broker, the classifier and the bridge as processes, the bridge's real
`azure-iot-device` SDK against the hub stand-in and its twin (`testbench.hub`, `testbench.twin`),
and a model served from a loopback HTTPS server (`testbench.model_server`).
- patch → in force: from `set_desired` to the classifier's state with the new threshold;
- rollout: frames are sent without pause while the int8 model rolls out; "verified to in force"
  is from the classifier's log line that the download checked out to the new model state, and
  missed frames are frames sent without a prediction;
- busy lane: scans at 2 a second (far above a shopper's pace) with the twin reporting; reported
  patches per hour are extrapolated from the run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench import lane_env
from scantalk.commands.broker import Broker, free_port
from scantalk.contract import Scan, Topics
from scantalk.processes import stop_process
from testbench.bus import Bus, Heard, wait_online
from testbench.hub import Hub
from testbench.model_server import INT8, ModelServer, sha256, zipped
from testbench.scenes import photo_jpeg
from testbench.twin import TwinStandIn

T = Topics("lane-1")


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patches", type=int, default=20)
    parser.add_argument("--busy-seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        hub, server = Hub(tmp), ModelServer(tmp)
        hub.broker.start()
        twin = TwinStandIn(hub.broker.port)
        with Broker(free_port(), tmp) as broker:
            env = lane_env(broker.port, str(tmp / "data"))
            bus = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
            processes = [
                subprocess.Popen([sys.executable, "-m", "scantalk", "node", name],
                                 env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT)
                for name, extra, log in (
                    ("classifier", {"SCANTALK_MODEL_CA_FILE": str(server.ca)},
                     (tmp / "classifier.log").open("w")),
                    ("bridge", hub.env("edge-1", module="bridge"), (tmp / "bridge.log").open("w")),
                )
            ]  # fmt: skip
            try:
                wait_online(bus, "classifier", "bridge")
                twin.wait_reported(lambda r: "settings" in r, "the first report", timeout=60)

                # Desired patch to in force.
                delays = []
                for i in range(args.patches):
                    threshold = 0.8 + 0.01 * (i % 10 + 1)
                    started = time.monotonic()
                    twin.set_desired({"classifier": {"threshold": threshold}})

                    def in_force(h: Heard, t: float = threshold, s: float = started) -> bool:
                        return bool(h.json()["threshold"] == t and h.received > s)

                    bus.wait_for(T.classifier_config_state, in_force)
                    delays.append((time.monotonic() - started) * 1000)
                p50 = statistics.median(delays)
                print(f"desired patch -> in force ({args.patches} patches): "
                      f"p50 {p50:.0f} ms, p95 {p95(delays):.0f} ms")  # fmt: skip

                # A rollout while frames keep coming, against as long a spell without one.
                archive = zipped(INT8)
                server.files["/int8.zip"] = archive

                def frames_for(seconds: float, during: threading.Event | None = None) -> int:
                    """Frames sent at 15 fps for `seconds` (or until `during` is set), and how
                    many got no prediction."""
                    banana, sent = photo_jpeg("fruit/banana.png"), []
                    ends = time.monotonic() + seconds
                    while time.monotonic() < ends and not (during and during.is_set()):
                        sent.append(str(uuid.uuid4()))
                        bus.send_frame(banana, sent[-1])
                        time.sleep(1 / 15)
                    time.sleep(1)  # the last ones' predictions
                    predicted = {h.json()["frame_id"] for h in bus.matching(T.prediction)}
                    return sum(1 for f in sent if f not in predicted)

                swapped = threading.Event()
                started = time.monotonic()
                model = {"url": server.url("/int8.zip"), "sha256": sha256(archive),
                         "version": "int8-1"}  # fmt: skip
                twin.set_desired({"model": model})

                def watch() -> None:
                    bus.wait_for(T.model, lambda h: h.json()["version"] == "int8-1", timeout=120)
                    swapped.set()

                watcher = threading.Thread(target=watch)
                watcher.start()
                missed = frames_for(120, swapped)
                watcher.join()
                took = time.monotonic() - started
                baseline = frames_for(took)
                print(
                    f"rollout: desired -> in force {took:.1f} s (download, check, load, "
                    f"smoke check, swap); frames without a prediction {missed} during it, "
                    f"{baseline} in as long without one (newer frames replace older ones)"
                )

                # Reported patches on a busy lane.
                before = twin.reports
                started = time.monotonic()
                n = 0
                while time.monotonic() - started < args.busy_seconds:
                    scan = Scan(f"busy-{n}", "lane-1", "banana", "Banana", "4011", 0.9,
                                "produce", "", [])  # fmt: skip
                    bus.publish(T.scan, scan.to_json())
                    n += 1
                    time.sleep(0.5)
                reports = twin.reports - before
                per_hour = reports * 3600 / (time.monotonic() - started)
                print(f"busy lane: {n} scans in {args.busy_seconds:.0f} s, {reports} reported "
                      f"patches ({per_hour:.0f} an hour at this rate; by design at most 60 an "
                      f"hour, counters alone every 5 minutes)")  # fmt: skip
            except AssertionError:
                for name in ("classifier", "bridge"):  # what went wrong, before it is deleted
                    tail = (tmp / f"{name}.log").read_text().splitlines()[-15:]
                    print(f"--- {name}.log", *tail, sep="\n")
                raise
            finally:
                for process in processes:
                    stop_process(process)
                bus.close()
        twin.close()
        server.close()
        hub.broker.stop()


if __name__ == "__main__":
    main()
