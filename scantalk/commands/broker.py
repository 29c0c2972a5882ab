"""Run a local Mosquitto with the lane's development config (`broker.conf`, package data)."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from scantalk.processes import die_with_parent, stop_process

DEV_CONF = Path(__file__).resolve().parent / "broker.conf"


class BrokerError(RuntimeError):
    """The broker could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    """A mosquitto process on a loopback port; a context manager that stops it by its PID."""

    def __init__(
        self, port: int, data_dir: Path, host: str = "127.0.0.1", extra_conf: str = ""
    ) -> None:
        self.host, self.port = host, port
        self.dir = data_dir / "mosquitto"
        self.extra_conf = extra_conf
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> Broker:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise BrokerError("mosquitto is not installed: apt-get install mosquitto")
        if port_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use (SCANTALK_MQTT_PORT)"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            DEV_CONF.read_text()
            + f"\nlistener {self.port} {self.host}\n"
            + f"persistence_location {self.dir.resolve()}/\n"
            # Run as whoever started us, so the data directory stays ours even as root.
            + f"user {getpass.getuser()}\n"
            + self.extra_conf
        )
        with (self.dir / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen(
                [exe, "-c", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                # Not in our process group: Ctrl-C must not stop the broker before the nodes.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"mosquitto did not start; see {self.dir / 'mosquitto.log'}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)
        self.process = None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *_exc: object | TracebackType) -> None:
        self.stop()
