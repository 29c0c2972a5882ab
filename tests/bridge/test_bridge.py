"""Every scan reaches Azure IoT Hub exactly once, whatever fails.

Real parts: Mosquitto brokers, the bridge as a process, and the real `azure-iot-device` SDK
against a local Mosquitto TLS listener standing in for IoT Hub.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
from collections import Counter
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qsl

import jsonschema
import pytest

from scantalk.commands.broker import Broker, free_port
from scantalk.contract import Guess, InventoryRecord, NodeName, Scan, Topics, Unit
from testbench.broker_conf import lane_to_store_conf
from testbench.bus import Bus, wait_online
from testbench.environ import clean_environ

T = Topics("lane-1")
SCHEMA = json.loads((files("scantalk") / "schemas" / "inventory-record.json").read_text())


def a_scan(n: int, station: str = "lane-1") -> Scan:
    return Scan(
        scan_id=f"{station}-scan-{n:04d}", station=station, label="banana", display_name="Banana",
        plu="4011", confidence=0.91, model="produce", frame_id=f"f-{n}",
        alternatives=[Guess("lemon", 0.03)],
    )  # fmt: skip


def publish_scans(bus: Bus, numbers: range, station: str = "lane-1") -> set[str]:
    for n in numbers:
        bus.publish(Topics(station).scan, a_scan(n, station).to_json())
    return {a_scan(n, station).scan_id for n in numbers}


def hub_properties(topic: str) -> dict[str, str]:
    return dict(parse_qsl(topic.rsplit("/", 1)[1]))


def delivered(hub_bus: Bus) -> Counter[str]:
    """Scan ids the hub received, with how often."""
    return Counter(hub_properties(h.topic)["$.mid"] for h in hub_bus.matching("devices/#"))


def wait_delivered(hub_bus: Bus, expected: set[str]) -> Counter[str]:
    hub_bus.wait_until(lambda: set(delivered(hub_bus)) >= expected, f"{len(expected)} records")
    return delivered(hub_bus)


def records(env: dict[str, str]) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_device_records_carry_id_content_type_encoding_and_routing_properties(
    hub, bus, node_env, start_node
):
    hub_bus = hub.listen()
    start_node("bridge", node_env, SCANTALK_STORE="store-7", **hub.env("lane-1-pi"))
    wait_online(bus, "bridge")
    publish_scans(bus, range(1))
    scan = a_scan(0)

    (sent,) = hub_bus.wait_for("devices/lane-1-pi/messages/events/#")
    properties = hub_properties(sent.topic)
    assert properties["$.mid"] == scan.scan_id
    assert (properties["$.ct"], properties["$.ce"]) == ("application/json", "utf-8")
    assert (properties["recordType"], properties["stationId"]) == ("scan", "lane-1")
    assert "%24.ct=application%2Fjson" in sent.topic  # encoded exactly as IoT Hub expects
    record = json.loads(sent.payload)
    jsonschema.validate(record, SCHEMA)
    assert (record["scanId"], record["item"], record["plu"], record["deviceId"]) == (
        scan.scan_id, "banana", "4011", "lane-1-pi",
    )  # fmt: skip
    assert (record["storeId"], record["stationId"], record["quantity"], record["unit"]) == (
        "store-7", "lane-1", 1, "each",
    )  # fmt: skip

    acks = bus.wait_for(T.inventory_ack, count=2)
    assert [(a.json()["status"], a.json()["destination"]) for a in acks] == [
        ("queued", "iothub"), ("delivered", "iothub"),
    ]  # fmt: skip


def test_module_records_go_to_the_inventory_output(hub, bus, node_env, start_node):
    hub_bus = hub.listen()
    start_node("bridge", node_env, **hub.env("edge-1", module="bridge"))
    wait_online(bus, "bridge")
    publish_scans(bus, range(1))
    (sent,) = hub_bus.wait_for("devices/edge-1/modules/bridge/messages/events/#")
    assert hub_properties(sent.topic)["$.on"] == "inventory"
    assert hub_properties(sent.topic)["$.mid"] == a_scan(0).scan_id
    assert (
        "mode iothub-module"
        in (Path(node_env["SCANTALK_DATA_DIR"]).parent / "bridge.log").read_text()
    )


def test_the_inventory_record_schema_holds_for_every_record():
    record = InventoryRecord.from_scan(a_scan(1), device_id="lane-1-pi", store_id=None)
    jsonschema.validate(json.loads(record.to_json()), SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(record.to_json()), "confidence": 2}, SCHEMA)


def weighed_scan(kg: float, revision: int = 1) -> Scan:
    return dataclasses.replace(a_scan(0), unit=Unit.KG, weight_kg=kg, revision=revision)


def test_an_item_sold_by_weight_is_recorded_in_kilograms_and_one_not_weighed_as_to_weigh():
    weighed = InventoryRecord.from_scan(weighed_scan(1.234), device_id="lane-1-pi")
    unweighed = InventoryRecord.from_scan(
        dataclasses.replace(weighed_scan(1.0), weight_kg=None), device_id="lane-1-pi"
    )
    piece = InventoryRecord.from_scan(a_scan(1), device_id="lane-1-pi")
    bodies = [json.loads(r.to_json()) for r in (weighed, unweighed, piece)]
    assert [(b["quantity"], b["unit"]) for b in bodies] == [
        (1.234, "kg"), (None, "kg"), (1, "each"),
    ]  # fmt: skip
    for body in bodies:
        jsonschema.validate(body, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):  # a piece is one piece, never a weight
        jsonschema.validate({**bodies[2], "quantity": 1.234}, SCHEMA)


def test_a_new_weight_of_a_scan_replaces_its_record_and_reaches_the_hub_as_a_revision(
    hub, bus, node_env, start_node
):
    hub_bus = hub.listen()
    start_node("bridge", node_env, **hub.env("lane-1-pi"))
    wait_online(bus, "bridge")
    scan_id = a_scan(0).scan_id
    bus.publish(T.scan, weighed_scan(1.234).to_json())
    wait_delivered(hub_bus, {scan_id})
    bus.publish(T.scan, weighed_scan(1.456, revision=2).to_json())
    bus.publish(T.scan, weighed_scan(1.234).to_json())  # a late redelivery
    sent = wait_delivered(hub_bus, {scan_id, f"{scan_id}.2"})
    bus.wait_for(T.stats(NodeName.BRIDGE), lambda h: h.json()["counters"].get("duplicates") == 1)
    assert sent == {scan_id: 1, f"{scan_id}.2": 1}
    bodies = [json.loads(h.payload) for h in hub_bus.matching("devices/#")]
    assert [(b["quantity"], b["revision"]) for b in bodies] == [(1.234, 1), (1.456, 2)]
    (stored,) = records(node_env)  # one scan, at its latest weight
    assert (stored["scanId"], stored["quantity"], stored["revision"]) == (scan_id, 1.456, 2)


def test_a_scan_delivered_twice_by_mqtt_is_recorded_once(bus, node_env, start_node):
    start_node("bridge", node_env)
    wait_online(bus, "bridge")
    publish_scans(bus, range(3))
    publish_scans(bus, range(3))
    bus.wait_for(T.stats(NodeName.BRIDGE), lambda h: h.json()["counters"].get("duplicates") == 3)
    assert sorted(r["scanId"] for r in records(node_env)) == sorted(
        a_scan(n).scan_id for n in range(3)
    )


def test_bad_scans_are_rejected_with_a_reason_and_kept_out(bus, node_env, start_node):
    start_node("bridge", node_env)
    wait_online(bus, "bridge")
    bus.publish(T.scan, b"{not json")
    broken = {**json.loads(a_scan(1).to_json()), "confidence": 7.5}
    bus.publish(T.scan, json.dumps(broken).encode())
    rejected = bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "rejected", 2)
    assert [r.json()["scan_id"] for r in rejected] == ["", a_scan(1).scan_id]
    assert "not JSON" in rejected[0].json()["reason"]
    assert "confidence 7.5 is not in [0, 1]" in rejected[1].json()["reason"]
    publish_scans(bus, range(2, 3))
    bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "delivered")
    assert [r["scanId"] for r in records(node_env)] == [a_scan(2).scan_id]


def test_hub_outage_during_a_stream_loses_and_repeats_nothing(hub, bus, node_env, start_node):
    hub_bus = hub.listen()
    start_node("bridge", node_env, **hub.env())
    wait_online(bus, "bridge")
    first = publish_scans(bus, range(10))
    # The bridge's own "delivered" ack, not the hub's subscriber, says the hub acknowledged: a
    # record seen at the hub whose acknowledgement is still on its way is rightly sent again.
    bus.wait_for(
        T.inventory_ack,
        lambda h: h.json()["status"] == "delivered" and h.json()["scan_id"] in first, len(first),
    )  # fmt: skip

    hub.broker.stop()
    during = publish_scans(bus, range(10, 20))
    bus.wait_for(  # all accepted into the outbox while the hub is away
        T.inventory_ack,
        lambda h: h.json()["status"] == "queued" and h.json()["scan_id"] in during, len(during),
    )  # fmt: skip
    hub.broker.start()
    after = publish_scans(bus, range(20, 25))

    ids = wait_delivered(hub_bus, first | during | after)
    assert set(ids) == first | during | after
    assert max(ids.values()) == 1, f"delivered twice: {[i for i, n in ids.items() if n > 1]}"


def test_bridge_killed_mid_stream_loses_nothing(hub, bus, node_env, start_node):
    hub_bus = hub.listen()
    env = {**node_env, **hub.env()}
    bridge = start_node("bridge", env)
    wait_online(bus, "bridge")
    before = publish_scans(bus, range(30))
    bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "delivered", 5)
    bridge.send_signal(signal.SIGKILL)  # mid-stream: some delivered, some in the outbox
    bridge.wait()
    while_down = publish_scans(bus, range(30, 40))  # the broker keeps them for the bridge
    start_node("bridge", env)

    ids = wait_delivered(hub_bus, before | while_down)
    assert set(ids) == before | while_down
    # A record whose hub acknowledgement was in flight at the kill is sent again: at most that
    # one, with the same message id, which the hub side uses to drop it.
    assert sum(n - 1 for n in ids.values()) <= 1


def test_broker_restart_with_persistence_keeps_queued_scans(broker, bus, node_env, start_node):
    bridge = start_node("bridge", node_env)
    wait_online(bus, "bridge")
    first = publish_scans(bus, range(5))
    bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "delivered", 5)
    bridge.send_signal(signal.SIGTERM)
    bridge.wait()
    queued = publish_scans(bus, range(5, 15))  # held for the bridge's persistent session
    bus.close()

    broker.stop()
    broker.start()
    start_node("bridge", node_env)
    after = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
    after.wait_for(
        T.inventory_ack,
        lambda h: h.json()["status"] == "delivered" and h.json()["scan_id"] in queued, len(queued),
    )  # fmt: skip
    after.close()
    stored = [r["scanId"] for r in records(node_env)]
    assert sorted(stored) == sorted(first | queued)


def test_two_lanes_bridged_to_a_store_reach_the_store_bridge_once(tmp_path, start_node):
    store = Broker(free_port(), tmp_path / "store").start()
    lanes = {
        name: Broker(
            free_port(),
            tmp_path / name,
            extra_conf=lane_to_store_conf(name, "127.0.0.1", store.port),
        ).start()
        for name in ("lane-1", "lane-2")
    }
    try:
        store_bus = Bus(store.port, ["scantalk/#"])  # the wire format, on purpose
        env = {
            **clean_environ(),
            "SCANTALK_MQTT_PORT": str(store.port),
            "SCANTALK_DATA_DIR": str(tmp_path / "store-data"),
            "SCANTALK_STATION": "store-1",
            "SCANTALK_BRIDGE_STATIONS": "+",
        }
        start_node("bridge", env)
        wait_online(store_bus, "bridge", station="store-1")
        # the wire format, on purpose
        lane_buses = {name: Bus(b.port, ["scantalk/#"]) for name, b in lanes.items()}
        sent = set()
        for name, lane_bus in lane_buses.items():
            sent |= publish_scans(lane_bus, range(8), station=name)
        for name, lane_bus in lane_buses.items():  # acknowledgements come back to each lane
            lane_bus.wait_for(
                Topics(name).inventory_ack, lambda h: h.json()["status"] == "delivered", 8
            )
        stored = Counter(r["scanId"] for r in records(env))
        assert set(stored) == sent
        assert max(stored.values()) == 1
        for lane_bus in [store_bus, *lane_buses.values()]:
            lane_bus.close()
    finally:
        for b in [*lanes.values(), store]:
            b.stop()


def test_two_bridges_in_a_share_group_split_the_scans_without_duplicates(
    broker, bus, node_env, start_node, tmp_path
):
    envs = [
        {**node_env, "SCANTALK_BRIDGE_SHARE_GROUP": "inventory", "SCANTALK_INSTANCE": name,
         "SCANTALK_DATA_DIR": str(tmp_path / name)}
        for name in ("a", "b")
    ]  # fmt: skip
    for env in envs:
        start_node("bridge", env)
    bus.wait_for(T.status(NodeName.BRIDGE), lambda h: h.payload == b"online", 2)
    sent = publish_scans(bus, range(20))
    bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "delivered", 20)
    a, b = ({r["scanId"] for r in records(env)} for env in envs)
    assert a | b == sent
    assert not a & b
    assert a, "bridge b did all the work"
    assert b, "bridge a did all the work"


def test_a_full_outbox_is_reported_loudly_and_still_accepts(
    hub, bus, node_env, start_node, tmp_path
):
    hub.broker.stop()  # the uplink is down: records wait in the outbox
    start_node("bridge", node_env, SCANTALK_OUTBOX_MAX="5", **hub.env())
    wait_online(bus, "bridge")
    sent = publish_scans(bus, range(6))
    bus.wait_for(
        T.inventory_ack,
        lambda h: h.json()["status"] == "queued" and h.json()["scan_id"] in sent, len(sent),
    )  # fmt: skip
    bus.wait_for(
        T.stats(NodeName.BRIDGE), lambda h: h.json()["counters"].get("outbox_pending") == 6
    )
    assert "check the uplink" in (tmp_path / "bridge.log").read_text()
    assert len(records(node_env)) == 6


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 100_000, "not JSON"),
        (b'{"schema": "scantalk.scan/1", "confidence": ' + b"9" * 5000 + b"}", "not JSON"),
        (a_scan(7).to_json().replace(b"Banana", b"\\ud800"), "not valid Unicode"),
        (
            a_scan(8).to_json().replace(b'"station": "lane-1"', b'"station": "+"'),
            "not a station id",
        ),
        (a_scan(9, station="lane-2").to_json(), "on lane-1's topic"),
        (a_scan(10).to_json().replace(b'"Banana"', b'"' + b"B" * 300_000 + b'"'), "longer than"),
        (a_scan(11).to_json().replace(b'"4011"', b'"abc"'), "is not an IFPS price look-up code"),
        (dataclasses.replace(a_scan(12), time="2026-12-02").to_json(), "is not RFC 3339"),
        (dataclasses.replace(a_scan(13), time="2026-12-02T09:00").to_json(), "is not RFC 3339"),
        (a_scan(14).to_json().replace(b'"Banana"', b'"Ba\\u0000nana"'), "control character"),
    ],
    ids=[
        "deep",
        "huge-number",
        "surrogate",
        "wildcard-station",
        "other-station",
        "huge-name",
        "plu-abc",
        "a-date",
        "no-zone",
        "nul",
    ],
)
def test_poisonous_scans_are_rejected_and_the_bridge_goes_on(
    bus, node_env, start_node, payload, reason
):
    bridge = start_node("bridge", node_env)
    wait_online(bus, "bridge")
    bus.publish(T.scan, payload)
    (rejected,) = bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "rejected")
    assert reason in rejected.json()["reason"]
    publish_scans(bus, range(1))
    bus.wait_for(T.inventory_ack, lambda h: h.json()["status"] == "delivered")
    assert bridge.poll() is None
    assert [r["scanId"] for r in records(node_env)] == [a_scan(0).scan_id]
