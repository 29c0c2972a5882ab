"""Soak: a whole demo lane (`scantalk up --demo`) for minutes, its processes killed with SIGKILL
at random instants, some of them within milliseconds of a scan; then what was lost.

    .venv/bin/python -m bench.soak [--minutes 10] [--broker-kills 20] [--bridge-kills 5]
                                   [--classifier-kills 5] [--births 200]

Kills are spread over the run in random order. Half the broker kills, and every classifier
kill, wait for a scan and strike the moment it is heard (the listener is in this process, so
within a few milliseconds of the broker sending it). At the end the lane runs on until every
scan is recorded or a minute passes, then:

- scans published: the highest sequence number (`seq`, which the classifier's journal keeps
  across its restarts) among the records and the scans heard;
- recorded: records in the bridge's store; lost: numbers 1..published without a record;
  duplicated: records of the same scan beyond one (the outbox's key forbids it; counted anyway);
- broker downtime per kill: SIGKILL to its port accepting again (p50, p95, max);
- bytes the brokers wrote (`/proc/<pid>/io`) per scan, and for a storm of Home Assistant births.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bridge.homeassistant import birth_topic
from scantalk.commands.broker import free_port, port_open
from scantalk.contract import Topics
from scantalk.processes import stop_process
from testbench.bus import Bus
from testbench.environ import clean_environ
from testbench.output import Output

T = Topics("lane-1")


class Lane:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.env = {**clean_environ(), "SCANTALK_MQTT_PORT": str(self.port),
                    "SCANTALK_DATA_DIR": str(folder / "data"), "SCANTALK_SAY_STARTUP": "no",
                    "SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(folder / "speaker.raw"),
                    "SCANTALK_STATS_INTERVAL": "5"}  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scantalk", "up", "--demo"], env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.process.stdout
        self.output = Output(self.process.stdout)
        self.output.wait_for(r"^lane is up", timeout=180)
        self.written: dict[int, int] = {}
        """Bytes written by each broker process, last read."""

    def pid(self, name: str) -> int:
        """The newest pid `up` logged for `broker` or a node."""
        started = [line for line in self.output.lines if f"{name} started (pid " in line]
        return int(started[-1].rsplit("pid ", 1)[1].rstrip(")"))

    def read_broker_writes(self) -> None:
        pid = self.pid("broker")
        try:
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                if line.startswith("write_bytes:"):
                    self.written[pid] = int(line.split()[1])
        except OSError:
            pass  # gone: its last reading stands

    def records(self) -> list[dict]:
        listing = subprocess.run(
            [sys.executable, "-m", "scantalk", "records", "--json"],
            env=self.env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return [json.loads(line) for line in listing.stdout.splitlines()]

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--broker-kills", type=int, default=20)
    parser.add_argument("--bridge-kills", type=int, default=5)
    parser.add_argument("--classifier-kills", type=int, default=5)
    parser.add_argument("--births", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kills = (["broker"] * args.broker_kills + ["bridge"] * args.bridge_kills
             + ["classifier"] * args.classifier_kills)  # fmt: skip
    rng.shuffle(kills)
    near_scan = {i for i, k in enumerate(kills) if k == "classifier"}
    brokers = [i for i, k in enumerate(kills) if k == "broker"]
    near_scan |= set(rng.sample(brokers, len(brokers) // 2))

    with tempfile.TemporaryDirectory() as tmp:
        lane = Lane(Path(tmp))
        bus = Bus(lane.port, [T.scan])
        downtimes: list[float] = []
        seqs: set[int] = set()
        started = time.monotonic()
        try:
            every = args.minutes * 60 / (len(kills) + 1)
            for i, victim in enumerate(kills):
                time.sleep(max(0.0, started + every * (i + 1) - time.monotonic()))
                lane.read_broker_writes()
                pid = lane.pid("node " + victim if victim != "broker" else "broker")
                if i in near_scan:  # strike as the next scan is heard
                    bus.wait_for(T.scan, count=len(bus.matching(T.scan)) + 1, timeout=60)
                os.kill(pid, signal.SIGKILL)
                killed = time.monotonic()
                print(
                    f"{killed - started:6.1f} s  kill {victim} (pid {pid})"
                    f"{' just after a scan' if i in near_scan else ''}",
                    flush=True,
                )
                if victim == "broker":
                    while port_open("127.0.0.1", lane.port):  # the old one is going
                        time.sleep(0.005)
                    while not port_open("127.0.0.1", lane.port):
                        time.sleep(0.005)
                    downtimes.append(time.monotonic() - killed)
            time.sleep(max(0.0, started + args.minutes * 60 - time.monotonic()))
            lane.read_broker_writes()
            seqs |= {h.json().get("seq") or 0 for h in bus.matching(T.scan)}

            # Every scan recorded, or a minute more.
            deadline = time.monotonic() + 60
            while True:
                records = lane.records()
                published = max(seqs | {r.get("seq") or 0 for r in records})
                recorded = {r["seq"] for r in records if r.get("seq")}
                if recorded >= set(range(1, published + 1)) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            lane.read_broker_writes()
            scan_bytes = sum(lane.written.values())

            birth_before = _broker_written(lane)
            for _ in range(args.births):
                bus.publish(birth_topic("homeassistant"), b"online")
            time.sleep(12)  # the debounced answer comes after 10 s; then its save
            birth_bytes = _broker_written(lane) - birth_before
        finally:
            bus.close()
            lane.stop()

    lost = sorted(set(range(1, published + 1)) - recorded)
    duplicated = len(records) - len({r["scanId"] for r in records})
    print(f"\nsoak: {args.minutes:g} min, {len(kills)} SIGKILLs "
          f"({args.broker_kills} broker, {args.bridge_kills} bridge, "
          f"{args.classifier_kills} classifier; {len(near_scan)} just after a scan)")  # fmt: skip
    print(f"scans published {published}, recorded {len(recorded)}, lost {len(lost)} {lost[:10]}, "
          f"duplicated {duplicated}")  # fmt: skip
    if downtimes:
        print(f"broker downtime per kill: p50 {statistics.median(downtimes):.2f} s, "
              f"p95 {percentile(downtimes, 95):.2f} s, max {max(downtimes):.2f} s")  # fmt: skip
    print(f"broker writes: {scan_bytes / max(published, 1) / 1024:.1f} KiB per scan "
          f"(all writes of all brokers, kills and restarts included)")  # fmt: skip
    print(f"a storm of {args.births} Home Assistant births: {birth_bytes / 2**20:.2f} MiB written")


def _broker_written(lane: Lane) -> int:
    lane.read_broker_writes()
    return lane.written.get(lane.pid("broker"), 0)


if __name__ == "__main__":
    main()
