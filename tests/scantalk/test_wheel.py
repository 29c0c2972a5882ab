"""ScanTalk runs from an installed wheel, as in an IoT Edge module image: nothing is found
relative to the checkout, and a node's extra is all that node needs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scantalk.processes import die_with_parent, stop_process
from testbench import wheel_env
from testbench.bus import wait_online
from testbench.environ import clean_environ


@pytest.fixture(scope="module")
def bridge_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment outside the checkout with the wheel and its bridge extra,
    made as the images make theirs (from the build stage's sources only, not the checkout's
    node_modules and virtual environments)."""
    root = tmp_path_factory.mktemp("wheel")
    wheel = wheel_env.build(root / "build")
    return wheel_env.install("bridge", wheel, root / "venv").parent.parent


def installed(venv: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = clean_environ()
    return subprocess.run(
        [venv / "bin" / "scantalk", *args],
        cwd=venv.parent,  # outside the checkout
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_wheel_carries_the_default_model_and_the_broker_config(bridge_venv):
    code = (
        "import json, importlib.resources as r, scantalk.settings as s\n"
        "import scantalk.commands.broker as b\n"
        "print(json.dumps([str(s.DEFAULT_MODEL_DIR), str(b.DEV_CONF),"
        " str(r.files('scantalk') / 'schemas' / 'inventory-record.json')]))"
    )
    result = subprocess.run(
        [bridge_venv / "bin" / "python", "-c", code], cwd=bridge_venv.parent, capture_output=True
    )
    model, conf, schema = map(Path, json.loads(result.stdout))
    for path in (model, conf, schema):
        assert bridge_venv in path.parents, path
    assert (model / "model.onnx").is_file()
    assert (model / "labels.txt").is_file()
    assert (model / "catalog.csv").is_file()
    assert conf.is_file()
    assert schema.is_file()


def test_a_bridge_installed_from_the_wheel_goes_online(bridge_venv, broker, bus):
    node = subprocess.Popen(
        [bridge_venv / "bin" / "scantalk", "node", "bridge"],
        cwd=bridge_venv.parent,
        env={
            **clean_environ(),
            "SCANTALK_MQTT_PORT": str(broker.port),
            "SCANTALK_DATA_DIR": str(bridge_venv.parent / "data"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        wait_online(bus, "bridge")
    finally:
        assert stop_process(node) == 0  # and it stops cleanly


def test_a_node_whose_extra_is_missing_says_which_extra_to_install(bridge_venv):
    result = installed(bridge_venv, "node", "classifier")
    assert result.returncode == 2
    assert "pip install 'scantalk[classifier]'" in result.stderr


def test_an_installed_node_lists_only_its_own_and_the_shared_settings(bridge_venv):
    result = installed(bridge_venv, "node", "bridge", "--help")
    assert "SCANTALK_IOTHUB_CONNECTION_STRING" in result.stdout
    assert "SCANTALK_MQTT_PORT" in result.stdout
    assert "SCANTALK_THRESHOLD" not in result.stdout
