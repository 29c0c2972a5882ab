"""The bridge: stores every scan durably, then forwards it as an inventory record.

Scans arrive with QoS 1 on a persistent session, so the broker keeps them while the bridge is
down; each is written to the outbox on the network thread *before* it is acknowledged, and
leaves the outbox only once its destination confirmed it. A scan delivered twice by MQTT is
stored once. Every scan gets acknowledgements on `…/inventory/ack`: `queued`, then
`delivered`, or `rejected` with the reason.
"""

from __future__ import annotations

import threading

from bridge.destinations import Destination, IoTHub, open_destination
from bridge.lane import LaneWatch
from bridge.outbox import Outbox
from bridge.plugin import NODE
from bridge.settings import BridgeSettings
from bridge.twin import LaneTwin
from scantalk.contract import (
    AckStatus,
    ContractError,
    InventoryAck,
    InventoryRecord,
    NodeName,
    Scan,
    Topics,
)
from scantalk.counters import BridgeCounter
from scantalk.runtime import Delivery, Message, Node, Refused

MAX_BACKOFF_S = 60
BATCH = 100
NEAR_FULL = 0.8


def scan_filter(settings: BridgeSettings) -> str:
    """Which scans this bridge takes: its station's, all stations' (`+`), in a share group."""
    topic = Topics(settings.bridge_stations or settings.station).scan
    return f"$share/{settings.bridge_share_group}/{topic}" if settings.bridge_share_group else topic


class Bridge:
    def __init__(self, node: Node, settings: BridgeSettings) -> None:
        self.node, self.settings = node, settings
        self.destination: Destination = open_destination(settings)
        self.outbox = Outbox(settings.outbox_path)
        self.wake = threading.Event()
        self.accepting = threading.Lock()
        pending = self.outbox.count(pending_only=True)
        node.gauge(BridgeCounter.OUTBOX_PENDING, pending)
        node.log.info(
            "mode %s (device %s): scans from %s; outbox %s with %d pending",
            self.destination.mode, self.destination.device_id, scan_filter(settings),
            settings.outbox_path, pending,
        )  # fmt: skip
        node.subscribe(scan_filter(settings), self.on_scan, delivery=Delivery.INLINE)
        node.add_worker(self.forward)
        if not (settings.bridge_stations or settings.bridge_share_group):
            # A lane's own bridge; one that forwards others' or shares the work would publish
            # partial counts for the lane, or for a station that is not there.
            LaneWatch(node, settings, self.outbox)
            if isinstance(self.destination, IoTHub):  # the lane's twin is the bridge module's
                LaneTwin(node, settings, self.destination.client, self.outbox)

    def on_scan(self, message: Message) -> None:
        station = Topics.station_of(message.topic)
        try:
            scan = Scan.from_json(message.payload)
            Refused.check_station(scan.station, message.topic, "scan")
            record = InventoryRecord.from_scan(
                scan, self.destination.device_id, self.settings.store
            )
            # Every constraint of the record too, as the hub side's schema states them: a scan
            # the record cannot carry is refused here, with the reason, never stored.
            InventoryRecord.from_json(record.to_json())
        except ContractError as exc:
            self.ack(station, Scan.id_of(message.payload), AckStatus.REJECTED, reason=str(exc),
                     revision=Scan.revision_of(message.payload))  # fmt: skip
            raise  # logged and counted as rejected by the runtime
        # Only a failure to store is fatal (the runtime exits unacknowledged, so the broker keeps
        # the scan): everything about the payload itself was checked above.
        with self.accepting:  # `queued` goes out before the forwarder can say `delivered`
            if not self.outbox.add(record):
                # A scan published again (the classifier had no ack yet) gets its state again.
                self.node.count(BridgeCounter.DUPLICATES)
                done = self.outbox.delivered(scan.scan_id)
                state = AckStatus.DELIVERED if done else AckStatus.QUEUED
                self.ack(scan.station, scan.scan_id, state, revision=scan.revision)
                return
            self.ack(scan.station, scan.scan_id, AckStatus.QUEUED, revision=scan.revision)
            pending = self.outbox.count(pending_only=True)
        self.node.count(BridgeCounter.ACCEPTED if scan.revision == 1 else BridgeCounter.REVISIONS)
        self.node.gauge(BridgeCounter.OUTBOX_PENDING, pending)
        self.node.stats_soon()  # scans today and the outbox, for Home Assistant
        if pending >= NEAR_FULL * self.settings.outbox_max:
            # Still accepted: a scan is never dropped, but someone must look at the uplink.
            self.node.log.error(
                "outbox holds %d records waiting for %s (bound %d): check the uplink",
                pending, self.destination.mode, self.settings.outbox_max,
            )  # fmt: skip
        self.wake.set()

    def ack(
        self,
        station: str,
        scan_id: str,
        status: AckStatus,
        reason: str | None = None,
        revision: int = 1,
    ) -> None:
        ack = InventoryAck(
            station, scan_id, status, self.destination.name, reason, revision=revision
        )
        self.node.publish(Topics(station).inventory_ack, ack)

    def forward(self, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            self.wake.clear()
            with self.accepting:
                batch = [s.record for s in self.outbox.records(pending_only=True, limit=BATCH)]
            if not batch:
                self.wake.wait(1)
                continue
            for record in batch:
                if stop.is_set():
                    return
                try:
                    self.destination.send(record)
                except Exception as exc:
                    self.node.count(BridgeCounter.SEND_FAILURES)
                    self.node.log.warning(
                        "sending %s failed (%s); retry in %.0f s", record.scan_id, exc, backoff
                    )
                    stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    break
                backoff = 1.0
                self.outbox.mark_delivered(record, self.destination.name)
                self.node.count(BridgeCounter.DELIVERED)
                self.ack(record.station_id, record.scan_id, AckStatus.DELIVERED,
                         revision=record.revision)  # fmt: skip
            # Once a batch, not once a record: counting is off the per-record path.
            self.node.gauge(BridgeCounter.OUTBOX_PENDING, self.outbox.count(pending_only=True))
            self.node.stats_soon()


def main(settings: BridgeSettings) -> None:
    # Its own channels as its NodeSpec declares them to the registry (Home Assistant's).
    node = Node(NodeName.BRIDGE, settings, persistent_session=True, channels=NODE.channels)
    bridge = Bridge(node, settings)
    try:
        node.run()
    finally:
        bridge.destination.close()
        bridge.outbox.close()
