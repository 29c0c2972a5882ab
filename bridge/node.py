"""The bridge: stores every scan durably, then forwards it as an inventory record.

Scans arrive with QoS 1 on a persistent session, so the broker keeps them while the bridge is
down; each is written to the outbox on the network thread *before* it is acknowledged.
"""

from __future__ import annotations

import threading
from pathlib import Path

from bridge.destinations import Destination, open_destination
from bridge.outbox import Outbox
from scantalk.contract import InventoryAck, InventoryRecord, Scan
from scantalk.runtime import Delivery, Message, Node
from scantalk.settings import Settings

MAX_BACKOFF_S = 60


def outbox_path(settings: Settings) -> Path:
    return settings.data_dir / "inventory.sqlite"


class Bridge:
    def __init__(self, node: Node, settings: Settings) -> None:
        self.node, self.settings = node, settings
        self.destination: Destination = open_destination(settings)
        self.outbox = Outbox(outbox_path(settings))
        self.wake = threading.Event()
        self.accepting = threading.Lock()
        node.log.info(
            "records go to %s (device %s); outbox %s",
            self.destination.name,
            self.destination.device_id,
            outbox_path(settings),
        )
        node.subscribe(node.topics.scan, self.on_scan, qos=1, delivery=Delivery.INLINE)
        node.add_worker(self.forward)

    def on_scan(self, message: Message) -> None:
        scan = Scan.from_json(message.payload)
        record = InventoryRecord.from_scan(scan, self.destination.device_id)
        with self.accepting:  # `queued` goes out before the forwarder can say `delivered`
            if not self.outbox.add(record):
                self.node.count("duplicates")
                return
            self.ack(scan.scan_id, "queued")
        self.node.count("accepted")
        self.wake.set()

    def ack(self, scan_id: str, status: str, reason: str | None = None) -> None:
        ack = InventoryAck(self.settings.station, scan_id, status, self.destination.name, reason)
        self.node.publish(self.node.topics.inventory_ack, ack, qos=1)

    def forward(self, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            self.wake.clear()
            with self.accepting:
                batch = [s.record for s in self.outbox.records(pending_only=True, limit=100)]
            if not batch:
                self.wake.wait(1)
                continue
            for record in batch:
                try:
                    self.destination.send(record)
                except Exception as exc:
                    self.node.count("send_failures")
                    self.node.log.warning(
                        "sending %s failed (%s); retry in %.0f s", record.scan_id, exc, backoff
                    )
                    stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    break
                backoff = 1.0
                self.outbox.mark_delivered(record.scan_id, self.destination.name)
                self.node.count("delivered")
                self.ack(record.scan_id, "delivered")


def main(settings: Settings) -> None:
    node = Node("bridge", settings, persistent_session=True)
    bridge = Bridge(node, settings)
    try:
        node.run()
    finally:
        bridge.destination.close()
        bridge.outbox.close()
