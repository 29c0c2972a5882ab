"""The lane's twin: desired properties set the lane, reported properties say what it runs. The
real `azure-iot-device` SDK in the bridge talks to the hub stand-in, which answers on the twin's
MQTT topics as IoT Hub does (`testbench.twin`); the classifier is the real one."""

from __future__ import annotations

import re
import time

import pytest

from scantalk.contract import ClassifierConfig, Topics
from scantalk.processes import stop_process
from testbench.bus import wait_online
from testbench.model_server import INT8, ModelServer, sha256, zipped
from testbench.twin import TwinStandIn

T = Topics("lane-1")


@pytest.fixture
def twin(hub):
    stand_in = TwinStandIn(hub.broker.port, desired={"classifier": {"threshold": 0.85}})
    yield stand_in
    stand_in.close()


def in_force(bus, threshold: float) -> None:
    bus.wait_for(T.classifier_config_state, lambda h: h.json()["threshold"] == threshold)


def test_desired_properties_set_the_lane_and_reported_ones_say_what_it_runs(
    hub, twin, bus, node_env, start_node, tmp_path, photo_dir
):
    server = ModelServer(tmp_path)
    start_node("classifier", node_env, SCANTALK_MODEL_CA_FILE=str(server.ca))
    wait_online(bus, "classifier")
    bridge_env = {**node_env, **hub.env("edge-1", module="bridge")}
    bridge = start_node("bridge", bridge_env)

    # The twin's desired state at start, and what the lane reports it runs.
    in_force(bus, 0.85)
    reported = twin.wait_reported(
        lambda r: (
            r.get("settings", {}).get("classifier", {}).get("threshold") == 0.85
            and r.get("model", {}).get("name") == "produce"
            and r.get("nodes", {}).get("classifier") == "online"
        ),
        "the threshold, the model and the classifier online",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", reported["model"]["sha256"])
    assert reported["model"]["labels"] == 23
    assert reported["software"]["version"]
    assert reported.get("lastRefusal") is None  # a null reported property is no property
    assert {"scansToday", "recordsPending", "questions", "notSure"} <= reported["counters"].keys()

    # A patch changes the threshold within seconds, and the reported properties say so.
    version = twin.set_desired({"classifier": {"threshold": 0.9}})
    in_force(bus, 0.9)
    twin.wait_reported(
        lambda r: (
            r["settings"]["classifier"]["threshold"] == 0.9 and r["desiredVersion"] == version
        ),
        "threshold 0.9 reported",
    )

    # An unsafe one is refused whole, the old value kept, and the refusal names the setting.
    refused = twin.set_desired({"classifier": {"threshold": 0.2, "stable_frames": 3}})
    reported = twin.wait_reported(
        lambda r: (r.get("lastRefusal") or {}).get("version") == refused, "the refusal"
    )
    assert "threshold" in reported["lastRefusal"]["error"]
    assert bus.matching(T.classifier_config_state)[-1].json()["threshold"] == 0.9
    assert bus.matching(T.classifier_config_state)[-1].json()["stable_frames"] == 2

    # A setting the lane does not take is refused whole too.
    unknown = twin.set_desired({"classifier": {"threshold": 0.9}, "lights": {"on": True}})
    reported = twin.wait_reported(
        lambda r: (r.get("lastRefusal") or {}).get("version") == unknown,
        "the unknown setting refused",
    )
    assert "'lights'" in reported["lastRefusal"]["error"]

    # The lane is away while the twin changes: it applies the desired state on reconnecting.
    stop_process(bridge)
    away = twin.set_desired({"lights": None, "classifier": {"threshold": 0.95}})
    bridge = start_node("bridge", bridge_env)
    in_force(bus, 0.95)
    twin.wait_reported(lambda r: r["desiredVersion"] == away, "the patch made while away")

    # A live change on the lane stands over the twin, also when the bridge reconnects.
    bus.publish(T.classifier_config, ClassifierConfig(threshold=0.88).to_json())
    in_force(bus, 0.88)
    twin.wait_reported(
        lambda r: r["settings"]["classifier"]["threshold"] == 0.88, "the live change"
    )
    stop_process(bridge)
    restarted = time.monotonic()
    start_node("bridge", bridge_env)
    twin.wait_reported(lambda r: r["nodes"].get("bridge") == "online", "the bridge back")
    assert not bus.matching(
        T.classifier_config_state,
        lambda h: h.received > restarted and h.json()["threshold"] != 0.88,
    ), "the twin overrode a live change at a reconnect"

    # The voice's and the camera's settings, through their own live changes and states.
    start_node("voice", node_env)
    start_node("camera", node_env, SCANTALK_CAMERA_SOURCE=str(photo_dir("fruit/banana.png")))
    wait_online(bus, "voice", "camera")
    twin.set_desired({"voice": {"rate": 1.5, "cooldown": 1}, "camera": {"fps": 3},
                      "classifier": {"answer_timeout": 12}})  # fmt: skip
    bus.wait_for(T.classifier_config_state, lambda h: h.json()["answer_timeout"] == 12)
    bus.wait_for(T.voice_config_state, lambda h: h.json()["rate"] == 1.5)
    bus.wait_for(T.camera_config_state, lambda h: h.json()["fps"] == 3)
    reported = twin.wait_reported(
        lambda r: (
            r["settings"].get("voice", {}).get("rate") == 1.5
            and r["settings"].get("camera", {}).get("fps") == 3
        ),
        "the voice's and the camera's settings",
    )
    assert reported["settings"]["voice"]["cooldown"] == 1
    loud = twin.set_desired({"voice": {"volume": 500}})
    reported = twin.wait_reported(
        lambda r: (r.get("lastRefusal") or {}).get("version") == loud, "the voice's refusal"
    )
    assert "volume" in reported["lastRefusal"]["error"]
    assert bus.matching(T.voice_config_state)[-1].json()["volume"] == 100

    # A model rolled out by the twin; the live change to the threshold still stands.
    archive = zipped(INT8)
    server.files["/int8.zip"] = archive
    model = {"url": server.url("/int8.zip"), "sha256": sha256(archive), "version": "int8-1"}
    twin.set_desired({"voice": {"volume": 90}, "model": model})
    reported = twin.wait_reported(
        lambda r: r["model"].get("version") == "int8-1", "the rolled-out model"
    )
    assert reported["model"]["sha256"] == sha256((INT8 / "model.onnx").read_bytes())
    assert bus.matching(T.classifier_config_state)[-1].json()["threshold"] == 0.88
    server.close()
    assert twin.reports < 40, f"{twin.reports} reports for a handful of changes"
