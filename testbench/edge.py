"""The edge broker (`mosquitto/edge.conf` with `mosquitto/acl`) as a test runs it: the
container's paths and ports swapped for a temporary folder and free loopback ports, every other
line as the device runs it; and clients that show what the broker answered.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from pathlib import Path

from scantalk.commands.broker import free_port, port_open
from scantalk.connection import mqtt_client
from scantalk.processes import die_with_parent, stop_process
from scantalk.settings import Settings
from testbench import CHECKOUT
from testbench.bus import Bus
from testbench.hub import make_certificates

EDGE_CONF = CHECKOUT / "mosquitto" / "edge.conf"
ACL = CHECKOUT / "mosquitto" / "acl"
"""What the broker said to a publish (`Publisher.try_publish`)."""


def edge_conf(secrets: Path, data: Path, port: int, tls_port: int) -> str:
    """`mosquitto/edge.conf` with test paths and loopback ports; fails if a line it must
    change is gone, so the test never runs a config the device does not."""
    changes = {
        "listener 1883": f"listener {port} 127.0.0.1",
        "listener 8883": f"listener {tls_port} 127.0.0.1",
        "acl_file /mosquitto/config/acl": f"acl_file {ACL}",
        "persistence_location /mosquitto/data/": f"persistence_location {data}/",
    }
    lines = []
    for line in EDGE_CONF.read_text().splitlines():
        if line in changes:
            line = changes.pop(line)
        elif not line.startswith("#"):
            line = line.replace("/mosquitto/secrets/", f"{secrets}/")
        lines.append(line)
    assert not changes, f"edge.conf no longer has {sorted(changes)}"
    left = [line for line in lines if " /mosquitto/" in line and not line.startswith("#")]
    assert not left, f"container paths left in the test's edge.conf: {left}"
    return "\n".join(lines) + "\n"


def make_secrets(folder: Path) -> Path:
    """What the device's `/mosquitto/secrets/` holds but the password file: a test CA and a
    `localhost` server certificate, under the names edge.conf reads."""
    make_certificates(folder)
    (folder / "ca.pem").rename(folder / "ca.crt")
    (folder / "server.pem").rename(folder / "server.crt")
    return folder


class EdgeBroker:
    """`mosquitto -c <rendered edge.conf>`; a context manager that stops it by its PID. The
    password file must be in `secrets` first (`scantalk broker passwd`)."""

    def __init__(self, folder: Path, secrets: Path) -> None:
        self.folder, self.secrets = folder, secrets
        self.port = free_port()
        self.tls_port = free_port()
        while self.tls_port == self.port:
            self.tls_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> Path:
        return self.secrets / "ca.crt"

    def login(self, user: str | None, password: str | None, tls: bool = False) -> Settings:
        """Settings of a client of this broker: the plain listener, or TLS trusting its CA."""
        return Settings(
            mqtt_port=self.tls_port if tls else self.port,
            mqtt_username=user,
            mqtt_password=password,
            mqtt_tls_ca=self.ca if tls else None,
        )

    def __enter__(self) -> EdgeBroker:
        data = self.folder / "data"
        data.mkdir(parents=True)
        conf = self.folder / "edge.conf"
        # Run as whoever runs the tests: as root, Mosquitto would switch to `mosquitto`.
        rendered = edge_conf(self.secrets, data, self.port, self.tls_port)
        conf.write_text(rendered + f"user {getpass.getuser()}\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with (self.folder / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen(
                [exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while not (port_open("127.0.0.1", self.port) and port_open("127.0.0.1", self.tls_port)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"mosquitto did not start; see {self.folder}/mosquitto.log")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process:
            stop_process(self.process)
        self.process = None


def connack(settings: Settings, timeout: float = 10) -> str:
    """What the broker answers a client with these settings: "Success", "Not authorized", or
    "lost" when it hangs up without a CONNACK."""
    client = mqtt_client(settings, f"test-connack-{time.monotonic_ns()}")
    try:
        answer = client.connect_and_wait(settings.mqtt_host, settings.mqtt_port, timeout=timeout)
        assert answer != "no answer", "the broker did not answer"
        return answer
    finally:
        client.disconnect()
        client.loop_stop()


class Publisher(Bus):
    """A user's one connection to the plain listener (the broker makes a client's id its user
    name, so a second one would take this one over): it publishes at QoS 1 and says what the
    PUBACK's reason code says (`try_publish`), and hears `topics`."""

    def __init__(
        self, broker: EdgeBroker, user: str, password: str, topics: list[str] | None = None
    ) -> None:
        super().__init__(broker.port, topics or [], login=broker.login(user, password))
