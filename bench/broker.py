"""Scans per second through the broker at QoS 1 into a persistent session: the persistence
settings before issue 13 (`autosave_interval 5`, seconds) against the ones now in
`scantalk/commands/broker.conf` (`autosave_on_changes true`, `autosave_interval 100`: mosquitto.db
is written every 100 changes).

    .venv/bin/python -m bench.broker [--scans 500] [--runs 3]

Each run is a fresh `mosquitto` (the dev config, the old settings appended for "old") on a free
port, in the same process and run. Two cases of the bridge's session:

- bridge up: its session is connected and takes each scan (the normal lane); throughput is
  from the first publish until the session got the last scan.
- bridge down: its session is away, so the broker queues every scan; the whole queue is in each
  save, which grows with it. Throughput is until the last PUBACK.

Scans go one by one (each published once the last was acknowledged, as a lane makes them) and
in a burst (all published at once, then every PUBACK awaited). The median of `--runs` runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scantalk.commands.broker import Broker, free_port
from scantalk.contract import Guess, Scan, Topics
from testbench.bus import Bus

OLD = "\n# before issue 13\nautosave_on_changes false\nautosave_interval 5\n"
SETTINGS = {"old (every 5 s)": OLD, "now (every 100 changes)": ""}
TOPIC = Topics("lane-1").scan


def scan(n: int) -> bytes:
    return Scan(f"bench-{n:05d}", "lane-1", "banana", "Banana", "4011", 0.9, "produce",
                f"f{n}", [Guess("lemon", 0.02)]).to_json()  # fmt: skip


def one_by_one(publisher: Bus, n: int) -> None:
    for i in range(n):
        publisher.publish(TOPIC, scan(i))


def burst(publisher: Bus, n: int) -> None:
    sent = [publisher.client.publish(TOPIC, scan(i), qos=1) for i in range(n)]
    for info in sent:
        info.wait_for_publish(60)
        assert info.is_published()


def run(extra_conf: str, bridge_up: bool, send: Callable[[Bus, int], None], n: int) -> float:
    """Scans per second of one run on a fresh broker."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        Broker(free_port(), Path(tmp), extra_conf=extra_conf) as broker,
    ):
        bridge = Bus(broker.port, [TOPIC], persistent=True)
        if not bridge_up:
            bridge.close()  # the session stays, and fills
        publisher = Bus(broker.port, ["bench/none"])
        try:
            started = time.monotonic()
            send(publisher, n)
            if bridge_up:
                bridge.wait_for(TOPIC, count=n)
            return n / (time.monotonic() - started)
        finally:
            publisher.close()
            if bridge_up:
                bridge.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cases = [(up, name, send) for up in (True, False)
             for name, send in (("one by one", one_by_one), ("burst", burst))]  # fmt: skip
    print(f"{args.scans} scans at QoS 1 into a persistent session; median of {args.runs} runs")
    print(f"{'case':<28}" + "".join(f"{s:>20}" for s in SETTINGS) + f"{'new/old':>10}")
    for up, name, send in cases:
        medians = []
        for extra in SETTINGS.values():
            rates = [run(extra, up, send, args.scans) for _ in range(args.runs)]
            medians.append(statistics.median(rates))
        case = f"bridge {'up' if up else 'down'}, {name}"
        print(f"{case:<28}" + "".join(f"{m:>14.0f} scan/s" for m in medians)
              + f"{medians[1] / medians[0]:>10.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
