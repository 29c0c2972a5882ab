"""Settings: numbers are numbers, and a bad value stops a node at start, naming the setting."""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys

import pytest

from bridge.settings import BridgeSettings
from camera_node.settings import CameraSettings
from classifier_node.settings import ClassifierSettings
from scantalk.settings import CameraSource, SettingError, Settings, SourceKind
from testbench.environ import clean_environ


def scantalk(*args: str, cwd: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scantalk", *args],
        env={**clean_environ(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_node(name: str, cwd: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """A node pointed at a port where no broker listens: what it does at start is what counts."""
    return scantalk("node", name, cwd=cwd, **{"SCANTALK_MQTT_PORT": "1", **env})


def test_numbers_are_parsed_as_numbers_and_flags_win():
    env = {"SCANTALK_THRESHOLD": "0.85", "SCANTALK_MQTT_PORT": "1884"}
    settings = ClassifierSettings.load(env)
    assert settings.threshold == 0.85
    assert settings.mqtt_port == 1884
    flags = argparse.Namespace(threshold="0.95")
    assert ClassifierSettings.load({"SCANTALK_THRESHOLD": "0.85"}, flags).threshold == 0.95


@pytest.mark.parametrize(
    ("settings", "name", "value"),
    [
        (ClassifierSettings, "SCANTALK_THRESHOLD", "abc"),
        (ClassifierSettings, "SCANTALK_THRESHOLD", "1.5"),
        (Settings, "SCANTALK_MQTT_PORT", "70000"),
        (Settings, "SCANTALK_STATION", "lane/1"),
        (Settings, "SCANTALK_STATION", "+"),  # a node is one station; only followers use +
        (Settings, "SCANTALK_DISCOVERY_PREFIX", "home/+/assistant"),
        (CameraSettings, "SCANTALK_CAMERA_FPS", "0"),
        (CameraSettings, "SCANTALK_CAMERA_FPS", "nan"),
        (ClassifierSettings, "SCANTALK_STABLE_FRAMES", "1" + "0" * 400),  # past float's range
        (CameraSettings, "SCANTALK_CAMERA_ROI", "0,0,0.001,0.5"),
        (BridgeSettings, "SCANTALK_BRIDGE_STATIONS", "lane/1"),
        (BridgeSettings, "SCANTALK_BRIDGE_SHARE_GROUP", "a/b"),
        (BridgeSettings, "SCANTALK_TIMEZONE", "Europe/Atlantis"),
        (CameraSettings, "SCANTALK_CAMERA_GATE", "maybe"),
    ],
)
def test_bad_value_is_refused_with_its_name(settings, name, value):
    with pytest.raises(SettingError, match=f"^{name}="):
        settings.load({name: value})


def test_one_env_configures_the_whole_lane_and_each_node_takes_its_own():
    env = {"SCANTALK_STATION": "lane-7", "SCANTALK_THRESHOLD": "0.8", "SCANTALK_CAMERA_FPS": "2"}
    classifier, camera = ClassifierSettings.load(env), CameraSettings.load(env)
    assert classifier.station == camera.station == "lane-7"
    assert classifier.threshold == 0.8
    assert camera.camera_fps == 2
    assert not hasattr(camera, "threshold")


def test_a_nodes_help_lists_the_shared_settings_and_its_own_only():
    text = scantalk("node", "classifier", "--help").stdout
    shared = ["MQTT_HOST", "STATION", "DATA_DIR", "LANGUAGE", "MODEL_DIR", "LOG_LEVEL"]
    for name in shared:
        assert f"SCANTALK_{name}" in text
    assert "SCANTALK_THRESHOLD" in text
    for other in ("SCANTALK_CAMERA_SOURCE", "SCANTALK_SPEECH_KEY", "SCANTALK_OUTBOX_MAX"):
        assert other not in text


def test_settings_command_says_where_each_value_came_from_and_hides_secrets(tmp_path):
    (tmp_path / ".env").write_text(
        "SCANTALK_STATION=lane-9\nSCANTALK_IOTHUB_CONNECTION_STRING=HostName=h;SharedAccessKey=k1\n"
    )
    result = scantalk(
        "settings", "bridge", "--outbox-max", "50", cwd=str(tmp_path), SCANTALK_STORE="store-3"
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    assert rows["SCANTALK_STATION"][1:] == ["lane-9", "(.env)"]
    assert rows["SCANTALK_STORE"][1:] == ["store-3", "(environment)"]
    assert rows["SCANTALK_OUTBOX_MAX"][1:] == ["50", "(flag)"]
    assert rows["SCANTALK_MQTT_PORT"][1:] == ["1883", "(default)"]
    assert rows["SCANTALK_IOTHUB_CONNECTION_STRING"][1:] == ["<hidden>", "(.env)"]
    assert "k1" not in result.stdout


def test_a_node_that_cannot_reach_its_broker_says_why_while_it_retries(tmp_path):
    """It keeps trying (the broker may come up later) and says so each time, with the reason."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scantalk", "node", "bridge"],
        env={
            **clean_environ(),
            "SCANTALK_MQTT_PORT": "1",
            "SCANTALK_DATA_DIR": str(tmp_path),
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        complaints = []
        for line in process.stderr:  # the node never exits on its own: read until 2 complaints
            if "cannot reach the broker at 127.0.0.1:1" in line:
                complaints.append(line)
                if len(complaints) == 2:
                    break
        assert all("Connection refused" in line for line in complaints)
        assert len(complaints) == 2
    finally:
        process.terminate()
        process.wait(30)


def test_bad_threshold_stops_the_classifier_at_start():
    result = run_node("classifier", SCANTALK_THRESHOLD="abc")
    assert result.returncode == 2
    assert "SCANTALK_THRESHOLD='abc'" in result.stderr
    assert "a number from 0.5 to 1" in result.stderr


def test_missing_model_stops_the_classifier_at_start(tmp_path):
    result = run_node("classifier", SCANTALK_MODEL_DIR=str(tmp_path / "no-such-model"))
    assert result.returncode == 2
    assert "SCANTALK_MODEL_DIR=" in result.stderr
    assert "model.onnx" in result.stderr


def test_unopenable_camera_stops_the_camera_at_start(tmp_path):
    result = run_node("camera", SCANTALK_CAMERA_SOURCE=str(tmp_path / "nothing-here.mp4"))
    assert result.returncode == 2
    assert "SCANTALK_CAMERA_SOURCE=" in result.stderr


def test_bad_connection_string_stops_the_bridge_without_showing_the_key(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    result = run_node(
        "bridge",
        SCANTALK_IOTHUB_CONNECTION_STRING=f"DeviceId=dev1;SharedAccessKey={key}",
        SCANTALK_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 2
    assert "SCANTALK_IOTHUB_CONNECTION_STRING" in result.stderr
    assert key not in result.stderr


def test_settings_are_read_from_a_dot_env_file_below_the_environment(tmp_path):
    (tmp_path / ".env").write_text("SCANTALK_THRESHOLD=abc\n")
    result = run_node("classifier", cwd=str(tmp_path))
    assert "SCANTALK_THRESHOLD='abc'" in result.stderr
    result = run_node(
        "classifier", cwd=str(tmp_path), SCANTALK_THRESHOLD="0.7", SCANTALK_MODEL_DIR="missing"
    )
    assert "SCANTALK_THRESHOLD" not in result.stderr  # the environment's threshold won
    assert "SCANTALK_MODEL_DIR='missing'" in result.stderr


def test_a_language_without_a_voice_stops_the_voice_at_start(tmp_path):
    result = run_node("voice", SCANTALK_LANGUAGE="tlh", SCANTALK_DATA_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "SCANTALK_LANGUAGE='tlh'" in result.stderr


def test_a_busy_image_api_port_stops_the_classifier_at_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_node("classifier", SCANTALK_HTTP_PORT=str(port))
    assert result.returncode == 2
    assert f"SCANTALK_HTTP_PORT={port}" in result.stderr


@pytest.mark.parametrize(
    ("text", "kind", "device"),
    [
        ("demo", SourceKind.DEMO, None),
        ("0", SourceKind.DEVICE, "/dev/video0"),
        (" /dev/video2 ", SourceKind.DEVICE, "/dev/video2"),
        ("rtsp://camera.local/stream1", SourceKind.STREAM, None),
        ("/data/clip.mp4", SourceKind.PATH, None),
    ],
)
def test_a_camera_source_is_read_one_way_for_the_camera_and_the_manifest(text, kind, device):
    source = CameraSource.parse(text)
    assert (source.kind, source.device) == (kind, device)
