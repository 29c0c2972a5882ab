"""Settings: numbers are numbers, and a bad value stops a node at start, naming the setting."""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys

import pytest

from scantalk.settings import SettingError, Settings


def run_node(name: str, cwd: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCANTALK_")}
    return subprocess.run(
        [sys.executable, "-m", "scantalk", "node", name],
        env={**clean, "SCANTALK_MQTT_PORT": "1", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_numbers_are_parsed_as_numbers_and_flags_win():
    settings = Settings.load({"SCANTALK_THRESHOLD": "0.85", "SCANTALK_MQTT_PORT": "1884"})
    assert settings.threshold == 0.85
    assert settings.mqtt_port == 1884
    flags = argparse.Namespace(threshold="0.4")
    assert Settings.load({"SCANTALK_THRESHOLD": "0.85"}, flags).threshold == 0.4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCANTALK_THRESHOLD", "abc"),
        ("SCANTALK_THRESHOLD", "1.5"),
        ("SCANTALK_MQTT_PORT", "70000"),
        ("SCANTALK_STATION", "lane/1"),
        ("SCANTALK_CAMERA_FPS", "0"),
        ("SCANTALK_CAMERA_FPS", "nan"),
        ("SCANTALK_CAMERA_ROI", "0,0,0.001,0.5"),
        ("SCANTALK_BRIDGE_STATIONS", "lane/1"),
        ("SCANTALK_BRIDGE_SHARE_GROUP", "a/b"),
        ("SCANTALK_CAMERA_GATE", "maybe"),
    ],
)
def test_bad_value_is_refused_with_its_name(name, value):
    with pytest.raises(SettingError, match=f"^{name}="):
        Settings.load({name: value})


def test_bad_threshold_stops_the_classifier_at_start():
    result = run_node("classifier", SCANTALK_THRESHOLD="abc")
    assert result.returncode == 2
    assert "SCANTALK_THRESHOLD='abc'" in result.stderr
    assert "a number from 0.01 to 1" in result.stderr


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
