"""Chaos: while scans stream in, each node and the broker are killed in turn (the broker with
kill -9 while the bridge is down, and restarted gracefully while it is up), and still every scan
the broker acknowledged becomes exactly one inventory record. Real `mosquitto` (the dev config),
the real nodes, a publisher at 20 scans/s (`testbench.chaos`).

One round by default (CI); `SCANTALK_CHAOS_ROUNDS=3` for a longer run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.settings import BridgeSettings
from scantalk.commands.broker import Broker
from scantalk.contract import ONLINE, NodeName, Topics
from testbench.bus import Bus, Heard
from testbench.chaos import ScanPublisher

T = Topics("lane-1")
ROUNDS = int(os.environ.get("SCANTALK_CHAOS_ROUNDS", "1"))
PROGRESS = 20
"""Scans the bridge must take after each blow before the next one."""
BACKLOG = 60
"""Scans queued for the bridge, while it is down, before the broker is killed."""
CAMERA = {
    "SCANTALK_CAMERA_FPS": "5",
    "SCANTALK_CAMERA_DWELL": "600",  # one banana on the scanner for the whole test
    "SCANTALK_CAMERA_GATE": "no",
}


def kill9(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def crash_broker(broker: Broker) -> None:
    assert broker.process is not None
    kill9(broker.process)
    broker.process = None


def live(status: str, after: float) -> Callable[[Heard], bool]:
    """A node's `online`, published live after `after` (not a retained copy from before)."""
    return lambda h: h.topic == status and h.payload == ONLINE and h.received > after


def queued_since(bus: Bus, after: float, count: int = PROGRESS, prefix: str = "chaos") -> None:
    """Block until the bridge has said `queued` for `count` of our scans heard after `after`."""
    bus.wait_for(
        T.inventory_ack,
        lambda h: h.received > after and h.json()["status"] == "queued"
        and h.json()["scan_id"].startswith(prefix),
        count=count,
        timeout=60,
    )  # fmt: skip


def outbox_state(path: Path) -> tuple[set[str], int]:
    """The scan ids in the bridge's outbox and how many are still pending (read-only)."""
    if not path.exists():
        return set(), 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT scan_id, delivered_at FROM records").fetchall()
    finally:
        db.close()
    return {r[0] for r in rows}, sum(1 for r in rows if r[1] is None)


def records_cli(env: dict[str, str], *flags: str) -> list[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json", *flags],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [json.loads(line)["scanId"] for line in listing.stdout.splitlines()]


@pytest.mark.timeout(120 + 150 * ROUNDS)
def test_every_acknowledged_scan_is_one_record_through_kills(
    broker, bus, node_env, start_node, photo_dir
):
    status = {n: T.status(n) for n in NodeName}
    camera_env = {"SCANTALK_CAMERA_SOURCE": str(photo_dir("fruit/banana.png")), **CAMERA}
    procs: dict[NodeName, subprocess.Popen[bytes]] = {}

    def start(node: NodeName) -> None:
        """Start a node and block until it said online (live, after this start)."""
        t0 = time.monotonic()
        extra = camera_env if node == NodeName.CAMERA else {}
        procs[node] = start_node(node.value, node_env, **extra)
        bus.wait_for(status[node], live(status[node], t0), timeout=60)

    def kill_and_restart(node: NodeName) -> None:
        kill9(procs[node])
        start(node)
        queued_since(bus, time.monotonic())  # the scans still flow

    for node in (NodeName.BRIDGE, NodeName.VOICE, NodeName.CLASSIFIER, NodeName.CAMERA):
        start(node)
    publisher = ScanPublisher(broker.port)
    began = time.monotonic()
    try:
        queued_since(bus, began)
        for _ in range(ROUNDS):
            kill_and_restart(NodeName.BRIDGE)
            kill_and_restart(NodeName.VOICE)
            kill_and_restart(NodeName.CLASSIFIER)
            kill_and_restart(NodeName.CAMERA)

            # The broker dies (kill -9) with scans queued for the bridge, which is down.
            kill9(procs[NodeName.BRIDGE])
            publisher.wait_acked(BACKLOG)
            crash_broker(broker)  # it may lose what it acked since its last save
            broker.start()  # the same port and data directory
            publisher.wait_acked(PROGRESS)  # it reconnected and publishes again
            start(NodeName.BRIDGE)
            queued_since(bus, time.monotonic())

            # A graceful restart of the broker with the whole lane up.
            broker.stop()
            broker.start()
            queued_since(bus, time.monotonic())  # heard through the new broker: reconnected
    finally:
        publisher.stop()
    streamed = time.monotonic() - began

    refused = publisher.refused()
    assert not refused, f"the broker refused {len(refused)} scans, e.g. {refused[0]}"
    acknowledged = publisher.acknowledged()
    published = {s.scan_id for s in publisher.sent}
    outbox = BridgeSettings.load(node_env).outbox_path

    def all_in_and_delivered() -> bool:
        ids, pending = outbox_state(outbox)
        return acknowledged <= ids and pending == 0

    # Re-checked on every message heard; the nodes' stats come every second.
    bus.wait_until(
        all_in_and_delivered, "every acknowledged scan recorded and delivered", timeout=60
    )

    assert records_cli(node_env, "--pending") == []
    stored = records_cli(node_env)
    twice = {i: n for i, n in Counter(stored).items() if n > 1}
    ours = {i for i in stored if i.startswith("chaos-")}
    lost = sorted(acknowledged - set(stored))
    print(
        f"chaos: {ROUNDS} round(s), {streamed:.0f} s of scans: {len(published)} published, "
        f"{len(acknowledged)} acknowledged; {len(stored)} records ({len(ours)} ours, "
        f"{len(ours - acknowledged)} of scans the broker never acknowledged)"
    )
    assert not twice, f"scans recorded more than once: {twice}"
    assert not lost, f"{len(lost)} acknowledged scans lost: {lost}"
    assert ours <= published, f"records of scans never published: {sorted(ours - published)}"
