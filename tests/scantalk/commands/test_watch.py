"""`scantalk watch`: the state it keeps, the view in a real terminal (tmux), and `--json`."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from scantalk.commands.broker import free_port
from scantalk.commands.watch import NEEDS_RICH, UNKNOWN, WatchState, render, scans_fitting
from scantalk.contract import (
    OFFLINE,
    ONLINE,
    AckStatus,
    InventoryAck,
    NodeName,
    Scan,
    Spoken,
    Stats,
    Topics,
    Unit,
    Weight,
    WeightStatus,
)
from scantalk.counters import BridgeCounter, CameraCounter, ClassifierCounter
from scantalk.processes import die_with_parent, stop_process
from testbench.environ import clean_environ

LANE = Topics("lane-1")
WATCH = [sys.executable, "-m", "scantalk", "watch"]


def scan(scan_id: str, station: str = "lane-1", label: str = "banana", name: str = "Banana"):
    return Scan(scan_id, station, label, name, "4011", 0.93, "produce", f"frame-{scan_id}", [])


def stats(node: NodeName, station: str = "lane-1", **counters: object) -> bytes:
    return Stats(station, node, {"errors": 0, **counters}).to_json()


def spoken(text: str = "Banana", station: str = "lane-1") -> bytes:
    return Spoken(station, text, "espeak-ng", False, 84.6, 700.0, scan_id="s1").to_json()


def publish(bus, topic: str, payload: bytes, retain: bool = False) -> None:
    bus.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)


def screen_text(state: WatchState) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(render(state))
    return console.export_text()


# --- the state model ------------------------------------------------------------------------


def test_the_state_follows_nodes_scans_gauges_and_speech():
    state = WatchState.following("lane-1")
    state.on_message(LANE.status(NodeName.CAMERA), ONLINE)
    state.on_message(LANE.status(NodeName.VOICE), OFFLINE)
    state.on_message(LANE.scan, scan("s1").to_json())
    state.on_message(LANE.scan, scan("s1").to_json())  # a QoS 1 redelivery
    state.on_message(LANE.scan, scan("s2", label="lemon", name="Lemon").to_json())
    state.on_message(
        LANE.inventory_ack, InventoryAck("lane-1", "s1", AckStatus.DELIVERED, "local").to_json()
    )
    state.on_message(LANE.stats(NodeName.CAMERA), stats(NodeName.CAMERA, frames_per_minute=600))
    state.on_message(LANE.stats(NodeName.CLASSIFIER), stats(NodeName.CLASSIFIER, inference_ms=12.5))
    state.on_message(LANE.stats(NodeName.BRIDGE), stats(NodeName.BRIDGE, outbox_pending=2))
    state.on_message(LANE.spoken, spoken("Lemon"))

    (view,) = state.stations.values()
    assert view.nodes == {NodeName.CAMERA: "online", NodeName.VOICE: "offline"}
    assert [s.scan_id for s in view.scans] == ["s1", "s2"]
    assert view.acks == {"s1": AckStatus.DELIVERED}
    assert view.gauges == {
        CameraCounter.FRAMES_PER_MINUTE: 600,
        ClassifierCounter.INFERENCE_MS: 12.5,
        BridgeCounter.OUTBOX_PENDING: 2,
    }
    assert view.spoken is not None
    assert view.spoken.text == "Lemon"
    assert state.malformed == 0

    # The latest stats are a node's whole story; an empty retained status is a cleared one.
    state.on_message(LANE.stats(NodeName.BRIDGE), stats(NodeName.BRIDGE, speech_overdue=1))
    state.on_message(LANE.status(NodeName.VOICE), b"")
    assert view.gauges[BridgeCounter.SPEECH_OVERDUE] == 1
    assert BridgeCounter.OUTBOX_PENDING not in view.gauges
    assert NodeName.VOICE not in view.nodes


def test_only_the_latest_scans_are_kept_and_shown_newest_first():
    state = WatchState.following("lane-1")
    for i in range(12):
        state.on_message(LANE.scan, scan(f"s{i}", name=f"Item {i}").to_json())
    assert [s.scan_id for s in state.stations["lane-1"].scans] == [f"s{i}" for i in range(4, 12)]
    text = screen_text(state)
    assert text.index("Item 11") < text.index("Item 4")
    assert "Item 3" not in text


def test_a_malformed_payload_is_counted_and_changes_nothing():
    state = WatchState.following("lane-1")
    good = scan("s1").to_json()
    no_station = "scantalk/lane 1/scan"  # the wire format, on purpose: Topics refuses "lane 1"
    for topic, payload in [
        (LANE.scan, b"{not json"),
        (LANE.scan, good.replace(b"scantalk.scan/1", b"scantalk.scan/9")),
        (LANE.scan, good.replace(b"0.93", b"1.93")),
        (LANE.spoken, scan("s1").to_json()),
        (LANE.inventory_ack, b"[]"),
        (LANE.status(NodeName.CAMERA), b"maybe"),
        (LANE.stats(NodeName.CAMERA), stats(NodeName.CAMERA, frames_per_minute="many")),
        (LANE.stats(NodeName.CAMERA), stats(NodeName.CAMERA, frames_per_minute=float("nan"))),
        (no_station, good),
    ]:
        state.on_message(topic, payload)
    assert state.malformed == 9
    assert state.problem.startswith(f"{no_station}: ")
    (view,) = state.stations.values()
    assert (list(view.scans), view.nodes, view.gauges, view.spoken) == ([], {}, {}, None)
    text = screen_text(state)
    assert "malformed payloads skipped: 9" in text
    assert f"frames/min {UNKNOWN}" in text


@pytest.fixture
def one_hour_east(monkeypatch):
    """This process's local time zone is UTC+1 (a POSIX TZ: no zone database needed)."""
    monkeypatch.setenv("TZ", "CET-1")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_view_shows_a_scan_at_local_time_with_plu_confidence_and_record(one_hour_east):
    state = WatchState.following("lane-1", "127.0.0.1:1883")
    at = dataclasses.replace(scan("s1"), time="2026-11-25T09:53:00.123Z")
    state.on_message(LANE.scan, at.to_json())
    state.on_message(
        LANE.inventory_ack, InventoryAck("lane-1", "s1", AckStatus.QUEUED, "iothub").to_json()
    )
    line = next(line for line in screen_text(state).splitlines() if "Banana" in line)
    assert line.split() == [
        "│", "10:53:00", "Banana", "banana", "4011", "1", "93%", "queued", "│",
    ]  # fmt: skip


def test_a_weighed_scan_shows_its_weight_and_a_new_weight_revises_it_in_place():
    state = WatchState.following("lane-1")
    weighed = dataclasses.replace(scan("s1"), unit=Unit.KG, weight_kg=1.234)
    state.on_message(LANE.weight, Weight("lane-1", 1.234, True, WeightStatus.OK).to_json())
    state.on_message(LANE.scan, weighed.to_json())
    state.on_message(LANE.scan, dataclasses.replace(weighed, weight_kg=1.456, revision=2).to_json())
    state.on_message(LANE.scan, weighed.to_json())  # a late redelivery of revision 1
    (shown,) = state.stations["lane-1"].scans
    assert shown.weight_kg == 1.456
    text = screen_text(state)
    assert "1.456 kg" in text
    assert "scale 1.234 kg" in text
    state.on_message(LANE.weight, Weight("lane-1", None, False, WeightStatus.NO_SCALE).to_json())
    assert "scale no_scale" in screen_text(state)


def test_text_from_the_bus_is_shown_as_it_is_never_as_markup_or_terminal_control():
    state = WatchState.following("lane-1")
    odd = "[/oops] [bold]Kiwi[/]"
    state.on_message(LANE.scan, dataclasses.replace(scan("s1"), display_name=odd).to_json())
    state.on_message(LANE.spoken, spoken(odd))
    # The contract refuses control characters in text: such a scan never reaches the screen.
    clear = dataclasses.replace(scan("s2"), display_name="\x1b[2JMelon")
    state.on_message(LANE.scan, clear.to_json())
    text = screen_text(state)
    assert text.count("[/oops] [bold]Kiwi[/]") == 2
    assert "\x1b" not in text
    assert "Melon" not in text


# --- in a real terminal -----------------------------------------------------------------------


class Terminal:
    """A private tmux server (its own socket) running one command in a 120x40 pane."""

    def __init__(self, socket: str, folder: Path) -> None:
        self.tmux = ["tmux", "-L", socket]
        self.status = folder / "exit-status"
        self.stderr = folder / "stderr"

    def screen(self) -> str:
        result = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", "watch"], capture_output=True, text=True
        )
        return result.stdout

    def wait_for(self, *texts: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while not all(text in (screen := self.screen()) for text in texts):
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {texts} on screen:\n{screen}")
            time.sleep(0.05)
        return screen

    def ctrl_c(self) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "watch", "C-c"], check=True)

    def exit_status(self, timeout: float = 10) -> int:
        """The command's exit status, once it has exited."""
        deadline = time.monotonic() + timeout
        while not (written := self.status.read_text() if self.status.exists() else ""):
            if time.monotonic() > deadline:
                raise AssertionError(f"no exit after {timeout} s (or killed):\n{self.screen()}")
            time.sleep(0.05)
        return int(written)


@contextmanager
def terminal(command: list[str], env: dict[str, str], tmp_path: Path) -> Iterator[Terminal]:
    """`command` in a real terminal. A shell around it writes its exit status to a file: tmux's
    own record of a dead pane's status comes late or not at all."""
    session = Terminal(f"scantalk-watch-test-{os.getpid()}-{tmp_path.name}", tmp_path)
    # bash carries on after Ctrl-C when its child exits by itself (and dies with it otherwise).
    script = f"{shlex.join(command)} 2>{session.stderr}; echo $? >{session.status}.new"
    script += f"; mv {session.status}.new {session.status}"  # the status appears whole
    size = ["-x", "120", "-y", "40"]
    start = [*session.tmux, "-f", "/dev/null", "new-session", "-d", *size, "-s", "watch"]
    env = {k: v for k, v in env.items() if k != "TMUX"}
    try:
        subprocess.run(
            [*start, "-c", str(tmp_path), shlex.join(["bash", "-c", script])], env=env, check=True
        )
        yield session
    finally:
        subprocess.run([*session.tmux, "kill-server"], capture_output=True)


def test_the_live_view_in_a_terminal_shows_the_lane_and_ctrl_c_ends_it(bus, node_env, tmp_path):
    publish(bus, LANE.status(NodeName.CAMERA), ONLINE, retain=True)
    publish(bus, LANE.status(NodeName.CLASSIFIER), ONLINE, retain=True)
    publish(bus, LANE.status(NodeName.VOICE), OFFLINE, retain=True)
    with terminal([*WATCH, "--mqtt-port", node_env["SCANTALK_MQTT_PORT"]], node_env, tmp_path) as t:
        t.wait_for("camera ● online", "classifier ● online", "voice ○ offline", "bridge ? unknown")
        publish(bus, LANE.scan, scan("s1").to_json())
        publish(
            bus,
            LANE.inventory_ack,
            InventoryAck("lane-1", "s1", AckStatus.DELIVERED, "local").to_json(),
        )
        publish(bus, LANE.stats(NodeName.CAMERA), stats(NodeName.CAMERA, frames_per_minute=597))
        publish(bus, LANE.stats(NodeName.CLASSIFIER), stats(NodeName.CLASSIFIER, inference_ms=12.5))
        publish(bus, LANE.stats(NodeName.BRIDGE), stats(NodeName.BRIDGE, outbox_pending=3))
        publish(bus, LANE.spoken, spoken("Banana"))
        publish(bus, LANE.scan, b"garbage")
        t.wait_for(
            "Banana",
            "4011",
            "93%",
            "delivered",
            "frames/min 597",
            "inference ms 12.5",
            "outbox 3",
            "“Banana”   espeak-ng · 85 ms",
            "malformed payloads skipped: 1",
            "connected",
        )
        t.ctrl_c()
        assert t.exit_status() == 0
        assert t.stderr.read_text() == ""


def test_a_store_view_shows_a_section_per_station(bus, node_env, tmp_path):
    lane_2 = Topics("lane-2")
    publish(bus, LANE.status(NodeName.CAMERA), ONLINE, retain=True)
    publish(bus, lane_2.status(NodeName.BRIDGE), ONLINE, retain=True)
    port = node_env["SCANTALK_MQTT_PORT"]
    with terminal([*WATCH, "--station", "+", "--mqtt-port", port], node_env, tmp_path) as t:
        t.wait_for("╭─ lane-1 ", "╭─ lane-2 ")
        publish(
            bus, lane_2.scan, scan("s9", station="lane-2", label="lemon", name="Lemon").to_json()
        )
        screen = t.wait_for("Lemon")
        assert screen.index("╭─ lane-1 ") < screen.index("╭─ lane-2 ") < screen.index("Lemon")
        t.ctrl_c()
        assert t.exit_status() == 0
        assert t.stderr.read_text() == ""


# --- for scripts, and when things are missing -----------------------------------------------


@contextmanager
def json_watch(env: dict[str, str], folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`scantalk watch --json`, back once it follows the scans (it says so on stderr)."""
    process = subprocess.Popen(
        [*WATCH, "--json", "--mqtt-port", env["SCANTALK_MQTT_PORT"]],
        env=env,
        cwd=folder,  # no developer's .env
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    try:
        assert process.stderr is not None
        assert f"streaming {LANE.scan}".encode() in process.stderr.readline()
        yield process
    finally:
        stop_process(process)


def test_json_prints_one_line_per_scan_and_stops_cleanly(bus, node_env, tmp_path):
    with json_watch(node_env, tmp_path) as watch:
        publish(bus, LANE.scan, scan("s1").to_json())
        publish(bus, LANE.scan, b"not a scan")
        publish(bus, LANE.scan, scan("s2").to_json())
        assert watch.stdout is not None
        lines = [watch.stdout.readline(), watch.stdout.readline()]
        assert [json.loads(line)["scan_id"] for line in lines] == ["s1", "s2"]
        assert lines[0].endswith(b"}\n")
        watch.terminate()
        assert watch.wait(10) == 0
        assert watch.stderr is not None
        assert f"skipped {LANE.scan}".encode() in watch.stderr.read()


def test_json_ends_quietly_when_its_reader_goes_away(bus, node_env, tmp_path):
    """As in `scantalk watch --json | head -1`."""
    with json_watch(node_env, tmp_path) as watch:
        assert watch.stdout is not None
        assert watch.stderr is not None
        publish(bus, LANE.scan, scan("s1").to_json())
        assert json.loads(watch.stdout.readline())["scan_id"] == "s1"
        watch.stdout.close()
        publish(bus, LANE.scan, scan("s2").to_json())
        assert watch.wait(10) == 0
        assert watch.stderr.read() == b""


def test_an_unreachable_broker_is_one_line_naming_it(tmp_path):
    port = free_port()
    result = subprocess.run(
        [*WATCH, "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port)],
        env=clean_environ(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"scantalk watch: cannot reach the broker at 127.0.0.1:{port} ")
    assert len(result.stderr.splitlines()) == 1


def test_without_rich_it_says_how_to_get_it():
    code = (
        "import sys\nsys.modules['rich'] = None\nfrom scantalk.commands.cli import main\n"
        "sys.exit(main(['watch']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean_environ(), capture_output=True, text=True
    )
    assert (result.returncode, result.stderr) == (2, NEEDS_RICH + "\n")


@pytest.mark.parametrize(("height", "stations", "scans"), [(40, 1, 8), (40, 2, 8), (40, 4, 1)])
def test_a_store_shows_fewer_scans_per_station_to_fit(height, stations, scans):
    assert scans_fitting(height, stations) == scans
