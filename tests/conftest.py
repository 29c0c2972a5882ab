"""Fixtures that start real parts: a Mosquitto broker and node processes."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from camera_node.sources import TUXPAINT_FOOD
from scantalk.broker import Broker, free_port, port_open
from scantalk.processes import stop_process
from tests.bus import Bus


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto with the project's dev config on a free loopback port."""
    with Broker(free_port(), tmp_path / "broker") as running:
        yield running


@pytest.fixture
def bus(broker: Broker) -> Iterator[Bus]:
    listener = Bus(broker.port, ["scantalk/#"])
    yield listener
    listener.close()


@pytest.fixture
def node_env(broker: Broker, tmp_path: Path) -> dict[str, str]:
    """Settings for nodes under test; audio goes to a file through SDL's disk driver."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANTALK_")}
    env.update(
        SCANTALK_MQTT_PORT=str(broker.port),
        SCANTALK_DATA_DIR=str(tmp_path / "data"),
        SCANTALK_STATS_INTERVAL="1",
        SDL_AUDIODRIVER="disk",
        SDL_DISKAUDIOFILE=str(tmp_path / "speaker.raw"),
    )
    return env


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `scantalk node <name>` as its own process; stopped by its PID at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, env: dict[str, str], **overrides: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "scantalk", "node", name],
                env={**env, **overrides},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)


def wait_online(bus: Bus, *nodes: str, station: str = "lane-1") -> None:
    for node in nodes:
        bus.wait_for(f"scantalk/{station}/{node}/status", lambda h: h.payload == b"online")


@pytest.fixture
def photo_dir(tmp_path: Path) -> Callable[..., Path]:
    """A folder of tuxpaint photos, for the camera's folder source."""

    def make(*names: str) -> Path:
        folder = tmp_path / "photos"
        folder.mkdir(exist_ok=True)
        for i, name in enumerate(names):
            (folder / f"{i:02d}-{Path(name).name}").symlink_to(TUXPAINT_FOOD / name)
        return folder

    return make


HUB_PORT = 8883  # the SDK always dials 8883 for MQTT over TLS


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
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.ext",
            "-out", "server.pem")  # fmt: skip
    return folder


class Hub:
    """A local Mosquitto with a TLS listener on 8883 standing in for IoT Hub: the real
    `azure-iot-device` SDK talks to it, and tests read what it sent on `devices/…`."""

    def __init__(self, folder: Path) -> None:
        assert not port_open("127.0.0.1", HUB_PORT), "port 8883 is taken; the hub stand-in needs it"
        certs = make_certificates(folder / "certs")
        self.ca = certs / "ca.pem"
        tls = (
            f"listener {HUB_PORT} 127.0.0.1\n"
            f"cafile {self.ca}\ncertfile {certs / 'server.pem'}\nkeyfile {certs / 'server.key'}\n"
        )
        self.broker = Broker(free_port(), folder / "hub", extra_conf=tls)

    def connection_string(self, device: str, module: str | None = None) -> str:
        key = base64.b64encode(os.urandom(32)).decode()
        module_part = f";ModuleId={module}" if module else ""
        return f"HostName=localhost;DeviceId={device}{module_part};SharedAccessKey={key}"

    def env(self, device: str = "lane-1-device", module: str | None = None) -> dict[str, str]:
        return {
            "SCANTALK_IOTHUB_CONNECTION_STRING": self.connection_string(device, module),
            "SCANTALK_IOTHUB_CA_FILE": str(self.ca),
        }

    def listen(self) -> Bus:
        """What reaches the hub, kept across a restart of the stand-in."""
        return Bus(self.broker.port, ["devices/#"], persistent=True)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    stand_in = Hub(tmp_path)
    stand_in.broker.start()
    yield stand_in
    stand_in.broker.stop()
