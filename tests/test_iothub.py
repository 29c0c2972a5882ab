"""The bridge with the real `azure-iot-device` SDK, against a local Mosquitto TLS listener that
stands in for IoT Hub (only the Azure cloud itself cannot exist here)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from scantalk.broker import Broker, free_port, port_open
from scantalk.contract import Guess, Scan
from tests.bus import Bus
from tests.conftest import wait_online

HUB_PORT = 8883  # the SDK always dials 8883 for MQTT over TLS
DEVICE = "scantalk-test-lane"


def make_certificates(folder: Path) -> Path:
    """A throwaway CA and a `localhost` server certificate signed by it."""
    folder.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=ScanTalk test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    )
    return folder


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    assert not port_open("127.0.0.1", HUB_PORT), "port 8883 is taken; the IoT Hub stand-in needs it"
    certs = make_certificates(tmp_path / "certs")
    tls = (
        f"listener {HUB_PORT} 127.0.0.1\n"
        f"cafile {certs / 'ca.pem'}\n"
        f"certfile {certs / 'server.pem'}\n"
        f"keyfile {certs / 'server.key'}\n"
    )
    with Broker(free_port(), tmp_path / "hub", extra_conf=tls) as broker:
        yield broker, certs / "ca.pem"


def test_bridge_sends_each_scan_to_iot_hub_as_a_record(hub, bus, node_env, start_node):
    hub_broker, ca = hub
    hub_bus = Bus(hub_broker.port, [f"devices/{DEVICE}/messages/events/#"])
    key = base64.b64encode(os.urandom(32)).decode()
    start_node(
        "bridge",
        node_env,
        SCANTALK_IOTHUB_CONNECTION_STRING=f"HostName=localhost;DeviceId={DEVICE};SharedAccessKey={key}",
        SCANTALK_IOTHUB_CA_FILE=str(ca),
    )
    wait_online(bus, "bridge")
    scan = Scan(
        "5d1f0c1e-8a8e-4d8e-9a57-0f1e2d3c4b5a",
        "lane-1",
        "banana",
        "Banana",
        "4011",
        0.91,
        "produce",
        "f-1",
        [Guess("lemon", 0.03)],
    )
    bus.publish("scantalk/lane-1/scan", scan.to_json())

    (sent,) = hub_bus.wait_for(f"devices/{DEVICE}/messages/events/#")
    properties = dict(parse_qsl(sent.topic.rsplit("/", 1)[1]))
    assert properties["$.mid"] == scan.scan_id
    assert properties["$.ct"] == "application/json"
    assert properties["$.ce"] == "utf-8"
    assert (properties["recordType"], properties["stationId"]) == ("scan", "lane-1")
    assert "%24.ct=application%2Fjson" in sent.topic  # exactly as IoT Hub expects it encoded
    record = json.loads(sent.payload)
    assert (record["scanId"], record["item"], record["plu"], record["deviceId"]) == (
        scan.scan_id,
        "banana",
        "4011",
        DEVICE,
    )

    (ack,) = bus.wait_for(
        "scantalk/lane-1/inventory/ack", lambda h: h.json()["status"] == "delivered"
    )
    assert (ack.json()["scan_id"], ack.json()["destination"]) == (scan.scan_id, "iothub")
    hub_bus.close()
