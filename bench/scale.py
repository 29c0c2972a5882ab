"""What the scale node costs while it polls, and how soon a new weight is on the bus.

    .venv/bin/python -m bench.scale [--seconds 20] [--placements 20]

The real scale node runs as a process against a real broker and a simulated scale on a
pseudo-terminal (testbench/scale.py), in turn: NCI polled every 0.2 s (the default, the
baseline of the ratios), NCI every 0.05 s, and a continuous scale sending 10 lines a second.
For each: CPU (process time from /proc over a still weight, then a weight in motion), resident
memory, weight messages per minute while still and in motion, and placement (the simulated
weight changes) to its stable weight on the bus, p50 and p95.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import cpu_seconds, lane_env, rss_mb
from scantalk.commands.broker import Broker, free_port
from scantalk.contract import NodeName, Topics
from scantalk.processes import stop_process
from testbench.bus import Bus, Heard, wait_online
from testbench.scale import ScaleSim

T = Topics("lane-1")
RUNS = (("nci, poll 0.2 s", "nci", "0.2"), ("nci, poll 0.05 s", "nci", "0.05"),
        ("continuous, 10/s", "continuous", "0.2"))  # fmt: skip


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def run(protocol: str, poll: str, seconds: float, placements: int, tmp: Path) -> dict[str, float]:
    sim = ScaleSim(tmp / f"tty-{protocol}-{poll}", protocol)
    with Broker(free_port(), tmp / f"broker-{protocol}-{poll}") as broker:
        env = lane_env(broker.port, str(tmp / "data"))
        env |= {"SCANTALK_SCALE_PORT": str(sim.link), "SCANTALK_SCALE_PROTOCOL": protocol,
                "SCANTALK_SCALE_POLL": poll}  # fmt: skip
        bus = Bus(broker.port, [T.weight, T.status(NodeName.SCALE)])
        node = subprocess.Popen([sys.executable, "-m", "scantalk", "node", "scale"], env=env)
        try:
            wait_online(bus, "scale")
            bus.wait_for(T.weight, lambda h: h.json()["status"] == "ok")
            time.sleep(2)  # past start-up
            out: dict[str, float] = {}
            for phase in ("still", "motion"):
                sim.motion = phase == "motion"
                before, heard = cpu_seconds(node.pid), len(bus.matching(T.weight))
                started = time.monotonic()
                time.sleep(seconds)
                elapsed = time.monotonic() - started
                out[f"CPU % {phase}"] = 100 * (cpu_seconds(node.pid) - before) / elapsed
                out[f"msgs/min {phase}"] = 60 * (len(bus.matching(T.weight)) - heard) / elapsed
            sim.motion = False
            out["RSS MB"] = rss_mb(node.pid)
            delays = []
            for i in range(placements):  # an item, then the empty scale, and so on
                kg = round(0.5 + 0.1 * i, 3) if i % 2 == 0 else 0.0
                placed = time.monotonic()
                sim.kg = kg

                def settled(h: Heard, kg: float = kg, placed: float = placed) -> bool:
                    weight = h.json()
                    return h.received >= placed and weight["stable"] and weight["weight_kg"] == kg

                delays.append(1000 * (bus.wait_for(T.weight, settled)[0].received - placed))
                time.sleep(0.3)
            out["to bus p50 ms"] = statistics.median(delays)
            out["to bus p95 ms"] = p95(delays)
        finally:
            stop_process(node)
            bus.close()
            sim.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--placements", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        results = {
            name: run(protocol, poll, args.seconds, args.placements, Path(tmp_name))
            for name, protocol, poll in RUNS
        }
    columns = list(next(iter(results.values())))
    print(f"scale node against a simulated scale, {args.seconds:g} s per phase, "
          f"{args.placements} placements")  # fmt: skip
    print(f"{'':20}" + "".join(f"{c:>16}" for c in columns))
    for name, row in results.items():
        print(f"{name:20}" + "".join(f"{row[c]:>16.2f}" for c in columns))
    base = results[RUNS[0][0]]
    print(f"CPU still, ratio to {RUNS[0][0]}: " + ", ".join(
        f"{name} {row['CPU % still'] / max(base['CPU % still'], 1e-9):.2f}x"
        for name, row in results.items()
    ))  # fmt: skip


if __name__ == "__main__":
    main()
