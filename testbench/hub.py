"""A local stand-in for Azure IoT Hub: Mosquitto with a TLS listener on 8883, for the real
`azure-iot-device` SDK. Only the Azure cloud itself cannot exist here; the client code runs
up to the wire."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from scantalk.commands.broker import Broker, free_port, port_open
from testbench.bus import Bus

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
