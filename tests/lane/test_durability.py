"""The broker as the lane's store of record: a scan it acknowledged survives its crash, a packet
too large to be a frame never gets through, and on the edge broker a third party cannot take
over the bridge's session. Real `mosquitto` processes, the dev config (`Broker`) and
`mosquitto/edge.conf` (`testbench.edge`), and the real bridge node."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest

from scantalk.commands.broker import Broker
from scantalk.commands.broker_users import USERS, password_variable
from scantalk.connection import mqtt_client
from scantalk.contract import ONLINE, NodeName, Scan, Topics
from scantalk.processes import stop_process
from testbench.bus import ACCEPTED, Bus, wait_online
from testbench.edge import EdgeBroker, Publisher, make_secrets
from testbench.environ import clean_environ
from testbench.scenes import place

T = Topics("lane-1")
PLACEMENTS = 10
MAX_PACKET = 16 * 2**20
"""`max_packet_size` of both configs."""
BIG = 20_000_000
PASSWORDS = {user: f"{user}-durability-password-{i}" for i, user in enumerate(USERS)}


def scan(n: int, prefix: str = "crash") -> Scan:
    return Scan(
        scan_id=f"{prefix}-{n:03d}", station="lane-1", label="banana", display_name="Banana",
        plu="4011", confidence=0.9, model="produce", frame_id=f"f{n}", alternatives=[],
    )  # fmt: skip


def records(env: dict[str, str]) -> list[str]:
    """The scan ids of the bridge's records (`scantalk records --json`), in its order."""
    listing = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [json.loads(line)["scanId"] for line in listing.stdout.splitlines()]


def wait_delivered(bus: Bus, ids: set[str], timeout: float = 30) -> None:
    def all_delivered() -> bool:
        acks = [h.json() for h in bus.matching(T.inventory_ack)]
        return ids <= {a["scan_id"] for a in acks if a["status"] == "delivered"}

    bus.wait_until(all_delivered, f"{len(ids)} scans delivered by the bridge", timeout)


def crash(broker: Broker) -> None:
    """kill -9: no chance to save anything on the way out."""
    assert broker.process is not None
    os.kill(broker.process.pid, signal.SIGKILL)
    broker.process.wait(10)
    broker.process = None


# --- durability -----------------------------------------------------------------------------


def test_every_scan_survives_a_broker_crash(broker, node_env, start_node):
    """The broker saves its store only every so many changes, so a crash loses what it queued
    for the absent bridge since; the classifier's journal publishes those scans again."""
    bus = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
    bridge = start_node("bridge", node_env)
    wait_online(bus, "bridge")
    stop_process(bridge)  # its session stays, and the broker queues for it
    start_node("classifier", node_env)
    try:
        wait_online(bus, "classifier")
        for _ in range(PLACEMENTS):
            place(bus)
        ids = {h.json()["scan_id"] for h in bus.wait_for(T.scan, count=PLACEMENTS)}
        crash(broker)
    finally:
        bus.close()
    broker.start()  # the same port and data directory
    bus = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
    try:
        start_node("bridge", node_env)
        wait_delivered(bus, ids, timeout=60)
        stored = records(node_env)
        assert sorted(stored) == sorted(ids)  # each exactly once, none made up
    finally:
        bus.close()


# --- oversized packets ----------------------------------------------------------------------


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, body: bytes) -> bytes:
    length, encoded = len(body), b""
    while True:  # MQTT's variable-length "remaining length"
        length, digit = divmod(length, 128)
        encoded += bytes([digit | (0x80 if length else 0)])
        if not length:
            return bytes([kind]) + encoded + body


def raw_publish(port: int, topic: str, payload: bytes, user: str = "", password: str = "") -> bytes:
    """Publish at QoS 1 as a bare MQTT 3.1.1 client (no client library that might refuse the
    size itself) and return what the broker answered: a PUBACK, or b"" when it hung up."""
    flags = 0x02 | (0xC0 if user else 0)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", 60) + _string("test-raw")
    if user:
        body += _string(user) + _string(password)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_packet(0x10, body))
        assert sock.recv(4) == b"\x20\x02\x00\x00", "the broker refused the login"
        try:
            sock.sendall(_packet(0x32, _string(topic) + struct.pack("!H", 1) + payload))
            return sock.recv(4)
        except (BrokenPipeError, ConnectionResetError):  # it hung up while we were sending
            return b""


PUBACK = b"\x40\x02\x00\x01"


def test_the_dev_broker_refuses_a_20_mb_packet_and_passes_a_full_size_frame(broker, bus):
    assert raw_publish(broker.port, T.frame, b"\xff" * BIG) == b""
    frame = b"\xd8" * (MAX_PACKET - 1024)  # the largest frame, with room for topic and header
    assert raw_publish(broker.port, T.frame, frame) == PUBACK
    (heard,) = bus.wait_for(T.frame)  # in order: had the 20 MB gone through, it came first
    assert len(heard.payload) == len(frame)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeBroker]:
    folder = tmp_path_factory.mktemp("edge-durability")
    secrets = make_secrets(folder / "secrets")
    env = folder / "broker.env"
    env.write_text("".join(f"{password_variable(u)}={p}\n" for u, p in PASSWORDS.items()))
    made = subprocess.run(
        [sys.executable, "-m", "scantalk", "broker", "passwd", "--env", str(env),
         "--output", str(secrets / "passwords")],
        cwd=folder, env=clean_environ(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    with EdgeBroker(folder / "broker", secrets) as broker:
        yield broker


def test_the_edge_broker_refuses_a_20_mb_frame(edge):
    classifier = Bus(edge.port, [T.frame], login=edge.login("classifier", PASSWORDS["classifier"]))
    # One connection per user: the camera's next one comes after the refused one is gone.
    assert raw_publish(edge.port, T.frame, b"\xff" * BIG, "camera", PASSWORDS["camera"]) == b""
    camera = Publisher(edge, "camera", PASSWORDS["camera"])
    try:
        assert camera.try_publish(T.frame, b"small frame") == ACCEPTED
        (heard,) = classifier.wait_for(T.frame)
        assert heard.payload == b"small frame"
    finally:
        camera.close()
        classifier.close()


# --- session takeover on the edge broker ----------------------------------------------------


def intrude(edge: EdgeBroker, tls: bool = True) -> None:
    """`checkout` (a real user, with its password, off the device over TLS, or on the plain
    listener) connects with the bridge's client id and a clean start: what would take over and
    wipe the bridge's session."""
    login = edge.login("checkout", PASSWORDS["checkout"], tls=tls)
    client = mqtt_client(login, f"scantalk-bridge-{T.station}")
    try:
        answer = client.connect_and_wait(login.mqtt_host, login.mqtt_port, clean_start=True)
        assert answer == "Success"  # it got in: what it cannot do is be the bridge
    finally:
        client.disconnect()
        client.loop_stop()


def test_checkout_cannot_take_over_the_bridges_session(edge, start_node, tmp_path):
    env = {
        **clean_environ(), "SCANTALK_STATION": T.station,
        "SCANTALK_MQTT_PORT": str(edge.port), "SCANTALK_MQTT_USERNAME": "bridge",
        "SCANTALK_MQTT_PASSWORD": PASSWORDS["bridge"], "SCANTALK_DATA_DIR": str(tmp_path / "data"),
    }  # fmt: skip
    # the wire format, on purpose
    hass = Bus(edge.port, ["scantalk/lane-1/#"],
               login=edge.login("homeassistant", PASSWORDS["homeassistant"]))  # fmt: skip
    classifier = Publisher(edge, "classifier", PASSWORDS["classifier"])
    status = T.status(NodeName.BRIDGE)
    try:
        bridge = start_node("bridge", env)
        hass.wait_for(status, lambda h: h.payload == ONLINE)
        stop_process(bridge)
        queued = {scan(i, "queued").scan_id for i in range(10)}
        for i in range(10):
            assert classifier.try_publish(T.scan, scan(i, "queued").to_json()) == ACCEPTED
        intrude(edge)  # while the bridge is away: its queued scans must survive
        intrude(edge, tls=False)  # and on the plain listener
        seen = len(hass.matching(status))
        start_node("bridge", env)
        hass.wait_for(status, lambda h: h.payload == ONLINE, count=2)
        wait_delivered(hass, queued)
        intrude(edge)  # while the bridge is connected: it must stay connected
        intrude(edge, tls=False)
        assert classifier.try_publish(T.scan, scan(0, "after").to_json()) == ACCEPTED
        wait_delivered(hass, {scan(0, "after").scan_id})
        # One status since the restart, online: the bridge was never dropped (its will) nor
        # came back (online again).
        assert [h.payload for h in hass.matching(status)[seen:]] == [ONLINE]
        assert sorted(records(env)) == sorted(queued | {scan(0, "after").scan_id})
    finally:
        classifier.close()
        hass.close()


def test_a_scan_is_kept_by_the_classifier_until_the_bridge_has_it(bus, node_env, start_node):
    """No bridge has ever subscribed, so the broker keeps nothing for it, and the classifier is
    killed after its scan: the scan still becomes one record once a bridge runs, from the
    classifier's journal; and the station's sequence number goes on across the restart."""
    classifier = start_node("classifier", node_env)
    wait_online(bus, "classifier")
    place(bus)
    (first,) = bus.wait_for(T.scan)
    assert first.json()["seq"] == 1
    classifier.kill()
    classifier.wait()

    start_node("bridge", node_env)
    wait_online(bus, "bridge")
    start_node("classifier", node_env)  # publishes what it kept at once, on connecting
    bus.wait_for(
        T.inventory_ack,
        lambda h: (
            h.json()["scan_id"] == first.json()["scan_id"] and h.json()["status"] == "delivered"
        ),
    )
    place(bus)
    second = bus.wait_for(T.scan, lambda h: h.json()["scan_id"] != first.json()["scan_id"])
    assert second[0].json()["seq"] == 2
    bus.wait_for(
        T.stats(NodeName.CLASSIFIER),
        lambda h: h.json()["counters"].get("journal_pending") == 0,
    )
    records = subprocess.run(
        [sys.executable, "-m", "scantalk", "records", "--json"],
        env=node_env, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert sorted(json.loads(r)["scanId"] for r in records) == sorted(
        {first.json()["scan_id"], second[0].json()["scan_id"]}
    )


def test_a_scan_published_again_gets_its_state_again_and_one_record(bus, node_env, start_node):
    start_node("bridge", node_env)
    wait_online(bus, "bridge")
    scan = Scan("s-again", "lane-1", "banana", "Banana", "4011", 0.9, "produce", "", [])
    for _ in range(3):
        bus.publish(T.scan, scan.to_json())
    acks = bus.wait_for(T.inventory_ack, lambda h: h.json()["scan_id"] == "s-again", count=4)
    assert acks[0].json()["status"] == "queued"  # then each copy: queued, or delivered by now
    stats = bus.wait_for(
        T.stats(NodeName.BRIDGE), lambda h: h.json()["counters"].get("duplicates") == 2
    )
    assert stats[-1].json()["counters"]["accepted"] == 1
