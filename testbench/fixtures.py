"""Pytest fixtures that start real parts: a Mosquitto broker, node processes, the hub stand-in.

Loaded as a plugin by the conftest of `tests`, so no module ever imports a conftest.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scantalk.commands.broker import Broker, free_port
from scantalk.processes import die_with_parent, stop_process
from scantalk.scene import TUXPAINT_FOOD
from testbench.bus import Bus
from testbench.environ import clean_environ
from testbench.hub import Hub
from testbench.scale import ScaleSim


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto with the project's dev config on a free loopback port."""
    with Broker(free_port(), tmp_path / "broker") as running:
        yield running


@pytest.fixture
def bus(broker: Broker) -> Iterator[Bus]:
    listener = Bus(broker.port, ["scantalk/#"])  # the wire format, on purpose
    yield listener
    listener.close()


@pytest.fixture
def node_env(broker: Broker, tmp_path: Path) -> dict[str, str]:
    """Settings for nodes under test; audio goes to a file through SDL's disk driver."""
    env = clean_environ()
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
                preexec_fn=die_with_parent,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)


@pytest.fixture
def scale(tmp_path: Path) -> Iterator[ScaleSim]:
    """A simulated produce scale on a pseudo-terminal (NCI protocol, kilograms)."""
    sim = ScaleSim(tmp_path / "ttyUSB-scale")
    yield sim
    sim.close()


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


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    stand_in = Hub(tmp_path)
    stand_in.broker.start()
    yield stand_in
    stand_in.broker.stop()
