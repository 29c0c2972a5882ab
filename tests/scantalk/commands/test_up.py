"""`scantalk up --demo`: the whole lane from one command, stopped cleanly by Ctrl-C; it
restarts a node or a broker that dies, and runs once per station and data directory."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scantalk.commands.broker import free_port, port_open
from scantalk.commands.stack import (
    BROKER_STABLE_S,
    STABLE_S,
    Backoff,
    Lane,
    LaneError,
    broker_delay,
    lane_lock,
)
from scantalk.contract import OFFLINE, ONLINE, NodeName, Topics
from scantalk.processes import stop_process
from scantalk.settings import Settings
from testbench.bus import Bus, wait_online
from testbench.environ import clean_environ
from testbench.output import Output

T = Topics("lane-1")
NODES = ("bridge", "voice", "classifier", "camera")


def lane_env(tmp_path: Path, port: int) -> dict[str, str]:
    """A newcomer's environment for `scantalk up` on its own port and data dir."""
    env = clean_environ()
    env.update(
        SCANTALK_MQTT_PORT=str(port),
        SCANTALK_DATA_DIR=str(tmp_path / "data"),
        SCANTALK_CAMERA_FPS="10",
    )
    return env


def test_up_runs_the_demo_lane_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = lane_env(tmp_path, port)
    env.pop("SDL_AUDIODRIVER", None)  # as a newcomer's shell: the voice finds its own way out
    up = subprocess.Popen(
        [sys.executable, "-m", "scantalk", "up", "--demo", "--stable-frames", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_line = up.stdout.readline()
        assert re.match(rf"broker: mqtt://127\.0\.0\.1:{port}$", first_line.strip())
        bus = Bus(port, ["scantalk/#"])  # the wire format, on purpose
        (scan,) = bus.wait_for(T.scan)
        assert scan.json()["label"] == "banana"  # the demo's first item
        # A flag given to `up` reaches the node it belongs to.
        state = T.classifier_config_state
        bus.wait_for(state, lambda h: h.json()["stable_frames"] == 4)

        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    finally:
        stop_process(up, signal.SIGINT)
    assert up.returncode == 0, output
    assert "lane stopped" in output
    for node in ("camera", "classifier", "voice", "bridge"):
        offline = bus.matching(T.status(NodeName(node)), lambda h: h.payload == b"offline")
        assert offline, node
        assert f"node={node} station=lane-1 stopped" in output, f"{node} did not stop cleanly"
    assert not port_open("127.0.0.1", port), "the broker is still running"
    assert "Traceback" not in output
    bus.close()
    # The lane's own lines only: no ALSA complaints, no SDL banner; one line says where the
    # audio went on a machine without a sound card.
    assert "ALSA lib" not in output
    assert "CRITICAL" not in output
    if not Path("/dev/snd").exists():
        said = [line for line in output.splitlines() if "no sound card: audio goes to" in line]
        assert len(said) == 1, output
        assert (tmp_path / "data" / "speaker.raw").stat().st_size > 0


def alive(pid: int) -> bool:
    """The process runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.timeout(400)
def test_up_restarts_what_dies_and_runs_once_per_station_and_data_dir(tmp_path):
    port = free_port()
    env = lane_env(tmp_path, port)
    command = [sys.executable, "-m", "scantalk", "up", "--demo"]
    up = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert up.stdout
    output = Output(up.stdout)
    bus = None
    try:
        output.wait_for(r"^lane is up", timeout=120)
        bus = Bus(port, ["scantalk/#"])  # the wire format, on purpose
        wait_online(bus, *NODES)

        # The voice dies: a new voice process takes its place, and the lane stays up.
        _, started = output.wait_for(r"node voice started \(pid (\d+)\)")
        voice = int(started[1])
        status = T.status(NodeName.VOICE)
        mark, killed = output.mark(), time.monotonic()
        os.kill(voice, signal.SIGKILL)
        (offline,) = bus.wait_for(status, lambda h: h.payload == OFFLINE and h.received > killed)
        bus.wait_for(status, lambda h: h.payload == ONLINE and h.received > offline.received)
        index, _ = output.wait_for(
            r"node voice exited \(status -9: SIGKILL\) after \d+ s; restarting it in 1 s", mark
        )
        _, restarted = output.wait_for(r"node voice started \(pid (\d+)\)", index)
        assert int(restarted[1]) != voice
        assert not alive(voice)
        assert up.poll() is None

        # The broker dies: it comes back on its port, every node reconnects, scans flow again.
        _, started = output.wait_for(r"broker started \(pid (\d+)\)")
        broker = int(started[1])
        mark = output.mark()
        os.kill(broker, signal.SIGKILL)
        index, _ = output.wait_for(
            rf"broker exited \(status -9: SIGKILL\) after \d+ s; restarting it on port {port}",
            mark,
        )
        _, restarted = output.wait_for(r"broker started \(pid (\d+)\)", index)
        assert int(restarted[1]) != broker
        for node in NODES:
            output.wait_for(rf"node={node} station=lane-1 online$", index)
        back = time.monotonic()
        bus.wait_for(T.scan, lambda h: h.received > back)
        assert up.poll() is None

        # A second lane for the same station and data directory is refused at once.
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode != 0
        data_dir = (tmp_path / "data").resolve()
        said = (
            f"scantalk: a lane for station lane-1 with data dir {data_dir} is already running "
            f"(pid {up.pid}"
        )
        assert said in second.stderr, second.stderr
        assert "broker:" not in second.stdout
        assert up.poll() is None

        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    finally:
        stop_process(up, signal.SIGINT)
        if bus:
            bus.close()
    output.join(10)
    text = output.text()
    assert up.returncode == 0, text
    assert "lane stopped" in text
    started_pids = re.findall(r"(node \w+|broker) started \(pid (\d+)\)", text)
    # Four nodes, a second voice, a second broker: and none of them left running.
    assert collections.Counter(name for name, _ in started_pids) == {
        "node bridge": 1, "node voice": 2, "node classifier": 1, "node camera": 1, "broker": 2,
    }, text  # fmt: skip
    left = [(name, pid) for name, pid in started_pids if alive(int(pid))]
    assert not left, left
    for node in NODES:
        assert f"node={node} station=lane-1 stopped" in text, f"{node} did not stop cleanly"
    assert not port_open("127.0.0.1", port), "the broker is still running"


def test_restarts_wait_1_s_doubling_to_30_s_and_1_s_again_after_a_minute_up():
    backoff = Backoff()
    assert [backoff.delay(uptime=2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(uptime=STABLE_S) == 1
    assert backoff.delay(uptime=5) == 2


def test_a_broker_that_ran_is_restarted_at_once_however_often_and_one_dying_at_start_waits():
    backoff = Backoff()
    assert [broker_delay(backoff, uptime=BROKER_STABLE_S + 1) for _ in range(30)] == [0] * 30
    assert [broker_delay(backoff, uptime=0.1) for _ in range(4)] == [1, 2, 4, 8]
    assert broker_delay(backoff, uptime=BROKER_STABLE_S) == 0


def test_a_node_that_exits_2_at_start_has_a_setting_error_and_stops_the_lane(tmp_path, caplog):
    lane = Lane(dataclasses.replace(Settings(), data_dir=tmp_path), {})
    voice = lane.nodes[NodeName.VOICE]
    voice.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    voice.started = time.monotonic()
    voice.process.wait(timeout=30)
    assert lane._tend(voice, time.monotonic()) == 2
    assert "node voice failed at start (status 2): a setting error" in caplog.text
    # The same status from a node that ran a while is a crash like another: restarted.
    voice.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    voice.started = time.monotonic() - 120
    voice.process.wait(timeout=30)
    assert lane._tend(voice, time.monotonic()) is None
    assert voice.process is None
    assert voice.restart_at is not None
    assert "node voice exited (status 2) after 120 s; restarting it in 1 s" in caplog.text


def test_one_lane_per_station_and_data_dir(tmp_path):
    settings = dataclasses.replace(Settings(), data_dir=tmp_path / "data")
    with lane_lock(settings) as path:
        assert path == tmp_path / "data" / "lane-lane-1.lock"
        assert path.read_text() == f"{os.getpid()}\n"
        said = (
            f"a lane for station lane-1 with data dir {path.parent.resolve()} is already running "
            f"(pid {os.getpid()}, "
        )
        with pytest.raises(LaneError, match=re.escape(said)), lane_lock(settings):
            pass
        with lane_lock(dataclasses.replace(settings, station="lane-2")):
            pass  # another station
        with lane_lock(dataclasses.replace(settings, data_dir=tmp_path / "other")):
            pass  # another data directory
    with lane_lock(settings):
        pass  # released with the lane
