"""Voice latency: from a speech request arriving to its first audio going out, cache hit vs miss.

    .venv/bin/python -m bench.voice [--requests 40]

Runs a real broker and a real voice node (espeak-ng, pygame on SDL's disk driver), sends
requests one at a time and reads `latency_ms` from each `…/voice/spoken` event. Misses are
texts never said before (espeak-ng synthesis); hits repeat texts already in the cache.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import lane_env
from scantalk.commands.broker import Broker, free_port
from scantalk.contract import SayRequest, Topics
from scantalk.latency import percentile
from scantalk.processes import stop_process
from testbench.bus import Bus, wait_online

T = Topics("lane-1")
ITEMS = ["Banana", "Lemon", "Broccoli", "Pineapple", "Strawberry", "Pomegranate", "Bell pepper"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Broker(free_port(), Path(tmp)) as broker:
        env = lane_env(broker.port, tmp)
        node = subprocess.Popen([sys.executable, "-m", "scantalk", "node", "voice"], env=env)
        bus = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
        wait_online(bus, "voice")
        results: dict[str, list[float]] = {"miss": [], "hit": []}

        def request(text: str, scan_id: str) -> dict:
            bus.publish(T.say, SayRequest("lane-1", text, "en", scan_id).to_json())
            (event,) = bus.wait_for(T.spoken, lambda h: h.json()["scan_id"] == scan_id)
            return event.json()

        try:
            for item in ITEMS:  # fill the cache with the items the hits will repeat
                request(item, f"warm-{item}")
            for i in range(args.requests):
                item = ITEMS[i % len(ITEMS)]
                for mode, text in (("miss", f"{item} {i}"), ("hit", item)):
                    event = request(text, f"{mode}-{i}")
                    assert event["cache_hit"] is (mode == "hit"), event
                    results[mode].append(event["latency_ms"])
        finally:
            bus.close()
            stop_process(node)
    print("voice: speech request received -> first audio out (ms)")
    print(f"{'path':<24}{'n':>5}{'median':>10}{'p99':>10}")
    for mode, label in (("miss", "cache miss (espeak-ng)"), ("hit", "cache hit")):
        values = results[mode]
        median, p99 = statistics.median(values), percentile(values, 0.99)
        print(f"{label:<24}{len(values):>5}{median:>10.1f}{p99:>10.1f}")
    ratio = statistics.median(results["miss"]) / statistics.median(results["hit"])
    print(f"cache hit is {ratio:.1f}x faster than a miss (medians)")


if __name__ == "__main__":
    main()
