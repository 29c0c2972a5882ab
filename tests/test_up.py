"""`scantalk up --demo`: the whole lane from one command, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from scantalk.broker import free_port, port_open
from scantalk.processes import stop_process
from testbench.bus import Bus
from testbench.environ import clean_environ


def test_up_runs_the_demo_lane_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = clean_environ()
    env.update(
        SCANTALK_MQTT_PORT=str(port),
        SCANTALK_DATA_DIR=str(tmp_path / "data"),
        SCANTALK_CAMERA_FPS="10",
    )
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
        bus = Bus(port, ["scantalk/#"])
        (scan,) = bus.wait_for("scantalk/lane-1/scan")
        assert scan.json()["label"] == "banana"  # the demo's first item
        # A flag given to `up` reaches the node it belongs to.
        state = "scantalk/lane-1/classifier/config/state"
        bus.wait_for(state, lambda h: h.json()["stable_frames"] == 4)

        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    finally:
        stop_process(up, signal.SIGINT)
    assert up.returncode == 0, output
    assert "lane stopped" in output
    for node in ("camera", "classifier", "voice", "bridge"):
        offline = bus.matching(f"scantalk/lane-1/{node}/status", lambda h: h.payload == b"offline")
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
